"""hub: files at a Hugging Face branch are pinned on first download (commit, sha256, size in the
model's lock file) against a local server that answers like the hub (`X-Repo-Commit`, and for LFS
files a redirect carrying `X-Linked-Etag` / `X-Linked-Size`)."""

from __future__ import annotations

import hashlib
import http.server
import json
from dataclasses import dataclass, field

import pytest

from openbind import hub
from openbind.errors import ChecksumMismatch, MissingWeights
from openbind.registry import WeightFile
from tests.local_http import serving

pytestmark = pytest.mark.network

MODEL = "lbtest_tiny.hf"
C1, C2 = "1" * 40, "2" * 40
CONFIG, WEIGHTS = b'{"model_type": "LanguageBindVideo"}', bytes(range(256)) * 900


@dataclass
class FakeHub:
    """`/org/repo/resolve/<rev>/<file>` of one repository. `commits[c][file]` are the bytes of a
    file at commit c, `main` the branch's commit; `weights.bin` is an LFS file (redirected to
    `/cdn/...`), `config.json` a plain git file. `corrupt` serves other bytes than the headers
    promise."""

    port: int = 0
    main: str = C1
    commits: dict[str, dict[str, bytes]] = field(
        default_factory=lambda: {C1: {"config.json": CONFIG, "weights.bin": WEIGHTS}}
    )
    corrupt: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)

    def url(self, name: str, rev: str = "main") -> str:
        return f"http://127.0.0.1:{self.port}/org/repo/resolve/{rev}/{name}"


def _handler(hub_: FakeHub) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, *, body: bool) -> None:
            hub_.requests.append((self.command, self.path))
            parts = self.path.strip("/").split("/")
            if parts[0] == "cdn":  # /cdn/<commit>/<file>
                data = hub_.commits[parts[1]][parts[2]]
                data = bytes(b ^ 1 for b in data) if hub_.corrupt else data
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)
                return
            rev, name = parts[3], parts[4]
            commit = hub_.main if rev == "main" else rev
            data = hub_.commits[commit][name]
            if name.endswith(".bin"):  # LFS: the metadata is on the redirect
                self.send_response(302)
                self.send_header("Location", f"/cdn/{commit}/{name}")
                self.send_header("X-Repo-Commit", commit)
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("X-Repo-Commit", commit)
            self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')  # git's, not a sha256
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


@pytest.fixture
def fake_hub():
    state = FakeHub()
    with serving(_handler(state)) as port:
        state.port = port
        yield state


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBIND_HOME", str(tmp_path / "home"))
    for var in ("OPENBIND_OFFLINE", "HF_HUB_OFFLINE", hub.REPIN_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hub, "_RETRY_DELAY", 0.0)
    return tmp_path / "home"


def _files(fake_hub: FakeHub) -> list[WeightFile]:
    return [WeightFile(name, fake_hub.url(name)) for name in ("config.json", "weights.bin")]


def _fetch_all(fake_hub: FakeHub) -> list[bytes]:
    return [hub.fetch(MODEL, wf, progress=False).read_bytes() for wf in _files(fake_hub)]


def _pins() -> dict:
    return json.loads((hub.model_dir(MODEL) / "hub-pins.lock").read_text())


def test_first_download_pins_commit_sha256_and_size_and_fetches_at_that_commit(fake_hub):
    assert _fetch_all(fake_hub) == [CONFIG, WEIGHTS]
    pins = _pins()
    assert pins["weights.bin"]["commit"] == C1 == pins["config.json"]["commit"]
    assert pins["weights.bin"]["sha256"] == hashlib.sha256(WEIGHTS).hexdigest()
    assert pins["weights.bin"]["size"] == len(WEIGHTS)
    assert pins["config.json"]["sha256"] == hashlib.sha256(CONFIG).hexdigest()
    gets = [path for method, path in fake_hub.requests if method == "GET"]
    assert gets == [
        f"/org/repo/resolve/{C1}/config.json",
        f"/org/repo/resolve/{C1}/weights.bin",
        f"/cdn/{C1}/weights.bin",
    ]
    # the branch is resolved once; the second file is asked for at the pinned commit
    heads = [path for method, path in fake_hub.requests if method == "HEAD"]
    assert heads == ["/org/repo/resolve/main/config.json", f"/org/repo/resolve/{C1}/weights.bin"]
    assert {f.name for m in hub.cached_models() for f in m.files} == {"config.json", "weights.bin"}


def test_cached_files_load_without_the_network_and_a_moved_branch_is_not_followed(fake_hub):
    _fetch_all(fake_hub)
    fake_hub.commits[C2] = {"config.json": CONFIG, "weights.bin": WEIGHTS[::-1]}
    fake_hub.main = C2
    seen = len(fake_hub.requests)
    assert _fetch_all(fake_hub) == [CONFIG, WEIGHTS]
    assert len(fake_hub.requests) == seen  # no connection for cached files
    (hub.model_dir(MODEL) / "weights.bin").unlink()
    assert _fetch_all(fake_hub) == [CONFIG, WEIGHTS]  # downloaded again at the pinned commit
    assert _pins()["weights.bin"]["commit"] == C1


def test_a_changed_remote_is_refused_naming_the_file_and_repin_accepts_it(fake_hub, monkeypatch):
    _fetch_all(fake_hub)
    (hub.model_dir(MODEL) / "weights.bin").unlink()
    fake_hub.commits[C1]["weights.bin"] = WEIGHTS[::-1]  # the remote rewrote the pinned file
    with pytest.raises(ChecksumMismatch, match=r"remote weights\.bin changed.*OPENBIND_REPIN"):
        _fetch_all(fake_hub)
    assert not (hub.model_dir(MODEL) / "weights.bin").exists()
    fake_hub.commits[C2] = {"config.json": b"{}", "weights.bin": WEIGHTS[::-1]}
    fake_hub.main = C2
    monkeypatch.setenv(hub.REPIN_ENV, "1")
    assert _fetch_all(fake_hub) == [b"{}", WEIGHTS[::-1]]  # both re-downloaded at the new commit
    pins = _pins()
    assert pins["config.json"]["commit"] == C2 == pins["weights.bin"]["commit"]
    assert pins["weights.bin"]["sha256"] == hashlib.sha256(WEIGHTS[::-1]).hexdigest()


def test_bytes_that_differ_from_the_hubs_sha256_are_refused_and_not_kept(fake_hub):
    fake_hub.corrupt = True
    wf = _files(fake_hub)[1]
    with pytest.raises(ChecksumMismatch, match=hashlib.sha256(WEIGHTS).hexdigest()):
        hub.fetch(MODEL, wf, progress=False)
    folder = hub.model_dir(MODEL)
    assert not (folder / "weights.bin").exists() and not (folder / "weights.bin.part").exists()
    assert not (folder / "hub-pins.lock").exists()


def test_a_cached_file_that_differs_from_its_pin_is_reported(fake_hub):
    _fetch_all(fake_hub)
    path = hub.model_dir(MODEL) / "weights.bin"
    path.with_name("weights.bin.sha256").unlink()  # no sidecar: only the lock knows the sha256
    path.write_bytes(WEIGHTS[::-1])
    with pytest.raises(ChecksumMismatch, match=r"weights\.bin"):
        _fetch_all(fake_hub)


def test_offline_a_missing_file_still_says_where_to_get_it(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingWeights, match=r"(?s)config\.json is not cached.*--weights PATH"):
        _fetch_all(fake_hub)
    assert fake_hub.requests == []
