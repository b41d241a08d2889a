"""The framework-free `Service`, called directly (no HTTP)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openbind.errors import UnknownId
from openbind.index import Library
from openbind.serve.inputs import QueryPart
from openbind.serve.service import Service
from openbind.types import Modality
from tests.serve.conftest import png


def test_service_without_a_web_framework(library_service: Service, media_dir: Path) -> None:
    async def main() -> None:
        emb = await library_service.embed("text", ["red", "blue"])
        assert emb.vectors.shape == (2, 3)
        page = await library_service.search(
            [QueryPart(Modality.TEXT, "yellow", "text")], k=2, modality="image"
        )
        hits = page.hits
        assert [h.path for h in hits] == ["media/yellow.png", "media/green.png"]
        assert (page.total, page.offset, page.generation) == (4, 0, 2)
        assert library_service.media_path(hits[0].id) == (media_dir / "yellow.png").resolve()
        labels = await library_service.classify(
            QueryPart(Modality.IMAGE, png((0, 0, 255)), "file"), ["red", "blue"]
        )
        assert [x.label for x in labels] == ["blue", "red"]
        assert labels[0].score == pytest.approx(
            0.9986, abs=1e-3
        )  # cosine of (0.01, 0.01, 1.01) and blue
        await library_service.aclose()

    asyncio.run(main())
    assert [m.id for m in library_service.models()] == ["toy_colour.test"]
    health = library_service.health()
    assert (health.status, health.library, health.items) == ("ok", "lib", 6)
    assert (health.batches.requests, health.batches.items) == (3, 4)  # labels bypass the batcher


def test_label_embeddings_are_cached_per_label_list(service: Service) -> None:
    part = QueryPart(Modality.IMAGE, png((200, 0, 0)), "file")

    async def main() -> None:
        for _ in range(3):
            await service.classify(part, ["red", "green"])
        await service.classify(part, ["red", "blue"])
        await service.classify(part, label_set="colours")

    asyncio.run(main())
    # label lists are cached, and below them each prompt (openbind.tasks.text_cache): "blue" is
    # the only prompt not embedded by the first list, "colours" reuses all three
    assert service.space.tower("text").calls == [2, 1]


def test_media_path_refuses_unknown_ids_and_no_library(service: Service, library: Library) -> None:
    with pytest.raises(UnknownId, match="no item with id 0"):
        service.media_path(0)  # this service has no library
    with pytest.raises(UnknownId, match="no item with id 12345"):
        Service(service.space, library).media_path(12345)
