"""Checkpoint files: loading only the keys a model needs, checking them, and converting to per-tower files.

Four formats load the same way with `load_state_dict`:

- `.pth` / `.pt` / `.bin`: a plain state dict saved by `torch.save` (read with `weights_only=True`
  and memory-mapped, so untouched tensors are never read from disk);
- `.safetensors`: only the requested keys are read;
- a converted folder: `manifest.json` plus one safetensors file per group (e.g. per ImageBind
  tower), written by `convert`; only the files holding requested keys are opened;
- a Hugging Face-format folder: `config.json` plus `*.safetensors` (sharded or not) or
  `pytorch_model*.bin` (`hf_weight_files`); the family's key map translates its keys.

Folder layout (`manifest.json`)::

    {"format": "openbind.checkpoint", "version": 1, "source": "imagebind_huge.pth",
     "groups": {"vision": {"file": "vision.safetensors", "sha256": "...", "size": 1234,
                           "keys": ["modality_trunks.vision.blocks.0.attn.in_proj_weight", ...]}}}
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from openbind.errors import BadInput, CheckpointMismatch, MissingWeights, WeightsError

if TYPE_CHECKING:
    import torch

MANIFEST = "manifest.json"
HF_CONFIG = "config.json"
FORMAT = "openbind.checkpoint"
VERSION = 1
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
_GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def load_state_dict(
    path: str | Path, *, prefixes: Sequence[str] | None = None, mmap: bool = True
) -> dict[str, torch.Tensor]:
    """Read the tensors of a checkpoint whose keys start with one of `prefixes`.

    Args:
        path: a `.pth`/`.pt`/`.bin`/`.ckpt` file, a `.safetensors` file, a folder written by
            `convert`, or a Hugging Face-format folder.
        prefixes: keep only keys starting with one of these (None keeps all).
        mmap: memory-map `.pth` files instead of reading them whole (safetensors always are).

    Returns:
        Key -> tensor (on the CPU).

    Raises:
        MissingWeights: `path` does not exist, or a Hugging Face folder lacks `config.json` or
            its weight files (the message names what is missing).
        WeightsError: the file is truncated, corrupted, of an unknown format, or not a plain state
            dict; the message names the file and says to delete / re-download it.

    Example:
        >>> state = load_state_dict("imagebind_huge.pth", prefixes=["modality_trunks.audio."])
    """
    path = Path(path)
    if not path.exists():
        raise MissingWeights(f"checkpoint not found: {path}")

    def wanted(key: str) -> bool:
        return prefixes is None or key.startswith(tuple(prefixes))

    if path.is_dir():
        if not (path / MANIFEST).exists() and _looks_like_hf(path):
            return _load_hf_folder(path, wanted)
        return _load_folder(path, wanted)
    try:
        if path.suffix == ".safetensors":
            return _load_safetensors(path, wanted)
        if path.suffix in TORCH_SUFFIXES:
            return _load_torch(path, wanted, mmap=mmap)
    except (WeightsError, MemoryError):
        raise
    except Exception as e:  # any parse failure of a weights file means it is damaged
        raise _damaged(path, e) from e
    raise WeightsError(
        f"{path}: unknown checkpoint format {path.suffix!r}; expected a .safetensors file, one of "
        f"{', '.join(TORCH_SUFFIXES)}, or a folder with {MANIFEST}"
    )


def check_keys(
    expected: Mapping[str, torch.Size | Sequence[int]],
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    limit: int = 10,
) -> None:
    """Check that `state` has exactly the keys and shapes of `expected`.

    Args:
        expected: key -> shape the model needs (e.g. from `{k: v.shape for k, v in
            module.state_dict().items()}`).
        state: the loaded tensors.
        source: what `state` came from (a file name), for the message.
        limit: how many keys of each kind the message shows (counts are always complete).

    Raises:
        CheckpointMismatch: listing missing, unexpected and wrongly shaped keys.
    """
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shaped = [
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(expected[k])})"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k])
    ]
    problems = [
        _listing(items, what, limit)
        for items, what in (
            (missing, "missing"),
            (unexpected, "unexpected"),
            (shaped, "wrongly shaped"),
        )
        if items
    ]
    if problems:
        raise CheckpointMismatch(f"{source} does not fit the model:\n" + "\n".join(problems))


def group_by_prefix(groups: Mapping[str, Sequence[str]]) -> Callable[[str], str]:
    """A `group_of` function for `convert`: the group whose prefixes start the key.

    Args:
        groups: group name -> key prefixes, e.g. {"audio": ["modality_trunks.audio.", ...]}.

    Returns:
        A function mapping a key to its group; it raises `CheckpointMismatch` for a key no prefix
        matches.
    """
    table = [(p, g) for g, prefixes in groups.items() for p in prefixes]

    def group_of(key: str) -> str:
        for prefix, group in table:
            if key.startswith(prefix):
                return group
        raise CheckpointMismatch(f"key {key!r} belongs to no group ({', '.join(groups)})")

    return group_of


def convert(
    src: str | Path,
    dst_dir: str | Path,
    *,
    group_of: Callable[[str], str],
    overwrite: bool = False,
    progress: bool = False,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write the checkpoint `src` as one safetensors file per group plus `manifest.json`.

    The folder is written under a temporary name next to `dst_dir` and renamed into place at the
    end, so a failure (bad source, full disk, interruption) leaves nothing half-written.

    Args:
        src: any checkpoint `load_state_dict` reads.
        dst_dir: the folder to create.
        group_of: maps each key to its group name (letters, digits, `_.-`), e.g. the tower.
        overwrite: replace an existing `dst_dir`.
        progress: show a progress bar over the groups on stderr.
        dtype: store floating tensors of more than one element in this dtype (e.g.
            `torch.float16` halves the size of a float32 checkpoint); scalars such as logit
            scales keep theirs. None keeps every dtype.

    Returns:
        `dst_dir`.

    Raises:
        BadInput: `dst_dir` exists and `overwrite` is False.
        WeightsError: `src` cannot be read, a key fits no group, or the disk is full.

    Example:
        >>> convert("imagebind_huge.pth", "imagebind_huge", group_of=lambda k: k.split(".")[1])
    """
    from tqdm import tqdm

    src, dst = Path(src), Path(dst_dir)
    if dst.exists() and not overwrite:
        raise BadInput(f"{dst} already exists; remove it or pass overwrite=True (--force)")
    state = load_state_dict(src)
    grouped: dict[str, list[str]] = {}
    for key in state:
        group = group_of(key)
        if not _GROUP_NAME.fullmatch(group):
            raise WeightsError(f"group name {group!r} of key {key!r} is not a valid file name")
        grouped.setdefault(group, []).append(key)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent))
    try:
        groups = {}
        for group, keys in tqdm(
            grouped.items(), desc="convert", unit="group", disable=not progress
        ):
            file = tmp / f"{group}.safetensors"
            tensors = {k: _cast(state[k], dtype) for k in keys}
            sha = write_safetensors(file, tensors, metadata={"source": src.name, "group": group})
            groups[group] = {
                "file": file.name,
                "sha256": sha,
                "size": file.stat().st_size,
                "keys": keys,
            }
        manifest = {"format": FORMAT, "version": VERSION, "source": src.name, "groups": groups}
        if dtype is not None:
            manifest["dtype"] = str(dtype).removeprefix("torch.")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        _move_into_place(tmp, dst)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno in _NO_SPACE:
            raise WeightsError(f"no space left to write {dst}; nothing was written") from e
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def _cast(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if dtype is None or not t.is_floating_point() or t.numel() < 2:
        return t
    return t.to(dtype)


def write_safetensors(
    path: Path, tensors: Mapping[str, torch.Tensor], *, metadata: Mapping[str, str] | None = None
) -> str:
    """Stream `tensors` into a safetensors file one tensor at a time, and return its sha256.

    Unlike `safetensors.torch.save_file`, this never holds more than one tensor's bytes in memory
    (the vision tower of ImageBind is 2.5 GB) and hashes while writing.
    """
    import torch

    header: dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    dtypes = _dtypes()
    for key, t in tensors.items():
        if t.dtype not in dtypes:
            raise WeightsError(f"{key}: cannot store dtype {t.dtype} in safetensors")
        nbytes = t.numel() * t.element_size()
        header[key] = {
            "dtype": dtypes[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the format pads the header to 8 bytes
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        _write(f, digest, struct.pack("<Q", len(head)) + head)
        for t in tensors.values():
            flat = t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
            _write(f, digest, memoryview(flat.numpy()))
    return digest.hexdigest()


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a folder written by `convert`.

    Raises:
        WeightsError: the manifest is missing, unreadable or of another format.
    """
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"{folder} is not a converted checkpoint: no {MANIFEST}") from None
    except (OSError, ValueError) as e:
        raise _damaged(path, e) from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise WeightsError(f"{path}: not an openbind checkpoint manifest")
    return manifest


def hf_weight_files(folder: str | Path) -> list[Path]:
    """The weight files of a Hugging Face-format folder (`config.json` + weights).

    Safetensors files win over `pytorch_model*.bin`; a sharded checkpoint's index
    (`*.index.json`) must have all its shards.

    Raises:
        MissingWeights: the folder lacks `config.json`, any weight file, or shards listed in its
            index; the message names each missing file.
    """
    folder = Path(folder)
    missing = [] if (folder / HF_CONFIG).is_file() else [HF_CONFIG]
    files: list[Path] = []
    for pattern in ("*.safetensors", "pytorch_model*.bin"):
        index = next(iter(sorted(folder.glob(pattern + ".index.json"))), None)
        if index is not None:
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError, AttributeError) as e:
                raise _damaged(index, e) from e
            missing += [
                f"{s} (listed in {index.name})" for s in shards if not (folder / s).is_file()
            ]
            files = [folder / s for s in shards]
        else:
            files = sorted(folder.glob(pattern))
        if files:
            break
    if not files:
        missing.append("a weight file (*.safetensors or pytorch_model.bin)")
    if missing:
        raise MissingWeights(
            f"{folder} is not a complete Hugging Face model folder: missing " + ", ".join(missing)
        )
    return files


def read_hf_config(folder: str | Path) -> dict:
    """The parsed `config.json` of a Hugging Face-format folder.

    Raises:
        MissingWeights: no `config.json` (or no weight files) in the folder.
        WeightsError: `config.json` is not a JSON object.
    """
    hf_weight_files(folder)
    path = Path(folder) / HF_CONFIG
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise _damaged(path, e) from e
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: not a JSON object")
    return config


def _looks_like_hf(folder: Path) -> bool:
    return (folder / HF_CONFIG).exists() or any(
        next(folder.glob(p), None) for p in ("*.safetensors", "pytorch_model*.bin")
    )


def _load_hf_folder(folder: Path, wanted: Callable[[str], bool]) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for file in hf_weight_files(folder):
        try:
            if file.suffix == ".safetensors":
                state.update(_load_safetensors(file, wanted))
            else:
                state.update(_load_torch(file, wanted, mmap=True))
        except WeightsError:
            raise
        except Exception as e:
            raise _damaged(file, e) from e
    return state


def _load_folder(folder: Path, wanted: Callable[[str], bool]) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for group, info in read_manifest(folder)["groups"].items():
        keys = [k for k in info["keys"] if wanted(k)]
        if not keys:
            continue  # this group's file is never opened
        file = folder / info["file"]
        if not file.exists():
            raise WeightsError(
                f"{file} of group {group!r} is missing; convert the checkpoint again"
            )
        if file.stat().st_size != info["size"]:
            raise _damaged(file, f"{file.stat().st_size} bytes, manifest says {info['size']}")
        try:
            part = _load_safetensors(file, lambda k, ks=frozenset(keys): k in ks)
        except Exception as e:
            raise _damaged(file, e) from e
        if len(part) != len(keys):
            lost = sorted(set(keys) - set(part))
            raise _damaged(file, f"keys listed in {MANIFEST} are absent: {lost[:5]}")
        state.update(part)
    return state


def _load_safetensors(path: Path, wanted: Callable[[str], bool]) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        return {k: f.get_tensor(k) for k in f.keys() if wanted(k)}  # noqa: SIM118 (not a dict)


def _load_torch(
    path: Path, wanted: Callable[[str], bool], *, mmap: bool
) -> dict[str, torch.Tensor]:
    import torch

    # Only zip-format files (torch >= 1.6) can be memory-mapped.
    state = torch.load(
        path, map_location="cpu", weights_only=True, mmap=mmap and zipfile.is_zipfile(path)
    )
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path}: not a state dict (holds a {type(state).__name__})")
    bad = next((k for k, v in state.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise WeightsError(
            f"{path}: not a plain state dict: {bad!r} holds a {type(state[bad]).__name__}, "
            "not a tensor"
        )
    return {k: v for k, v in state.items() if wanted(k)}


def _move_into_place(tmp: Path, dst: Path) -> None:
    """Rename the finished folder `tmp` to `dst`, replacing an old `dst` only once `tmp` is complete."""
    if not dst.exists():
        os.rename(tmp, dst)
        return
    old = dst.with_name(f".{dst.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.rename(dst, old)
    os.rename(tmp, dst)
    shutil.rmtree(old, ignore_errors=True)


def _write(f: BinaryIO, digest: hashlib._Hash, data: bytes | memoryview) -> None:
    f.write(data)
    digest.update(data)


def _damaged(path: Path, why: object) -> WeightsError:
    return WeightsError(
        f"{path} is truncated or corrupted ({why}); delete it and download or convert it again"
    )


def _listing(items: Iterable[str], what: str, limit: int) -> str:
    items = list(items)
    more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
    noun = "key" if len(items) == 1 else "keys"
    return f"  {len(items)} {what} {noun}: " + ", ".join(items[:limit]) + more


@functools.cache
def _dtypes() -> dict:
    import torch

    return {
        torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
        torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
        torch.uint8: "U8", torch.bool: "BOOL",
    }  # fmt: skip
