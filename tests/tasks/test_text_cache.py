"""TextCache: repeated prompts are embedded once, results equal a direct encode."""

from __future__ import annotations

import pytest
import torch

from openbind.errors import BadInput
from openbind.tasks import TextCache, class_embeddings, text_cache
from tests.space.toy import make_space


class Counting:
    """Wraps a space and counts the texts it embeds."""

    def __init__(self, space) -> None:
        self.space, self.seen = space, []
        self.model_id, self.dim = space.model_id, space.dim

    def encode(self, modality, items):
        self.seen += list(items)
        return self.space.encode(modality, items)


def test_only_new_prompts_are_embedded_and_rows_equal_a_direct_encode() -> None:
    space = make_space()
    counting = Counting(space)
    cache = TextCache(counting)
    first = cache.encode(["cat", "dog", "cat"])
    second = cache.encode(["dog", "owl"])
    assert counting.seen == ["cat", "dog", "owl"]
    assert (cache.hits, cache.misses) == (2, 3)
    direct = space.encode("text", ["cat", "dog", "cat", "owl"]).vectors
    torch.testing.assert_close(first.vectors, direct[:3], atol=0, rtol=0)
    torch.testing.assert_close(second.vectors[1], direct[3], atol=0, rtol=0)
    assert first.model_id == space.model_id and first.modality.value == "text"


def test_lru_evicts_the_least_recently_used() -> None:
    counting = Counting(make_space())
    cache = TextCache(counting, maxsize=2)
    cache.encode(["a", "b"])
    cache.encode(["a"])  # "b" is now the oldest
    cache.encode(["c"])
    assert len(cache) == 2
    cache.encode(["a", "b"])
    assert counting.seen == ["a", "b", "c", "b"]


def test_changed_parameters_empty_the_cache() -> None:
    space = make_space()
    cache = TextCache(space)
    before = cache.encode(["cat"]).vectors
    with torch.no_grad():
        space.to(torch.float64)
    after = cache.encode(["cat"])
    assert cache.misses == 2 and after.vectors.dtype == before.dtype


def test_class_embeddings_reuse_the_space_cache() -> None:
    space = make_space()
    cache = text_cache(space)
    assert text_cache(space) is cache
    class_embeddings(space, ["cat", "dog"], "image", templates=["{}", "a {}"])
    class_embeddings(space, ["dog", "owl"], "image", templates=["{}", "a {}"])
    assert (cache.misses, cache.hits) == (6, 2)


def test_bad_input() -> None:
    cache = TextCache(make_space())
    with pytest.raises(BadInput, match="one string"):
        cache.encode("cat")
    with pytest.raises(BadInput, match="item 1"):
        cache.encode(["cat", 3])
    with pytest.raises(BadInput, match="maxsize"):
        TextCache(make_space(), maxsize=0)


def test_a_training_step_empties_the_cache() -> None:
    space = make_space()
    cache = TextCache(space)
    before = cache.encode(["cat"]).vectors
    with torch.no_grad():
        for p in space.parameters():
            p.mul_(-1.0)  # in place, as an optimizer step
    after = cache.encode(["cat"]).vectors
    assert cache.misses == 2
    assert not torch.allclose(after, before)
