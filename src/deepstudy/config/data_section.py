"""The ``data:`` section of a study file: what is read, how it is split and encoded (every key any task reads; each
task's study class keeps the keys it honours, deepstudy.config.task_keys)."""
from __future__ import annotations

import re
from pathlib import PurePath
from typing import Literal

from pydantic import Field

from deepstudy.config.sections import _Section


def own_data_name(path: str) -> str:
    """A data.name for data given by path + format alone: the file's stem or the folder's name, as one safe
    folder name (``~/data/My Reviews.csv`` -> ``My-Reviews``)."""
    p = PurePath(path)
    stem = p.name.split(".")[0] if "." in p.name.lstrip(".") else p.name
    return re.sub(r"[^A-Za-z0-9._+-]", "-", stem).strip("._+-")[:100] or "my-data"


class DataConfig(_Section):
    name: str = Field("digits", description=(
        "Registry name (see `deepstudy data list`), or a label of your own for data read by `format` + `path` "
        "(default then: the file's or folder's name)."))
    path: str | None = Field(None, description=(
        "A folder or file to read instead of the data directory (`$DEEPSTUDY_DATA`, then ~/.cache/deepstudy). "
        "With `format` it is a new dataset of your own: no registry checksum or description applies; the report "
        "says what was read (files, rows, classes) and the sha256 of the files, computed as they are read. "
        "Without `format` it must hold the registered dataset's files."))
    format: Literal["idx", "image-folder", "csv-table", "text-csv", "series-csv", "digits", "time-series", "nab",
                    "text-corpus"] | None = Field(None, description=(
        "Reader for `path` (your own data, no code): idx (MNIST-format folder), image-folder (one sub-folder per "
        "class), csv-table (a table, one label column: `target`), text-csv (a text column and a label column: "
        "`text_column`, `label_column`; delimiter and encoding sniffed; `test_path` or a stratified hold-out), "
        "series-csv (a timestamp column and numeric value columns: task forecast, or task reconstruct with a 0/1 "
        "`label_column` marking the anomalies), nab (a folder in NAB's layout: data/<category>/*.csv and "
        "labels/combined_windows.json), text-corpus (a .txt file), time-series (as series-csv for forecast, the "
        "first column the time)."))
    text_column: str = Field("text", description="text-csv: the column holding each row's text.")
    label_column: str = Field("label", description=(
        "text-csv: the column holding each row's class (any strings; classes in numeric order when all are "
        "numbers, else alphabetical). series-csv with task reconstruct: the 0/1 column marking the labelled "
        "anomalies (each run of 1s is one window, scored the NAB way); it is never a value column."))
    test_path: str | None = Field(None, description=(
        "text-csv: a separate test file laid out like `path` (default: a stratified `test_fraction` hold-out of "
        "`path`)."))
    time_column: str | None = Field(None, description=(
        "series-csv: the timestamp column (default: the first column); ISO 8601 times (2024-01-31 13:00:00) or "
        "the formats of the registered series."))
    val_fraction: float = Field(0.1, gt=0, lt=1, description=(
        "Stratified share of the training split held out for validation (early stopping, checkpoint choice)."))
    test_fraction: float = Field(0.2, gt=0, lt=1, description=(
        "Stratified share held out as test set, only for data that ships no test split."))
    train_limit: int | None = Field(None, ge=10, description=(
        "Use a stratified subset of this many training examples (quick runs)."))
    augment: tuple[str, ...] = Field((), description=(
        "Batch augmentations, in order: crop[:pad], hflip, vflip, rotate[:degrees], affine[:degrees], "
        "erase[:p]."))
    normalize: bool = Field(True, description="Standardize inputs with statistics of the training split only.")
    target: str | None = Field(None, description="csv-table: the label column (default: the last column).")
    drop: tuple[str, ...] = Field((), description=(
        "csv-table, time-series, series-csv: columns to ignore (identifiers, free text; in a table a text column "
        "of more than 1,000 distinct values that most rows hold alone is refused until dropped)."))
    image_size: tuple[int, int] | None = Field(None, description=(
        "image-folder: resize every image to (height, width); default: the first image's size."))
    center_crop: tuple[int, int] | None = Field(None, description=(
        "Images: keep the central (height, width) pixels of every image of every split, once, as they are read "
        "(after image_size), and of new images in predict and export. MNIST's digits sit in its central 20 x 20 "
        "box: [20, 20] reads half the pixels of 28 x 28 (mnist-speedrun)."))
    grayscale: bool = Field(False, description="image-folder: convert images to one channel.")
    imagenet_input: int | None = Field(None, ge=32, le=1024, description=(
        "Images as torchvision's ImageNet models expect them: grey repeated to 3 channels, resized (bilinear, "
        "per batch) to N x N and normalized with ImageNet's mean and std instead of the dataset's — for "
        "pretrain.task: imagenet (224 is the published size; smaller is cheaper on a CPU)."))
    text_field: Literal["title", "description", "title+description", "subject", "message", "review"] | None = Field(
        None, description=("Text datasets: the field read (ag-news, ag-news-full: title | description | "
                           "title+description, default title; 20newsgroups: subject | message, default subject; "
                           "imdb: review)."))
    tokenizer: Literal["words", "wordpiece"] = Field("words", description=(
        "Text with torch models: words (lower-cased words, a vocabulary from the training split, see vocab_*) "
        "or wordpiece (MiniLM's WordPiece tokenizer through the `tokenizers` library: [CLS] pieces [SEP], its "
        "fixed 30,522-token vocabulary; what model minilm reads)."))
    vocab_min_freq: int = Field(2, ge=1, description=(
        "Text with torch models: words seen fewer times in the training split become <unk>."))
    vocab_size: int | None = Field(30000, ge=10, description=(
        "Text with torch models: keep at most this many words (the most frequent in the training split), "
        "<pad> and <unk> included."))
    word_vectors: str | None = Field(None, description=(
        "Text with torch models: start the word embeddings from pretrained vectors — 'minilm' (MiniLM's 384-d "
        "WordPiece token embeddings; a word of several pieces gets their mean) or a GloVe-format text file "
        "('word v1 v2 ...'); the model's embedding size must match. See train.freeze_embeddings."))
    max_length: int | None = Field(256, ge=1, le=100000, description=(
        "Text with torch models: tokens kept per document (the first ones; longer documents are truncated, "
        "the report says how many). null with tokenizer wordpiece: the model's own limit (MiniLM's "
        "max_seq_length, 256 pieces with [CLS] and [SEP], from its sentence_bert_config.json)."))
    permute_labels: bool = Field(False, description=(
        "Shuffle the training and validation labels (fixed seed; test labels untouched): a model can only "
        "memorize. An arm with it beside an otherwise identical arm gives the data-randomization check of "
        "explanations."))
    lookback: int = Field(24, ge=1, description="Time series (task: forecast): past steps a forecast sees.")
    horizon: int = Field(1, ge=1, description="Time series: steps ahead predicted at once.")
    stride: int = Field(1, ge=1, description="Time series: steps between the starts of consecutive training windows.")
    targets: tuple[str, ...] = Field((), description="Time series: columns to forecast (default: every column).")
    series: tuple[str, ...] = Field((), description=(
        "NAB: files to score, as keys relative to data/ (e.g. realKnownCause/nyc_taxi.csv; default: every "
        "labelled file found); series-csv with task reconstruct: the value columns to score (default: all)."))
    cv_folds: int | None = Field(None, ge=2, le=20, description=(
        "task: classical: stratified k-fold cross-validation over every labelled row; seed i is fold i (set "
        "`seeds` to the same number)."))
    resample: Literal["none", "bootstrap"] = Field("none", description=(
        "task: classical: `bootstrap` trains each seed on a bootstrap sample of the training split, so the "
        "spread over seeds measures training-set variance (deterministic learners otherwise repeat "
        "themselves)."))


NULL_MAX_LENGTH = ("data.max_length: null keeps the tokenizer's own limit, which only data.tokenizer: wordpiece has "
                   "(MiniLM: 256 pieces); give the words kept, e.g. 256")
