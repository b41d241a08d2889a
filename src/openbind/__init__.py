"""openbind: unified multimodal embedding spaces (ImageBind, LanguageBind, FreeBind and friends).

    >>> import openbind as ob
    >>> space = ob.load("starter")
    >>> emb = space.encode({"text": ["a cat"], "image": ["cat.jpg"]})

Heavy modules (torch, models) are imported on first use, so `import openbind` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openbind._version import __version__
from openbind.errors import OpenbindError
from openbind.types import Embeddings, Modality

__all__ = ["Embeddings", "Modality", "OpenbindError", "Space", "__version__", "list_models", "load"]

if TYPE_CHECKING:
    from openbind.api import load
    from openbind.space.protocol import Space


def __getattr__(name: str) -> Any:
    if name == "load":
        from openbind.api import load

        return load
    if name == "Space":
        from openbind.space.protocol import Space

        return Space
    if name == "list_models":
        from openbind.registry import list_models

        return list_models
    if name == "tasks":
        import openbind.tasks as tasks

        return tasks
    raise AttributeError(f"module 'openbind' has no attribute {name!r}")
