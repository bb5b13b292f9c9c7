"""`deepstudy doctor`: torch, device, data and a tiny training — whether this machine is ready, in seconds."""
from __future__ import annotations

import os
import time

from deepstudy.cli.presence import presence


def cmd_doctor(args) -> int:
    import torch

    from deepstudy.data import registry
    from deepstudy.train import cpu_supports_bf16

    ok = True
    print(f"torch {torch.__version__} · {torch.get_num_threads()} threads · "
          f"CUDA {'yes: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}"
          f" · CPU bf16 {'yes' if cpu_supports_bf16() else 'no'}")
    roots = registry.data_roots()
    print("data roots, in order: " + ", ".join(f"{r} ({'exists' if r.is_dir() else 'absent'})" for r in roots))
    if not os.environ.get("DEEPSTUDY_DATA"):
        print("  DEEPSTUDY_DATA is not set: datasets are looked for in the cache only")
    for name, spec in sorted(registry.REGISTRY.items()):
        state = presence(spec)
        ok &= not state.startswith("checksum")
        print(f"  {name:<14} {state}")
    t0 = time.perf_counter()
    acc = _tiny_training()
    print(f"tiny training (MLP on digits, 2 epochs): test accuracy {acc:.3f} in {time.perf_counter() - t0:.1f} s")
    ok &= acc > 0.5
    print("all good" if ok else "problems found (see above)")
    return 0 if ok else 1


def _tiny_training() -> float:
    import torch

    from deepstudy import data, models, train
    from deepstudy.config import DataConfig

    ds = data.load(DataConfig(name="digits"), split_seed=0)
    torch.manual_seed(0)
    model = models.build("mlp", ds.input_shape, ds.num_classes, hidden=[64])
    opt = train.build_optimizer(model, "adamw", lr=3e-3)
    batches = ds.batches("train", 64, train=True)
    for _ in train.fit(model, batches.epoch, ds.batches("val", 512), optimizer=opt, scheduler=None,
                       loss_fn=torch.nn.CrossEntropyLoss(), epochs=2, device=torch.device("cpu"), seed=0):
        pass
    logits, y = train.predict(model, ds.batches("test", 512), device=torch.device("cpu"))
    return float((logits.argmax(1) == y).float().mean())
