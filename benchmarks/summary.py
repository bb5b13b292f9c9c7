"""`make bench`'s closing table: every claim in benchmarks/results/*.json — benchmark, ours, reference, ratio, target,
met — each measured side with its n and spread, then where the files were measured (CPU model and flags, threads,
torch and numpy versions, git describe, dirty).

python -m benchmarks summary     # print it (no training) and write benchmarks/results/SUMMARY.md

A results file that carries a top-level ``"rows"`` list (the schema of ``common.row``) is printed as it is; a file
written before that schema has an adapter below (by file name) that derives its rows from the fields it already has,
without changing the file. A file with neither is listed as "no summary rows".

The files are recorded at different times (each benchmark is run when its code changes): the environment section
prints one block where every file agrees, else what all share and, per file, what differs — marked against the
newest file (commit, CPU, threads, dirty tree).
"""
from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import RESULTS, row, side

COLUMNS = ("benchmark", "ours", "reference", "ratio", "target", "met")
MARKDOWN = "SUMMARY.md"


# ---- adapters: rows of results files written before the "rows" schema (one per file name) -------------------------

def _timed(record, value: float, unit: str, n: int | None = None, runs: list[float] | None = None) -> dict:
    """A side from a timing record where the file has one, else from the recorded value (n and std of the raw runs
    where the file kept them, n alone where it only says how many repeats)."""
    if isinstance(record, dict) and "runs" in record:
        return side(record)
    std = statistics.stdev(runs) if runs and len(runs) > 1 else None
    return {"value": value, "unit": unit, "n": len(runs) if runs else n, "std": std}


def _seconds(record) -> dict:
    """A side from a timing record or an evaluate.describe record of seconds (older files: mean, std, n, values)."""
    if "runs" in record:
        return side(record, stat="mean")
    return {"value": record["mean"], "unit": "s", "n": record["n"], "std": record["std"]}


def _ddp_equivalence(d: dict) -> list[dict]:
    return [row(f"ddp: max relative weight difference, {d['processes']} {d['backend']} processes x b/"
                f"{d['processes']} vs 1 x b, {d['steps']} steps", d["max_relative_difference"], None,
                target=f"<= {d['target']:g}", met=d["met"])]


def _executors(d: dict) -> list[dict]:
    t, target = d["timing"], d["target"]
    ceiling = d.get("ceiling", {})  # 2 / how much slower two seeds train at once than one alone (since 2026-12-07)
    raw = d.get("raw_concurrent_slowdown")  # the same for two hand-written loops (since 2026-12-08)
    return [row(f"executors: {name} vs local, study wall time ({d['study']['name']})"
                + (f"; at most {ceiling[executor]:.2f}x on this machine" if executor in ceiling else "")
                + (f" (two raw PyTorch loops: at most {2 / raw:.2f}x)" if raw else ""),
                t[executor], side(t["local"], what="local"), ratio_of=d.get("ratio_of", "median"),
                target=f"speedup >= {target:g}x (ratio <= {1 / target:.3g})", met=d["met"][executor])
            for executor, name in (("processes", "--jobs 2"), ("ray", "--executor ray")) if executor in t]


def _lr_find_check(d: dict) -> list[dict]:
    acc = d["test_accuracy"]
    return [row(f"lr-find: suggested lr {d['suggested_lr']:.3g} vs the best of a {len(d['grid'])}-rate grid "
                "(test accuracy)", acc["suggested"], side(acc[d["best_grid_arm"]], what=d["best_grid_arm"]),
                target="within noise of the grid's best (Welch p >= 0.05) or above", met=d["met"])]


def _minilm_parity(d: dict) -> list[dict]:
    diff = max(d["max_abs_diff_sentence_embeddings"], d["max_abs_diff_hidden_states"])
    return [row(f"minilm: max abs difference vs the published embeddings ({d['texts']} texts)", diff, None,
                target=f"<= {d['target']:g} and the same token ids", met=d["met"])]


def _mnist_speedrun(d: dict) -> list[dict]:
    return [row(f"speedrun {arm}: seconds per seed to >= 99 % (accuracy {a['accuracy']['mean']:.2%})",
                _seconds(a["seconds"]), None, target=f"<= {a['target_seconds']:g} s (mean) and >= 99.0 %",
                met=a["met"]) for arm, a in d["arms"].items()]


def _nab_taxi(d: dict) -> list[dict]:
    out = []
    for arm, a in d["arms"].items():
        taxi = a["nyc_taxi_standard"]
        stronger = max(("zscore", "random"), key=lambda b: taxi[b]["mean"])
        out.append(row(f"NAB nyc_taxi score (standard profile): {arm} vs {stronger}, the stronger baseline",
                       taxi["model"], side(taxi[stronger], what=stronger),
                       target="beats the z-score and the random detector (mean of seeds)", met=a["target_met_on_mean"]))
    return out


def _naive_bayes_ag_news(d: dict) -> list[dict]:
    return [row(f"naive Bayes alpha={alpha}: 5-fold accuracy vs scikit-learn", a["ours"],
                side(a["sklearn"], what="scikit-learn"), target="gap <= 0.5 points", met=a["met"])
            for alpha, a in d["alphas"].items()]


def _rnn_padding(d: dict) -> list[dict]:
    out = []
    for precision, lengths in d["ms_per_step"].items():
        for length, ways in lengths.items():
            ours, ref = ways["padding-blind (ours)"], ways["packed (torch)"]
            out.append(row(f"rnn padding {precision} T={length}: padding-blind BiLSTM vs packed",
                           _timed(ours.get("timing"), ours["ms_per_step"], "ms", d["repeats"]),
                           side(_timed(ref.get("timing"), ref["ms_per_step"], "ms", d["repeats"]), what="torch packed"),
                           ratio=ours["vs_packed"], ratio_of="median"))
    return out


def _scratch_vs_torch_speed(d: dict) -> list[dict]:
    out = []
    for key, m in d.items():
        if not (isinstance(m, dict) and "numpy_ms_per_step" in m):
            continue
        raw = m.get("raw_seconds_per_step", {})
        ours = _timed(m.get("numpy_ms_per_step_timing"), m["numpy_ms_per_step"], "ms",
                      runs=[1000 * s for s in raw.get("numpy", [])])
        ref = _timed(m.get("torch_ms_per_step_timing"), m["torch_ms_per_step"], "ms",
                     runs=[1000 * s for s in raw.get("torch", [])])
        target = m.get("target")
        out.append(row(f"NumPy engine vs torch, {m['model']} step (batch {m['batch_size']})", ours,
                       side(ref, what="torch"), ratio=m["ratio"], ratio_of=m.get("ratio_of", "median"),
                       target=target if target and target.startswith("<=") else None, met=m.get("met")))
    return out


def _search_jobs(d: dict) -> list[dict]:
    out = []
    for name, r in d["runs"].items():
        one, two = r["1"], r["2"]
        out.append(row(f"search --jobs 2 vs --jobs 1, 16 trials' wall time ({name})",
                       (two.get("timing") or {}).get("trials") or (two["trials_seconds"], "s"),
                       side((one.get("timing") or {}).get("trials") or (one["trials_seconds"], "s"), what="--jobs 1"),
                       ratio=r["ratio"], ratio_of=r.get("ratio_of", "one run each (n = 1)"),
                       target=f"<= {d['target']:g}", met=r["met"]))
    return out


def _search_pruning(d: dict) -> list[dict]:
    full = d["runs"]["none"]["epochs"]["total"]
    return [row(f"search-cnn pruned ({pruner}) vs unpruned: epochs trained", (d["runs"][pruner]["epochs"]["total"],
                "epochs"), side((full, "epochs"), what="no pruner"), ratio=v["epoch_share"], ratio_of="total epochs",
                target="<= 0.5 of the epochs, winner's test accuracy within noise", met=v["met"])
            for pruner, v in d["verdicts"].items()]


def _search_samplers(d: dict) -> list[dict]:
    found = d["found"]
    return [row(f"search sampler {s} vs random: best accuracy found ({d['budget']} trials, {d['repeats']} searches)",
                found[s], side(found["random"], what="random"), ratio_of="mean")
            for s in found if s != "random"]


def _sequence_length(d: dict) -> list[dict]:
    length = max(d["ms_per_training_step"], key=int)  # the claim: the cost at the longest sequences
    arms = d["ms_per_training_step"][length]
    repeats = d.get("repeats")
    ref = arms["conv1d"]
    return [row(f"sequence T={length}: {a} training step vs 1-D CNN", _timed(v.get("timing"), v["ms_per_step"], "ms",
                repeats), side(_timed(ref.get("timing"), ref["ms_per_step"], "ms", repeats), what="conv1d"),
                ratio=v["vs_conv1d"], ratio_of="median") for a, v in arms.items() if a != "conv1d"]


SOM_SPEEDUP = 30  # som_speed's target text: "speedup >= 30 (stretch 60) with no worse quantization error"


def _som_vs_minisom(d: dict) -> list[dict]:
    out = []
    for schedule, r in d["results"].items():
        ours = _timed(r.get("ours_timing"), r["ours_seconds"], "s", d["repeats"])
        ref = _timed(r.get("minisom_timing"), r["minisom_seconds"], "s", d["repeats"])
        out.append(row(f"SOM {schedule} decay vs MiniSom, {d['map']} map, {d['epochs']} epochs (quantization error "
                       f"{r['ours_quantization_error']} vs {r['minisom_quantization_error']})", ours,
                       side(ref, what="MiniSom"), ratio_of="median",
                       target=f"speedup >= {SOM_SPEEDUP}x (ratio <= {1 / SOM_SPEEDUP:.3g}), quantization error no worse",
                       met=r["speedup"] >= SOM_SPEEDUP and r["quantization_no_worse"]))
    return out


def _study_accuracy(d: dict) -> list[dict]:
    out = []
    for r in d["results"]:
        metric = r.get("metric") or "accuracy"
        for prefix, t in r["targets"].items():
            persistence = r.get("persistence_r2")
            out.append(row(f"{r['study']} ({r['dataset']}): test {metric}, best {prefix or 'arm'}: "
                           f"{t['best_arm']}", r["arms"][t["best_arm"]],
                           None if persistence is None else side(persistence, what="persistence forecast"),
                           target=f">= {t['threshold']:g}", met=t["met"]))
    return out


def _trainer_overhead(d: dict) -> list[dict]:
    out = []
    for key, label in (("small_cnn_batch256", "small CNN, batch 256"), ("tiny_mlp_batch8", "tiny MLP, batch 8")):
        m = d.get(key)
        if not m:
            continue
        raw, steps = m.get("raw_seconds", {}), m["steps_per_epoch"]
        ours = _timed(m.get("ours_ms_per_step_timing"), m["ours_ms_per_step"], "ms",
                      runs=[1000 * s / steps for s in raw.get("ours", [])])
        ref = _timed(m.get("reference_ms_per_step_timing"), m["reference_ms_per_step"], "ms",
                     runs=[1000 * s / steps for s in raw.get("reference", [])])
        out.append(row(f"trainer step vs a hand-written loop ({label})", ours, side(ref, what="plain PyTorch loop"),
                       ratio=m["ratio"], ratio_of=m.get("ratio_of", "median"), target=m["target"], met=m["met"]))
    if (loader := d.get("loader_and_augmentation")):
        def secs(v):  # a timing record, or (older files) the list of runs
            return v if isinstance(v, dict) else {"value": statistics.median(v), "unit": "s", "n": len(v),
                                                   "std": statistics.stdev(v) if len(v) > 1 else None}
        out.append(row("loader + augmentation vs a CNN training epoch", secs(loader["loader_seconds"]),
                       side(secs(loader["epoch_seconds"]), what="training epoch"), ratio=loader["loader_share_of_step"],
                       ratio_of=loader.get("share_of", "median"), target=loader["target"], met=loader["met"]))
    return out


ADAPTERS: dict[str, Callable[[dict], list[dict]]] = {
    "ddp_equivalence": _ddp_equivalence, "executors": _executors, "lr_find_check": _lr_find_check,
    "minilm_parity": _minilm_parity, "mnist_speedrun": _mnist_speedrun, "nab_taxi": _nab_taxi,
    "naive_bayes_ag_news": _naive_bayes_ag_news, "rnn_padding": _rnn_padding,
    "scratch_vs_torch_speed": _scratch_vs_torch_speed, "search_jobs": _search_jobs, "search_pruning": _search_pruning,
    "search_samplers": _search_samplers, "sequence_length": _sequence_length, "som_vs_minisom": _som_vs_minisom,
    "study_accuracy": _study_accuracy, "trainer_overhead": _trainer_overhead,
}


def rows_of(name: str, payload: dict) -> list[dict] | None:
    """The file's own ``"rows"`` (a list: ddp_equivalence's ``rows`` is a data count), else its adapter's; None for
    a file this summary cannot read."""
    if isinstance(payload.get("rows"), list):
        return payload["rows"]
    adapter = ADAPTERS.get(name.partition(".")[0])  # <name>.<isa>: the same benchmark, kernels held (isa.py)
    return adapter(payload) if adapter else None


# ---- formatting -----------------------------------------------------------------------------------------------------

def _num(v, digits: int = 4) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{v:.{digits}g}"


def cell(s: dict | None) -> str:
    """``value unit ± std (n=N)`` of one side, ``what: `` in front where it says what the reference is."""
    if s is None:
        return "—"
    text = _num(s.get("value")) + (f" {s['unit']}" if s.get("unit") else "")
    if s.get("std") is not None:
        text += f" ± {_num(s['std'], 2)}"
    if s.get("n") is not None:
        text += f" (n={s['n']}" + (", spread not recorded)" if s["n"] > 1 and s.get("std") is None else ")")
    return f"{s['what']}: {text}" if s.get("what") else text


def _cells(r: dict) -> list[str]:
    ratio = "—" if r.get("ratio") is None else f"{r['ratio']:#.3g}" + (f" ({r['ratio_of']})" if r.get("ratio_of") else "")
    met = {True: "yes", False: "NO", None: "—"}[r.get("met")]
    return [str(r.get("benchmark", "?")), cell(r.get("ours")), cell(r.get("reference")), ratio,
            r.get("target") or "—", met]


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    """A markdown table, columns padded so it also reads as plain text."""
    lines = [[c.replace("|", "\\|") for c in line] for line in lines]
    widths = [max(len(x) for x in col) for col in zip(header, *lines)]
    fmt = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return [fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(fmt(line) for line in lines)]


# ---- environment ----------------------------------------------------------------------------------------------------

def _flags(flags: dict | None) -> str:
    if not flags:
        return "not recorded"
    return " ".join(f if on else f"no-{f}" for f, on in flags.items())


def environment_of(payload: dict) -> dict[str, str]:
    """The fields of a file's evidence that decide whether its numbers compare with another's."""
    ev = payload.get("evidence") or {}
    commit = ev.get("git_describe") or (ev.get("git") or "?")[:7]
    dirty = ev.get("dirty", payload.get("dirty"))
    return {"commit": commit, "dirty": {True: "yes", False: "no", None: "not recorded"}[dirty],
            "CPU": ev.get("cpu") or "not recorded", "CPU flags": _flags(ev.get("cpu_flags")),
            "kernels": ev.get("torch_cpu_capability") or "not recorded",
            "threads": str(ev.get("torch_threads", "not recorded")), "torch": ev.get("torch") or "not recorded",
            "numpy": ev.get("numpy") or "not recorded", "recorded": ev.get("date") or "?"}


COMPARED = ("commit", "dirty", "CPU", "CPU flags", "kernels", "threads", "torch", "numpy")


def _environment(envs: dict[str, dict[str, str]]) -> list[str]:
    if not envs:
        return []
    shared = [k for k in COMPARED if len({e[k] for e in envs.values()}) == 1]
    dates = sorted(e["recorded"] for e in envs.values())
    first = next(iter(envs.values()))
    if len(shared) == len(COMPARED):
        return ["## Environment (the same for every file)", "",
                *(f"- {k}: {first[k]}" for k in COMPARED), f"- recorded: {dates[0]} to {dates[-1]}"]
    newest_name = max(envs, key=lambda n: envs[n]["recorded"])
    newest = envs[newest_name]
    varying = [k for k in COMPARED if k not in shared]
    lines = ["## Environment", "",
             "The files were recorded at different times and do not all agree. Shared by every file: "
             + (", ".join(f"{k} {first[k]}" for k in shared) or "nothing") + ".",
             f"Per file, what varies; 'differs' is against the newest file ({newest_name}).", ""]

    def marks(e: dict) -> str:
        out = [k for k in ("commit", "CPU", "threads", "torch", "numpy") if k in varying and e[k] != newest[k]]
        out += [k for k in ("CPU flags", "kernels") if k in varying and e[k] != newest[k]
                and "not recorded" not in (e[k], newest[k])]
        text = ("differs: " + ", ".join(out)) if out else ""
        return "; ".join(x for x in (text, "dirty tree" if e["dirty"] == "yes" else "") if x)

    table = [[n, e["recorded"], *(e[k] for k in varying), marks(e)] for n, e in envs.items()]
    return lines + _table(["file", "recorded", *varying, "marks"], table)


# ---- the summary ------------------------------------------------------------------------------------------------------

def summarize(folder: Path = RESULTS) -> tuple[str, list[dict]]:
    """The summary of every results file in ``folder`` as markdown text, and the rows it prints."""
    rows, notes, envs = [], [], {}
    for path in sorted(Path(folder).glob("*.json"), key=lambda p: (p.stem.partition(".")[0], p.stem)):
        name, _, capped = path.stem.partition(".")  # <name>.<isa>.json: kernels held to an ISA (benchmarks/isa.py)
        try:
            payload = json.loads(path.read_text())
            got = rows_of(name, payload) if isinstance(payload, dict) else None
            if got and capped:
                cpu = (payload.get("evidence") or {}).get("cpu") or "this CPU"
                got = [{**r, "benchmark": f"{r.get('benchmark', '?')} [{capped.upper()} kernels only, on {cpu}: "
                        f"an emulated {capped.upper()}-only CPU]"} for r in got]
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:  # a file the adapter
            notes.append(f"{path.name}: no summary rows ({type(e).__name__}: {e})")  # did not expect: say so
            continue
        if not got:
            notes.append(f"{path.name}: no summary rows")
            continue
        rows.extend(got)
        envs[path.name] = environment_of(payload)
    met = [r.get("met") for r in rows]
    lines = [f"# Benchmark summary ({len(rows)} claims from {len(envs)} results files: {met.count(True)} met, "
             f"{met.count(False)} not met, {met.count(None)} without a target)", "",
             "Each side: value ± sample std (n = measurements); ratio = ours / reference. "
             "Made by `python -m benchmarks summary` from benchmarks/results/*.json.", "",
             *_table(list(COLUMNS), [_cells(r) for r in rows])]
    if notes:
        lines += ["", *notes]
    env = _environment(envs)
    return "\n".join(lines + ([""] + env if env else [])) + "\n", rows


def main(folder: Path | str = RESULTS, markdown: Path | str | None = None) -> str:
    """Print the summary of ``folder`` and write it to ``markdown`` (default: ``folder``/SUMMARY.md)."""
    folder = Path(folder)
    text, _ = summarize(folder)
    print(text, end="")
    if folder.is_dir():
        out = Path(markdown) if markdown is not None else folder / MARKDOWN
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    return text


if __name__ == "__main__":
    main()
