"""`Encoder`: transforms may return named tensors (ids + attention mask), passed to the tower as
keyword arguments; clip counts, collation, pooling and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from openbind.errors import BadInput
from openbind.space.encoder import Encoder, clip_count, concat_clips
from openbind.space.model import SpaceModel
from openbind.types import Modality


class KeywordTower(torch.nn.Module):
    """Hugging Face style: forward(input_ids=..., attention_mask=...) -> masked mean of a table."""

    modality = Modality.TEXT
    out_dim = 4
    logit_scale = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.table = torch.nn.Embedding(30, 4)
        torch.nn.init.normal_(self.table.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask[..., None].float()
        return (self.table(input_ids) * mask).sum(1) / mask.sum(1)


def tokenize(text: str) -> dict[str, torch.Tensor]:
    ids = [ord(c) % 30 for c in text][:6]
    ids += [0] * (6 - len(ids))
    mask = [1] * min(len(text), 6) + [0] * (6 - min(len(text), 6))
    return {"input_ids": torch.tensor([ids]), "attention_mask": torch.tensor([mask])}


def test_named_tensors_reach_the_tower_as_keywords() -> None:
    tower = KeywordTower()
    space = SpaceModel("toy_kw.test", {"text": Encoder(tower, tokenize)}, 4, batch_size=2)
    texts = ["abc", "hello there", "x"]
    got = space.encode("text", texts)
    want = F.normalize(torch.cat([tower(**tokenize(t)) for t in texts]), dim=1)
    torch.testing.assert_close(got.vectors, want)
    assert space.preprocess("text", "abc")["input_ids"].shape == (1, 6)


def test_clip_count_reads_the_first_axis_and_checks_agreement() -> None:
    assert clip_count(torch.zeros(3, 2)) == 3
    assert clip_count({"a": torch.zeros(2, 5), "b": torch.zeros(2)}) == 2
    with pytest.raises(BadInput, match="inconsistent clip counts"):
        clip_count({"a": torch.zeros(2, 5), "b": torch.zeros(3)})
    for bad in (torch.zeros(0, 4), torch.tensor(1.0), {}, [1, 2]):
        with pytest.raises(BadInput):
            clip_count(bad)


def test_concat_clips_joins_per_name_and_refuses_shape_mismatch() -> None:
    joined = concat_clips([{"x": torch.ones(1, 2)}, {"x": torch.zeros(2, 2)}])
    assert joined["x"].shape == (3, 2)
    with pytest.raises(BadInput, match="different clip shapes"):
        concat_clips([torch.ones(1, 2), torch.ones(1, 3)])


def test_a_transform_giving_no_clips_is_a_bad_item() -> None:
    space = SpaceModel("toy_kw.test", {"text": Encoder(KeywordTower(), lambda t: {})}, 4)
    report = space.encode_report("text", ["a", "b"])
    assert report.kept == [] and [e.index for e in report.errors] == [0, 1]
    assert report.errors[0].reason.endswith("preprocessing gave no clips")


def test_set_transform_replaces_preprocessing_only() -> None:
    tower = KeywordTower()
    space = SpaceModel("toy_kw.test", {"text": Encoder(tower, tokenize)}, 4)
    space.set_transform("text", lambda t: tokenize(t.upper()))
    assert space.encoder("text").tower is tower
    torch.testing.assert_close(
        space.encode("text", "ab").vectors, space.encode("text", "AB").vectors
    )
