"""task: language-model — a character-level recurrent language model (Karpathy's char-rnn) on a text corpus.

Training windows of ``lm.seq_len`` characters start at random positions of the training text (seeded per
epoch, as nanoGPT's get_batch); the model predicts every next character (many-to-many). Validation and
test text are read as 16 contiguous streams whose recurrent state is carried from chunk to chunk, so each
character is predicted from all the text before it in its stream (the streams' first characters have no
context: 16 of tens of thousands). Scores, in nats per character (NLL):

- perplexity exp(NLL) — the model is as unsure as a uniform choice among that many characters;
- bits per character NLL / ln 2 (what a compressor driven by the model would spend);
- next-character accuracy (top-1).

Beside them, count-based n-gram models of the same training text (add-k smoothing, k chosen on the
validation text) are scored on the same test text: the question is whether the network knows more than
which characters follow which. After every epoch the model writes ``lm.sample_length`` characters
from the start of the validation text at each temperature (samples.jsonl).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepstudy import data as _data
from deepstudy import evaluate, models, repro, train
from deepstudy.config import Study, check_task_model
from deepstudy.errors import UserError
from deepstudy.fileio import append_jsonl, read_json, read_jsonl, write_json
from deepstudy.models.rnn import CharLM
from deepstudy.records import SeedResult
from deepstudy.rundir import RunDir
from deepstudy.tasks import SeedContext, Size, Task
from deepstudy.train.precision import ProbeSetup

METRICS = ("perplexity", "bits_per_char", "accuracy")
_MODEL_KEYS = ("cell", "dropout", "embed_dim", "hidden", "layers")
_STREAMS = 16
_PREFIX = 40  # characters of the validation text that start every sample


def build(cfg: Study, vocab_size: int) -> CharLM:
    return CharLM(vocab_size, **cfg.model.kwargs())


# ---------------------------------------------------------------------------- n-gram baselines


def ngram_nll(train_ids: np.ndarray, eval_ids: np.ndarray, history: np.ndarray, order: int, k: float,
              vocab: int) -> float:
    """Mean NLL (nats/char) of ``eval_ids`` under an add-k smoothed order-n model counted on ``train_ids``:
    P(c | ctx) = (count(ctx c) + k) / (count(ctx) + k V), ctx the n-1 characters before c (``history`` supplies
    them for the first characters of ``eval_ids``)."""
    seq = np.concatenate([history[len(history) - (order - 1):] if order > 1 else history[:0],
                          eval_ids]).astype(np.int64)

    def codes(ids: np.ndarray, n: int) -> np.ndarray:  # each length-n window as one integer, base V
        out = np.zeros(len(ids) - n + 1, dtype=np.int64)
        for j in range(n):
            out = out * vocab + ids[j:len(ids) - n + 1 + j]
        return out

    train_full, eval_full = codes(train_ids.astype(np.int64), order), codes(seq, order)
    full = _count(train_full, eval_full)
    ctx = (_count(train_full // vocab, eval_full // vocab) if order > 1 else np.full(len(eval_full), len(train_full)))
    return float(-np.mean(np.log((full + k) / (ctx + k * vocab))))


def _count(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    uniq, counts = np.unique(keys, return_counts=True)
    at = np.clip(np.searchsorted(uniq, queries), 0, len(uniq) - 1)
    return np.where(uniq[at] == queries, counts[at], 0).astype(np.float64)


def ngram_baselines(ds: _data.Dataset, orders: tuple[int, ...], run_dir: Path) -> dict:
    """Per order: k chosen on the validation text, then validation and test perplexity (cached per run)."""
    path = run_dir / "ngram.json"
    if path.is_file():
        return read_json(path)
    tr, va, te, v = ds.x_train.numpy(), ds.x_val.numpy(), ds.x_test.numpy(), len(ds.vocab)
    out = {}
    for n in orders:
        val = {k: ngram_nll(tr, va, tr, n, k, v) for k in (1.0, 0.1, 0.01, 0.001)}
        k = min(val, key=val.get)
        test = ngram_nll(tr, te, va, n, k, v)
        out[str(n)] = {"k": k, "val_perplexity": math.exp(val[k]), "test_perplexity": math.exp(test),
                       "test_bits_per_char": test / math.log(2)}
    write_json(path, out)
    return out


# ---------------------------------------------------------------------------- the model


def _windows(ids: torch.Tensor, batch: int, seq_len: int, steps: int, seed: int):
    """``steps`` batches of (x, y): (B, T) windows at random starts and the same windows shifted by one."""
    g = repro.generator(seed)
    offsets = torch.arange(seq_len + 1, device=ids.device)
    for _ in range(steps):
        start = torch.randint(0, len(ids) - seq_len - 1, (batch,), generator=g).to(ids.device)
        chunk = ids[start[:, None] + offsets]  # (B, T + 1)
        yield chunk[:, :-1], chunk[:, 1:]


@torch.no_grad()
def stream_scores(model: CharLM, ids: torch.Tensor, seq_len: int, precision: str = "fp32") -> dict:
    """NLL, perplexity, bits per char and next-char accuracy of ``ids`` read as contiguous streams, state carried."""
    model.eval()
    device = next(model.parameters()).device
    streams = max(1, min(_STREAMS, len(ids) // 64))  # independent of seq_len: the same characters are scored
    text = ids[: len(ids) // streams * streams].view(streams, -1).to(device)  # (S, L)
    context, _ = train.autocast(precision, device)
    state, nll, hits, n = None, 0.0, 0, 0
    for s in range(0, text.shape[1] - 1, seq_len):
        x, y = text[:, s:s + seq_len], text[:, s + 1:s + seq_len + 1]
        x = x[:, :y.shape[1]]
        with context():
            logits, state = model(x, state)
        logits = logits.float()
        nll += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
        hits += int((logits.argmax(-1) == y).sum())
        n += y.numel()
    loss = nll / max(n, 1)
    return {"loss": loss, "perplexity": math.exp(loss), "bits_per_char": loss / math.log(2),
            "accuracy": hits / max(n, 1),
            "characters": n}


def _samples(model: CharLM, ds: _data.Dataset, cfg: Study, epoch: int, seed: int) -> list[dict]:
    device = next(model.parameters()).device
    prefix = ds.x_val[:_PREFIX].to(device)
    out = []
    for t in cfg.lm.temperatures:
        g = repro.generator(repro.derive_seed(seed, "sample", epoch, t), device)
        ids = model.generate(prefix, cfg.lm.sample_length, temperature=t, generator=g).cpu().tolist()
        out.append({"epoch": epoch, "temperature": t, "prefix": "".join(ds.vocab[i] for i in prefix.cpu().tolist()),
                    "text": "".join(ds.vocab[i] for i in ids)})
    return out


class LanguageModelTask(Task):
    name = "language-model"
    epoch_metrics = {"val_loss": True, "val_acc": False, "val_perplexity": True}
    owns = {"corpus": "a text corpus (a stream of characters without labels) goes with task: language-model"}
    lower_is_better = True

    def check(self, arm: str, cfg: Study, study: Study) -> None:
        check_task_model(arm, cfg, "char-rnn", _MODEL_KEYS, "name: char-rnn, cell: lstm, hidden: 256, layers: 2")
        if cfg.model.kwargs().get("cell", "lstm") not in ("lstm", "gru", "rnn"):
            raise UserError(f"arm '{arm}': model.cell must be lstm, gru or rnn, got {cfg.model.kwargs()['cell']!r}")
        try:
            models.checked_build("char-rnn", cfg.model.kwargs(), lambda: build(cfg, 2), where=f"arm '{arm}': ")
        except (TypeError, ValueError) as e:
            raise UserError(f"arm '{arm}': {models.unbuildable('char-rnn', cfg.model.kwargs(), e)}") from None
        extra = set(cfg.analyses) - {"curves", "samples"}
        if extra:
            raise UserError(f"arm '{arm}': analyses {', '.join(sorted(extra))} do not apply to task: language-model; "
                            "use curves and samples")
        if cfg.train.precision == "fp16":
            raise UserError(f"arm '{arm}': task: language-model trains in fp32 or bf16")

    def check_data(self, arm: str, cfg: Study, ds: _data.Dataset) -> None:
        if ds.kind != "corpus":
            raise UserError(f"arm '{arm}': task: language-model reads a text corpus (e.g. data.name: tinyshakespeare, "
                            f"or data.format: text-corpus with data.path: a .txt file); '{ds.name}' is {ds.kind} data")
        if len(ds.x_train) <= cfg.lm.seq_len + 1:
            raise UserError(f"arm '{arm}': lm.seq_len {cfg.lm.seq_len} needs more than {cfg.lm.seq_len + 1} training "
                            f"characters; '{ds.name}' has {len(ds.x_train)} (lower lm.seq_len or data.train_limit)")

    def train_seed(self, ctx: SeedContext) -> SeedResult:
        return train_one(ctx)

    def headline(self, data_info: dict) -> tuple[str, tuple[str, ...]]:
        return "perplexity", METRICS

    def gap_metric(self, metric: str) -> str:
        return "accuracy"  # next-character accuracy, train vs test text

    def size(self, cfg: Study, data_info: dict, ok: list[dict]) -> Size:
        return Size(sum(p.numel() for p in build(cfg, data_info["vocab_size"]).parameters()))

    def summarize(self, study: Study, cfg: Study, run: RunDir, arm: str, ok: list[dict], data_info: dict) -> dict:
        return {"lm": summary(run, arm, ok)}

    def precision_probe(self, cfg: Study, ds: _data.Dataset, device: torch.device) -> ProbeSetup:
        """The arm's model on one batch of windows drawn by a generator of its own (no global random state)."""
        x, y = next(_windows(ds.x_train.to(device), cfg.train.batch_size, cfg.lm.seq_len, 1, 0))
        return ProbeSetup(lambda: build(cfg, len(ds.vocab)).to(device), x, y, lambda m, x, y: _lm_step(m, x, y)[0])

    def study_extras(self, study: Study, arms: dict[str, Study], out_arms: dict) -> dict:
        return {"ngram": next((s["ngram"] for a in out_arms.values() for s in a["seeds"] if s.get("ngram")), None)}


def _lm_step(model: CharLM, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """train.fit's step: every next character, the loss in float32 outside autocast."""
    logits, _ = model(x)
    with torch.autocast(x.device.type, enabled=False):
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
    return loss, logits


def train_one(ctx: SeedContext) -> SeedResult:
    cfg, ds, device, run_seed, folder = ctx.cfg, ctx.dataset, ctx.device, ctx.run_seed, ctx.seed.path
    t, lm = cfg.train, cfg.lm
    baselines = ngram_baselines(ds, lm.ngram_orders, ctx.run.path)
    repro.seed_torch(repro.derive_seed(run_seed, "init"))
    model = build(cfg, len(ds.vocab)).to(device)
    steps = lm.steps_per_epoch or max(1, len(ds.x_train) // (t.batch_size * lm.seq_len))
    optimizer, scheduler = train.from_settings(model, t, steps)
    scaler = train.grad_scaler(t.precision, device)
    _, precision_used = train.autocast(t.precision, device)
    monitor = train.Monitor(t.early_stopping.monitor, t.early_stopping.patience, t.early_stopping.min_delta)
    x_train = ds.x_train.to(device)

    def windows(epoch: int):
        return _windows(x_train, t.batch_size, lm.seq_len, steps, repro.derive_seed(run_seed, "batches", epoch))

    def validate(net: CharLM) -> dict:
        val = stream_scores(net, ds.x_val, lm.seq_len, t.precision)
        return {"val_loss": val["loss"], "val_acc": val["accuracy"], "val_perplexity": val["perplexity"]}

    def epochs(start: int):
        for r in train.fit(model, windows, None, optimizer=optimizer, scheduler=scheduler, loss_fn=None,
                           epochs=t.epochs,
                           device=device, seed=run_seed, start_epoch=start, precision=t.precision,
                           grad_clip=t.grad_clip,
                           scaler=scaler, step=_lm_step, validate=validate):
            for sample in _samples(model, ds, cfg, r.epoch, run_seed):
                append_jsonl(folder / "samples.jsonl", sample)
            yield {"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": None, "val_loss": r.val_loss,
                   "val_acc": r.val_acc, "val_perplexity": r.extra["val_perplexity"], "lr": r.lr, "seconds": r.seconds,
                   "eval_seconds": r.eval_seconds, "steps": r.steps}

    train.drive(folder, train.TorchState(model, optimizer, scheduler, scaler), epochs, total=t.epochs, monitor=monitor,
                on_event=ctx.on_event, arm=ctx.arm, seed=ctx.index, logs=("samples.jsonl",),
                every=t.checkpoint_seconds)
    train.checkpoint.load_weights(model, ctx.seed.best)
    t2 = time.perf_counter()
    test = stream_scores(model, ds.x_test, lm.seq_len, t.precision)
    on_train = stream_scores(model, ds.x_train[:len(ds.x_test)], lm.seq_len, t.precision)  # as much text as the test
    record = evaluate.run_record(read_jsonl(ctx.seed.metrics), best_epoch=monitor.best_epoch,
                                 monitor={"metric": monitor.metric, "best": monitor.best},
                                 stopped_early=monitor.should_stop,
                                 precision=precision_used, test_seconds=time.perf_counter() - t2,
                                 train_accuracy=on_train["accuracy"], test=test)
    record.extras.update(train_perplexity=on_train["perplexity"], ngram=baselines)
    return record


def summary(run: RunDir, arm: str, ok: list[dict]) -> dict:
    """Train perplexity (overfitting shows as train far below test) and seed 0's samples over epochs."""
    first = next(iter(ok), None)
    samples = read_jsonl(run.seed(arm, first["seed"]) / "samples.jsonl") if first else []
    epochs = sorted({s["epoch"] for s in samples})
    shown = sorted({epochs[0], epochs[len(epochs) // 2], epochs[-1]}) if epochs else []
    return {"train_perplexity": evaluate.describe([s["train_perplexity"] for s in ok]),
            "samples": [s for s in samples if s["epoch"] in shown]}
