"""Vector indexes and libraries: faiss exact / HNSW search, SQLite metadata, atomic updates.

    >>> from openbind.index import Library, Record
    >>> lib = Library.create("lib", model_id="starter", dim=384)
    >>> lib.add(vectors, [Record("cat.jpg", "image")]); lib.commit()
    >>> lib.search(query, k=5)  # -> list[Hit]

Depends only on numpy, the standard library and `openbind.types` / `errors`; faiss is imported
when an index is made.
"""

from openbind.index.base import Neighbours, VectorIndex
from openbind.index.faiss_index import (
    FlatIndex,
    HNSWIndex,
    HNSWParams,
    IVFPQIndex,
    IVFPQParams,
    load_index,
    make_index,
)
from openbind.index.filters import Filter
from openbind.index.library import Hit, Library, LibraryInfo
from openbind.index.manifest import Manifest
from openbind.index.metadata import Record
from openbind.index.names import libraries_dir, library_path, list_libraries, resolve_library
from openbind.index.tags import read_tags

__all__ = [
    "Filter",
    "FlatIndex",
    "HNSWIndex",
    "HNSWParams",
    "Hit",
    "IVFPQIndex",
    "IVFPQParams",
    "Library",
    "LibraryInfo",
    "Manifest",
    "Neighbours",
    "Record",
    "VectorIndex",
    "libraries_dir",
    "library_path",
    "list_libraries",
    "load_index",
    "make_index",
    "read_tags",
    "resolve_library",
]
