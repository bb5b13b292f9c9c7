"""mnist-speedrun against the published raw-PyTorch recipe, in one process, seed by seed.

Run: ``DEEPSTUDY_DATA=/work/shared/data python -m benchmarks speedrun`` (about 10 x (reference + one run per arm)
trainings: ~2-3 minutes on a quiet 2-core machine). Writes benchmarks/results/mnist_speedrun.json.

The reference (``reference_seed``) is the published 1-epoch MNIST CPU speedrun written out plainly: conv 24@5x5 ->
ReLU -> maxpool 2 -> conv 32@3x3 -> ReLU -> maxpool 2 -> fc 800 -> 256 -> 10, Adam lr 1e-2 betas (0.7, 0.9),
one-cycle over the epoch, batch 256, channels-last, fp32, trained on all 60,000 training images (the study's
train + validation splits) and scored on the same 10,000 test images. The study's side is each (arm, seed) trained
by ``executors.train_one`` — the code ``deepstudy run mnist-speedrun`` runs for every seed, the same run seeds.
For seed i: the reference, then every arm; so load drift on a shared machine hits both sides alike.

What is timed, the same on both sides: the training steps (batches drawn from tensors already in memory) and the
test pass; the study also pays its validation passes (the reference has none). Excluded on both sides: reading the
data into memory, building the model and optimizer, and the study's bookkeeping around the steps (checkpoints,
metrics.jsonl, best weights, the train-accuracy probe). The reference turns its images into normalized floats once,
before timing (the published recipe does); the study converts each uint8 batch inside the timed steps. The study
reads the central 20 x 20 pixels of each image (``data.center_crop``: a strided copy of the uint8 images when the data
is read, ~10 ms for all 70,000, untimed like the reference's conversion); both sides score the same 10,000 test
images, the study their centres, as its model reads every image (and as ``deepstudy predict`` crops new ones). Both run
in this process with the same torch threads (the study sets none: torch's default) and deterministic kernels
(``repro.set_deterministic``, as the study runs). Accuracy: mean ± sample std over seeds; time: a timing record
per side (common.timing); ratio = ours / reference, of medians.

Target (issue 25): >= 99.0 % mean test accuracy in <= 0.6x the reference's time.

Threads. The command above uses torch's default threads (2 on the 2-core machine) for both sides. On a machine
other processes share, run it with ``OMP_NUM_THREADS=1``: two threads on a contended core wait at every op's
barrier for a time slice, which punishes the side that runs more, smaller ops (measured, seed 0, while four other
jobs shared the 2 cores: reference 39.9 s, study fp32 165 s, bf16 119 s — 4.1x and 3.0x the reference, against
0.89x and 0.60x with one thread in the same conditions). The results file records the threads used (evidence).

Levers measured for the study (1 thread, CPU seconds of train + test per seed, 2-3 seeds each, shared machine; the
reference took 10.6-11.4 CPU-s at 98.94 %): the study before this issue (2 epochs, 3x3 stride-2 convs, AdamW 6e-3,
batch 128): fp32 99.00 % / 12.1 s, bf16 + channels-last 99.06 % / 8.8 s. One epoch of it: 98.79-98.80 % (bf16
4.6 s) — too few updates. Batch 256 (lr 1e-2): 98.64-98.67 %, 2 epochs of it 98.96-98.98 % in 7.4 s (bf16). Wider
nets pay in proportion: [32, 64, 128] 98.99 % / 9.1 s, + a 256 hidden layer 99.02 % / 10.5 s; [24, 48, 64] 98.84 %.
No batch norm: 98.58 % ([16, 32, 64]), 98.91 % ([32, 64, 128], 7.9 s). A 128 hidden layer: 98.91 % / 5.1 s.
Adam betas (0.7, 0.9), lr 1e-2 (the recipe's): 98.83 %; without label smoothing, warm-up 0.1: 98.77 %; an EMA of the
weights (decay 0.99): 98.76 %. What worked: 5x5 kernels on the stride-2 convs (99.02 %, 6.6 s) with the recipe's
optimizer settings: 99.11 % in 6.3 s against the reference's 11.4 s (0.55x CPU time). With them: batch 256
99.07 % / 5.8 s, batch 192 99.10 % / 6.2 s, [16, 32, 48] 99.09 % / 6.3 s (reference 10.9 s). bf16 pays here
(0.6-0.7x fp32) because the 5x5 convolutions are the larger share; fp32 stays ~0.9x the reference. Profile of a
bf16 channels-last step (3x3 net): convolution backward 27 %, ReLU backward 15 % (the last ReLU's gradient comes
back from Flatten in NCHW while its output is channels-last: a strided path, ~1 ms), batch-norm backward 13 %,
convolution forward 13 %, batch-norm forward 9 %: memory-bound ops are half the step.

Then fp32 (2026-12-08, 1 thread, medians of 3-4 seeds, the reference 10-13 s in the same runs): reading the central
20 x 20 pixels (``data.center_crop``; half the pixels, so half the activations the memory-bound ops touch) took fp32
from 0.85-0.90x to 0.58-0.60x at the same accuracy (10 seeds: 99.12 %; 28 x 28: 99.13 %); channels-last on top
0.50-0.52x (at 28 x 28 it had saved 5 %); [16, 32, 48] 0.47x (99.12 %); batch 256 0.56x but 99.00 %; evaluation
batch 512 instead of 2048 no gain. The study took the crop and channels-last for every arm.
"""
from __future__ import annotations

import contextlib
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import timing, write
from deepstudy import config, evaluate, executors, repro, study, study_data
from deepstudy.train.precision import FELL_BACK

OVERRIDES: dict = {}  # the study as shipped; tests/test_benchmarks.py sets a few images and seeds to run it small
TARGET_RATIO, TARGET_ACCURACY = 0.6, 0.99


def reference_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 24, 5), nn.ReLU(), nn.MaxPool2d(2),  # 28 -> 24 -> 12
                         nn.Conv2d(24, 32, 3), nn.ReLU(), nn.MaxPool2d(2),  # 12 -> 10 -> 5
                         nn.Flatten(), nn.Linear(32 * 5 * 5, 256), nn.ReLU(), nn.Linear(256, 10))


def reference_seed(seed: int, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                   batch_size: int = 256, precision: str = "fp32") -> tuple[float, float]:
    """(test accuracy, seconds of training steps + test pass) of one seed of the published recipe."""
    torch.manual_seed(seed)
    model = reference_model().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.7, 0.9))
    steps = -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=steps)
    context = (lambda: torch.autocast("cpu", torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
    t0 = time.perf_counter()
    order = torch.randperm(len(x))
    for i in range(steps):
        idx = order[i * batch_size:(i + 1) * batch_size]
        with context():
            loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    hits = 0
    with torch.no_grad(), context():
        for i in range(0, len(x_test), 2048):
            hits += int((model(x_test[i:i + 2048]).argmax(1) == y_test[i:i + 2048]).sum())
    return hits / len(x_test), time.perf_counter() - t0


def _as_floats(ds, x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> normalized float32, channels-last (the reference's one-off preprocessing, untimed)."""
    return ds.float_inputs(x).contiguous(memory_format=torch.channels_last)


def _side(accuracies: list[float], seconds: list[float]) -> dict:
    return {"accuracy": evaluate.describe(accuracies, (0.0, 1.0)),
            "seconds": {**timing(seconds), "ci95": evaluate.describe(seconds)["ci95"]}}


def _rows(out: dict) -> list[dict]:
    ref = out["reference"]
    rows = []
    for arm, side in out["arms"].items():
        ours, theirs = side["seconds"], ref["seconds"]
        fell_back = FELL_BACK in side.get("precision_used", ())  # bf16 asked on a CPU without it
        rows.append({
            "benchmark": f"speedrun {arm}{' (ran fp32: no native bf16)' if fell_back else ''}: time to 99 % "
                         "(train + test) vs the raw recipe",
            "ours": {"value": ours["median"], "unit": "s", "n": ours["n"], "std": (ours["spread"] or {}).get("std"),
                     "accuracy": side["accuracy"]["mean"], "accuracy_std": side["accuracy"]["std"]},
            "reference": {"value": theirs["median"], "unit": "s", "n": theirs["n"],
                          "std": (theirs["spread"] or {}).get("std"), "accuracy": ref["accuracy"]["mean"],
                          "accuracy_std": ref["accuracy"]["std"],
                          "what": "published raw-PyTorch 1-epoch recipe, same process, interleaved by seed"},
            "ratio": side["ratio"], "ratio_of": "median",
            "target": f"<= {TARGET_RATIO}x and >= {TARGET_ACCURACY:.1%} mean test accuracy", "met": side["met"]})
    return rows


def main() -> dict:
    cfg = config.load("mnist-speedrun", OVERRIDES)
    arms = study.check(cfg)
    datasets = study_data.load(arms)
    # the published recipe reads whole 28 x 28 images: the study's data and split without its centre crop
    whole = study.check(config.load("mnist-speedrun", {**OVERRIDES, "data.center_crop": None}))
    ds = next(iter(study_data.load(whole).values()))
    x = _as_floats(ds, torch.cat([ds.x_train, ds.x_val]))
    y = torch.cat([ds.y_train, ds.y_val])
    x_test, y_test = _as_floats(ds, ds.x_test), ds.y_test
    repro.set_deterministic(torch.device("cpu"))  # as train_one does: both sides run under the same flags
    ref_acc, ref_s, ours = [], [], {arm: ([], []) for arm in arms}
    used = {arm: set() for arm in arms}  # the precision each arm's seeds ran (bf16 asked on a CPU without: fp32)
    with tempfile.TemporaryDirectory() as run_path:  # the seed folders (checkpoints): thrown away
        for i in range(cfg.seeds):
            run_seed = repro.derive_seed(cfg.seed, "seed", i)
            acc, seconds = reference_seed(run_seed, x, y, x_test, y_test)
            ref_acc.append(acc)
            ref_s.append(seconds)
            for arm, acfg in arms.items():
                job = executors.SeedJob(arm, i, cfg.seeds, acfg, run_seed, run_path, "cpu", acfg.train.threads)
                r = executors.train_one(job, lambda event: None, datasets[arm]).result
                ours[arm][0].append(r["test"]["accuracy"])
                ours[arm][1].append(r["train_seconds"] + r["eval_seconds"])
                used[arm].add(r["precision"])
            print(f"seed {i}: reference {acc:.4f} {seconds:.2f} s; " + "; ".join(
                f"{arm} {ours[arm][0][-1]:.4f} {ours[arm][1][-1]:.2f} s" for arm in arms), flush=True)
    out = {"reference": _side(ref_acc, ref_s), "arms": {}}
    for arm, (accuracies, seconds) in ours.items():
        side = _side(accuracies, seconds)
        side["ratio"] = side["seconds"]["median"] / out["reference"]["seconds"]["median"]
        side["met"] = side["accuracy"]["mean"] >= TARGET_ACCURACY and side["ratio"] <= TARGET_RATIO
        side["precision_used"] = sorted(used[arm])
        out["arms"][arm] = side
    for name, side in [("reference", out["reference"]), *out["arms"].items()]:
        a, s = side["accuracy"], side["seconds"]
        print(f"{name}: accuracy {a['mean']:.2%} ± {a['std']:.2%}, median {s['median']:.2f} s (n = {s['n']})"
              + (f", ratio {side['ratio']:.2f}x, target met: {side['met']}" if "ratio" in side else ""))
    out["rows"] = _rows(out)
    write("mnist_speedrun", out)
    return out


if __name__ == "__main__":
    main()
