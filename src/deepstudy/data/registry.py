"""Registered datasets: where their files live, their canonical URLs and sha256.

Checksums and URLs come from ``shared/data/*/SOURCE.md`` (the files as published). A dataset's
files sit in ``<data root>/<folder>/``; the data root is resolved as ``path:`` in the study ->
``$DEEPSTUDY_DATA`` -> ``~/.cache/deepstudy``.
"""
from __future__ import annotations

import os
from pathlib import Path

from deepstudy.data import published
from deepstudy.data.checksums import RECORD, record_sha256, recorded_sha256, sha256_of, verify  # noqa: F401
from deepstudy.data.published import (AG_NEWS_AT, CHURN_AT, COURSE, CREDIT_AT, GOOGLE_AT, copy_at,
                                         github)
from deepstudy.data.specs import DatasetSpec, FileSpec
from deepstudy.errors import UserError, closest


def _mirrored(files: dict[str, tuple[str, int]], bases: tuple[str, ...]) -> tuple[FileSpec, ...]:
    return tuple(FileSpec(n, sha, size, tuple(b + n for b in bases)) for n, (sha, size) in files.items())


_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
}
_FASHION_FILES = {
    "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
    "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
    "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
    "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
}


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            "mnist", "mnist", "idx",
            "Handwritten digits, 60,000 train / 10,000 test, 28x28 grey (LeCun, Cortes & Burges).",
            "no formal license; commonly cited as CC BY-SA 3.0",
            _mirrored(_MNIST_FILES, ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                                     "http://yann.lecun.com/exdb/mnist/")),
            classes=tuple(str(i) for i in range(10)),
        ),
        DatasetSpec(
            "fashion-mnist", "fashion-mnist", "idx",
            "Zalando article images, 60,000 train / 10,000 test, 28x28 grey, 10 classes (Xiao et al., 2017).",
            "MIT",
            _mirrored(_FASHION_FILES, (
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
            )),
            classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot"),
        ),
        DatasetSpec(
            "churn", "dl-az", "csv-table",
            "Bank customers (10,000 rows, 10 features): did the customer leave? (Deep Learning A-Z; ~20% positive).",
            "not stated by the course (synthetic data, also published on Kaggle)",
            (FileSpec("Churn_Modelling.csv", "3996cd1fa372e0db0cd9c0ebac35bbd4e8e3c65fb942bb010c826e7b1eeef0a0",
                      684858, (github(CHURN_AT, "Churn_Modelling.csv"),)),),
            classes=("stayed", "exited"),
            options={"file": "Churn_Modelling.csv", "target": "Exited", "drop": ("RowNumber", "CustomerId", "Surname")},
            how_to_get=f"take Churn_Modelling.csv from {COURSE} ({copy_at(CHURN_AT)})",
        ),
        DatasetSpec(
            "credit-card-applications", "dl-az", "csv-table",
            "Australian credit card applications (UCI Statlog, Quinlan; 690 customers, 14 anonymised attributes, "
            "Class = approved) with a CustomerID column, as the Deep Learning A-Z SOM fraud exercise uses it.",
            "CC BY 4.0 (UCI Statlog Australian Credit Approval, id 143)",
            (FileSpec("Credit_Card_Applications.csv",
                      "21d498deae83f510e94bf9ba6f1e6339d04232f2101910d5d2c1b07b08d5647e", 35643,
                      (github(CREDIT_AT, "Credit_Card_Applications.csv"),)),),
            classes=("not approved", "approved"),
            options={"file": "Credit_Card_Applications.csv", "target": "Class", "drop": ("CustomerID",),
                     "id": "CustomerID"},
            how_to_get=f"take Credit_Card_Applications.csv from the SOM section of {COURSE} ({copy_at(CREDIT_AT)}); "
                       "UCI's Statlog australian.dat lacks the course's CustomerID column, so it cannot stand in",
        ),
        DatasetSpec(
            "ag-news", "ag-news", "text-csv",
            "AG News topic classification (Zhang et al., 2015): the 7,600-row test split, 4 balanced classes; "
            "titles + descriptions.",
            "research / non-commercial use (readme.txt); no formal license",
            (FileSpec("test.csv.gz", "3c277beb6ce3dd635407635cb90a7c5ceaf87168fabb3be218e39aa2b097f706", 748824),
             FileSpec("classes.txt", "612dbfa932f07a6ed837295a7d5746ce7412e7bb4bc32ba919fdb3cda3a1b9b5", 31,
                      (github(AG_NEWS_AT, "data/ag_news_csv/classes.txt"),))),
            classes=("World", "Sports", "Business", "Sci/Tech"),
            how_to_get="take test.csv from the torchtext AG_NEWS mirror (md5 d52ea96a97a2d943681189a97654912d), "
                       "gzip it (gzip -n -9), add classes.txt",
            made_from=published.AG_NEWS_TEST,
        ),
        DatasetSpec(
            "ag-news-full", "ag-news", "text-csv",
            "AG News topic classification (Zhang et al., 2015), the published split: 120,000 train / 7,600 test, "
            "4 balanced classes; titles + descriptions. No sha256 of train.csv is published: the download is checked "
            "against its git blob id and MD5, and the sha256 of train.csv.gz is recorded at that first fetch "
            "(train.csv.gz.sha256) and checked on every load.",
            "research / non-commercial use (readme.txt); no formal license",
            (FileSpec("train.csv.gz", None, 0, made_from=published.AG_NEWS_TRAIN),
             # ag-news's very files, in the same folder: fetching ag-news-full beside ag-news adds train.csv.gz only
             FileSpec("test.csv.gz", "3c277beb6ce3dd635407635cb90a7c5ceaf87168fabb3be218e39aa2b097f706", 748824,
                      made_from=published.AG_NEWS_TEST),
             FileSpec("classes.txt", "612dbfa932f07a6ed837295a7d5746ce7412e7bb4bc32ba919fdb3cda3a1b9b5", 31,
                      (github(AG_NEWS_AT, "data/ag_news_csv/classes.txt"),))),
            classes=("World", "Sports", "Business", "Sci/Tech"),
            how_to_get="download train.csv (md5 b1a00f826fdfbd249f79597b59e1dc12) from the pinned commit where "
                       "there is internet, then `deepstudy data fetch ag-news-full --from train.csv` checks it against "
                       "the published digests, gzips it (gzip -n -9) and records its sha256",
        ),
        DatasetSpec(
            "20newsgroups", "20newsgroups", "text-csv",
            "20 Newsgroups, 'bydate' split (Lang; Rennie): 11,314 train / 7,532 test Usenet posts from 1993, "
            "20 groups.",
            "none stated; each author keeps the copyright in their post — research and benchmarking only",
            (FileSpec("20news-bydate-train.csv.gz", "79a2efb3f50c61495781503b5d53e277362d8a2bf5cfb581d9854f8ccb96f2b7",
                      8183769, also_sha256=("79c80166673989f09a70ff9693c2675ae2fde90eec66b778df020fd84343822f",)),
             FileSpec("20news-bydate-test.csv.gz", "bfa7d7ae7065dec14c9cab14c0af53e54892e339a7fda29ca66fe41139352bbb",
                      5218966, also_sha256=("a85bfa35cbab9ca82b3e7694c4a7c08cedc5f2be9af95e25541843f72b296e44",))),
            how_to_get="rebuild the two CSVs from http://qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz "
                       "as described in shared/data/20newsgroups/SOURCE.md (header group,text; latin-1)",
            made_from=published.NEWSGROUPS_BYDATE,
        ),
        DatasetSpec(
            "air-quality", "air-quality", "time-series",
            "UCI Air Quality (De Vito et al., 2008): 9,357 hourly readings of 13 sensor and reference variables, "
            "March 2004 - April 2005; -200 marks a missing value.",
            "CC BY 4.0 (UCI Machine Learning Repository, id 360)",
            (FileSpec("AirQualityUCI.csv", "13277ae5d8581e80b7be09d47c7d3d06fe9b8e957078f2cf6e859f955e62f996",
                      785065),),
            options={"file": "AirQualityUCI.csv", "missing": (-200,)},
            how_to_get="unzip AirQualityUCI.csv from https://archive.ics.uci.edu/static/public/360/air+quality.zip",
            made_from=published.AIR_QUALITY_ZIP,
        ),
        DatasetSpec(
            "google-stock", "dl-az", "time-series",
            "Daily Google (GOOG) prices, 1,258 trading days 2012-2016 (train file) + January 2017 (test file), from "
            "the Deep Learning A-Z course; Close is not split-adjusted, Open is the usual target.",
            "not stated by the course (public daily quotes)",
            (FileSpec("Google_Stock_Price_Train.csv",
                      "dee298aab581f96206ed0a2df65fa900adbea2d38f9362c7b90beb3a8b683707", 63491,
                      (github(GOOGLE_AT, "Google_Stock_Price_Train.csv"),)),
             FileSpec("Google_Stock_Price_Test.csv", "2eb7b5acd8aa4872f93fb091925dfc073cca8e2e0422d93f0518e7cec99fbf3f",
                      1032, (github(GOOGLE_AT, "Google_Stock_Price_Test.csv"),))),
            options={"file": "Google_Stock_Price_Train.csv", "test_file": "Google_Stock_Price_Test.csv"},
            how_to_get=f"take the two CSVs of the RNN section of {COURSE} ({copy_at(GOOGLE_AT)})",
        ),
        DatasetSpec(
            "imdb", "imdb", "text-csv",
            "IMDB movie reviews (Maas et al., 2011): 25,000 train / 25,000 test, polar sentiment, balanced.",
            "no formal license; cite Maas et al. 2011 (README.aclImdb)",
            (FileSpec("train.csv.gz", "73d4dabaecd075212466f1442646a314414e17bb561b6bf563b817a4af3e8da6", 12902083,
                      also_sha256=("584147d39571f5660bea2db0a6b1d322c0f8e5b04430a149047a642d7f3552a1",)),
             FileSpec("test.csv.gz", "93f1216024979e6b61e5bad4a07f9b33aee57db65b75541b99fae67dde432fcc", 12598395,
                      also_sha256=("d024f36e99d24f619c6027a562a97fa94b9da8415b636b8f6d22359c95ad685b",))),
            classes=("negative", "positive"),
            how_to_get="repackage aclImdb_v1.tar.gz (ai.stanford.edu/~amaas/data/sentiment/) as the two CSVs "
                       "described in shared/data/imdb/SOURCE.md (header id,rating,label,text)",
            made_from=published.ACL_IMDB,
        ),
        DatasetSpec(
            "nab", "nab", "nab",
            "Numenta Anomaly Benchmark (Lavin & Ahmad, 2015), realKnownCause subset: NYC taxi passengers (30 min), a "
            "machine-room temperature (hourly), an AWS CPU metric (5 min), with NAB's labelled anomaly windows.",
            "MIT (numenta/NAB); data credited to NYC TLC, Amazon CloudWatch and others (NAB data README)",
            _mirrored({"data/realKnownCause/nyc_taxi.csv":
                           ("d8fa6f7f0734bf5c8be12c52a94e20a82664c397d9dec4449156bd453d32856d", 265771),
                       "data/realKnownCause/ambient_temperature_system_failure.csv":
                           ("230b68ccca20f59d562afd5d24ad52939c9b784386bed0054018358bf9120581", 233321),
                       "data/realKnownCause/cpu_utilization_asg_misconfiguration.csv":
                           ("58ba65dc0737cfbac11b51514476d50c438d44011232144bb8d93f392df58f9f", 539274),
                       "labels/combined_windows.json":
                           ("1e1fbc4601321aad8d0f8b3784c8134299379f68f6c1f7777565f8ffd57ab6b1", 15359)},
                      ("https://raw.githubusercontent.com/numenta/NAB/master/",)),
            classes=("normal", "anomaly window"),
            how_to_get="copy data/ and labels/ from https://github.com/numenta/NAB "
                       "(any NAB-format folder works with data.path)",
        ),
        DatasetSpec(
            "tinyshakespeare", "tinyshakespeare", "text-corpus",
            "Tiny Shakespeare (Karpathy, char-rnn): 1,115,394 characters of Shakespeare's plays, for character-level "
            "language modelling; split by position: the first 90 % trains, the next 5 % validates, the last 5 % tests.",
            "public domain text (Shakespeare); prepared in karpathy/char-rnn (MIT)",
            (FileSpec("input.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1115394,
                      ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",)),),
        ),
        DatasetSpec(
            "moons", "", "synthetic",
            "Two interleaving half circles (scikit-learn make_moons), 1,000 points, Gaussian noise 0.3: "
            "not linearly separable.",
            "BSD-3-Clause (generated by scikit-learn)",
            classes=("upper moon", "lower moon"), options={"generator": "moons", "n": 1000, "noise": 0.3},
        ),
        DatasetSpec(
            "circles", "", "synthetic",
            "A small circle inside a large one (scikit-learn make_circles, factor 0.5), 1,000 points, noise 0.15.",
            "BSD-3-Clause (generated by scikit-learn)",
            classes=("outer", "inner"), options={"generator": "circles", "n": 1000, "noise": 0.15},
        ),
        DatasetSpec(
            "digits", "", "digits",
            "scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes); works offline.",
            "BSD-3-Clause (scikit-learn; data from the UCI repository)",
            classes=tuple(str(i) for i in range(10)),
        ),
    ]
}


def get(name: str) -> DatasetSpec:
    if name not in REGISTRY:
        raise UserError(f"unknown dataset '{name}'{closest(name, REGISTRY)}; `deepstudy data list` shows the "
                        "registered ones, or give `data.format` and `data.path` to read your own files")
    return REGISTRY[name]


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deepstudy"


def data_roots() -> list[Path]:
    roots = []
    if os.environ.get("DEEPSTUDY_DATA"):
        roots.append(Path(os.environ["DEEPSTUDY_DATA"]).expanduser())
    roots.append(cache_dir())
    return roots


def locate(spec: DatasetSpec, path: str | None = None) -> Path:
    """The folder holding every file of ``spec``: ``path`` -> $DEEPSTUDY_DATA -> cache."""
    if path is not None:
        folder = Path(path).expanduser()
        missing = [f.name for f in spec.files if not (folder / f.name).is_file()]
        if missing:
            raise UserError(f"data.path '{folder}' lacks {', '.join(missing)} of dataset '{spec.name}'; "
                            "point data.path at the folder that holds them")
        return folder
    looked = []
    for root in data_roots():
        folder = root / spec.folder
        missing = [f.name for f in spec.files if not (folder / f.name).is_file()]
        if not missing:
            return folder
        partly = len(missing) < len(spec.files)  # ag-news-full where only ag-news's files are: say what is missing
        looked.append(f"{folder}" + (f" (it lacks {', '.join(missing)})" if partly else ""))
    fix = f"run `deepstudy data fetch {spec.name}`" if spec.downloadable else spec.how_to_get
    raise UserError(f"dataset '{spec.name}' not found (looked in {', '.join(looked)}); {fix}, "
                    f"or set DEEPSTUDY_DATA to a folder that holds {spec.folder}/")


