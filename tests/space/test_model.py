"""SpaceModel on a toy space: batching, bad items, empty input, missing towers, features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openbind.errors import BadInput, DecodeError, MissingModality, SpaceMismatch
from openbind.types import Embeddings, Modality
from tests.space.toy import make_space

ITEMS = [0.5, -1.0, 2.0, [1.0, 3.0], 0.25, -2.5, 4.0]


@pytest.fixture(scope="module")
def space():
    return make_space()


@pytest.mark.parametrize("batch_size", [1, 2, 3, 16])
def test_batching_gives_identical_vectors(space, batch_size):
    reference = space.encode("image", ITEMS, batch_size=7).vectors
    got = space.encode("image", ITEMS, batch_size=batch_size).vectors
    # BLAS may sum in another order for other batch shapes: equal to float32 rounding.
    assert torch.allclose(got, reference, atol=1e-6, rtol=0)


def test_vectors_are_unit_and_match_the_tower(space):
    emb = space.encode({"image": ITEMS})["image"]
    assert emb.vectors.shape == (7, 8)
    assert torch.allclose(emb.vectors.norm(dim=1), torch.ones(7), atol=1e-6)
    raw = space.towers["image"](torch.tensor([[2.0, 1.0, 4.0, 0.0]]))
    assert torch.allclose(emb.vectors[2], F.normalize(raw, dim=1)[0], atol=1e-6)


def test_multi_clip_item_is_the_renormalised_mean_of_its_clips(space):
    both = space.encode("image", [[1.0, 3.0]]).vectors[0]
    parts = space.encode("image", [1.0, 3.0]).vectors
    assert torch.allclose(both, F.normalize(parts.mean(0), dim=0), atol=1e-6)


def test_text_collate_pads_words_of_different_lengths(space):
    words = ["a", "cat", "elephants"]
    together = space.encode("text", words, batch_size=3).vectors
    alone = torch.cat([space.encode("text", [w]).vectors for w in words])
    assert torch.allclose(together, alone, atol=1e-6)


def test_longest_first_batching_returns_input_order(space):
    ordered = make_space(ordered=True)
    words = ["a", "elephants", "cat", "bad", "hippopotamus", "ox", "bad", "zebra"]
    plain = space.encode_report("text", words, batch_size=3)
    report = ordered.encode_report("text", words, batch_size=3)
    assert report.kept == plain.kept == [0, 1, 2, 4, 5, 7]
    assert [e.index for e in report.errors] == [3, 6]
    assert torch.allclose(report.embeddings.vectors, plain.embeddings.vectors, atol=1e-6)


def test_encode_report_keeps_good_items_and_reports_bad_ones(space):
    items = [0.5, "bad", 2.0, "bad", 4.0]
    report = space.encode_report("image", items, batch_size=2)
    assert report.kept == [0, 2, 4]
    assert [e.index for e in report.errors] == [1, 3]
    assert all("cannot decode" in e.reason and e.item == "bad" for e in report.errors)
    good = space.encode("image", [0.5, 2.0, 4.0]).vectors
    assert torch.allclose(report.embeddings.vectors, good, atol=1e-6)


def test_encode_raises_bad_input_naming_the_item(space):
    with pytest.raises(DecodeError, match="bad: cannot decode") as info:
        space.encode({"image": [0.5, "bad", 2.0]})
    assert isinstance(info.value, BadInput) and info.value.source == "bad"
    assert (info.value.index, info.value.modality) == (1, "image")
    assert info.value.reason == "cannot decode"
    assert str(info.value).startswith("image item 1: ")


def test_batch_size_below_one_is_bad_input(space):
    with pytest.raises(BadInput, match="batch_size must be >= 1"):
        space.encode("image", [1.0], batch_size=0)
    with pytest.raises(BadInput, match="batch_size must be >= 1"):
        space.features("image", [1.0], batch_size=0)


def test_empty_input_gives_zero_rows_of_the_space_dim(space):
    emb = space.encode({"image": []})["image"]
    assert emb.vectors.shape == (0, 8) and emb.modality is Modality.IMAGE
    report = space.encode_report("image", [])
    assert report.kept == [] and report.errors == []


def test_missing_modality_lists_the_towers_the_space_has(space):
    with pytest.raises(
        MissingModality, match=r"toy_space\.v1 has no audio tower; it has: image, text"
    ):
        space.encode({"audio": ["x.wav"]})
    with pytest.raises(MissingModality, match="it has: image, text"):
        space.features("audio", ["x.wav"])


def test_unknown_modality_name_is_bad_input(space):
    with pytest.raises(BadInput, match="unknown modality 'smell'"):
        space.encode({"smell": ["rose"]})


def test_results_are_found_by_name_or_member(space):
    out = space.encode({"text": ["cat"]})
    assert out["text"] is out[Modality.TEXT]


def test_features_are_raw_and_normalise_to_the_embeddings(space):
    raw = space.features("image", ITEMS, batch_size=3)
    assert raw.shape == (7, 8)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(7))
    single = [i for i, x in enumerate(ITEMS) if not isinstance(x, list)]
    emb = space.encode("image", ITEMS).vectors
    assert torch.allclose(F.normalize(raw[single], dim=1), emb[single], atol=1e-6)
    assert space.features("image", []).shape == (0, 8)


def test_features_raise_on_a_bad_item(space):
    with pytest.raises(DecodeError):
        space.features("image", [1.0, "bad"])


def test_embeddings_of_different_spaces_do_not_mix(space):
    other = make_space("toy_other.v1")
    a = space.encode("image", [1.0])
    b = other.encode("image", [1.0])
    with pytest.raises(SpaceMismatch, match=r"toy_space\.v1"):
        a @ b
    narrow = Embeddings(torch.eye(2), Modality.IMAGE, "toy_space.v1")
    with pytest.raises(SpaceMismatch, match="8-d"):
        a @ narrow


def test_logit_scale_comes_from_the_tower(space):
    assert space.logit_scale("image") == 10.0
    assert space.logit_scale("text") == 1.0


def test_progress_bar_is_written_when_asked(space, capsys):
    space.encode("image", ITEMS, progress=True)
    assert "embedding image" in capsys.readouterr().err
    space.encode("image", ITEMS, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("item", [np.array(5), torch.tensor(2.0), np.float32(1.0), object()])
def test_report_describes_items_of_any_shape(space, item):
    # regression: a 0-d array made the item description raise TypeError ('int' not iterable)
    report = space.encode_report("text", [item, "ok"])
    assert report.kept == [1] and report.errors[0].index == 0
    assert report.errors[0].item.startswith(type(item).__name__)


def test_report_lists_items_that_were_cut():
    from openbind.limits import cut_text
    from openbind.space.encoder import Encoder
    from openbind.space.model import SpaceModel
    from tests.space.toy import TextTower, text_transform

    def bounded(text: str) -> torch.Tensor:
        return text_transform(cut_text(text, 5, source="text"))

    space = SpaceModel("toy_cut.v1", {"text": Encoder(TextTower(), bounded)}, 8, batch_size=2)
    report = space.encode_report("text", ["short", "a much longer text", "bad", "tiny"])
    assert report.kept == [0, 1, 3] and [e.index for e in report.errors] == [2]
    assert [(t.index, t.item) for t in report.truncated] == [(1, "a much longer text")]
    assert "5" in report.truncated[0].reason and "18" in report.truncated[0].reason
    torch.testing.assert_close(
        report.embeddings.vectors[1], space.encode("text", "a muc").vectors[0]
    )
