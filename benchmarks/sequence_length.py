"""Time per training step vs sequence length: LSTM (a loop over time) vs temporal convolution vs a
Transformer encoder (all steps at once) — the parallelism argument of seed 004, measured.

Same batch (32 sequences of token ids, vocabulary 20k, embedding 128, hidden / channels / width 128),
forward + backward + Adam step, median of repeated steps with the models interleaved so machine-load
drift hits all of them. Ratios are of medians, against the 1-D CNN at the same length, measured in the same run;
each arm's timing record (n, median, spread, every step) is kept beside them.
On 2 CPU cores the LSTM's time loop costs little (1.3x the CNN at 512 steps); the Transformer's
explicit attention materializes (B, H, T, T) scores, so it grows with T^2 (29-36x at 512 in two runs).
"""
from __future__ import annotations

import time

import torch
from torch import nn

from benchmarks.common import timing, write
from deepstudy import models

LENGTHS = (32, 64, 128, 256, 512)  # tests/test_benchmarks.py shrinks them (and VOCAB) to run the benchmark small
VOCAB = 20000
ARMS = {"lstm": ("rnn", {"cell": "lstm", "hidden": 128}), "bilstm": ("rnn", {"cell": "lstm", "hidden": 128, "bidirectional": True}),
        "conv1d": ("conv1d", {"channels": (128, 128)}), "transformer": ("transformer", {"dim": 128, "depth": 2, "heads": 4})}


def main(repeats: int = 7) -> dict:
    torch.manual_seed(0)
    out = {}
    for i, length in enumerate((LENGTHS[0], *LENGTHS)):  # pass 0 warms up the allocator and threads; discarded
        ids, y = torch.randint(2, VOCAB, (32, length)), torch.randint(0, 2, (32,))
        built = {a: models.build(n, (length,), 2, vocab_size=VOCAB, embed_dim=128, **kw) if n != "transformer"
                 else models.build(n, (length,), 2, vocab_size=VOCAB, max_len=max(LENGTHS), **kw) for a, (n, kw) in ARMS.items()}
        opts = {a: torch.optim.Adam(m.parameters(), 1e-3) for a, m in built.items()}
        times: dict[str, list[float]] = {a: [] for a in built}
        for r in range(repeats + 1):
            for a, m in built.items():
                t0 = time.perf_counter()
                opts[a].zero_grad()
                nn.functional.cross_entropy(m(ids), y).backward()
                opts[a].step()
                if r:  # the first round warms up
                    times[a].append(time.perf_counter() - t0)
        if i == 0:
            continue
        timings = {a: timing([1000 * s for s in t], "ms") for a, t in times.items()}
        med = {a: t["median"] for a, t in timings.items()}
        out[str(length)] = {a: {"ms_per_step": round(v, 2), "vs_conv1d": round(v / med["conv1d"], 2),
                                "timing": timings[a]} for a, v in med.items()}
        print(f"T={length:4d}  " + "  ".join(f"{a} {v:7.1f} ms ({v / med['conv1d']:.1f}x)" for a, v in med.items()))
    write("sequence_length", {"batch": 32, "vocabulary": VOCAB, "repeats": repeats, "ms_per_training_step": out,
                              "note": "forward + backward + Adam step on the CPU; ms_per_step is the median of the timing's "
                                      "runs; ratios (of medians) against conv1d at the same length", "ratio_of": "median"})
    return out


if __name__ == "__main__":
    main()
