"""``--track tensorboard``: event files under <run_dir>/tensorboard/ (``tensorboard --logdir <run_dir>/tensorboard``).

    tensorboard/<arm>/seed-<i>/   per epoch: every number of its metrics.jsonl row (train_loss, val_acc, lr, ...);
                                  when it ends: hparams (the arm's flattened config) with test/<metric>
    tensorboard/report/           the report's figures (figures/*.png) as images, once the report is written
A resumed seed continues in its folder: steps from the checkpoint's next epoch on replace the earlier ones
(purge_step), so a killed epoch logged twice shows once.
"""
from __future__ import annotations

from pathlib import Path

from deepstudy.tracking import arm_settings, numbers, test_metrics


class TensorBoard:
    def __init__(self):
        self.run_dir: Path | None = None
        self.writers: dict[tuple[str, int], object] = {}
        self.settings: dict[str, dict] | None = None

    def _writer(self, arm: str, seed: int, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        key = (arm, seed)
        if key not in self.writers or purge_step is not None:
            if key in self.writers:
                self.writers[key].close()
            folder = self.run_dir / "tensorboard" / arm / f"seed-{seed}"
            self.writers[key] = SummaryWriter(str(folder), purge_step=purge_step)
        return self.writers[key]

    def event(self, e: dict) -> None:
        kind = e["kind"]
        if kind == "run_dir":
            self.run_dir = Path(e["path"])
        elif self.run_dir is None:
            return
        elif kind == "resumed":
            self._writer(e["arm"], e["seed"], purge_step=e["epoch"])
        elif kind == "epoch":
            writer = self._writer(e["arm"], e["seed"])
            for name, value in numbers(e).items():
                writer.add_scalar(name, value, e["epoch"])
            writer.flush()
        elif kind == "run_end":
            self._hparams(e["arm"], e["seed"])
        elif kind == "report":
            self._figures()

    def _hparams(self, arm: str, seed: int) -> None:
        from torch.utils.tensorboard.summary import hparams

        if self.settings is None:
            self.settings = arm_settings(self.run_dir)
        metrics = test_metrics(self.run_dir / "arms" / arm / f"seed-{seed}")
        writer = self._writer(arm, seed)
        # what SummaryWriter.add_hparams writes, but into this seed's own folder (it would open a sub-folder)
        for summary in hparams(self.settings.get(arm, {}), metrics):
            writer.file_writer.add_summary(summary)
        for name, value in metrics.items():
            writer.add_scalar(name, value)
        writer.flush()

    def _figures(self) -> None:
        import numpy as np
        from matplotlib import image
        from torch.utils.tensorboard import SummaryWriter

        pngs = sorted((self.run_dir / "figures").glob("*.png"))
        if not pngs:
            return
        with SummaryWriter(str(self.run_dir / "tensorboard" / "report")) as writer:
            for png in pngs:
                pixels = image.imread(str(png))  # floats in [0, 1]: (H, W), (H, W, 3) or (H, W, 4)
                pixels = np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels[..., :3]
                writer.add_image(png.stem, np.ascontiguousarray(pixels), dataformats="HWC")

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
