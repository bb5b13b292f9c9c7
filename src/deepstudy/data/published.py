"""Where the files without a direct URL of their own come from: the published archives they are made from
(``Archive``, converted by ``data/convert.py``) and the pinned public copies of the course CSVs.

Sources: ``shared/data/*/SOURCE.md`` (URLs, layouts, provenance); the archive digests are the ones other loaders
check (scikit-learn's fetch_20newsgroups; TensorFlow Datasets and MLDatasets.jl for aclImdb).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Archive:
    """The published file a dataset's URL-less files are made from: downloaded (or given with ``--from``), checked,
    extracted safely when it is an archive, then converted by ``convert`` (a name in ``data/convert.py``)."""
    name: str  # as published, e.g. aclImdb_v1.tar.gz
    urls: tuple[str, ...]
    sha256: str | None  # the published digest; None when no trusted one is known (then only the made files are checked)
    max_bytes: int  # the download never grows past this
    convert: str
    max_unpacked: int = 0  # tar/zip: the members' sizes add up to at most this many bytes
    max_members: int = 0
    # Where no sha256 is published (AG News's train.csv) but other digests are: the git blob id (SHA-1 of
    # b"blob <size>\0" + the bytes, what a pinned commit serves) and the MD5 torchtext checks. They are the only
    # published digests; each alone is broken for collisions, but one file matching both at once (a second
    # preimage for SHA-1 and MD5 together) is infeasible in practice. Every one given is checked.
    git_blob: str | None = None
    md5: str | None = None

    @property
    def verified(self) -> bool:
        """Whether the download is checked against a published digest (else only the made files can be)."""
        return bool(self.sha256 or self.git_blob or self.md5)

    def digests(self) -> str:
        """The published digests the download is checked against, in words."""
        return digests_in_words(self.sha256, self.git_blob, self.md5) or "no published digest"


def digests_in_words(sha256: str | None, git_blob: str | None = None, md5: str | None = None) -> str:
    """'sha256 …', 'git blob … and md5 …': the digests given; '' when none is."""
    named = [f"sha256 {sha256}" if sha256 else "", f"git blob {git_blob}" if git_blob else "",
             f"md5 {md5}" if md5 else ""]
    return " and ".join(n for n in named if n)


def github(repo_at_commit: str, path: str) -> str:
    """A file of a public GitHub repository at a pinned commit: the bytes never change (the sha256 checks them)."""
    return f"https://raw.githubusercontent.com/{repo_at_commit}/{path}"


# The Deep Learning A-Z course publishes its CSVs only inside course zips with no stable address; these public
# copies hold the very bytes of ours (git blob ids checked against shared/data/dl-az/SOURCE.md's provenance).
CHURN_AT = "Abhijitkulkarni18/Deep-Learning/208bf8f7c9e3a1deddd7af1d4a7868c4f4db863f"
CREDIT_AT = "adityapotdar23/Deep-Learning/fe615c5098051fd321e82e54e1e915d3ad1d650c"
GOOGLE_AT = "akrai37/Deep_Learning-RNN/77e4f4c8bd83c509d8e8bfb61a82ffec534bf81e"
COURSE = "the Deep Learning A-Z course material (superdatascience.com/pages/deep-learning)"


def copy_at(repo_at_commit: str) -> str:
    """Where a pinned copy lives, in words for a message."""
    owner, repo, commit = repo_at_commit.split("/")
    return f"a copy: github.com/{owner}/{repo} at commit {commit}"

AG_NEWS_AT = "mhjabreel/CharCnn_Keras/555590db4219b1243abb1918effd6a7425a2d75f"

# torchtext's address (master) after the pinned commit; the train split (train.csv, 120,000 rows) is
# not part of ag-news: ag-news-full adds it (AG_NEWS_TRAIN).
AG_NEWS_TEST = Archive("test.csv", (github(AG_NEWS_AT, "data/ag_news_csv/test.csv"),
                                   github("mhjabreel/CharCnn_Keras/master", "data/ag_news_csv/test.csv")),
                       "521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699", 1857427, "gzip")

# The published train split (120,000 rows, 29.5 MB) at the pinned commit only: no sha256 of it is published, so the
# download is checked against the commit's git blob id and torchtext's MD5 (shared/data/ag-news/SOURCE.md), and the
# sha256 of the train.csv.gz made from it is recorded at that first verified fetch (registry.record_sha256).
AG_NEWS_TRAIN = Archive("train.csv", (github(AG_NEWS_AT, "data/ag_news_csv/train.csv"),), None, 32 << 20, "gzip",
                        git_blob="694aa19971315410e000404523796b76349d3c1d", md5="b1a00f826fdfbd249f79597b59e1dc12")

# the digest scikit-learn's fetch_20newsgroups checks (its figshare mirror holds the same file)
NEWSGROUPS_BYDATE = Archive("20news-bydate.tar.gz", ("http://qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz",
                                                   "https://ndownloader.figshare.com/files/5975967"),
                            "8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610", 20 << 20,
                            "20newsgroups", max_unpacked=200 << 20, max_members=20_000)

# the legacy zip first (its layout is known: the CSV and an .xlsx); no digest is trusted for the zip UCI
# serves now, so the extracted CSV is what gets checked
AIR_QUALITY_ZIP = Archive("AirQualityUCI.zip",
                          ("https://archive.ics.uci.edu/ml/machine-learning-databases/00360/AirQualityUCI.zip",
                           "https://archive.ics.uci.edu/static/public/360/air+quality.zip"),
                          None, 16 << 20, "air-quality", max_unpacked=64 << 20, max_members=16)

# the digest TensorFlow Datasets and Julia's MLDatasets check; only the labelled reviews are extracted
ACL_IMDB = Archive("aclImdb_v1.tar.gz", ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
                   "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe", 100 << 20, "imdb",
                   max_unpacked=1 << 30, max_members=150_000)
