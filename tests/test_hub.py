"""hub: downloads against a real HTTP server on 127.0.0.1 (Range resume, dropped connections, wrong
bytes, errors), offline mode, the verified-checksum sidecar, locking, a full disk, local weights."""

from __future__ import annotations

import fcntl
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from openbind import hub
from openbind.errors import ChecksumMismatch, DownloadError, MissingWeights
from openbind.registry import ModelCard, WeightFile
from tests.local_http import serving

pytestmark = pytest.mark.network

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
MODEL = "testfam_tiny.v1"


@dataclass
class Server:
    """A file server whose behaviour the test sets through `mode`, recording the requests it got.

    Modes: "ok"; "drop" (always closes the connection after `drop_at` bytes); "drop_once" (drops the
    first response only); "wrong" (serves other bytes); "no_range" (ignores Range); "404";
    "503_once" (a server error, then ok); "hangup_once" (closes the first connection unanswered).
    """

    port: int = 0
    mode: str = "ok"
    drop_at: int = 120_000
    requests: list[dict] = field(default_factory=list)

    def url(self, name: str = "w.bin") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def _handler(state: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append({"path": self.path, "range": self.headers.get("Range")})
            first = len(state.requests) == 1
            if state.mode == "404" or (state.mode == "503_once" and first):
                self.send_error(int(state.mode[:3]))
                return
            if state.mode == "hangup_once" and first:
                self.close_connection = True  # no status line at all
                return
            body = bytes(b ^ 0xFF for b in DATA) if state.mode == "wrong" else DATA
            start = 0
            rng = self.headers.get("Range")
            if rng and state.mode != "no_range":
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            drop = state.mode == "drop" or (state.mode == "drop_once" and first)
            if drop:
                self.wfile.write(body[start : max(start, state.drop_at)])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@pytest.fixture
def server():
    state = Server()
    with serving(_handler(state)) as port:
        state.port = port
        yield state


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENBIND_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "_RETRY_DELAY", 0.0)
    return tmp_path / "home"


def _wf(server: Server, **kw) -> WeightFile:
    return WeightFile(
        **{"filename": "w.bin", "url": server.url(), "sha256": SHA, "size": len(DATA), **kw}
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".part", ".bin"))


def test_cache_dir_is_read_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "a"))
    assert hub.cache_dir() == tmp_path / "a"
    assert hub.model_dir("x_y.z") == tmp_path / "a" / "models" / "x_y.z"
    monkeypatch.delenv("OPENBIND_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert hub.cache_dir() == tmp_path / "h" / ".cache" / "openbind"


def test_full_download_is_verified_cached_and_not_fetched_again(server, home):
    path = hub.fetch(MODEL, _wf(server), progress=False)
    assert path == home / "models" / MODEL / "w.bin"
    assert path.read_bytes() == DATA
    assert json.loads((path.parent / "w.bin.sha256").read_text())["sha256"] == SHA
    assert _leftovers(path.parent) == ["w.bin"]
    assert hub.fetch(MODEL, _wf(server), progress=False) == path
    assert len(server.requests) == 1


def test_dropped_connection_is_resumed_with_a_range_request(server):
    server.mode = "drop_once"
    path = hub.fetch(MODEL, _wf(server), progress=False)
    assert path.read_bytes() == DATA
    assert [r["range"] for r in server.requests] == [None, f"bytes={server.drop_at}-"]


def test_download_that_keeps_dropping_keeps_the_part_for_the_next_run(server, home):
    server.mode = "drop"
    with pytest.raises(DownloadError, match="failed 3 times") as e:
        hub.fetch(MODEL, _wf(server), progress=False)
    part = home / "models" / MODEL / "w.bin.part"
    assert str(part) in str(e.value)
    assert part.read_bytes() == DATA[: server.drop_at]
    assert not (home / "models" / MODEL / "w.bin").exists()
    server.mode = "ok"
    assert hub.fetch(MODEL, _wf(server), progress=False).read_bytes() == DATA
    assert server.requests[-1]["range"] == f"bytes={server.drop_at}-"


def test_unknown_size_uses_content_length_to_resume(server):
    server.mode = "drop_once"
    path = hub.fetch(MODEL, _wf(server, size=0), progress=False)
    assert path.read_bytes() == DATA
    assert server.requests[1]["range"] == f"bytes={server.drop_at}-"


def test_overlong_part_of_unknown_size_restarts_after_416(server, home):
    folder = home / "models" / MODEL
    folder.mkdir(parents=True)
    (folder / "w.bin.part").write_bytes(DATA + b"junk")
    assert hub.fetch(MODEL, _wf(server, size=0), progress=False).read_bytes() == DATA
    assert [r["range"] for r in server.requests] == [f"bytes={len(DATA) + 4}-", None]


@pytest.mark.parametrize("mode", ["503_once", "hangup_once"])
def test_transient_server_failures_are_retried(server, mode):
    server.mode = mode
    assert hub.fetch(MODEL, _wf(server), progress=False).read_bytes() == DATA
    assert len(server.requests) == 2


def test_server_that_ignores_range_restarts_from_zero(server, home):
    folder = home / "models" / MODEL
    folder.mkdir(parents=True)
    (folder / "w.bin.part").write_bytes(DATA[:1000])
    server.mode = "no_range"
    assert hub.fetch(MODEL, _wf(server), progress=False).read_bytes() == DATA
    assert server.requests[0]["range"] == "bytes=1000-"


def test_wrong_bytes_raise_checksum_mismatch_and_leave_nothing(server, home):
    server.mode = "wrong"
    with pytest.raises(ChecksumMismatch, match=f"expected {len(DATA)} bytes with sha256 {SHA}"):
        hub.fetch(MODEL, _wf(server), progress=False)
    assert _leftovers(home / "models" / MODEL) == []


def test_corrupt_part_leftover_is_deleted_on_checksum_failure(server, home):
    folder = home / "models" / MODEL
    folder.mkdir(parents=True)
    (folder / "w.bin.part").write_bytes(b"\0" * 5000)
    with pytest.raises(ChecksumMismatch, match="deleted"):
        hub.fetch(MODEL, _wf(server), progress=False)
    assert _leftovers(folder) == []
    assert hub.fetch(MODEL, _wf(server), progress=False).read_bytes() == DATA


@pytest.mark.parametrize("var", ["OPENBIND_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_env_raises_missing_weights_with_directions(server, home, monkeypatch, var):
    monkeypatch.setenv(var, "1")
    with pytest.raises(MissingWeights) as e:
        hub.fetch(MODEL, _wf(server), progress=False)
    msg = str(e.value)
    assert "w.bin" in msg
    assert str(home / "models" / MODEL / "w.bin") in msg
    assert server.url() in msg
    assert SHA in msg
    assert "--weights PATH" in msg
    assert server.requests == []


def test_offline_argument_wins_over_environment(server, monkeypatch):
    with pytest.raises(MissingWeights):
        hub.fetch(MODEL, _wf(server), offline=True, progress=False)
    monkeypatch.setenv("OPENBIND_OFFLINE", "1")
    assert hub.fetch(MODEL, _wf(server), offline=False, progress=False).read_bytes() == DATA
    # once cached, offline mode serves it from the cache
    assert hub.fetch(MODEL, _wf(server), progress=False).read_bytes() == DATA
    assert len(server.requests) == 1


def test_unreachable_server_raises_download_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wf = WeightFile("w.bin", f"http://127.0.0.1:{port}/w.bin", SHA, len(DATA))
    with pytest.raises(DownloadError, match=r"cannot reach http://127\.0\.0\.1.*--weights PATH"):
        hub.fetch(MODEL, wf, progress=False)


def test_http_error_raises_download_error(server):
    server.mode = "404"
    with pytest.raises(DownloadError, match="HTTP 404"):
        hub.fetch(MODEL, _wf(server), progress=False)
    assert len(server.requests) == 1  # client errors are not retried


def test_not_enough_disk_space_fails_before_downloading(server, home):
    with pytest.raises(DownloadError, match="not enough disk space"):
        hub.fetch(MODEL, _wf(server, size=10**18), progress=False)
    assert server.requests == []
    assert _leftovers(home / "models" / MODEL) == []


def test_disk_full_during_download_leaves_nothing(server, home):
    # A child process whose files may not grow past 100 kB: writes fail with EFBIG, like a full disk.
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "from openbind import hub\n"
        "from openbind.errors import DownloadError\n"
        "from openbind.registry import WeightFile\n"
        f"wf = WeightFile('w.bin', {server.url()!r}, {SHA!r}, {len(DATA)})\n"
        "try:\n"
        f"    hub.fetch({MODEL!r}, wf, progress=False)\n"
        "except DownloadError as e:\n"
        "    print(e)\n"
        "    sys.exit(7)\n"
    )
    env = {**os.environ, "OPENBIND_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 7, done.stderr
    assert "no space left" in done.stdout
    assert _leftovers(home / "models" / MODEL) == []


def test_cached_file_with_wrong_bytes_is_reported_not_used(server):
    path = hub.fetch(MODEL, _wf(server), progress=False)
    # Same size, new mtime: the sidecar no longer vouches for it.
    path.write_bytes(DATA[:-1] + b"\0")
    with pytest.raises(ChecksumMismatch, match=f", expected {SHA}.*Delete it"):
        hub.fetch(MODEL, _wf(server), progress=False)
    assert path.exists()  # reported, not silently replaced
    assert len(server.requests) == 1


def test_file_without_published_sha_is_checked_against_the_recorded_one(server):
    path = hub.fetch(MODEL, _wf(server, sha256=None, size=0), progress=False)
    assert json.loads((path.parent / "w.bin.sha256").read_text())["sha256"] == SHA
    path.write_bytes(DATA[:-1])  # damaged after download
    with pytest.raises(ChecksumMismatch, match=f"w.bin.sha256 recorded at download {SHA}"):
        hub.fetch(MODEL, _wf(server, sha256=None, size=0), progress=False)


def test_cached_file_of_wrong_size_is_reported(server):
    path = hub.fetch(MODEL, _wf(server), progress=False)
    path.write_bytes(DATA[:1000])
    with pytest.raises(ChecksumMismatch, match=f"1000 bytes, expected {len(DATA)}"):
        hub.fetch(MODEL, _wf(server), progress=False)


def test_sidecar_spares_rehashing_an_unchanged_file(server):
    path = hub.fetch(MODEL, _wf(server), progress=False)
    st = path.stat()
    # Change the bytes but keep size and mtime: only a rehash could notice, and the sidecar avoids it.
    path.write_bytes(DATA[:-1] + b"\0")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert hub.fetch(MODEL, _wf(server), progress=False) == path
    # Without the sidecar the file is hashed again and the damage is found.
    (path.parent / "w.bin.sha256").unlink()
    with pytest.raises(ChecksumMismatch):
        hub.fetch(MODEL, _wf(server), progress=False)


def test_cached_file_without_sidecar_is_verified_and_recorded(server, home):
    folder = home / "models" / MODEL
    folder.mkdir(parents=True)
    (folder / "w.bin").write_bytes(DATA)  # copied in by hand from a connected machine
    assert hub.fetch(MODEL, _wf(server), offline=True, progress=False) == folder / "w.bin"
    assert json.loads((folder / "w.bin.sha256").read_text())["sha256"] == SHA


def test_second_process_waits_for_the_lock_then_uses_the_finished_file(server, home):
    folder = home / "models" / MODEL
    folder.mkdir(parents=True)
    code = (
        "from openbind import hub\n"
        "from openbind.registry import WeightFile\n"
        f"wf = WeightFile('w.bin', {server.url()!r}, {SHA!r}, {len(DATA)})\n"
        f"print(hub.fetch({MODEL!r}, wf, progress=False))\n"
    )
    env = {**os.environ, "OPENBIND_HOME": str(home)}
    with open(folder / "w.bin.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # this test plays the process that is downloading
        child = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
        )
        _wait_until_blocked_on_a_lock(child.pid)
        (folder / "w.bin").write_bytes(DATA)  # the "download" finishes
        fcntl.flock(lock, fcntl.LOCK_UN)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    assert out.strip() == str(folder / "w.bin")
    assert server.requests == []  # the waiting process did not download it again


def _wait_until_blocked_on_a_lock(pid: int) -> None:
    """Poll /proc/locks until process `pid` waits for a lock ("->" marks a blocked request)."""
    for _ in range(3000):
        locks = Path("/proc/locks").read_text().splitlines()
        if any("->" in line and f" {pid} " in line for line in locks):
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} never waited for the download lock")


def test_file_url_mirror(tmp_path):
    src = tmp_path / "mirror.bin"
    src.write_bytes(DATA)
    wf = WeightFile("w.bin", src.as_uri(), SHA, len(DATA))
    assert hub.fetch(MODEL, wf, progress=False).read_bytes() == DATA


def _entry(*files: WeightFile) -> ModelCard:
    return ModelCard(MODEL, "x:build", ("text",), 8, weights=files)


def test_resolve_weights_prefers_a_local_path(tmp_path, server):
    local = tmp_path / "mine.pth"
    local.write_bytes(b"x")
    assert hub.resolve_weights(_entry(_wf(server)), local) == local
    assert hub.resolve_weights(_entry(_wf(server)), str(tmp_path)) == tmp_path
    assert server.requests == []
    with pytest.raises(MissingWeights, match=r"nope\.pth does not exist"):
        hub.resolve_weights(_entry(_wf(server)), tmp_path / "nope.pth")


def test_resolve_weights_fetches_the_entry_files(server, home, capsys):
    one = hub.resolve_weights(_entry(_wf(server)), None)
    assert one == home / "models" / MODEL / "w.bin"
    second = WeightFile("v.bin", server.url("v.bin"), SHA, len(DATA))
    both = hub.resolve_weights(_entry(_wf(server), second), None)
    assert both == home / "models" / MODEL
    assert (both / "v.bin").read_bytes() == DATA
    with pytest.raises(MissingWeights, match=r"no downloadable weights.*--weights PATH"):
        hub.resolve_weights(_entry(), None)


def test_cached_models_lists_files_and_partial_downloads(server, home):
    assert hub.cached_models() == []
    hub.fetch(MODEL, _wf(server), progress=False)
    (home / "models" / MODEL / "v.bin.part").write_bytes(b"12345")
    (home / "models" / "other_m.t").mkdir()
    [other, model] = hub.cached_models()
    assert model.name == MODEL and model.path == home / "models" / MODEL
    assert model.files == (
        hub.CachedFile("v.bin", 5, partial=True),
        hub.CachedFile("w.bin", len(DATA)),
    )
    assert model.size == len(DATA) + 5
    nested = hub.fetch(MODEL, _wf(server, filename="tokenizer/vocab.bin"), progress=False)
    assert nested == home / "models" / MODEL / "tokenizer" / "vocab.bin"
    [_, model] = hub.cached_models()
    assert model.has("tokenizer/vocab.bin")
    assert model.has("w.bin") and not model.has("v.bin")
    assert other.name == "other_m.t" and other.files == ()
