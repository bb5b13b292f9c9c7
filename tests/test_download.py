"""The downloader against a real HTTP server on 127.0.0.1 (no other network is touched)."""
import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deepstudy.data import download
from deepstudy.data.registry import DatasetSpec, FileSpec
from deepstudy.errors import UserError

PAYLOAD = bytes(range(256)) * 400
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith(("/endless", "/slow")):  # no Content-Length: more than expected, or a trickle
            self.send_response(200)
            self.end_headers()
            for _ in range(50 if self.path.startswith("/endless") else 6):
                self.wfile.write(PAYLOAD[:20000])
                self.wfile.flush()
                if self.path.startswith("/slow"):
                    time.sleep(0.15)
            self.close_connection = True
            return
        if self.path == "/announces-huge":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * len(PAYLOAD)))
            self.end_headers()
            self.close_connection = True
            return
        if self.path == "/missing":
            self.send_error(404)
            return
        body = b"something else" if self.path.startswith("/bad") else PAYLOAD
        self.send_response(200)
        declared = len(body)  # /cut announces the whole file, then sends half of it
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.path.startswith("/cut") else body)
        self.wfile.flush()
        if self.path.startswith("/cut"):
            self.close_connection = True


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _spec(*urls):
    return DatasetSpec("toy", "toy", "idx", "toy", "none", (FileSpec("toy.bin", SHA, len(PAYLOAD), tuple(urls)),))


def _closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/toy.bin"


def test_good_file_is_verified_and_moved_into_place(server, tmp_path):
    status = download.fetch(_spec(f"{server}/good"), tmp_path, log=lambda m: None)
    assert status == {"toy.bin": "downloaded"}
    assert (tmp_path / "toy.bin").read_bytes() == PAYLOAD
    assert [p.name for p in tmp_path.iterdir()] == ["toy.bin"]  # no temporary files left
    assert download.fetch(_spec(f"{server}/good"), tmp_path, log=lambda m: None) == {"toy.bin": "present"}


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    with pytest.raises(UserError, match="checksum mismatch"):
        download.fetch(_spec(f"{server}/bad"), tmp_path, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_transfer_leaves_nothing(server, tmp_path):
    with pytest.raises(UserError, match="interrupted"):
        download.fetch(_spec(f"{server}/cut"), tmp_path, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_falls_back_to_the_next_mirror(server, tmp_path):
    status = download.fetch(_spec(f"{server}/missing", f"{server}/good"), tmp_path, log=lambda m: None)
    assert status == {"toy.bin": "downloaded"}


def test_offline_message_says_what_to_do(tmp_path):
    with pytest.raises(UserError) as e:
        download.fetch(_spec(_closed_port_url()), tmp_path, log=lambda m: None, timeout=5)
    msg = str(e.value)
    assert "offline" in msg and SHA in msg and str(tmp_path / "toy.bin") in msg
    assert list(tmp_path.iterdir()) == []


def test_a_file_never_grows_past_its_expected_size(server, tmp_path):
    for path in ("/endless", "/announces-huge"):
        with pytest.raises(UserError, match="more than the expected"):
            download.fetch(_spec(f"{server}{path}"), tmp_path, log=lambda m: None)
        assert list(tmp_path.iterdir()) == []


def test_a_trickle_is_abandoned(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "GRACE", 0.2)
    with pytest.raises(UserError, match=r"too slow \(.* KiB/s on average, below 10240 KiB/s") as e:  # the 0.15 s
        download.fetch(_spec(f"{server}/slow"), tmp_path, log=lambda m: None, min_rate=10 << 20)  # pauses: far slower
    assert "offline" not in str(e.value)  # a slow server is not a missing network: retry later
    assert list(tmp_path.iterdir()) == []


def test_a_transfer_past_its_deadline_is_abandoned(server, tmp_path):
    with pytest.raises(UserError, match="longer than its 0 s deadline"):
        download.fetch(_spec(f"{server}/slow"), tmp_path, log=lambda m: None, deadline=0.2)
    assert list(tmp_path.iterdir()) == []


def test_not_enough_disk_space_is_said_before_downloading(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    with pytest.raises(UserError, match="not enough disk space for toy.bin: it needs"):
        download.fetch(_spec(f"{server}/good"), tmp_path, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_up_mid_download_leaves_nothing(server, tmp_path, monkeypatch):
    import errno

    class Full:
        def __init__(self, path, mode):
            self.f = open(path, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download, "open", Full, raising=False)
    with pytest.raises(UserError, match="the disk filled up while downloading toy.bin"):
        download.fetch(_spec(f"{server}/good"), tmp_path, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", ["--min-rate", "--deadline"])
def test_download_limits_on_the_command_line_must_be_positive(cli, tmp_path, flag):
    r = cli("data", "fetch", "mnist", "--dir", str(tmp_path), flag, "-1")
    assert r.code == 2 and r.err.strip() == f"error: {flag} must be a positive number, got -1.0"
    assert list(tmp_path.iterdir()) == []
