"""Several descriptions per item: one drawn per training load, the first when held out."""

import json

import pytest
import torch

from openbind.data.paired import Descriptions, PairedDataset, read_manifest
from openbind.errors import BadInput


def _ids(text: str) -> torch.Tensor:
    return torch.tensor([[len(text)]])


def test_jsonl_lists_become_descriptions_sampled_per_load(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        json.dumps({"text": ["a", "bb", "ccc"], "label": "x"}) + "\n" + json.dumps({"text": "dddd"})
    )
    rows, report = read_manifest(path, ["text"])
    assert report.rows == 2
    assert rows[0]["text"] == Descriptions(["a", "bb", "ccc"]) and rows[1]["text"] == "dddd"
    train = PairedDataset(rows, {"text": _ids}, cache=True, sample_views=True, seed=0)
    seen = {int(train[0]["text"]) for _ in range(60)}
    assert seen == {1, 2, 3}  # every view is used
    assert int(train[1]["text"]) == 4
    held_out = PairedDataset(rows, {"text": _ids})
    assert {int(held_out[0]["text"]) for _ in range(10)} == {1}  # always the first view
    with pytest.raises(BadInput, match="at least one description"):
        Descriptions([])
