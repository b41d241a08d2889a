"""`MilvusIndex`: the `VectorIndex` protocol on a Milvus collection (optional extra `milvus`).

The same client talks to a milvus-lite file (`uri="./vectors.db"`, embedded, for tests and small
deployments) and to a Milvus Standalone or Distributed server (`uri="http://host:19530"`), so a
collection can move to a cluster without code changes. Milvus stores and persists the vectors
itself: `save` flushes the collection and writes a small JSON pointer (uri, collection,
dimension) that `MilvusIndex.load` reconnects from.

Only the server-side vectors and ids live in Milvus; `Library` (faiss + SQLite, atomic
generations) remains the embedded default with metadata.

Example:
    >>> index = MilvusIndex("./vectors.db", "photos", dim=384)
    >>> index.add(np.array([1, 2]), vectors)
    >>> index.search(queries, k=10).ids
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from openbind.errors import BadInput, VectorIndexError, require
from openbind.index.base import Neighbours, as_batch, as_ids, as_matrix

PAGE = 10_000
"""Rows per request when reading ids or vectors (Milvus caps one query at 16,384)."""


class MilvusIndex:
    """Vectors in a Milvus collection with an int64 primary key `id` and a `vector` field.

    Args:
        uri: a milvus-lite file path or a server URL.
        collection: collection name (created with an inner-product index if missing).
        dim: vector dimension (checked against an existing collection).
        index_type: Milvus index for a new collection ("FLAT", "HNSW", "IVF_FLAT", ...).
        index_params: its build parameters (e.g. {"M": 32, "efConstruction": 100}).
        search_params: search parameters (e.g. {"ef": 64} for HNSW).
        token: credentials for a server ("user:password" or an API key).

    Raises:
        MissingExtra: pymilvus (and milvus-lite for files) is not installed.
        IndexMismatch: the collection exists with another dimension.
    """

    kind = "milvus"

    def __init__(
        self,
        uri: str | Path,
        collection: str,
        dim: int,
        *,
        index_type: str = "FLAT",
        index_params: dict[str, Any] | None = None,
        search_params: dict[str, Any] | None = None,
        token: str = "",
    ) -> None:
        pymilvus = require("pymilvus", "milvus")
        self.uri, self.collection, self.dim = str(uri), collection, int(dim)
        self.search_params = dict(search_params or {})
        try:
            self._client = pymilvus.MilvusClient(self.uri, token=token)
            if self._client.has_collection(collection):
                self._check_dim()
            else:
                self._create(pymilvus, index_type, index_params or {})
        except pymilvus.MilvusException as e:
            raise VectorIndexError(f"milvus {self.uri}/{collection}: {e}") from e

    # -- protocol --------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = as_batch(ids, vectors, self.dim)
        clash = self._existing(ids)
        if clash:
            raise BadInput(f"ids already in the index: {sorted(clash)[:10]}")
        for start in range(0, len(ids), PAGE):
            rows = [
                {"id": int(i), "vector": v.tolist()}
                for i, v in zip(
                    ids[start : start + PAGE], vectors[start : start + PAGE], strict=True
                )
            ]
            self._client.insert(self.collection, rows)

    def remove(self, ids: np.ndarray) -> int:
        present = sorted(self._existing(as_ids(ids)))
        if present:
            self._client.delete(self.collection, ids=present)
        return len(present)

    def search(self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None) -> Neighbours:
        queries = as_matrix(queries, self.dim, "queries")
        if k < 1:
            raise BadInput(f"k must be >= 1, got {k}")
        ids = np.full((len(queries), k), -1, np.int64)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        if len(queries) == 0:
            return Neighbours(ids, scores)
        expr = ""
        if allow is not None:
            allowed = as_ids(allow, "allow")
            if allowed.size == 0:
                return Neighbours(ids, scores)
            expr = f"id in {allowed.tolist()}"
        found = self._client.search(
            self.collection,
            data=queries.tolist(),
            limit=k,
            filter=expr,
            search_params={"metric_type": "IP", "params": self.search_params},
        )
        for row, hits in enumerate(found):
            for col, hit in enumerate(hits[:k]):
                ids[row, col] = hit["id"]
                scores[row, col] = hit["distance"]
        return Neighbours(ids, scores)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = as_ids(ids)
        found: dict[int, list[float]] = {}
        for start in range(0, len(ids), PAGE):
            chunk = ids[start : start + PAGE].tolist()
            for row in self._client.get(self.collection, ids=chunk, output_fields=["vector"]):
                found[int(row["id"])] = row["vector"]
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:
            raise BadInput(f"ids not in the index: {missing[:10]}")
        return np.array([found[int(i)] for i in ids], np.float32).reshape(len(ids), self.dim)

    def ids(self) -> np.ndarray:
        out: list[int] = []
        last = -1
        while True:
            rows = self._client.query(
                self.collection, filter=f"id > {last}", output_fields=["id"], limit=PAGE
            )
            batch = sorted(int(r["id"]) for r in rows)
            out += batch
            if len(batch) < PAGE:
                return np.array(out, np.int64)
            last = batch[-1]

    def __len__(self) -> int:
        return len(self.ids())

    def save(self, path: str | Path) -> None:
        self._client.flush(self.collection)
        pointer = {
            "kind": self.kind,
            "uri": self.uri,
            "collection": self.collection,
            "dim": self.dim,
        }
        Path(path).write_text(json.dumps(pointer, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path, *, token: str = "") -> MilvusIndex:
        """Reconnect to the collection named by a pointer file written by `save`."""
        try:
            pointer = json.loads(Path(path).read_text())
            uri, collection, dim = pointer["uri"], pointer["collection"], pointer["dim"]
        except (OSError, ValueError, KeyError) as e:
            raise VectorIndexError(f"cannot read milvus pointer {path}: {e}") from e
        return cls(uri, collection, dim, token=token)

    def close(self) -> None:
        self._client.close()

    # -- internals -------------------------------------------------------------------------

    def _create(self, pymilvus: Any, index_type: str, index_params: dict[str, Any]) -> None:
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=self.dim)
        index = self._client.prepare_index_params()
        index.add_index(
            field_name="vector", index_type=index_type, metric_type="IP", params=index_params
        )
        self._client.create_collection(self.collection, schema=schema, index_params=index)

    def _check_dim(self) -> None:
        from openbind.errors import IndexMismatch

        fields = self._client.describe_collection(self.collection)["fields"]
        vector = next((f for f in fields if f["name"] == "vector"), None)
        have = int(vector["params"]["dim"]) if vector else -1
        if have != self.dim:
            raise IndexMismatch(
                f"milvus collection {self.collection} holds {have}-d vectors, not {self.dim}-d"
            )

    def _existing(self, ids: np.ndarray) -> set[int]:
        present: set[int] = set()
        for start in range(0, len(ids), PAGE):
            chunk = ids[start : start + PAGE].tolist()
            if chunk:
                present |= {
                    int(r["id"])
                    for r in self._client.get(self.collection, ids=chunk, output_fields=["id"])
                }
        return present
