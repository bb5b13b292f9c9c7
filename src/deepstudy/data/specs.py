"""What the registry says of a dataset (:class:`DatasetSpec`) and of each of its files (:class:`FileSpec`): folder,
format, license, URLs, sizes and sha256 (deepstudy.data.registry lists them)."""
from __future__ import annotations

from dataclasses import dataclass, field

from deepstudy.data.published import Archive


@dataclass(frozen=True)
class FileSpec:
    name: str
    # None: no sha256 is published; the one of the file made at the first verified fetch is recorded beside it
    # (``<name>.sha256``, see record_sha256) and checked on every later load: trust on first verified fetch.
    sha256: str | None
    size: int  # 0: not known
    urls: tuple[str, ...] = ()  # mirrors, tried in order
    # Other accepted digests: our own conversion of the published archive, where it cannot reproduce the shared
    # copy byte for byte (its gzip came from GNU gzip; without that tool we compress with zlib: same CSV inside).
    also_sha256: tuple[str, ...] = ()
    made_from: Archive | None = None  # this file's own published source, where its dataset has several

    def accepts(self, digest: str, recorded: str | None = None) -> bool:
        """``recorded``: for a file with no registered sha256, the one recorded at its first verified fetch."""
        return digest == (self.sha256 or recorded) or digest in self.also_sha256


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: where its files live (``folder`` under the data root), its format, description,
    license, files (URLs and sha256), class names and reader options.

    Example:
        >>> from deepstudy import data
        >>> spec = data.REGISTRY["fashion-mnist"]
        >>> spec.format, len(spec.classes)
        ('idx', 10)
    """
    name: str
    folder: str
    format: str  # idx | csv-table | text-csv | text-corpus | time-series | nab | synthetic | digits
    description: str
    license: str
    files: tuple[FileSpec, ...] = ()
    classes: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)  # reader options (target, drop, ...)
    how_to_get: str = ""  # when no direct URL exists
    made_from: Archive | None = None  # where the files without URLs are made from

    @property
    def downloadable(self) -> bool:
        return bool(self.files) and all(f.urls or self.source_of(f) for f in self.files)

    def source_of(self, f: FileSpec) -> Archive | None:
        """The published file ``f`` is made from (None: it downloads from its own URLs)."""
        return None if f.urls else (f.made_from or self.made_from)

    @property
    def archives(self) -> tuple[Archive, ...]:
        """Every published file this dataset's files are made from, in the order of its files."""
        found = [a for a in (self.source_of(f) for f in self.files) if a is not None]
        return tuple(dict.fromkeys(found))
