"""task: generate — DCGAN per arm and seed, judged by a classifier deepstudy trains on the real images.

Both losses say how the two networks fare against each other, not how good the images are (seed 001
P6). So every epoch the generator also makes 2,000 images from a fixed stream of latent vectors and a
*judge* — a CNN trained once per run on the real training images (run_dir/judge/) — scores them:

- Fréchet distance between the judge's penultimate features of generated images and of the real test
  images (the FID recipe of Heusel et al., 2017, with our judge instead of Inception-v3: numbers are
  comparable within deepstudy, not with published FIDs);
- the judge's confidence (mean top probability: do the images look like some class?) and diversity
  (entropy of the mean predicted class distribution / log K: are all classes made?), and their
  combination, the "inception score" exp(E KL(p(y|x) || p(y))) (Salimans et al., 2016), from 1 to K.

64 fixed latent vectors give a sample grid per epoch (samples.npz), the same vectors in every arm.
Training follows the DCGAN paper: images in [-1, 1], Adam (the study sets lr 2e-4, betas (0.5, 0.999)),
the non-saturating generator loss. A killed seed resumes from its last epoch (both networks, both optimizers
and the sample grids are checkpointed).
"""
from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from torch import nn

from deepstudy import data as _data
from deepstudy import evaluate, models, repro, train
from deepstudy.config import EVAL_BATCH_SIZE, Study, check_task_model
from deepstudy.errors import UserError
from deepstudy.fileio import atomic_write_bytes, read_json, read_jsonl, write_json
from deepstudy.models import gan, heads
from deepstudy.records import SeedResult
from deepstudy.rundir import RunDir
from deepstudy.tasks import SeedContext, Size, Task

METRICS = ("frechet_distance", "inception_score", "confidence", "diversity")
_MODEL_KEYS = ("latent", "width", "batch_norm")


def build(cfg: Study, channels: int = 1) -> tuple[gan.Generator, gan.Discriminator]:
    return gan.create(**cfg.model.kwargs(), channels=channels)


class Judge:
    """A CNN trained once per run on the real training images; features = the input of its last layer."""

    def __init__(self, ds: _data.Dataset, run_dir: Path, seed: int, device: torch.device):
        self.mean, self.std = ds.mean.view(1, -1, 1, 1).to(device), ds.std.view(1, -1, 1, 1).to(device)
        self.device, folder = device, run_dir / "judge"
        repro.seed_torch(repro.derive_seed(seed,
                                           "judge-init"))  # before the build: torch's own seed differs per process
        # a LeNet-like CNN (~99 % on MNIST after 3 epochs); features = its 128-unit hidden layer, as FID's pool3 layer
        self.net = models.build("cnn", ds.input_shape, ds.num_classes, channels=[32, 64], batch_norm=True,
                                global_pool=False,
                                hidden=[128]).to(device)
        if (folder / "judge.json").is_file():
            train.checkpoint.load_weights(self.net, folder / "judge.safetensors")
            self.info = read_json(folder / "judge.json")
        else:
            opt = train.build_optimizer(self.net, "adamw", lr=2e-3)
            batches = ds.batches("train", 128, train=True, seed=repro.derive_seed(seed, "judge"), device=device)
            val = ds.batches("val", EVAL_BATCH_SIZE, device=device)
            for _ in train.fit(self.net, batches.epoch, val, optimizer=opt, scheduler=None,
                               loss_fn=nn.CrossEntropyLoss(), epochs=3, device=device,
                               seed=repro.derive_seed(seed, "judge")):
                pass
            logits, y = train.predict(self.net, ds.batches("test", EVAL_BATCH_SIZE, device=device), device=device)
            self.info = {"model": "cnn [32, 64] + a 128-unit hidden layer (the features), batch norm, 3 epochs on the "
                                  "training split",
                         "test_accuracy": float((logits.argmax(1) == y).float().mean())}
            folder.mkdir(parents=True, exist_ok=True)
            train.checkpoint.save_weights(self.net, folder / "judge.safetensors")
            write_json(folder / "judge.json", self.info)
        self.net.eval()
        if (folder / "real.npz").is_file():  # the real images' statistics, once per run (not once per arm and seed)
            with np.load(folder / "real.npz") as z:
                self.real_mean, self.real_cov = z["mean"], z["cov"]
        else:
            real = ds.x_test.to(device).float().div(127.5).sub(1)  # the real test images on the generator's scale
            feats, _ = self.features(real)
            self.real_mean, self.real_cov = feats.mean(0), np.cov(feats, rowvar=False)
            _save_npz(folder / "real.npz", mean=self.real_mean, cov=self.real_cov)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """images in [-1, 1] -> (penultimate features (N, F), class probabilities (N, K)) as float64."""
        captured = []
        head = self.net.get_submodule(heads.classifier_head(self.net))
        hook = head.register_forward_hook(lambda m, args, out: captured.append(args[0]))
        probs = []
        try:
            for part in images.split(EVAL_BATCH_SIZE):
                x = ((part + 1) / 2 - self.mean) / self.std
                probs.append(self.net(x).softmax(1))
        finally:
            hook.remove()
        return torch.cat(captured).double().cpu().numpy(), torch.cat(probs).double().cpu().numpy()

    def score(self, images: torch.Tensor) -> dict:
        feats, p = self.features(images)
        mu, cov = feats.mean(0), np.cov(feats, rowvar=False)
        # a collapsed generator gives a singular covariance: handled below, as pytorch-fid does
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (linalg.LinAlgWarning, RuntimeWarning))
            root = linalg.sqrtm(cov @ self.real_cov)
            if not np.isfinite(root).all():
                eye = np.eye(len(cov)) * 1e-6
                root = linalg.sqrtm((cov + eye) @ (self.real_cov + eye))
        fd = float(((mu - self.real_mean) ** 2).sum() + np.trace(cov + self.real_cov - 2 * root.real))
        marginal = p.mean(0)
        kl = (p * (np.log(p + 1e-12) - np.log(marginal + 1e-12))).sum(1).mean()
        return {"frechet_distance": fd, "inception_score": float(np.exp(kl)), "confidence": float(p.max(1).mean()),
                "diversity": float(-(marginal * np.log(marginal + 1e-12)).sum() / np.log(p.shape[1]))}


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """np.savez, atomically (a temporary file, then renamed): a reader never sees half a file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _latents(seed: int, n: int, latent: int, device: torch.device) -> torch.Tensor:
    return torch.randn(n, latent, generator=repro.generator(seed)).to(device)


class GenerateTask(Task):
    name = "generate"
    lower_is_better = True
    epoch_metrics = {"val_loss": True}  # the Fréchet distance of the epoch's samples to the test images

    def shared(self, cfg: Study) -> str | None:
        return "a judge network trained once per run (run_dir/judge/) that scores every seed's images"

    def check(self, arm: str, cfg: Study, study: Study) -> None:
        check_task_model(arm, cfg, "dcgan", _MODEL_KEYS, "name: dcgan, latent: 64, width: 64")
        try:
            models.checked_build("dcgan", cfg.model.kwargs(), lambda: build(cfg), where=f"arm '{arm}': ")
        except (TypeError, ValueError) as e:
            raise UserError(f"arm '{arm}': {models.unbuildable('dcgan', cfg.model.kwargs(), e)}") from None
        extra = set(cfg.analyses) - {"curves", "samples", "confusion"}
        if extra:
            raise UserError(f"arm '{arm}': analyses {', '.join(sorted(extra))} do not apply to task: generate; remove "
                            "them")

    def check_data(self, arm: str, cfg: Study, ds: _data.Dataset) -> None:
        if ds.kind != "image" or ds.input_shape[1:] != (28, 28):
            raise UserError(f"arm '{arm}': the DCGAN makes 28x28 images (mnist, fashion-mnist); dataset '{ds.name}' "
                            f"has {ds.kind} inputs of shape {ds.input_shape}")

    def train_seed(self, ctx: SeedContext) -> SeedResult:
        return train_one(ctx)

    def headline(self, data_info: dict) -> tuple[str, tuple[str, ...]]:
        return "frechet_distance", METRICS

    def size(self, cfg: Study, data_info: dict, ok: list[dict]) -> Size:
        return Size(sum(p.numel() for m in build(cfg, data_info["input_shape"][0]) for p in m.parameters()))

    def summarize(self, study: Study, cfg: Study, run: RunDir, arm: str, ok: list[dict], data_info: dict) -> dict:
        return {"gan": summary(run, arm, ok)}


def train_one(ctx: SeedContext) -> SeedResult:
    cfg, ds, device, run_seed, folder = ctx.cfg, ctx.dataset, ctx.device, ctx.run_seed, ctx.seed.path
    t, o = cfg.train, cfg.train.optimizer
    judge = Judge(ds, ctx.run.path, cfg.seed, device)
    repro.seed_torch(repro.derive_seed(run_seed, "init"))
    g_net, d_net = (m.to(device) for m in build(cfg, ds.input_shape[0]))
    g_opt = torch.optim.Adam(g_net.parameters(), lr=o.lr, betas=o.betas)
    d_opt = torch.optim.Adam(d_net.parameters(), lr=o.lr, betas=o.betas)
    bce = nn.BCEWithLogitsLoss()
    fixed = _latents(repro.derive_seed(cfg.seed, "fixed-z"), 64, g_net.latent, device)  # the same in every arm and seed
    probe = _latents(repro.derive_seed(cfg.seed, "probe-z"), 2000, g_net.latent, device)
    x_all = ds.x_train.to(device)
    grids: list[torch.Tensor] = []  # (64, 28, 28) uint8 per epoch: the sample grid of the fixed latents

    def epochs(start: int):
        for epoch in range(start, t.epochs):
            repro.seed_torch(repro.derive_seed(run_seed, "epoch", epoch))
            g_net.train()
            d_net.train()
            sums, steps, t0 = np.zeros(4), 0, time.perf_counter()
            order = torch.randperm(len(x_all), generator=repro.generator(repro.derive_seed(run_seed, "batches", epoch)))
            for idx in order.to(device).split(t.batch_size):
                real = x_all[idx].float().div(127.5).sub(1)  # (B, C, 28, 28) in [-1, 1]
                fake = g_net(torch.randn(len(real), g_net.latent, device=device))
                d_real, d_fake = d_net(real), d_net(fake.detach())
                d_loss = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
                d_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                d_opt.step()
                out = d_net(fake)
                g_loss = bce(out, torch.ones_like(out))  # non-saturating: maximize log D(G(z))
                g_opt.zero_grad(set_to_none=True)
                g_loss.backward()
                g_opt.step()
                sums += torch.stack([d_loss, g_loss, torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()]
                                    ).detach().tolist()
                steps += 1
            if not np.isfinite(sums).all():
                raise train.NonFiniteLoss(epoch, float(sums[0] + sums[1]))
            seconds = time.perf_counter() - t0
            t1 = time.perf_counter()
            g_net.eval()
            with torch.no_grad():
                quality = judge.score(g_net(probe))
                grids.append(((g_net(fixed)[:, 0] + 1) * 127.5).clamp(0, 255).round().to(torch.uint8).cpu())
            d_loss, g_loss, d_real, d_fake = (sums / max(steps, 1)).tolist()
            yield {"epoch": epoch, "d_loss": d_loss, "g_loss": g_loss, "d_real": d_real, "d_fake": d_fake, **quality,
                   "train_loss": g_loss, "val_loss": quality["frechet_distance"], "train_acc": None, "val_acc": None,
                   "seconds": seconds, "eval_seconds": time.perf_counter() - t1, "steps": steps}

    def resumed(start: int, saved: dict) -> None:
        grids.extend(saved["grids"][:start])

    nets = nn.ModuleDict({"generator": g_net, "discriminator": d_net})
    train.drive(folder, train.TorchState(nets, train.Optimizers(generator=g_opt, discriminator=d_opt)), epochs,
                total=t.epochs, monitor=train.Monitor("last"), on_event=ctx.on_event, arm=ctx.arm, seed=ctx.index,
                on_resume=resumed, extra=lambda: {"grids": torch.stack(grids)},
                every=t.checkpoint_seconds)
    np.savez_compressed(folder / "samples.npz", grids=torch.stack(grids).numpy())  # (epochs, 64, 28, 28)
    train.checkpoint.save_weights(g_net, folder / "generator.safetensors")
    g_net.eval()  # also when a resumed seed had no epoch left to run (the loop is what sets it otherwise)
    with torch.no_grad():
        final = judge.score(torch.cat([g_net(z) for z in _latents(repro.derive_seed(cfg.seed, "final-z"), 5000,
                                                                      g_net.latent, device).split(1000)]))
    rows = read_jsonl(ctx.seed.metrics)
    record = evaluate.run_record(rows, best_epoch=t.epochs - 1, monitor={"metric": "last", "best": None},
                                 stopped_early=False,
                                 precision="fp32", test_seconds=0.0, train_accuracy=rows[-1]["d_real"], test=final)
    record.extras.update(judge=judge.info, final_losses={"d_loss": rows[-1]["d_loss"], "g_loss": rows[-1]["g_loss"]})
    return record


def summary(run: RunDir, arm: str, ok: list[dict]) -> dict:
    """Does the generator's loss track image quality? Spearman rho between g_loss and the Fréchet distance
    over every epoch of every seed; the final losses beside the final quality."""
    from scipy import stats

    rows = [r for s in ok for r in read_jsonl(run.seed(arm, s["seed"]).metrics)]
    rho = stats.spearmanr([r["g_loss"] for r in rows],
                          [r["frechet_distance"] for r in rows]).statistic if len(rows) > 2 else None
    return {"loss_quality_spearman": None if rho is None or not np.isfinite(rho) else float(rho),
            "g_loss": evaluate.describe([s["final_losses"]["g_loss"] for s in ok]),
            "d_loss": evaluate.describe([s["final_losses"]["d_loss"] for s in ok]),
            "judge": ok[0]["judge"] if ok else None}
