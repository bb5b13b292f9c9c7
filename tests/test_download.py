"""The downloader against a real HTTP server on 127.0.0.1 (no other network is touched)."""
import hashlib
import socket
import threading
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
        if self.path == "/missing":
            self.send_error(404)
            return
        body = b"something else" if self.path.startswith("/bad") else PAYLOAD
        self.send_response(200)
        declared = len(body) + 5000 if self.path.startswith("/cut") else len(body)
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
