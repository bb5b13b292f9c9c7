"""``deepstudy predict`` and ``deepstudy export``: use a trained seed of a run (deepstudy.runs.predict / export)."""
from __future__ import annotations

from deepstudy.errors import UserError


def add_parsers(sub) -> None:
    p = sub.add_parser("predict", help="class probabilities of new images, table rows or texts from a trained run, "
                                       "as CSV",
                       description="Predict with the best weights of one arm and seed of a run (task: classify). The "
                                   "inputs go through the preprocessing saved in the run (training normalization, "
                                   "table encoders, vocabulary); the training data is not needed. The CSV has the "
                                   "input, the predicted class and one probability column p_<class> per class.",
                       epilog="examples: deepstudy predict runs/mlp-vs-cnn/2026-... shirt.png photos/ | deepstudy "
                              "predict runs/tabular-churn/2026-... customers.csv --arm mlp --seed 2 --out churn.csv | "
                              "deepstudy predict runs/imdb-sentiment/2026-... reviews.txt")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files or folders (or .npy raw images), CSV files of table rows, or text files (one text "
                        "per line) / CSV files with a text column")
    _which(p)
    p.add_argument("--out", default="predictions.csv", metavar="FILE",
                   help="CSV to write (default: predictions.csv in the current folder; never replaced without --force)")
    p.add_argument("--column", help="text runs: the CSV column that holds the text (default: a column named text, "
                                    "review, title, description or message, or the only column)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")

    e = sub.add_parser("export", help="a trained network as ONNX or TorchScript, checked against torch",
                       description="Export the best weights of one arm and seed of a run (task: classify). The file "
                                   "reads inputs already preprocessed as in training (the run's preprocessing.json, "
                                   "also stored inside the file) and outputs logits; before it is written, its outputs "
                                   "on 64 inputs are checked against torch's.",
                       epilog="examples: deepstudy export runs/mlp-vs-cnn/2026-... --format onnx | deepstudy export "
                              "runs/x/2026-... --arm cnn --seed 1 --format torchscript --out cnn.pt")
    e.add_argument("run_dir")
    e.add_argument("--format", required=True, choices=["onnx", "torchscript"], dest="fmt")
    _which(e)
    e.add_argument("--out", metavar="FILE",
                   help="file to write (default: <study>-<arm>-seed-<k>.onnx or .pt in the current folder)")
    e.add_argument("--force", action="store_true", help="replace --out if it exists")


def _which(p) -> None:
    p.add_argument("--arm", help="the arm whose weights to use (default: the run's best arm, or its only one)")
    p.add_argument("--seed", type=int, help="the seed index (default: the lowest finished seed)")


def _check_seed(seed: int | None) -> None:
    if seed is not None and seed < 0:
        raise UserError(f"--seed is a seed index (0, 1, ...), got {seed}")


def cmd_predict(args) -> int:
    from deepstudy.runs import predict

    _check_seed(args.seed)
    out, n = predict.predict(args.run_dir, args.inputs, args.out, arm=args.arm, seed=args.seed, column=args.column,
                             overwrite=args.force, log=print)
    print(f"predictions: {out} ({n} input(s))")
    return 0


def cmd_export(args) -> int:
    from deepstudy.runs import export

    _check_seed(args.seed)
    path, diff = export.export(args.run_dir, args.fmt, args.out, arm=args.arm, seed=args.seed, overwrite=args.force,
                               log=print)
    print(f"exported: {path} (max |difference| from torch on {export.PARITY_INPUTS} inputs: {diff:.2g})")
    return 0
