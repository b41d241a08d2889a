"""What a report records to be reproduced: the space and its card, weights checksums, versions,
and a checksum of the data actually evaluated.

Weights checksums come from the model card (a published sha256), else from the sidecar recorded
when the file was downloaded and verified (`openbind.hub`); for models whose weights ship inside
installed packages and openbind's own data files (the starter), the sha256 of those data files.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from openbind import __version__
from openbind.eval.cache import FileHasher
from openbind.space.protocol import Space


def data_checksum(keys: Iterable[str], files: Sequence[Path], hasher: FileHasher) -> str:
    """blake2b over the sorted content keys of the items and the annotation files' hashes."""
    h = hashlib.blake2b(digest_size=16)
    for k in sorted(set(keys)):
        h.update(k.encode())
    for f in sorted(files):
        h.update(hasher(f).encode())
    return h.hexdigest()


def provenance(space: Space, space_key: str, data_sum: str) -> dict[str, Any]:
    """The reproducibility block of a report."""
    card = model_card(space.model_id)
    return {
        "model_id": space.model_id,
        "space_key": space_key,
        "card": card,
        "card_sha256": _sha(json.dumps(card, sort_keys=True).encode()) if card else None,
        "weights": weights_checksums(space.model_id),
        "openbind": __version__,
        "versions": dict(versions()),
        "data_checksum": data_sum,
    }


def model_card(model_id: str) -> dict[str, Any] | None:
    """The registry card of `model_id` as a dict (None for unregistered spaces)."""
    from openbind import registry
    from openbind.cards import source_to_dict
    from openbind.errors import UnknownModel

    try:
        card = registry.get(model_id)
    except UnknownModel:
        return None
    return {
        "name": card.name,
        "description": card.description,
        "license": card.license,
        "dim": card.dim,
        "modalities": list(card.modalities),
        "arch": card.arch,
        "weights": source_to_dict(card.weights),
    }


def weights_checksums(model_id: str) -> list[dict[str, Any]]:
    """Per weight file: its sha256 and where that number comes from."""
    from openbind import hub, registry
    from openbind.errors import UnknownModel

    try:
        card = registry.get(model_id)
    except UnknownModel:
        return []
    out = []
    for wf in card.weights:
        sidecar = hub.model_dir(card.name) / f"{wf.filename}.sha256"
        recorded = None
        if sidecar.is_file():
            try:
                recorded = json.loads(sidecar.read_text()).get("sha256")
            except ValueError:
                recorded = None
        sha, origin = (wf.sha256, "published") if wf.sha256 else (recorded, "recorded at download")
        out.append({"file": wf.filename, "sha256": sha, "origin": origin if sha else "unknown"})
    if not len(card.weights):
        data = Path(__file__).resolve().parents[1] / "zoo" / "data"
        for p in sorted(data.glob(f"{card.family}_*")):
            out.append({"file": p.name, "sha256": _sha(p.read_bytes()), "origin": "shipped"})
    return out


@cache
def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "scikit-learn", "transformers"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
