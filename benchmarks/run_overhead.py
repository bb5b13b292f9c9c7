"""Whole-run overhead: ``study.run`` of a small CNN vs a raw PyTorch script doing the same epochs (issue 25).

Both sides, timed wall-clock in this process from the call to its end:

    ours       study.run(STUDY): check the config, load the data into memory, make the run directory, train
               EPOCHS epochs (each: training steps, a validation pass, metrics.jsonl, the atomic checkpoint,
               best.safetensors when validation improved), test the best weights (+ predictions.npy, the clean
               train-accuracy probe, result.json, env.json) -- then results.json and the report.
    reference  a hand-written loop: load the same data into memory (data.load, same split), build the same
               model (same init seed) and optimizer, then per epoch the same training steps, a validation pass
               (loss and accuracy over the val split), a checkpoint (model + optimizer state, torch.save to one
               file) and the best weights kept in memory; at the end the same test pass on the best weights.

Ours also measures a clean train accuracy (a forward pass over <= 10,000 training images, eval mode): a feature
the raw loop lacks, timed on the reference side apart (not in its time) for a third row, ours vs raw loop + that
pass, whose gap is the bookkeeping alone (metrics, checkpoints, events, result files). The reference writes no
report, so the claim (target <= 1.05x) compares it with our run up to the moment every
seed has ended (the "every run has ended" event: training, checkpoints, test, result.json) -- the results.json
aggregation and the report (figures, HTML) that follow are timed too, in their own row, with no target. Both
sides train the same batches from the same weights, so their test accuracies must agree to the image: checked
and recorded (``same_test_accuracy``), evidence that the two do the same work.

Rounds alternate which side goes first (drift in machine load hits both); the first round warms up imports,
allocators and kernels and is not counted; ratios are of medians (common.timing). Each side's phases (setup,
epochs, test, the rest) are recorded as medians too, so a regression says where it is.

    python -m benchmarks run-overhead            # ~2.5 min on 2 cores: 7 counted rounds + 1 warm-up

Seven rounds, not three: on a shared 2-core host one side's epochs phase alone varied from 5.7 to 8.9 s across
rounds (2026-12-07), more than the 5 % the target allows; the medians of seven hold still enough to read.
"""
from __future__ import annotations

import copy
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import RESULTS, timing, write
from deepstudy import config, data, evaluate, models, repro, study, train
from deepstudy.fileio import read_json

TRAIN_LIMIT = 10240  # MNIST training images (10 % of them validate); tests/test_benchmarks.py shrinks it
EPOCHS = 5
TARGET = 1.05


def study_config() -> config.Study:
    return config.validate({
        "name": "run-overhead", "description": "whole-run overhead benchmark: a small CNN, one seed",
        "task": "classify", "data": {"name": "mnist", "train_limit": TRAIN_LIMIT},
        "model": {"name": "cnn", "channels": [16, 32]},
        # fp32 as the raw loop: precision auto (the default) may pick bf16 on a CPU that has it; a checkpoint every
        # epoch as the raw loop's (the default writes one per 2 s of training: fewer, were epochs short)
        "train": {"epochs": EPOCHS, "batch_size": 256, "optimizer": {"name": "adamw", "lr": 1e-3}, "precision": "fp32",
                  "checkpoint_seconds": 0},
        "arms": {"cnn": {}}, "seeds": 1, "analyses": []}, source="benchmarks/run_overhead.py")


def ours(cfg: config.Study, out: Path) -> dict:
    """study.run, timed; its phases from the progress events' arrival times."""
    marks: dict[str, float] = {}

    def on_event(e: dict) -> None:
        now = time.perf_counter()
        if e["kind"] == "start":
            marks["start"] = now
        elif e["kind"] == "epoch":
            marks["last_epoch"] = now
        elif e["kind"] == "note" and e["text"].startswith("every run has ended"):
            marks["seeds_ended"] = now
    t0 = time.perf_counter()
    run_dir = study.run(cfg, out_root=out, on_event=on_event, progress=False)
    end = time.perf_counter()
    result = read_json(Path(run_dir) / "arms" / "cnn" / "seed-0" / "result.json")
    return {"seconds": marks["seeds_ended"] - t0, "whole_seconds": end - t0,
            "phases": {"setup": marks["start"] - t0, "epochs": marks["last_epoch"] - marks["start"],
                       "test": marks["seeds_ended"] - marks["last_epoch"], "results_and_report": end - marks["seeds_ended"]},
            "test_accuracy": result["test"]["accuracy"], "run_dir": Path(run_dir)}


@torch.no_grad()
def _outputs(model: torch.nn.Module, batches) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    outs, ys = zip(*[(model(x), y) for x, y in batches])
    return torch.cat(outs), torch.cat(ys)


def reference(cfg: config.Study, out: Path) -> dict:
    """The raw loop; the seeds our run derives (data split, init, shuffling), so it trains the same batches."""
    t0 = time.perf_counter()
    ds = data.load(cfg.data, split_seed=repro.derive_seed(cfg.seed, "data"))
    run_seed = repro.derive_seed(cfg.seed, "seed", 0)
    torch.manual_seed(repro.derive_seed(run_seed, "init"))
    model = models.build("cnn", ds.input_shape, ds.num_classes, channels=[16, 32])
    t = cfg.train
    opt = train.build_optimizer(model, "adamw", lr=t.optimizer.lr)  # as ours: weight decay 0, the fused kernel
    train_b = ds.batches("train", t.batch_size, train=True, seed=run_seed)
    val_b, test_b = ds.batches("val", t.eval_batch_size), ds.batches("test", t.eval_batch_size)
    out.mkdir(parents=True, exist_ok=True)
    best, best_loss = None, float("inf")
    t1 = time.perf_counter()
    for epoch in range(t.epochs):
        model.train()
        for x, y in train_b.epoch(epoch):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        logits, y = _outputs(model, val_b)
        val_loss, val_acc = float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())
        torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(), "val_loss": val_loss,
                    "val_acc": val_acc}, out / "checkpoint.pt")
        if val_loss < best_loss:
            best, best_loss = copy.deepcopy(model.state_dict()), val_loss
    t2 = time.perf_counter()
    model.load_state_dict(best)
    logits, y = _outputs(model, test_b)
    accuracy = float((logits.argmax(1) == y).double().mean())
    end = time.perf_counter()
    # not part of the raw loop: our clean train-accuracy probe (eval mode, unaugmented, <= 10,000 training images),
    # timed apart so that a row can say how much of the gap is that feature rather than bookkeeping
    idx = torch.from_numpy(evaluate.probe_indices(len(ds.y_train)))
    _outputs(model, data.Batches(ds.x_train[idx], ds.y_train[idx], t.eval_batch_size, transform=ds.transform()))
    return {"seconds": end - t0, "whole_seconds": end - t0, "probe_seconds": time.perf_counter() - end,
            "phases": {"setup": t1 - t0, "epochs": t2 - t1, "test": end - t2, "results_and_report": 0.0},
            "test_accuracy": accuracy, "n_test": len(y)}


def _row(what: str, ours_t: dict, ref_t: dict, target: float | None, ref_what: str) -> dict:
    ratio = ours_t["median"] / ref_t["median"]
    side = lambda t: {"value": t["median"], "unit": t["unit"], "n": t["n"],  # noqa: E731
                      "std": t["spread"]["std"] if t["spread"] else None}
    return {"benchmark": what, "ours": side(ours_t), "reference": {**side(ref_t), "what": ref_what},
            "ratio": ratio, "ratio_of": "median", "target": f"<= {target}x" if target else None,
            "met": ratio <= target if target else None}


def main(repeats: int = 7) -> dict:
    cfg = study_config()
    root = RESULTS.parent / "runs" / "run-overhead"
    shutil.rmtree(root, ignore_errors=True)
    runs: dict[str, list[dict]] = {"ours": [], "reference": []}
    try:
        for rnd in range(repeats + 1):
            order = ("ours", "reference") if rnd % 2 == 0 else ("reference", "ours")
            for who in order:
                r = ours(cfg, root / "ours") if who == "ours" else reference(cfg, root / "reference")
                if who == "ours":
                    shutil.rmtree(r.pop("run_dir"), ignore_errors=True)
                if rnd > 0:  # round 0 warms up imports (the report's matplotlib), allocators and kernels
                    runs[who].append(r)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    t = {who: {k: timing([r[k] for r in runs[who]]) for k in ("seconds", "whole_seconds")} for who in runs}
    t["reference"]["with_probe"] = timing([r["seconds"] + r["probe_seconds"] for r in runs["reference"]])
    t["reference"]["probe"] = timing([r["probe_seconds"] for r in runs["reference"]])
    phases = {who: {p: timing([r["phases"][p] for r in runs[who]]) for p in runs[who][0]["phases"]} for who in runs}
    accuracies = {who: sorted({r["test_accuracy"] for r in runs[who]}) for who in runs}
    n_test = runs["reference"][0]["n_test"]
    same = {round(a * n_test) for who in accuracies for a in accuracies[who]}  # correct test images, both sides
    run_row = _row(f"whole run, small CNN {EPOCHS} epochs: study.run up to every seed ended vs raw loop",
                   t["ours"]["seconds"], t["reference"]["seconds"], TARGET,
                   "raw loop: same epochs + val pass + torch.save checkpoint per epoch + test pass")
    report_row = _row(f"whole run incl. results.json + report, small CNN {EPOCHS} epochs vs raw loop",
                      t["ours"]["whole_seconds"], t["reference"]["whole_seconds"], None,
                      "raw loop (writes no report)")
    probe_row = _row(f"whole run, small CNN {EPOCHS} epochs: study.run up to every seed ended vs raw loop + probe",
                     t["ours"]["seconds"], t["reference"]["with_probe"], None,
                     "raw loop as above + our clean train-accuracy probe (a forward pass over <= 10,000 training "
                     "images): what is left is bookkeeping")
    payload = {
        "workload": {"data": "mnist", "train_limit": TRAIN_LIMIT, "model": "cnn channels [16, 32]", "epochs": EPOCHS,
                     "batch_size": cfg.train.batch_size, "eval_batch_size": cfg.train.eval_batch_size, "seeds": 1,
                     "threads": torch.get_num_threads()},
        "ours_seconds": t["ours"]["seconds"], "reference_seconds": t["reference"]["seconds"],
        "ratio": run_row["ratio"], "ratio_of": "median", "target": f"<= {TARGET}", "met": run_row["met"],
        "ours_whole_seconds": t["ours"]["whole_seconds"], "reference_whole_seconds": t["reference"]["whole_seconds"],
        "ratio_with_report": report_row["ratio"], "reference_probe_seconds": t["reference"]["probe"],
        "ratio_with_probe_in_reference": probe_row["ratio"], "phases": phases, "test_accuracy": accuracies,
        "same_test_accuracy": len(same) == 1, "repeats": repeats,
        # each round's own ratio (the two sides ran back to back): how far the host's noise moves one measurement
        "round_ratios": [o["seconds"] / r["seconds"] for o, r in zip(runs["ours"], runs["reference"])],
        "rows": [run_row, report_row, probe_row]}
    print(f"run overhead: ours {t['ours']['seconds']['median']:.2f} s, reference "
          f"{t['reference']['seconds']['median']:.2f} s: {run_row['ratio']:.3f}x (target <= {TARGET}); with results "
          f"and report {report_row['ratio']:.3f}x; vs raw loop + probe pass {probe_row['ratio']:.3f}x; same test "
          f"accuracy: {len(same) == 1}")
    for who in phases:
        print(f"  {who:9s}", "  ".join(f"{p} {v['median']:.2f} s" for p, v in phases[who].items()))
    write("run_overhead", payload)
    return payload


if __name__ == "__main__":
    main()
