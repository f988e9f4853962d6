"""MNASNet as torchvision builds it (Tan et al. 2019, the architecture found by a
latency-aware search): a depthwise-separable stem, six stacks of inverted residual blocks
(expansion 3 or 6, 3×3 or 5×5 depthwise kernels) and a 1×1 convolution to 1280 channels,
every BatchNorm with momentum 1 − 0.9997 (TensorFlow's decay 0.9997).

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("layers.8.0.layers.0
.weight", ``_InvertedResidual``), so weights move between the two as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from .mobilenet import _make_divisible
from .resnet import _wiring, kaiming_normal_fan_out

__all__ = ["MNASNet", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"]

_BN_MOMENTUM = 1 - 0.9997
#: The channels of B1 (alpha = 1): stem, separable, then the six stacks' outputs.
DEPTHS = (32, 16, 24, 40, 80, 96, 192, 320)
#: Per stack: kernel, first stride, expansion, repeats (the paper's Figure 7).
STACKS = ((3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1))


def _bn(channels: int, dtype: Any) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=_BN_MOMENTUM, dtype=dtype)


class _InvertedResidual(nn.Graph):
    """torchvision's MNASNet block, its layers in ``self.layers``::

    layers = 1×1 to t·C_in → BN → ReLU → k×k depthwise at the stride → BN → ReLU
             → 1×1 to C_out → BN
    y = x + layers(x) when the stride is 1 and C_in = C_out, else layers(x)
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: int, dtype: Any
    ) -> None:
        super().__init__()
        mid = in_ch * expansion
        self.apply_residual = in_ch == out_ch and stride == 1
        self.layers = nn.Sequential(
            nn.Conv2d(in_ch, mid, 1, bias=False, dtype=dtype),
            _bn(mid, dtype),
            nn.ReLU(),
            nn.Conv2d(
                mid,
                mid,
                kernel,
                stride=stride,
                padding=kernel // 2,
                groups=mid,
                bias=False,
                dtype=dtype,
            ),
            _bn(mid, dtype),
            nn.ReLU(),
            nn.Conv2d(mid, out_ch, 1, bias=False, dtype=dtype),
            _bn(out_ch, dtype),
        )
        out = self.add(self.layers, "x")
        if self.apply_residual:
            out = self.add(nn.Add(), out, "x")
        self.set_output(out)


class MNASNet(nn.Graph):
    """torchvision's ``MNASNet`` with depth multiplier ``alpha``::

        layers = conv 3×3/2 → BN → ReLU → depthwise 3×3 → BN → ReLU → conv 1×1 → BN
                 → the six stacks (STACKS) → conv 1×1 to 1280 → BN → ReLU
        y = classifier(mean of layers(x) over the pixels),
        classifier = Dropout(p=dropout) → Linear(1280, num_classes)

    with DEPTHS scaled by alpha (rounded to multiples of 8, never below 90 %).
    Initialisation as torchvision's: convolutions kaiming normal (fan_out), BatchNorm 1 and
    0, the Linear weight U(±√(3/num_classes)) (kaiming uniform, fan_out, gain 1), bias 0.
    Input (B, 3, H, W); output (B, num_classes).
    """

    def __init__(
        self,
        alpha: float,
        num_classes: int = 1000,
        dropout: float = 0.2,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        alpha = real_number("alpha", alpha, func=func, low=0.0, low_open=True)
        num_classes = positive_int("num_classes", num_classes, func=func)
        dropout = real_number("dropout", dropout, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        d = [_make_divisible(depth * alpha, 8) for depth in DEPTHS]
        layers: list[nn.Module] = [
            nn.Conv2d(3, d[0], 3, stride=2, padding=1, bias=False, dtype=dtype),
            _bn(d[0], dtype),
            nn.ReLU(),
            nn.Conv2d(d[0], d[0], 3, padding=1, groups=d[0], bias=False, dtype=dtype),
            _bn(d[0], dtype),
            nn.ReLU(),
            nn.Conv2d(d[0], d[1], 1, bias=False, dtype=dtype),
            _bn(d[1], dtype),
        ]
        for i, (kernel, stride, expansion, repeats) in enumerate(STACKS):
            c_in, c_out = d[i + 1], d[i + 2]
            stack = [_InvertedResidual(c_in, c_out, kernel, stride, expansion, dtype)]
            stack += [
                _InvertedResidual(c_out, c_out, kernel, 1, expansion, dtype)
                for _ in range(repeats - 1)
            ]
            layers.append(nn.Sequential(*stack))
        layers += [nn.Conv2d(d[7], 1280, 1, bias=False, dtype=dtype), _bn(1280, dtype), nn.ReLU()]
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, rng=rng), nn.Linear(1280, num_classes, dtype=dtype)
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                kaiming_normal_fan_out(module, rng)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(
                    module.weight, mode="fan_out", nonlinearity="sigmoid", rng=rng
                )
                if module.bias is not None:
                    module.bias.data[...] = 0
        out = self.add(self.layers, "x")
        out = self.add(_wiring(nn.AdaptiveAvgPool2d(1)), out, name="mean")
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.classifier, out))


def mnasnet0_5(
    num_classes: int = 1000, dropout: float = 0.2, *, seed: int = 0, dtype: Any = np.float32
) -> MNASNet:
    """MNASNet with depth multiplier 0.5, torchvision's ``mnasnet0_5()``: 2 218 512
    parameters for 1000 classes, the same ``state_dict`` keys and ``repr`` (``inplace=True``
    aside).

    >>> mnasnet0_5(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    return MNASNet(0.5, num_classes, dropout, seed=seed, dtype=dtype)


def mnasnet0_75(
    num_classes: int = 1000, dropout: float = 0.2, *, seed: int = 0, dtype: Any = np.float32
) -> MNASNet:
    """MNASNet with depth multiplier 0.75, torchvision's ``mnasnet0_75()``."""
    return MNASNet(0.75, num_classes, dropout, seed=seed, dtype=dtype)


def mnasnet1_0(
    num_classes: int = 1000, dropout: float = 0.2, *, seed: int = 0, dtype: Any = np.float32
) -> MNASNet:
    """MNASNet with depth multiplier 1.0, torchvision's ``mnasnet1_0()``."""
    return MNASNet(1.0, num_classes, dropout, seed=seed, dtype=dtype)


def mnasnet1_3(
    num_classes: int = 1000, dropout: float = 0.2, *, seed: int = 0, dtype: Any = np.float32
) -> MNASNet:
    """MNASNet with depth multiplier 1.3, torchvision's ``mnasnet1_3()``."""
    return MNASNet(1.3, num_classes, dropout, seed=seed, dtype=dtype)
