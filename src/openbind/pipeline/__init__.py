"""Batch embedding of folder trees and file lists, into Parquet files or vector libraries.

    >>> from openbind.pipeline import embed_to_parquet, build_library
    >>> summary = embed_to_parquet(space, ["photos/"], "photos.parquet")
    >>> lib, summary = build_library(space, "libs/photos", ["photos/"])

Runs are incremental (content hashes skip unchanged files), resumable, and never stop on a bad
file: it is reported in `RunSummary.skipped`.
"""

from openbind.pipeline.detect import EXTENSIONS, Detection, detect, detect_file, identify, sniff
from openbind.pipeline.parquet import EmbeddingTable, read_embeddings, write_embeddings
from openbind.pipeline.ray_runner import RayRunner
from openbind.pipeline.report import RunSummary, Skipped
from openbind.pipeline.runner import LocalRunner, Runner
from openbind.pipeline.scan import content_hash, scan
from openbind.pipeline.to_library import build_library, index_files
from openbind.pipeline.to_parquet import embed_to_parquet

__all__ = [
    "EXTENSIONS",
    "Detection",
    "EmbeddingTable",
    "LocalRunner",
    "RayRunner",
    "RunSummary",
    "Runner",
    "Skipped",
    "build_library",
    "content_hash",
    "detect",
    "detect_file",
    "embed_to_parquet",
    "identify",
    "index_files",
    "read_embeddings",
    "scan",
    "sniff",
    "write_embeddings",
]
