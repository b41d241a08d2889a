"""Our EfficientNet-Lite0 loads the packaged ImageNet weights strictly and classifies photos."""

from __future__ import annotations

import pytest
import torch

from openbind.encoders.efficientnet import SameConv2d, efficientnet_lite0
from openbind.preprocess.image import ImageTransform
from openbind.zoo.starter import class_names, starter_config
from tests.space.starter import photos


@pytest.fixture(scope="module")
def net():
    return efficientnet_lite0()


def top5(net, name: str) -> list[str]:
    x = ImageTransform(starter_config().image)(photos()[name])
    with torch.inference_mode():
        logits = net(x)
    names = class_names()
    return [names[i] for i in logits[0].topk(5).indices.tolist()]


def test_strict_load_has_every_parameter(net):
    assert sum(p.numel() for p in net.parameters()) == 4_652_008
    assert len(net._blocks) == 16
    assert net._fc.weight.shape == (1000, 1280)


def test_chelsea_is_a_cat(net):
    assert set(top5(net, "chelsea")[:3]) == {"tiger cat", "Egyptian Mau", "tabby cat"}


def test_coffee_is_espresso(net):
    assert top5(net, "coffee")[0] == "espresso"


def test_motorcycle_is_a_moped(net):
    assert top5(net, "motorcycle")[0] == "moped"


def test_features_are_1280_d(net):
    with torch.inference_mode():
        feats = net.forward_features(torch.zeros(2, 3, 224, 224))
    assert feats.shape == (2, 1280)


def test_same_padding_is_tensorflow_style():
    # stride 2, kernel 3 on 224: TF pads 0 before and 1 after; output 112.
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    conv.weight.data.zero_()
    conv.weight.data[0, 0, 0, 0] = 1.0  # picks the top-left input of each window
    x = torch.arange(224.0).repeat(224, 1)[None, None]  # column index as value
    out = conv(x)
    assert out.shape == (1, 1, 112, 112)
    assert out[0, 0, 0, :3].tolist() == [0.0, 2.0, 4.0]  # no padding on the left


def test_load_rejects_a_state_dict_with_missing_keys(tmp_path):
    state = efficientnet_lite0().state_dict()
    del state["_fc.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(RuntimeError, match=r"_fc\.bias"):
        efficientnet_lite0(tmp_path / "broken.pth")
