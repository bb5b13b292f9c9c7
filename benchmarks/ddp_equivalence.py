"""DDP (issue 21 part 4): 2 gloo processes on CPU x batch b/2 against 1 process x batch b, 20 steps.

python -m benchmarks ddp             # target: max relative difference of the final weights <= 1e-6

An MLP without batch norm, the same initial weights and data order; each epoch's last batch is split unequally
between the ranks (4/3 rows), so the check covers the uneven-share scaling too (deepstudy.train.distributed).
The relative difference of a weight tensor is max |w_ddp - w_one| / max |w_one|; the number reported is the
largest over the tensors. The processes talk through torch.distributed's gloo backend on this machine.
"""
from __future__ import annotations

import time

from benchmarks.common import timing, write
from deepstudy.executors import ddp_check

TARGET = 1e-6


def main() -> None:
    t0 = time.perf_counter()
    result = ddp_check.equivalence(processes=2, steps_per_epoch=10, epochs=2, batch_size=16)
    seconds = time.perf_counter() - t0
    ok = result["max_relative_difference"] <= TARGET
    print(f"ddp: 2 gloo processes x batch 8 vs 1 process x batch 16, {result['steps']} steps: max relative "
          f"difference {result['max_relative_difference']:.3g} (target <= {TARGET:g}: {'met' if ok else 'MISSED'})")
    write("ddp_equivalence", {**result, "target": TARGET, "met": ok,
                              "seconds": timing([seconds]), "note": "seconds: the whole check once (process start-up "
                              "and both trainings), n = 1"})
