"""Weights cache and downloads: the only code in openbind that talks to the network.

Files live in `cache_dir()/models/<model name>/<filename>`. A download goes to `<filename>.part`
next to its final place (never the working directory), resumes an existing `.part` with an HTTP
Range request, is checked against its sha256, and is renamed into place only when complete. A
`<filename>.lock` file keeps two processes from downloading the same file at once, and a
`<filename>.sha256` sidecar records the checksum of a verified file, so a 4.8 GB checkpoint is hashed
once, not at every load.

Offline mode (`OPENBIND_OFFLINE=1`, `HF_HUB_OFFLINE=1` or `offline=True`) never opens a connection:
a file that is not cached raises `MissingWeights` saying where to get it.

Files at a Hugging Face branch (`<endpoint>/<repo>/resolve/<branch>/<file>`, e.g. `main`) are
**pinned on first download**, as `huggingface_hub` does: a HEAD request (redirects not followed)
gives the commit the branch points at (`X-Repo-Commit`) and, for LFS files, their sha256 and size
(`X-Linked-Etag`, `X-Linked-Size`); the file is downloaded at that commit and its bytes checked
against them. Commit, sha256 and size go to the model's lock file (`hub-pins.lock` in its cache
folder). Later, cached files are checked against the lock, other files of the same repository are
downloaded at the pinned commit, and a file whose bytes differ from its pin raises
`ChecksumMismatch` naming it. `OPENBIND_REPIN=1` re-pins: the branch is resolved again and
files that changed are downloaded again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from openbind.atomic import write_text_atomic
from openbind.cards import (
    COMMIT,
    HfRepo,
    LocalFolder,
    ModelCard,
    Parts,
    WeightFile,
    hub_branch_url,
)
from openbind.errors import ChecksumMismatch, DownloadError, MissingWeights

_CHUNK = 1 << 20
_ATTEMPTS = 3
_RETRY_DELAY = 1.0  # seconds; doubled after every failed attempt
_TIMEOUT = 30.0  # seconds without data before a connection counts as dropped
_TRUE = ("1", "true", "yes", "on")
_PART, _LOCK, _SIDECAR = ".part", ".lock", ".sha256"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_WEIGHTS_OPTION = "`--weights PATH`, or openbind.load(..., weights=PATH)"
_PINS = "hub-pins.lock"
_SHA256 = re.compile(r"[0-9a-f]{64}")
REPIN_ENV = "OPENBIND_REPIN"


@dataclass(frozen=True)
class CachedFile:
    """A file in a model's cache folder.

    Attributes:
        name: file name (for a partial download, the name it will have when complete).
        size: bytes on disk.
        partial: True for an unfinished download (`.part`), which `fetch` resumes.
    """

    name: str
    size: int
    partial: bool = False


@dataclass(frozen=True)
class CachedModel:
    """The cache folder of one model and the files in it."""

    name: str
    path: Path
    files: tuple[CachedFile, ...]

    @property
    def size(self) -> int:
        """Bytes used by the folder's weight files, partial downloads included."""
        return sum(f.size for f in self.files)

    def has(self, filename: str) -> bool:
        """Whether `filename` is present and complete."""
        return any(f.name == filename and not f.partial for f in self.files)


def cache_dir() -> Path:
    """The openbind cache: `$OPENBIND_HOME`, else `~/.cache/openbind` (read at each call)."""
    home = os.environ.get("OPENBIND_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "openbind"


def model_dir(model_name: str) -> Path:
    """Where the weight files of `model_name` are cached."""
    return cache_dir() / "models" / model_name


def is_offline(offline: bool | None = None) -> bool:
    """`offline` if given, else whether `OPENBIND_OFFLINE` or `HF_HUB_OFFLINE` is set to a true value."""
    if offline is not None:
        return offline
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("OPENBIND_OFFLINE", "HF_HUB_OFFLINE")
    )


def fetch(
    model_name: str, wf: WeightFile, *, offline: bool | None = None, progress: bool = True
) -> Path:
    """The cached path of `wf`, downloading and verifying it first if needed.

    Args:
        model_name: the model the file belongs to (names the cache folder).
        wf: the file: name, URL, sha256 and size.
        offline: never download (default: the `OPENBIND_OFFLINE` / `HF_HUB_OFFLINE` variables).
        progress: show a progress bar on stderr while downloading.

    Returns:
        The verified file in `model_dir(model_name)`.

    Raises:
        MissingWeights: the file is not cached and downloads are off.
        ChecksumMismatch: the cached or downloaded file has the wrong sha256 or size (a bad download
            is deleted; a bad cached file is reported, and must be deleted to download it again).
        DownloadError: the server cannot be reached, answers with an error, the connection keeps
            dropping (the `.part` file is kept and resumed next time) or the disk is full.

    Example:
        >>> wf = openbind.registry.get("imagebind_huge").weights[0]
        >>> path = fetch("imagebind_huge.official", wf)
    """
    path = model_dir(model_name) / wf.filename
    hub_url = hub_branch_url(wf.url)
    pinned = hub_url is not None
    if path.exists() and not (pinned and _repin() and not is_offline(offline)):
        return _verified(path, _with_pin(model_name, wf) if pinned else wf)
    if is_offline(offline):
        raise MissingWeights(_offline_message(model_name, wf, path))
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        if path.exists() and not (pinned and _repin()):  # another process finished it meanwhile
            return _verified(path, _with_pin(model_name, wf) if pinned else wf)
        if pinned:
            _fetch_pinned(model_name, wf, path, hub_url, progress=progress)
        else:
            _download(wf, path, progress=progress)
    return path


def resolve_weights(
    entry: ModelCard,
    weights: str | Path | None,
    *,
    offline: bool | None = None,
    parts: Iterable[str] | None = None,
) -> Path:
    """The weights of `entry` to load: the user's `weights` path, else those of its card's source.

    Args:
        entry: the model card.
        weights: a local file or folder given by the user (`--weights PATH`), or None.
        offline: passed to `fetch`.
        parts: for a `Parts` source, the parts to fetch (default: all).

    Returns:
        `weights` itself if given; else for URL files the single file, or the model's cache folder
        when there are several (all fetched); for a Hugging Face repository the cache folder with
        its fetched files; for `Parts` the cache folder with one subfolder per fetched part; for
        a local folder that folder.

    Raises:
        MissingWeights: `weights` or the card's local folder does not exist, the card has no
            downloadable weights and none were given, or files are not cached while offline (the
            message names the card, its source and the `--weights` alternative).
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.exists():
            raise MissingWeights(f"weights for {entry.name} not found: {path} does not exist")
        return path
    source = entry.weights
    if isinstance(source, LocalFolder):
        path = Path(source.path).expanduser()
        if not path.exists():
            raise MissingWeights(
                f"{entry.name}: its weight source, {source.describe()}, does not exist; create "
                f"it, or pass the weights with {_WEIGHTS_OPTION}"
            )
        return path
    if not len(source):
        raise MissingWeights(
            f"{entry.name} has no downloadable weights; pass a local file or folder "
            f"({_WEIGHTS_OPTION})"
        )
    if isinstance(source, HfRepo):
        _fetch_repo(entry.name, source, source.files, offline=offline)
        return model_dir(entry.name)
    if isinstance(source, Parts):
        unknown = sorted(set(parts or ()) - set(source.parts))
        if unknown:
            raise MissingWeights(
                f"{entry.name} has no weight parts {unknown}; it has {list(source.parts)}"
            )
        for name in source.parts if parts is None else parts:
            part = source.parts[name]
            if isinstance(part, HfRepo):
                _fetch_repo(entry.name, part, source.part_files(name), offline=offline)
            else:
                for wf in source.part_files(name):
                    fetch(entry.name, wf, offline=offline)
        return model_dir(entry.name)
    paths = [fetch(entry.name, wf, offline=offline) for wf in source]
    return paths[0] if len(paths) == 1 else model_dir(entry.name)


def _fetch_repo(
    model_name: str, repo: HfRepo, files: Iterable[WeightFile], *, offline: bool | None
) -> None:
    """Fetch `files` of `repo`; offline, a missing file names the repository and `--weights`."""
    files = tuple(files)
    try:
        for wf in files:
            fetch(model_name, wf, offline=offline)
    except MissingWeights:
        raise MissingWeights(_offline_repo_message(model_name, repo, files)) from None


def cached_models() -> list[CachedModel]:
    """The model folders in the cache with their weight files (locks and sidecars left out), by name."""
    root = cache_dir() / "models"
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = []
        for f in sorted(folder.rglob("*")):  # file names may have folders: "tokenizer/vocab.json"
            if not f.is_file() or f.suffix in (_LOCK, _SIDECAR):
                continue
            partial = f.suffix == _PART
            name = f.relative_to(folder).as_posix()
            files.append(CachedFile(name.removesuffix(_PART), f.stat().st_size, partial))
        found.append(CachedModel(folder.name, folder, tuple(files)))
    return found


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at `path`, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, wf: WeightFile) -> Path:
    """`path` if it is `wf`, else raise; a sidecar matching the file's size and mtime spares a rehash.

    Without a published sha256, the one recorded when the file was downloaded is checked, so a
    damaged file is still found.
    """
    size = path.stat().st_size
    if wf.size and size != wf.size:
        raise ChecksumMismatch(
            f"cached file {path} has {size} bytes, expected {wf.size}; it is truncated or "
            f"not the right file. Delete it and run again to download {wf.url}"
        )
    sidecar = _with_suffix(path, _SIDECAR)
    record = None
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(sidecar.read_text())
    recorded = record.get("sha256") if isinstance(record, dict) else None
    expected = (wf.sha256 or recorded or "").lower()
    if not expected or record == _stamp(path, expected):
        return path
    actual = sha256_file(path)
    if actual != expected:
        origin = "expected" if wf.sha256 else f"{sidecar.name} recorded at download"
        raise ChecksumMismatch(
            f"cached file {path} has sha256 {actual}, {origin} {expected}; it is corrupted or "
            f"not the right file. Delete it and run again to download {wf.url}"
        )
    _record(path, actual)
    return path


def _repin() -> bool:
    return os.environ.get(REPIN_ENV, "").strip().lower() in _TRUE


def _read_pins(model_name: str) -> dict[str, dict]:
    """The lock file of a model: filename -> {url, commit, sha256, size}."""
    with contextlib.suppress(OSError, ValueError):
        pins = json.loads((model_dir(model_name) / _PINS).read_text())
        if isinstance(pins, dict):
            return pins
    return {}


def _write_pin(model_name: str, filename: str, pin: dict) -> None:
    lock = model_dir(model_name) / _PINS
    with _locked(lock):
        pins = _read_pins(model_name)
        pins[filename] = pin
        write_text_atomic(lock, json.dumps(pins, indent=1, sort_keys=True) + "\n")


def _with_pin(model_name: str, wf: WeightFile) -> WeightFile:
    """`wf` with the sha256 and size its lock entry records (a card's own values win)."""
    pin = _read_pins(model_name).get(wf.filename)
    if not pin:
        return wf
    return replace(wf, sha256=wf.sha256 or pin["sha256"], size=wf.size or pin["size"])


def _fetch_pinned(
    model_name: str, wf: WeightFile, path: Path, hub_url: re.Match, *, progress: bool
) -> None:
    """Download (or, re-pinning, refresh) `wf`, a file at a hub branch, pinned to a commit."""
    pins = _read_pins(model_name)
    repo, branch, name = hub_url["repo"], hub_url["rev"], hub_url["file"]
    repin = _repin()
    pin: dict = {} if repin else pins.get(wf.filename, {})
    commit = None
    if not repin:  # another file of the repository fixed the commit already
        commit = next(
            (p["commit"] for p in pins.values() if p.get("repo") == repo and p.get("commit")), None
        )
    meta = _hub_metadata(f"{repo}/resolve/{commit or branch}/{name}")
    if meta.get("commit") and commit and meta["commit"] != commit:
        raise ChecksumMismatch(
            f"{model_name}: {wf.filename} was requested at the pinned commit {commit} of {repo}, "
            f"but the server answered for commit {meta['commit']}"
        )
    commit = commit or meta.get("commit")
    if path.exists():  # re-pinning: keep the file if the repository did not change it
        old = pins.get(wf.filename, {})
        if old and commit == old.get("commit"):
            _verified(path, _with_pin(model_name, wf))
            return
        path.unlink()
        _with_suffix(path, _SIDECAR).unlink(missing_ok=True)
    url = f"{repo}/resolve/{commit}/{name}" if commit else wf.url
    served = meta.get("sha256")
    if not (pin and served and served != pin.get("sha256")):  # else refused before downloading
        expected = replace(
            wf, url=url, sha256=wf.sha256 or served, size=wf.size or meta.get("size", 0)
        )
        _download(expected, path, progress=progress)
        served = sha256_file(path)
    if pin and served != pin.get("sha256"):  # the hub's record or the bytes differ from the pin
        path.unlink(missing_ok=True)
        _with_suffix(path, _SIDECAR).unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{model_name}: the remote {wf.filename} changed: it was pinned with sha256 "
            f"{pin.get('sha256')} (commit {pin.get('commit')}), {url} now serves {served}. "
            f"Set {REPIN_ENV}=1 to accept the new files (re-pin), or pass weights you trust "
            f"with {_WEIGHTS_OPTION}"
        )
    _write_pin(
        model_name,
        wf.filename,
        {"url": wf.url, "commit": commit, "repo": repo, "sha256": served,
         "size": path.stat().st_size},
    )  # fmt: skip


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the hub's metadata headers are on the redirect itself


def _hub_metadata(url: str) -> dict:
    """Commit, LFS sha256 and size of a hub file from a HEAD request (empty if not given)."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "openbind"})
    try:
        with opener.open(request, timeout=_TIMEOUT) as response:
            headers = response.headers
    except urllib.error.HTTPError as e:
        if not 300 <= e.code < 400:
            raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
        headers = e.headers
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise DownloadError(
            f"cannot reach {url} ({getattr(e, 'reason', e)}); check the network, or download the "
            "file on a connected machine and pass it with --weights PATH"
        ) from e
    meta: dict = {}
    commit = (headers.get("X-Repo-Commit") or "").strip()
    if COMMIT.fullmatch(commit):
        meta["commit"] = commit
    etag = (headers.get("X-Linked-Etag") or "").strip().removeprefix("W/").strip('"')
    if _SHA256.fullmatch(etag):
        meta["sha256"] = etag
        size = headers.get("X-Linked-Size")
        if size and size.isdigit():
            meta["size"] = int(size)
    return meta


def _stamp(path: Path, sha256: str) -> dict:
    """What the sidecar of `path` says once verified: the checksum, and the size and mtime it had."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def _record(path: Path, sha256: str) -> None:
    """Write the sidecar of a verified file (skipped on a read-only cache)."""
    with contextlib.suppress(OSError):
        _with_suffix(path, _SIDECAR).write_text(json.dumps(_stamp(path, sha256)) + "\n")


def _download(wf: WeightFile, path: Path, *, progress: bool) -> None:
    """Download `wf.url` to `path` through `path.part`, resuming and retrying dropped connections."""
    part = _with_suffix(path, _PART)
    for attempt in range(_ATTEMPTS):
        try:
            _transfer(wf.url, part, total=wf.size, progress=progress)
            break
        except _Retryable as e:
            if e.restart:
                part.unlink(missing_ok=True)
            if attempt == _ATTEMPTS - 1:
                have = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"download of {wf.url} failed {_ATTEMPTS} times ({e}); {have} bytes are kept in "
                    f"{part} and the next run resumes from there"
                ) from e
            time.sleep(_RETRY_DELAY * 2**attempt)
    digest = sha256_file(part)
    size = part.stat().st_size
    if (wf.sha256 and digest != wf.sha256.lower()) or (wf.size and size != wf.size):
        part.unlink()
        raise ChecksumMismatch(
            f"download of {wf.url} gave {size} bytes with sha256 {digest}, expected "
            f"{wf.size or '?'} bytes with sha256 {wf.sha256}; the bad file was deleted"
        )
    os.replace(part, path)
    _record(path, digest)


class _Retryable(Exception):
    """A transient failure: the connection dropped or the server had a temporary error.

    Args:
        restart: the `.part` file cannot be resumed (the next attempt starts from zero).
    """

    def __init__(self, message: str, *, restart: bool = False) -> None:
        super().__init__(message)
        self.restart = restart


def _transfer(url: str, part: Path, *, total: int, progress: bool) -> None:
    """Append the rest of `url` to `part` (starting over if the server ignores the Range request).

    Args:
        total: the expected size (0 if unknown: the server's Content-Length is used instead).
    """
    offset = part.stat().st_size if part.exists() else 0
    if total and offset >= total:  # a complete or over-long leftover: verify it as it is
        return
    if total:
        _check_space(part, total - offset)
    with _open(url, offset) as response:
        if offset and getattr(response, "status", None) != 206:
            offset = 0  # the server sent the whole file
        length = response.headers.get("Content-Length")
        if not total and length:
            _check_space(part, int(length))
            total = offset + int(length)
        _copy(response, part, offset=offset, total=total, progress=progress)
    if total and part.stat().st_size < total:
        raise _Retryable(f"connection closed after {part.stat().st_size} of {total} bytes")


def _open(url: str, offset: int) -> http.client.HTTPResponse:
    """The response to a GET of `url` from byte `offset` on."""
    request = urllib.request.Request(url, headers={"User-Agent": "openbind"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=_TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 416 or e.code == 429 or e.code >= 500:  # 416: stale .part, restarted below
            raise _Retryable(f"HTTP {e.code} {e.reason}", restart=e.code == 416) from e
        raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (http.client.HTTPException, ConnectionError) as e:  # dropped before the headers
        raise _Retryable(f"connection dropped: {e!r}") from e
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(
            f"cannot reach {url} ({getattr(e, 'reason', e)}); check the network, or download the "
            "file on a connected machine and pass it with --weights PATH"
        ) from e


def _copy(
    response: http.client.HTTPResponse, part: Path, *, offset: int, total: int, progress: bool
) -> None:
    """Write the body of `response` to `part` (appending after `offset` bytes) with a progress bar."""
    from tqdm import tqdm

    bar = tqdm(
        total=total or None, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
        desc=part.stem, disable=not progress, leave=False,
    )  # fmt: skip
    try:
        with bar, open(part, "ab" if offset else "wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    except (http.client.HTTPException, TimeoutError, ConnectionError) as e:
        raise _Retryable(f"connection dropped: {e!r}") from e
    except OSError as e:
        if e.errno in _NO_SPACE:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"no space left to download into {part.parent}; free some space or set "
                "OPENBIND_HOME to a bigger disk (the partial file was deleted)"
            ) from e
        raise _Retryable(f"connection dropped: {e!r}") from e


def _check_space(part: Path, needed: int) -> None:
    free = shutil.disk_usage(part.parent).free
    if free < needed:
        raise DownloadError(
            f"not enough disk space in {part.parent}: {needed} bytes needed, {free} free; free "
            "some space or set OPENBIND_HOME to a bigger disk"
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path.lock` (waits while another process downloads `path`)."""
    with open(_with_suffix(path, _LOCK), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _offline_message(model_name: str, wf: WeightFile, path: Path) -> str:
    size = f", {wf.size / 1e9:.2f} GB" if wf.size else ""
    sha = f" (sha256 {wf.sha256})" if wf.sha256 else ""
    return (
        f"{model_name}: weights file {wf.filename} is not cached and downloads are off "
        "(OPENBIND_OFFLINE / HF_HUB_OFFLINE or offline=True).\n"
        f"  It would be cached at: {path}\n"
        f"  On a connected machine, download {wf.url}{sha}{size} and copy it there,\n"
        "  or pass the file with --weights PATH (openbind.load(..., weights=PATH))."
    )


def _offline_repo_message(model_name: str, source: HfRepo, files: tuple[WeightFile, ...]) -> str:
    missing = [wf.filename for wf in files if not (model_dir(model_name) / wf.filename).exists()]
    size = sum(wf.download_size for wf in files)
    total = f" ({size / 1e9:.2f} GB)" if size else ""
    return (
        f"{model_name}: its weights, from {source.describe()}{total}, are not cached and "
        "downloads are off (OPENBIND_OFFLINE / HF_HUB_OFFLINE or offline=True).\n"
        f"  Missing in {model_dir(model_name)}: {', '.join(missing)}\n"
        "  On a connected machine, load the model once (or download those files from "
        f"https://huggingface.co/{source.repo_id}/tree/{source.revision}) and copy the folder there,\n"
        "  or pass a Hugging Face folder (config.json + *.safetensors) with --weights PATH "
        "(openbind.load(..., weights=PATH))."
    )
