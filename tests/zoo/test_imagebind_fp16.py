"""A float16 on-disk copy of the golden ImageBind checkpoint loads back (as float32) with the
golden outputs' directions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from openbind import checkpoint
from openbind.encoders.imagebind import ImageBindConfig
from openbind.zoo.imagebind import key_groups, load_model
from tests.encoders.imagebind_golden import STATE_DICT, load_io, reference_name


def test_float16_copy_loads_back_close_to_the_golden_outputs(tmp_path) -> None:
    folder = checkpoint.convert(
        STATE_DICT,
        tmp_path / "half",
        group_of=checkpoint.group_by_prefix(key_groups()),
        dtype=torch.float16,
    )
    full = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
    assert full < 0.55 * STATE_DICT.stat().st_size
    model = load_model(ImageBindConfig.small(), folder, ["text", "audio", "image"])
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    io = load_io()
    for case in ("text", "audio", "vision_image"):
        with torch.no_grad():
            out = model.forward_reference({reference_name(case): io["inputs"][case]})
        got = out[reference_name(case)]
        cos = F.cosine_similarity(got, io["outputs"][case])
        assert cos.min() > 0.999, (case, cos)
