"""Time of a padding-blind bidirectional LSTM step: torch's packed sequences vs our encoder, which runs the fused
kernel on the padded batch and reverses each sequence within its length for the backward direction.

The encoder of study imdb-sentiment (3 layers, bidirectional, 64 hidden units, 128-d inputs), a batch of 64 with
lengths drawn from [0.8 T, T] (what a length-bucketed batch holds), forward + backward of the states. Both give the
same states and gradients (tests/test_sequence_models.py); the reference is torch's pack_padded_sequence path,
measured in the same run, interleaved, median of repeats (ratios of medians; each way's timing record — n, median,
spread, every step — kept beside them). "padded (reads padding)" is the plain fused call on the
padded batch — not padding-blind, the floor for either.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from benchmarks.common import timing, write
from deepstudy.models.rnn import RecurrentNet

LENGTHS = (100, 200, 400)  # tests/test_benchmarks.py shrinks them to run the benchmark small


def _packed(rnn: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    return nn.utils.rnn.pad_packed_sequence(nn.LSTM.forward(rnn, packed)[0], batch_first=True, total_length=x.shape[1])[0]


def main(repeats: int = 5) -> dict:
    torch.manual_seed(0)
    rnn = RecurrentNet(2, vocab_size=100, embed_dim=128, hidden=64, layers=3, bidirectional=True).rnn
    ways = {"packed (torch)": lambda x, n: _packed(rnn, x, n), "padding-blind (ours)": lambda x, n: rnn(x, n),
            "padded (reads padding)": lambda x, n: nn.LSTM.forward(rnn, x)[0]}
    out: dict = {}
    for precision in ("fp32", "bf16"):
        cast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
        for length in LENGTHS:
            x = torch.randn(64, length, 128, requires_grad=True)
            lengths = torch.randint(int(0.8 * length), length + 1, (64,))
            lengths[0] = length
            times: dict[str, list[float]] = {w: [] for w in ways}
            for r in range(repeats + 1):
                for w, f in ways.items():
                    t0 = time.perf_counter()
                    with cast:
                        states = f(x, lengths)
                    states.float().square().mean().backward()
                    if r:  # the first round warms up
                        times[w].append(time.perf_counter() - t0)
            timings = {w: timing([1000 * s for s in t], "ms") for w, t in times.items()}
            med = {w: t["median"] for w, t in timings.items()}
            ref = med["packed (torch)"]
            out.setdefault(precision, {})[str(length)] = {
                w: {"ms_per_step": round(v, 1), "vs_packed": round(v / ref, 3), "timing": timings[w]}
                for w, v in med.items()}
            print(f"{precision} T={length:3d}  " + "  ".join(f"{w} {v:7.1f} ms ({v / ref:.2f}x)" for w, v in med.items()))
    write("rnn_padding", {"batch": 64, "encoder": "LSTM, 3 layers, bidirectional, 64 hidden, 128-d input",
                          "lengths": "uniform in [0.8 T, T]", "repeats": repeats, "ms_per_step": out,
                          "ratio_of": "median", "note": "forward + backward of the encoder's states on the CPU; "
                          "ms_per_step is the median of the timing's runs; ratios (of medians) against torch's packed path"})
    return out


if __name__ == "__main__":
    main()
