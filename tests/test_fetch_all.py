"""Every registered dataset can be fetched: made from its published archive (tiny real-format archives served from
127.0.0.1), extracted safely (malicious archives refused, nothing written), converted to what our readers read —
and, on the real shared data, converted to the very files the registry's sha256 expects."""
import csv
import dataclasses
import errno
import gzip
import hashlib
import io
import os
import stat
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deepstudy.data import convert, download, registry, series, text
from deepstudy.data.archives import safe_extract
from deepstudy.data.registry import FileSpec
from deepstudy.errors import UserError

SHARED = Path(os.environ.get("DEEPSTUDY_DATA", "/work/shared/data"))
SERVED: dict[str, bytes] = {}  # path on the 127.0.0.1 server -> body


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = SERVED.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _targz(members: list[tuple[str, bytes]], *, links: tuple[tuple[str, str, bytes], ...] = ()) -> bytes:
    """A .tar.gz of regular files; ``links``: (name, target, type) with type tarfile.SYMTYPE or LNKTYPE."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target, kind in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    return buf.getvalue()


def _zip(members: list[tuple[str, bytes]], *, symlink: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink[0])
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, symlink[1])
    return buf.getvalue()


def _gz_spec(name: str, content: bytes) -> FileSpec:
    """A FileSpec accepting ``content`` gzipped as our converter does (GNU gzip where present, else zlib)."""
    digests = [_sha(g) for g in convert.gzip_candidates(content)]
    return FileSpec(name, digests[0], 0, also_sha256=tuple(digests[1:]))


def _tiny(name: str, files: tuple[FileSpec, ...], archive_url: str, archive: bytes | None):
    spec = registry.REGISTRY[name]
    made = dataclasses.replace(spec.made_from, urls=(archive_url,), sha256=_sha(archive) if archive else None)
    return dataclasses.replace(spec, files=files, made_from=made)


def _fetch(spec, folder, **kw):
    return download.fetch(spec, folder, log=lambda m: None, timeout=10, **kw)


def _gunzip(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode("utf-8")


# --- safe extraction -----------------------------------------------------------------------------------------------

def test_a_tar_extracts_only_the_kept_members(tmp_path):
    (tmp_path / "a.tar.gz").write_bytes(_targz([("d/keep.txt", b"yes"), ("d/skip.bin", b"no")]))
    names = safe_extract(tmp_path / "a.tar.gz", tmp_path / "out", max_total_bytes=100, max_members=5,
                         keep=lambda n: n.endswith(".txt"))
    assert names == ["d/keep.txt"]
    assert (tmp_path / "out/d/keep.txt").read_bytes() == b"yes" and not (tmp_path / "out/d/skip.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "out"]  # no temporary folder left


def _refused(tmp_path: Path, archive: bytes, match: str, suffix: str = ".tar.gz", **caps):
    (tmp_path / f"a{suffix}").write_bytes(archive)
    before = sorted(tmp_path.parent.iterdir())
    with pytest.raises(UserError, match=match) as e:
        safe_extract(tmp_path / f"a{suffix}", tmp_path / "out", **{"max_total_bytes": 1 << 20, "max_members": 10,
                                                                    **caps})
    assert "\n" not in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]  # neither out/ nor a temporary folder
    assert sorted(tmp_path.parent.iterdir()) == before  # nothing beside it either
    (tmp_path / f"a{suffix}").unlink()


@pytest.mark.parametrize("member", ["../evil", "d/../../evil", "/tmp/deepstudy-test-evil", "C:/evil"])
def test_tar_and_zip_members_outside_the_destination_are_refused(tmp_path, member):
    good = ("ok.txt", b"fine")
    _refused(tmp_path, _targz([good, (member, b"owned")]), "absolute path|climbs out")
    _refused(tmp_path, _zip([good, (member, b"owned")]), "absolute path|climbs out", suffix=".zip")
    assert not Path("/tmp/deepstudy-test-evil").exists() and not (tmp_path.parent / "evil").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_links_are_refused(tmp_path, kind):
    _refused(tmp_path, _targz([("ok.txt", b"fine")], links=(("link", "../../etc/passwd", kind),)), "is a link")


def test_zip_symlinks_are_refused(tmp_path):
    _refused(tmp_path, _zip([("ok.txt", b"fine")], symlink=("link", "../../etc/passwd")), "is a link", suffix=".zip")


def test_bombs_and_crowds_are_refused(tmp_path):
    zeros = bytes(20 << 20)  # 20 MiB of zeros: a few KiB compressed
    _refused(tmp_path, _zip([("zeros.bin", zeros)]), "add up to more than 10485760 bytes", suffix=".zip",
             max_total_bytes=10 << 20)
    _refused(tmp_path, _zip([("zeros.bin", zeros)]), r"expands \d+ times \(a zip bomb\?\)", suffix=".zip",
             max_total_bytes=1 << 30)
    _refused(tmp_path, _targz([("zeros.bin", zeros)]), "add up to more than 10485760 bytes",
             max_total_bytes=10 << 20)
    _refused(tmp_path, _targz([(f"f{i}", b"x") for i in range(11)]), "more than 10 members")
    _refused(tmp_path, b"neither tar nor zip", "neither a tar nor a zip")


def _deflated_damaged(members: list[tuple[str, bytes]], where: float, zip_: bool) -> bytes:
    """An archive of ``members`` whose compressed bytes are zeroed from ``where`` (a fraction of the file) on for 40
    bytes: a zip member's deflate stream, or a tar.gz's single gzip stream."""
    data = bytearray(_zip(members) if zip_ else _targz(members))
    at = 30 + len(members[0][0]) + 2 if zip_ else int(len(data) * where)  # zip: just past the first local header
    data[at:at + 40] = bytes(40)
    return bytes(data)


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the zip of duplicates, written on purpose
def test_malformed_archives_are_refused_in_one_line(tmp_path):
    """What only writing (or reading to the end) finds — duplicates, a file where a folder goes, a member named as
    the destination, a corrupt compressed stream — is the same one-line refusal, nothing left behind."""
    text = b"".join(b"line %d of some text\n" % k for k in range(4000))
    for archive in (_zip, _targz):
        suffix = ".zip" if archive is _zip else ".tar.gz"
        _refused(tmp_path, archive([("a", b"1"), ("a", b"2")]), "member 'a' appears more than once", suffix)
        _refused(tmp_path, archive([("a", b"1"), ("a/b", b"2")]), "member 'a/b' cannot be written .*a file where a "
                 "folder is needed", suffix)
        _refused(tmp_path, archive([("a/b", b"1"), ("a", b"2")]), "member 'a' cannot be written", suffix)
        _refused(tmp_path, archive([(".", b"1")]), "named as the destination folder itself", suffix)
    _refused(tmp_path, _deflated_damaged([("a.txt", text)], 0, zip_=True), r"member 'a.txt' cannot be read \(error: "
             "Error -3 while decompressing", ".zip")
    two = [("a.txt", text), ("b.txt", text.upper())]
    for where in (0.3, 0.9):  # tarfile alone would stop quietly at the damaged header: only a.txt, no error
        _refused(tmp_path, _deflated_damaged(two, where, zip_=False), "its compressed stream is corrupt")


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_a_full_disk_while_extracting_stays_a_disk_full_error(tmp_path, monkeypatch, suffix):
    from deepstudy.data import archives

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    if suffix == ".zip":
        monkeypatch.setattr(archives, "open", full, raising=False)
    else:
        monkeypatch.setattr(tarfile.TarFile, "extract", full)
    (tmp_path / f"a{suffix}").write_bytes((_zip if suffix == ".zip" else _targz)([("a.txt", b"hello")]))
    with pytest.raises(OSError) as e:
        safe_extract(tmp_path / f"a{suffix}", tmp_path / "out", max_total_bytes=1 << 20, max_members=10)
    assert e.value.errno == errno.ENOSPC and not isinstance(e.value, UserError)  # download.py says "disk filled up"
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]


# --- each dataset from a tiny real-format archive on 127.0.0.1 ------------------------------------------------------

IMDB_REVIEWS = {  # aclImdb/<split>/<polarity>/<id>_<rating>.txt -> text (one line, HTML breaks, quotes, commas)
    "aclImdb/train/pos/10_7.txt": 'Fine, "really" fine.<br /><br />Caf\u00e9 scene!',
    "aclImdb/train/pos/3_9.txt": "Great film.",
    "aclImdb/train/neg/2_1.txt": "Awful.",
    "aclImdb/test/neg/0_4.txt": "Meh, too long.",
    "aclImdb/test/pos/7_10.txt": "Loved it.",
}
IMDB_TRAIN = ('id,rating,label,text\n2,1,0,Awful.\n3,9,1,Great film.\n'
              '10,7,1,"Fine, ""really"" fine.<br /><br />Caf\u00e9 scene!"\n')  # sorted by (label, id): 3 before 10
IMDB_TEST = "id,rating,label,text\n0,4,0,\"Meh, too long.\"\n7,10,1,Loved it.\n"


def _imdb_archive() -> bytes:
    extra = [("aclImdb/README", b"readme"), ("aclImdb/imdb.vocab", b"the\n"), ("aclImdb/train/unsup/0_0.txt", b"x"),
             ("aclImdb/train/labeledBow.feat", b"0 0:1\n")]
    return _targz([(k, v.encode("utf-8")) for k, v in IMDB_REVIEWS.items()] + extra)


def test_imdb_is_made_from_the_aclimdb_tarball(server, tmp_path):
    archive = _imdb_archive()
    SERVED["/aclImdb_v1.tar.gz"] = archive
    spec = _tiny("imdb", (_gz_spec("train.csv.gz", IMDB_TRAIN.encode()), _gz_spec("test.csv.gz", IMDB_TEST.encode())),
                 f"{server}/aclImdb_v1.tar.gz", archive)
    status = _fetch(spec, tmp_path / "imdb")
    assert status == {"train.csv.gz": "made from aclImdb_v1.tar.gz", "test.csv.gz": "made from aclImdb_v1.tar.gz"}
    assert _gunzip(tmp_path / "imdb/train.csv.gz") == IMDB_TRAIN and _gunzip(tmp_path / "imdb/test.csv.gz") == IMDB_TEST
    reviews, labels, classes = text.read_imdb(tmp_path / "imdb", "train")
    assert reviews[2] == IMDB_REVIEWS["aclImdb/train/pos/10_7.txt"] and labels.tolist() == [0, 1, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imdb"]  # the work folder is gone
    assert _fetch(spec, tmp_path / "imdb") == {"train.csv.gz": "present", "test.csv.gz": "present"}


NEWS = {"20news-bydate-train/sci.space/60": b"Subject: orbit\n\nCaf\xe9, a lone\rCR",
        "20news-bydate-train/sci.space/100": b"Subject: moon\n\n\"quoted\"",
        "20news-bydate-train/alt.atheism/5": b"Subject: hi\n\nplain",
        "20news-bydate-test/alt.atheism/7": b"Subject: t\n\nx",
        "20news-bydate-test/sci.space/8": b"Subject: u\n\ny"}
NEWS_TRAIN = ('group,text\nalt.atheism,"Subject: hi\n\nplain"\nsci.space,"Subject: moon\n\n""quoted"""\n'
              'sci.space,"Subject: orbit\n\nCaf\u00e9, a lone\rCR"\n')  # files in string order: "100" < "60"
NEWS_TEST = 'group,text\nalt.atheism,"Subject: t\n\nx"\nsci.space,"Subject: u\n\ny"\n'


def test_20newsgroups_is_made_from_the_bydate_tarball(server, tmp_path):
    archive = _targz(list(NEWS.items()))
    SERVED["/20news-bydate.tar.gz"] = archive
    spec = _tiny("20newsgroups", (_gz_spec("20news-bydate-train.csv.gz", NEWS_TRAIN.encode()),
                                  _gz_spec("20news-bydate-test.csv.gz", NEWS_TEST.encode())),
                 f"{server}/20news-bydate.tar.gz", archive)
    _fetch(spec, tmp_path / "news")
    assert _gunzip(tmp_path / "news/20news-bydate-train.csv.gz") == NEWS_TRAIN
    rows = list(csv.reader(io.StringIO(_gunzip(tmp_path / "news/20news-bydate-train.csv.gz"), newline="")))
    assert rows[3][1].encode("latin-1") == NEWS["20news-bydate-train/sci.space/60"]  # the original bytes
    messages, labels, groups = text.read_20newsgroups(tmp_path / "news", "train")
    assert groups == ["alt.atheism", "sci.space"] and labels.tolist() == [0, 1, 1] and len(messages) == 3


AG_TEST = b'"3","Wall St. Bears","Short-sellers, Wall Street\'s dwindling\\band"\n"4","Space","A #36;5 probe"\n'


def test_ag_news_is_made_from_the_published_test_csv(server, tmp_path):
    SERVED["/test.csv"], SERVED["/classes.txt"] = AG_TEST, b"World\nSports\nBusiness\nSci/Tech\n"
    spec = registry.REGISTRY["ag-news"]
    spec = dataclasses.replace(
        spec, files=(_gz_spec("test.csv.gz", AG_TEST),
                     FileSpec("classes.txt", _sha(SERVED["/classes.txt"]), 31, (f"{server}/classes.txt",))),
        made_from=dataclasses.replace(spec.made_from, urls=(f"{server}/missing", f"{server}/test.csv"),
                                      sha256=_sha(AG_TEST)))
    assert _fetch(spec, tmp_path / "ag") == {"test.csv.gz": "made from test.csv", "classes.txt": "downloaded"}
    titles, descriptions, labels, classes = text.read_ag_news(tmp_path / "ag")
    assert titles == ["Wall St. Bears", "Space"] and descriptions[1] == "A$5 probe" and labels.tolist() == [2, 3]
    assert classes == ["World", "Sports", "Business", "Sci/Tech"]


AIR = ("Date;Time;CO(GT);PT08.S1(CO);T;;\r\n10/03/2004;18.00.00;2,6;1360;13,6;;\r\n"
       "10/03/2004;19.00.00;-200;1292;13,3;;\r\n10/03/2004;20.00.00;2,2;1402;11,9;;\r\n;;;;;;\r\n;;;;;;\r\n").encode()


def test_air_quality_is_unzipped_from_the_uci_zip_without_a_trusted_zip_digest(server, tmp_path):
    archive = _zip([("AirQualityUCI.csv", AIR), ("AirQualityUCI.xlsx", b"PK not really")])
    SERVED["/air.zip"] = archive
    spec = _tiny("air-quality", (FileSpec("AirQualityUCI.csv", _sha(AIR), len(AIR)),), f"{server}/air.zip", None)
    assert spec.made_from.sha256 is None
    _fetch(spec, tmp_path / "air")
    assert (tmp_path / "air/AirQualityUCI.csv").read_bytes() == AIR
    s = series.read_air_quality(tmp_path / "air")
    assert s.columns == ["CO(GT)", "PT08.S1(CO)", "T"] and s.values.shape == (3, 3) and s.values[1, 0] != s.values[1, 0]


# --- failures leave nothing ----------------------------------------------------------------------------------------

def test_a_made_file_that_differs_from_the_registered_one_is_not_kept(server, tmp_path):
    archive = _imdb_archive()
    SERVED["/aclImdb_v1.tar.gz"] = archive
    spec = _tiny("imdb", (FileSpec("train.csv.gz", "0" * 64, 0), FileSpec("test.csv.gz", "0" * 64, 0)),
                 f"{server}/aclImdb_v1.tar.gz", archive)
    with pytest.raises(UserError, match="train.csv.gz made from aclImdb_v1.tar.gz has sha256 .* the published file "
                                        "differs"):
        _fetch(spec, tmp_path / "imdb")
    assert list(tmp_path.iterdir()) == []


def test_an_archive_with_the_wrong_digest_is_not_extracted(server, tmp_path):
    SERVED["/aclImdb_v1.tar.gz"] = _imdb_archive()
    spec = registry.REGISTRY["imdb"]  # the real published digest: the tiny archive cannot match it
    spec = dataclasses.replace(spec, made_from=dataclasses.replace(spec.made_from,
                                                                   urls=(f"{server}/aclImdb_v1.tar.gz",)))
    with pytest.raises(UserError, match="checksum mismatch"):
        _fetch(spec, tmp_path / "imdb")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("evil", [("../evil", b"x"), ("/tmp/deepstudy-test-evil", b"x")])
def test_the_cli_refuses_a_malicious_archive_in_one_line_and_writes_nothing(cli, server, tmp_path, monkeypatch,
                                                                            evil):
    archive = _targz([*((k, v.encode()) for k, v in IMDB_REVIEWS.items()), evil])
    SERVED["/evil.tar.gz"] = archive
    spec = _tiny("imdb", registry.REGISTRY["imdb"].files, f"{server}/evil.tar.gz", archive)
    monkeypatch.setitem(registry.REGISTRY, "imdb", spec)
    r = cli("data", "fetch", "imdb", "--dir", str(tmp_path / "data"))
    assert r.code == 2 and r.err.count("\n") == 1 and "refusing to extract aclImdb_v1.tar.gz" in r.err
    assert list(tmp_path.iterdir()) == [] and not Path("/tmp/deepstudy-test-evil").exists()


def test_from_a_local_file_that_is_not_the_published_one(cli, tmp_path):
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(_imdb_archive())
    r = cli("data", "fetch", "imdb", "--dir", str(tmp_path / "data"), "--from", str(tmp_path / "aclImdb_v1.tar.gz"))
    assert r.code == 2 and "not the published aclImdb_v1.tar.gz's c40f74a18d3b" in r.err
    r = cli("data", "fetch", "mnist", "--dir", str(tmp_path / "data"), "--from", str(tmp_path / "aclImdb_v1.tar.gz"))
    assert r.code == 2 and "mnist is not made from a published archive" in r.err
    assert not (tmp_path / "data").exists()


def test_a_file_without_any_source_says_where_it_comes_from(tmp_path, monkeypatch):
    spec = registry.REGISTRY["churn"]
    f = dataclasses.replace(spec.files[0], urls=())
    with pytest.raises(UserError) as e:
        _fetch(dataclasses.replace(spec, files=(f,)), tmp_path / "dl-az")
    msg = str(e.value)
    assert "superdatascience.com/pages/deep-learning" in msg and "Abhijitkulkarni18/Deep-Learning" in msg
    assert f"put it in {tmp_path / 'dl-az'}/ (sha256 {f.sha256})" in msg
    assert list(tmp_path.iterdir()) == []


def test_every_registered_dataset_with_files_can_be_fetched():
    for spec in registry.REGISTRY.values():
        assert not spec.files or spec.downloadable, spec.name
        for archive in spec.archives:
            assert archive.convert in convert.CONVERTERS and archive.urls, spec.name
            assert all(u.startswith(("https://", "http://")) for u in archive.urls)
        for f in spec.files:  # trust on first fetch only where a published digest vouches for the download
            assert f.sha256 is not None or spec.source_of(f).verified, (spec.name, f.name)


# --- ag-news-full: a train split with no published sha256, trusted on first verified fetch -------------------------

AG_TRAIN = b"".join(b'"%d","Title %d","Body #36;%d\\nmore"\n' % (k % 4 + 1, k, k) for k in range(40))
AG_FULL_TEST = b"".join(b'"%d","Test %d","Story %d"\n' % (k % 4 + 1, k, k) for k in range(8))
AG_CLASSES = b"World\nSports\nBusiness\nSci/Tech\n"


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _ag_full(server: str, train: bytes = AG_TRAIN, **digests):
    """The registered ag-news-full with every source on 127.0.0.1, serving ``train`` as train.csv; its Archive checks
    the fake AG_TRAIN's git blob id and MD5 (or ``digests``), the test file's made from AG_FULL_TEST."""
    SERVED["/agf/train.csv"], SERVED["/agf/test.csv"], SERVED["/agf/classes.txt"] = train, AG_FULL_TEST, AG_CLASSES
    spec = registry.REGISTRY["ag-news-full"]
    by_name = {f.name: f for f in spec.files}
    train_src = dataclasses.replace(by_name["train.csv.gz"].made_from, urls=(f"{server}/agf/train.csv",),
                                    **{"git_blob": _git_blob(AG_TRAIN),
                                       "md5": hashlib.md5(AG_TRAIN).hexdigest(), **digests})
    test_src = dataclasses.replace(by_name["test.csv.gz"].made_from, urls=(f"{server}/agf/test.csv",),
                                   sha256=_sha(AG_FULL_TEST))
    files = (dataclasses.replace(by_name["train.csv.gz"], made_from=train_src),
             dataclasses.replace(_gz_spec("test.csv.gz", AG_FULL_TEST), made_from=test_src),
             FileSpec("classes.txt", _sha(AG_CLASSES), 31, (f"{server}/agf/classes.txt",)))
    return dataclasses.replace(spec, files=files)


def _recorded(folder: Path) -> str:
    return (folder / "train.csv.gz.sha256").read_text()


def test_ag_news_full_is_fetched_checked_by_git_blob_and_md5_and_its_sha256_recorded(server, tmp_path):
    spec, folder = _ag_full(server), tmp_path / "ag-news"
    status = _fetch(spec, folder)
    assert status["train.csv.gz"].startswith("made from train.csv (its sha256 recorded in train.csv.gz.sha256")
    assert status["test.csv.gz"] == "made from test.csv" and status["classes.txt"] == "downloaded"
    assert gzip.decompress((folder / "train.csv.gz").read_bytes()) == AG_TRAIN
    digest = _sha((folder / "train.csv.gz").read_bytes())
    assert _recorded(folder) == f"{digest}  train.csv.gz\n"  # the format `sha256sum -c` reads
    assert registry.verify(spec, folder)["train.csv.gz"] == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ag-news"]  # no work folder left
    assert set(_fetch(spec, folder).values()) == {"present"}
    assert spec.folder == registry.REGISTRY["ag-news"].folder  # beside ag-news's files, which it shares:
    shared = {f.name: f.sha256 for f in registry.REGISTRY["ag-news"].files}
    assert {f.name: f.sha256 for f in registry.REGISTRY["ag-news-full"].files if f.name in shared} == shared


@pytest.mark.parametrize("wrong", ["served", "git_blob", "md5"])
def test_ag_news_full_refuses_a_train_csv_that_fails_either_digest(server, tmp_path, wrong):
    """One byte changed, or the right bytes checked against a wrong git blob id or a wrong MD5: refused in one line,
    and the folder (holding ag-news's files, as after `deepstudy data fetch ag-news`) left as it was."""
    damaged = bytearray(AG_TRAIN)
    damaged[len(damaged) // 2] ^= 0x01
    spec = _ag_full(server, bytes(damaged)) if wrong == "served" else _ag_full(server, **{wrong: "0" * 32})
    folder = tmp_path / "ag-news"
    folder.mkdir()
    (folder / "classes.txt").write_bytes(AG_CLASSES)
    with pytest.raises(UserError) as e:
        _fetch(spec, folder)
    kind = "md5" if wrong == "md5" else "git blob id"
    assert f"checksum mismatch: {kind} " in str(e.value) and "\n" not in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == ["ag-news"]
    assert [p.name for p in folder.iterdir()] == ["classes.txt"]  # neither test.csv.gz nor train.csv.gz nor a record


def test_ag_news_full_from_a_local_train_csv(server, tmp_path):
    spec, folder = _ag_full(server), tmp_path / "ag-news"
    (tmp_path / "train.csv").write_bytes(AG_TRAIN[:-1] + b"x")
    with pytest.raises(UserError, match=r"--from .*train.csv: git blob id .* \(the published train.csv's\)"):
        _fetch(spec, folder, archive=tmp_path / "train.csv")
    with pytest.raises(UserError, match="ag-news-full is made from train.csv and test.csv; give one of them"):
        _fetch(spec, folder, archive=tmp_path / "my-copy.csv")
    (tmp_path / "train.csv").write_bytes(AG_TRAIN)
    SERVED["/agf/train.csv"] = b"the server is not asked"
    assert _fetch(spec, folder, archive=tmp_path / "train.csv")["train.csv.gz"].startswith("made from train.csv")
    assert registry.verify(spec, folder)


def test_an_altered_train_file_or_a_missing_record_is_refused_at_load(server, tmp_path, monkeypatch):
    spec = _ag_full(server)
    monkeypatch.setitem(registry.REGISTRY, "ag-news-full", spec)
    monkeypatch.setenv("DEEPSTUDY_DATA", str(tmp_path))
    folder = tmp_path / "ag-news"
    _fetch(spec, folder)
    from deepstudy import data
    from deepstudy.config import DataConfig

    recorded = _recorded(folder)
    (folder / "train.csv.gz").write_bytes(gzip.compress(AG_TRAIN.replace(b"Title 7", b"Title 8")))
    with pytest.raises(UserError, match=r"checksum mismatch for .*train.csv.gz: sha256 .* recorded at its first "
                                        r"verified fetch; .* delete it and run `deepstudy data fetch ag-news-full`"):
        data.load(DataConfig(name="ag-news-full"), 0)
    assert _recorded(folder) == recorded  # a load never rewrites the record
    assert _fetch(spec, folder)["train.csv.gz"].startswith("made from")  # fetch makes a verified one again
    (folder / "train.csv.gz.sha256").unlink()
    with pytest.raises(UserError, match="has no recorded sha256 .*run `deepstudy data fetch ag-news-full`"):
        data.load(DataConfig(name="ag-news-full"), 0)


def test_ag_news_full_loads_the_published_split(server, tmp_path, monkeypatch):
    spec = _ag_full(server)
    monkeypatch.setitem(registry.REGISTRY, "ag-news-full", spec)
    monkeypatch.setenv("DEEPSTUDY_DATA", str(tmp_path))
    _fetch(spec, tmp_path / "ag-news")
    from deepstudy import data
    from deepstudy.config import DataConfig

    ds = data.load(DataConfig(name="ag-news-full", text_field="title+description"), 0)
    sizes = ds.summary()["sizes"]
    assert sizes["train"] + sizes["val"] == 40 and sizes["test"] == 8  # no hold-out: the published test file
    assert ds.classes == ["World", "Sports", "Business", "Sci/Tech"] and ds.y_test.tolist() == [0, 1, 2, 3] * 2
    assert list(ds.x_test) == [f"Test {k} Story {k}" for k in range(8)]
    assert "Title" in ds.x_train[0] and "$" in ds.x_train[0] and "\\" not in ds.x_train[0]
    assert "the published split: 40 train / 8 test" in ds.notes
    assert ds.source["sha256"]["train.csv.gz"] == _sha((tmp_path / "ag-news/train.csv.gz").read_bytes())


def test_ag_news_full_without_its_train_file_says_the_fetch_command(cli, tmp_path, monkeypatch):
    folder = tmp_path / "data/ag-news"  # what `deepstudy data fetch ag-news` leaves: the test split only
    folder.mkdir(parents=True)
    (folder / "test.csv.gz").write_bytes(gzip.compress(AG_FULL_TEST))
    (folder / "classes.txt").write_bytes(AG_CLASSES)
    monkeypatch.setenv("DEEPSTUDY_DATA", str(tmp_path / "data"))
    r = cli("run", "naive-bayes-headlines", "--set", "data.name=ag-news-full", "--out", str(tmp_path / "runs"))
    assert r.code == 2 and r.err.count("\n") == 1 and "Traceback" not in r.err
    assert f"{folder} (it lacks train.csv.gz)" in r.err and "run `deepstudy data fetch ag-news-full`" in r.err
    assert not (tmp_path / "runs").exists()


# --- the real shared data: the fetched files are the registry's --------------------------------------------------

def _real(name: str, server: str, served: dict[str, bytes]):
    """The registered spec with every URL pointed at the 127.0.0.1 server, which serves ``served`` (by file name)."""
    spec = registry.REGISTRY[name]
    for key, body in served.items():
        SERVED[f"/{name}/{key}"] = body
    files = tuple(dataclasses.replace(f, urls=(f"{server}/{name}/{f.name}",) if f.urls else ()) for f in spec.files)
    made = spec.made_from and dataclasses.replace(spec.made_from, urls=(f"{server}/{name}/{spec.made_from.name}",))
    return dataclasses.replace(spec, files=files, made_from=made)


def _shared(folder: str, name: str) -> bytes:
    path = SHARED / folder / name
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    return path.read_bytes()


@pytest.mark.parametrize("name", ["churn", "credit-card-applications", "google-stock"])
def test_course_files_come_from_their_pinned_public_copies(server, tmp_path, name):
    spec = registry.REGISTRY[name]
    _fetch(_real(name, server, {f.name: _shared("dl-az", f.name) for f in spec.files}), tmp_path / "dl-az")
    assert registry.verify(spec, tmp_path / "dl-az")  # the real registry's digests
    assert all("raw.githubusercontent.com" in f.urls[0] and len(f.urls[0].split("/")[5]) == 40 for f in spec.files)


@pytest.mark.parametrize("gnu_gzip", [True, False])
def test_real_ag_news_is_made_byte_for_byte(server, tmp_path, monkeypatch, gnu_gzip):
    if not gnu_gzip:  # zlib with our fixed header reproduces this file too
        monkeypatch.setattr(convert.shutil, "which", lambda tool: None)
    raw = gzip.decompress(_shared("ag-news", "test.csv.gz"))
    _fetch(_real("ag-news", server, {"test.csv": raw, "classes.txt": _shared("ag-news", "classes.txt")}),
           tmp_path / "ag")
    assert (tmp_path / "ag/test.csv.gz").read_bytes() == _shared("ag-news", "test.csv.gz")
    assert registry.verify(registry.REGISTRY["ag-news"], tmp_path / "ag")


def test_real_air_quality_is_unzipped_byte_for_byte(server, tmp_path):
    shared = _shared("air-quality", "AirQualityUCI.csv")
    zipped = _zip([("AirQualityUCI.csv", shared), ("AirQualityUCI.xlsx", b"not used")])
    _fetch(_real("air-quality", server, {"AirQualityUCI.zip": zipped}), tmp_path / "air")
    assert (tmp_path / "air/AirQualityUCI.csv").read_bytes() == shared


def _rows(folder: str, name: str) -> list[list[str]]:
    csv.field_size_limit(1 << 30)
    return list(csv.reader(io.StringIO(gzip.decompress(_shared(folder, name)).decode("utf-8"), newline="")))


def _from_local(name: str, members: list[tuple[str, bytes]], tmp_path: Path) -> Path:
    """Fetch the real ``name`` from a tarball rebuilt out of the shared CSVs (given with ``--from``; the published
    digest is set to the rebuilt one's): the made files must pass the registry's own digests."""
    spec = registry.REGISTRY[name]
    (tmp_path / spec.made_from.name).write_bytes(_targz(members))
    spec = dataclasses.replace(spec, made_from=dataclasses.replace(
        spec.made_from, sha256=_sha((tmp_path / spec.made_from.name).read_bytes())))
    _fetch(spec, tmp_path / name, archive=tmp_path / spec.made_from.name)
    registry.verify(spec, tmp_path / name)
    return tmp_path / name


@pytest.mark.slow
def test_real_imdb_round_trips_through_the_aclimdb_layout(tmp_path):
    members = [(f"aclImdb/{split}/{'pos' if label == '1' else 'neg'}/{i}_{rating}.txt", review.encode("utf-8"))
               for split in ("train", "test") for i, rating, label, review in _rows("imdb", f"{split}.csv.gz")[1:]]
    folder = _from_local("imdb", members, tmp_path)
    if convert.shutil.which("gzip"):
        assert (folder / "train.csv.gz").read_bytes() == _shared("imdb", "train.csv.gz")


@pytest.mark.slow
def test_real_20newsgroups_round_trips_through_the_bydate_layout(tmp_path):
    members = []
    for split in ("train", "test"):
        seen: dict[str, int] = {}
        for group, message in _rows("20newsgroups", f"20news-bydate-{split}.csv.gz")[1:]:
            seen[group] = seen.get(group, 0) + 1  # zero-padded: string order = the stored order
            members.append((f"20news-bydate-{split}/{group}/{seen[group]:05d}", message.encode("latin-1")))
    folder = _from_local("20newsgroups", members, tmp_path)
    if convert.shutil.which("gzip"):
        assert (folder / "20news-bydate-test.csv.gz").read_bytes() == _shared("20newsgroups",
                                                                              "20news-bydate-test.csv.gz")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["imdb", "20newsgroups"])
def test_the_second_accepted_digests_are_the_zlib_compression_of_the_shared_content(monkeypatch, name):
    """Without GNU gzip, the same CSV compressed by zlib: that digest is the one the registry also accepts."""
    monkeypatch.setattr(convert.shutil, "which", lambda tool: None)
    for f in registry.REGISTRY[name].files:
        content = gzip.decompress(_shared(registry.REGISTRY[name].folder, f.name))
        assert f.also_sha256 == (_sha(next(convert.gzip_candidates(content))),)
