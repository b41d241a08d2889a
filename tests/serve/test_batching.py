"""Dynamic batching: concurrent requests share forward passes and get their own rows."""

from __future__ import annotations

import asyncio

import pytest
import torch

from openbind.errors import BadInput, MissingModality
from openbind.serve.batching import Batcher
from openbind.space.model import SpaceModel
from openbind.space.protocol import EncodeReport, ItemError
from openbind.types import Embeddings, Modality
from tests.serve.conftest import png


def _batcher(space: SpaceModel, **kw) -> Batcher:
    return Batcher(lambda m, items: space.encode_report(m, items, batch_size=len(items)), **kw)


def test_concurrent_requests_are_merged_and_each_gets_its_own_rows(space: SpaceModel) -> None:
    words = ["red", "green", "blue", "yellow", "cyan", "magenta"] * 4
    expected = space.encode("text", words).vectors
    space.tower("text").calls.clear()

    async def main() -> tuple[list[torch.Tensor], int]:
        batcher = _batcher(space, max_items=64, max_wait_ms=50)
        results = await asyncio.gather(*(batcher.submit(Modality.TEXT, [w]) for w in words))
        stats = batcher.stats
        await batcher.close()
        assert stats.requests == len(words)
        assert stats.items == len(words)
        return [r.vectors for r in results], stats.batches

    rows, batches = asyncio.run(main())
    calls = space.tower("text").calls
    assert batches == len(calls)
    assert len(calls) < len(words)  # merged: fewer forwards than requests
    assert sum(calls) == len(words)
    assert max(calls) > 1
    for word, row, want in zip(words, rows, expected, strict=True):
        assert row.shape == (1, 3), word
        torch.testing.assert_close(row[0], want)


def test_max_items_caps_a_batch(space: SpaceModel) -> None:
    async def main() -> None:
        batcher = _batcher(space, max_items=4, max_wait_ms=50)
        await asyncio.gather(*(batcher.submit(Modality.TEXT, ["red", "blue"]) for _ in range(6)))
        await batcher.close()

    asyncio.run(main())
    calls = space.tower("text").calls
    assert sum(calls) == 12
    assert max(calls) <= 4


def test_a_bad_item_fails_only_its_own_request(space: SpaceModel) -> None:
    good = png((255, 0, 0))

    async def main() -> list:
        batcher = _batcher(space, max_wait_ms=50)
        out = await asyncio.gather(
            batcher.submit(Modality.IMAGE, [good]),
            batcher.submit(Modality.IMAGE, [good, b"not an image"]),
            batcher.submit(Modality.IMAGE, [good, good]),
            return_exceptions=True,
        )
        await batcher.close()
        return out

    first, second, third = asyncio.run(main())
    assert space.tower("image").calls == [4]  # one forward with the four good images
    assert len(first) == 1 and len(third) == 2
    assert isinstance(second, BadInput)
    assert (second.index, second.modality) == (1, "image")  # fields, not a parsed message
    assert "not an image" in str(second)
    torch.testing.assert_close(first.vectors[0], third.vectors[1])


def test_a_missing_tower_fails_the_request_and_the_batcher_keeps_working(space: SpaceModel) -> None:
    async def main() -> torch.Tensor:
        batcher = _batcher(space, max_wait_ms=1)
        with pytest.raises(MissingModality, match="no depth tower"):
            await batcher.submit(Modality.DEPTH, [b"x"])
        emb = await batcher.submit(Modality.TEXT, ["green"])
        await batcher.close()
        return emb.vectors

    vectors = asyncio.run(main())
    torch.testing.assert_close(vectors[0], space.encode("text", ["green"]).vectors[0])


def test_empty_request_is_refused(space: SpaceModel) -> None:
    async def main() -> None:
        batcher = _batcher(space)
        with pytest.raises(BadInput, match="no items"):
            await batcher.submit(Modality.TEXT, [])
        await batcher.close()

    asyncio.run(main())


def test_a_light_batch_spread_over_model_workers_gives_each_request_its_rows() -> None:
    calls: list[list[str]] = []

    def encode(modality: Modality, items: list) -> EncodeReport:
        calls.append(list(items))
        kept = [i for i, x in enumerate(items) if x != "bad"]
        errors = [ItemError(i, x, "is bad") for i, x in enumerate(items) if x == "bad"]
        rows = torch.tensor([[float(ord(items[i]))] for i in kept]).reshape(len(kept), 1)
        return EncodeReport(Embeddings(rows, modality, "toy"), kept, errors)

    async def main() -> list:
        batcher = Batcher(encode, max_wait_ms=50, light_workers=2)
        asks = [["a", "b"], ["bad"], ["c", "d", "e"]]
        out = await asyncio.gather(
            *(batcher.submit(Modality.TEXT, a) for a in asks), return_exceptions=True
        )
        await batcher.close()
        return out

    first, bad, third = asyncio.run(main())
    assert sorted(map(len, calls)) == [3, 3]  # one batch of six, split in two
    assert first.vectors[:, 0].tolist() == [ord("a"), ord("b")]
    assert isinstance(bad, BadInput) and bad.index == 0 and "is bad" in str(bad)
    assert third.vectors[:, 0].tolist() == [ord("c"), ord("d"), ord("e")]
