"""ShuffleNetV2 as torchvision builds it (Ma et al. 2018): each unit splits its channels in
two, transforms one half (1×1 → 3×3 depthwise → 1×1) and concatenates it with the other
half, untouched — or, where the unit halves the resolution, with a strided depthwise branch
of the whole input — then shuffles the channels so that the next unit's halves mix both.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("stage2.0.branch1.0.weight",
``InvertedResidual`` with an empty ``branch1`` where the stride is 1), so weights move
between the two as they are. The split (``nn.Narrow``), the concatenation, the shuffle
(``nn.ChannelShuffle``) and the final mean over the pixels are wiring, as in torchvision's
``forward``: not children, in neither ``repr`` nor ``state_dict``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int
from .resnet import _wiring

__all__ = [
    "ShuffleNetV2",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
]

STAGES_REPEATS = (4, 8, 4)


def _depthwise(channels: int, stride: int, rng: Any, dtype: Any) -> nn.Conv2d:
    return nn.Conv2d(
        channels,
        channels,
        3,
        stride=stride,
        padding=1,
        groups=channels,
        bias=False,
        rng=rng,
        dtype=dtype,
    )


def _pointwise(c_in: int, c_out: int, rng: Any, dtype: Any) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 1, bias=False, rng=rng, dtype=dtype)


class InvertedResidual(nn.Graph):
    """torchvision's ShuffleNetV2 unit, with b = C_out/2 channels per branch::

        stride 1: x = [x₁, x₂] (halves)    y = shuffle([x₁, branch2(x₂)])
        stride 2:                           y = shuffle([branch1(x), branch2(x)])

    branch1 = depthwise 3×3/2 → BN → 1×1 to b → BN → ReLU (empty at stride 1);
    branch2 = 1×1 to b → BN → ReLU → depthwise 3×3/s → BN → 1×1 → BN → ReLU.
    """

    def __init__(
        self, inp: int, oup: int, stride: int, *, rng: Any = None, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        func = "InvertedResidual"
        if stride not in (1, 2):
            raise ValueError(f"{func}: stride: expected 1 or 2, got {stride!r}")
        b = oup // 2
        if stride == 1 and inp != 2 * b:
            raise ValueError(
                f"{func}: inp: expected 2·(oup // 2) = {2 * b} channels at stride 1, got {inp}"
            )
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise(inp, stride, rng, dtype),
                nn.BatchNorm2d(inp, dtype=dtype),
                _pointwise(inp, b, rng, dtype),
                nn.BatchNorm2d(b, dtype=dtype),
                nn.ReLU(),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            _pointwise(inp if stride > 1 else b, b, rng, dtype),
            nn.BatchNorm2d(b, dtype=dtype),
            nn.ReLU(),
            _depthwise(b, stride, rng, dtype),
            nn.BatchNorm2d(b, dtype=dtype),
            _pointwise(b, b, rng, dtype),
            nn.BatchNorm2d(b, dtype=dtype),
            nn.ReLU(),
        )
        if stride == 1:
            kept = self.add(nn.Narrow(1, 0, b), "x", name="x1")
            second = self.add(nn.Narrow(1, b, b), "x", name="x2")
            pieces = [kept, self.add(self.branch2, second)]
        else:
            pieces = [self.add(self.branch1, "x"), self.add(self.branch2, "x")]
        joined = self.add(nn.Concat(1), *pieces, name="cat")
        self.set_output(self.add(_wiring(nn.ChannelShuffle(2)), joined, name="shuffle"))


class ShuffleNetV2(nn.Graph):
    """torchvision's ``ShuffleNetV2``::

        conv1 (3×3/2 to c₀, BN, ReLU) → maxpool 3×3/2 → stage2 → stage3 → stage4
        → conv5 (1×1 to c₄, BN, ReLU) → mean over the pixels → fc

    stages of (4, 8, 4) units, the first of each at stride 2, with ``stages_out_channels``
    (c₀, …, c₄). Initialisation is PyTorch's default (torchvision sets none): every weight
    and bias U(±1/√fan_in). Input (B, 3, H, W); output (B, num_classes).
    """

    def __init__(
        self,
        stages_out_channels: tuple[int, int, int, int, int],
        num_classes: int = 1000,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        c0 = stages_out_channels[0]
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, c0, 3, stride=2, padding=1, bias=False, rng=rng, dtype=dtype),
            nn.BatchNorm2d(c0, dtype=dtype),
            nn.ReLU(),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inp = c0
        stages = []
        for repeats, oup in zip(STAGES_REPEATS, stages_out_channels[1:4]):
            units = [InvertedResidual(inp, oup, 2, rng=rng, dtype=dtype)]
            units += [
                InvertedResidual(oup, oup, 1, rng=rng, dtype=dtype) for _ in range(repeats - 1)
            ]
            stages.append(nn.Sequential(*units))
            inp = oup
        self.stage2, self.stage3, self.stage4 = stages
        c4 = stages_out_channels[4]
        self.conv5 = nn.Sequential(
            nn.Conv2d(inp, c4, 1, bias=False, rng=rng, dtype=dtype),
            nn.BatchNorm2d(c4, dtype=dtype),
            nn.ReLU(),
        )
        self.fc = nn.Linear(c4, num_classes, rng=rng, dtype=dtype)
        out = "x"
        for layer in (self.conv1, self.maxpool, *stages, self.conv5):
            out = self.add(layer, out)
        out = self.add(_wiring(nn.AdaptiveAvgPool2d(1)), out, name="globalpool")
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.fc, out))


def shufflenet_v2_x0_5(
    num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32
) -> ShuffleNetV2:
    """ShuffleNetV2 0.5×, torchvision's ``shufflenet_v2_x0_5()``: 1 366 792 parameters for
    1000 classes, the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside).

    >>> shufflenet_v2_x0_5(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    return ShuffleNetV2((24, 48, 96, 192, 1024), num_classes, seed=seed, dtype=dtype)


def shufflenet_v2_x1_0(
    num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32
) -> ShuffleNetV2:
    """ShuffleNetV2 1.0×, torchvision's ``shufflenet_v2_x1_0()``."""
    return ShuffleNetV2((24, 116, 232, 464, 1024), num_classes, seed=seed, dtype=dtype)


def shufflenet_v2_x1_5(
    num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32
) -> ShuffleNetV2:
    """ShuffleNetV2 1.5×, torchvision's ``shufflenet_v2_x1_5()``."""
    return ShuffleNetV2((24, 176, 352, 704, 1024), num_classes, seed=seed, dtype=dtype)


def shufflenet_v2_x2_0(
    num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32
) -> ShuffleNetV2:
    """ShuffleNetV2 2.0×, torchvision's ``shufflenet_v2_x2_0()``."""
    return ShuffleNetV2((24, 244, 488, 976, 2048), num_classes, seed=seed, dtype=dtype)
