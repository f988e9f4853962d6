"""MobileNetV2 as torchvision builds it (Sandler et al. 2018): inverted residual blocks of
expansion 1×1 → depthwise 3×3 → linear 1×1 projection, a residual sum where the shape allows.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("features.3.conv.1.0.weight",
``Conv2dNormActivation``, ``InvertedResidual``), so weights move between the two as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from .resnet import _wiring, kaiming_normal_fan_out

__all__ = ["Conv2dNormActivation", "InvertedResidual", "MobileNetV2", "mobilenet_v2"]

#: (expansion t, output channels c, repeats n, first stride s) per stage, the paper's Table 2.
INVERTED_RESIDUAL_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _make_divisible(v: float, divisor: int = 8) -> int:
    """The channel count nearest v that is a multiple of ``divisor``, never below 90 % of v
    (torchvision's rounding of the width multiplier)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def normal_linear_(linear: nn.Linear, rng: np.random.Generator) -> None:
    """torchvision's classifier initialisation in MobileNet and RegNet: the weight
    N(0, 0.01²), drawn from ``rng`` in place; the bias, if any, 0."""
    nn.init.normal_(linear.weight, 0.0, 0.01, rng=rng)
    if linear.bias is not None:
        linear.bias.data[...] = 0


def init_fan_out_normal(model: nn.Module, rng: np.random.Generator) -> None:
    """MobileNetV2's and V3's initialisation loop: every convolution kaiming normal
    (fan_out, bias 0), every Linear :func:`normal_linear_`, in ``model.modules()`` order."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            kaiming_normal_fan_out(module, rng)
        elif isinstance(module, nn.Linear):
            normal_linear_(module, rng)


class Conv2dNormActivation(nn.Sequential):
    """torchvision's ``Conv2dNormActivation``: Conv2d (padding d·(k − 1)/2 unless given, no
    bias unless ``bias``) → ``norm(out_channels)`` (BatchNorm2d with ``eps``, ``momentum``
    by default) → ``activation`` (ReLU6 by default, none for None), children "0", "1", "2";
    d is the convolution's ``dilation``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        *,
        activation: type[nn.Module] | None = nn.ReLU6,
        norm: Callable[[int], nn.Module] | None = None,
        padding: int | None = None,
        dilation: int = 1,
        bias: bool = False,
        eps: float = 1e-5,
        momentum: float = 0.1,
        dtype: Any = np.float32,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=(kernel_size - 1) // 2 * dilation if padding is None else padding,
                dilation=dilation,
                groups=groups,
                bias=bias,
                dtype=dtype,
            ),
            norm(out_channels)
            if norm is not None
            else nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum, dtype=dtype),
        ]
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)
        self.out_channels = out_channels  # as torchvision's (its segmentation models read it)


class InvertedResidual(nn.Graph):
    """torchvision's ``InvertedResidual`` block, its layers in ``self.conv`` (a Sequential)::

    conv = [Conv2dNormActivation 1×1 to t·C_in (when t ≠ 1)] → Conv2dNormActivation 3×3
           depthwise at ``stride`` → Conv2d 1×1 to C_out → BatchNorm2d
    y = x + conv(x) when stride = 1 and C_in = C_out, else conv(x)
    """

    def __init__(
        self, inp: int, oup: int, stride: int, expand_ratio: int, *, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        self.out_channels = oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden, kernel_size=1, dtype=dtype))
        layers += [
            Conv2dNormActivation(hidden, hidden, stride=stride, groups=hidden, dtype=dtype),
            nn.Conv2d(hidden, oup, 1, bias=False, dtype=dtype),
            nn.BatchNorm2d(oup, dtype=dtype),
        ]
        self.conv = nn.Sequential(*layers)
        out = self.add(self.conv, "x")
        if self.use_res_connect:
            out = self.add(nn.Add(), "x", out)
        self.set_output(out)


class MobileNetV2(nn.Graph):
    """torchvision's ``MobileNetV2`` (width multiplier 1)::

        features = [Conv2dNormActivation 3×3/2 (32)] + inverted residual stages
                   (INVERTED_RESIDUAL_SETTING) + [Conv2dNormActivation 1×1 (1280)]
        y = classifier(flatten(adaptive_avg_pool2d(features(x), 1))),
        classifier = Sequential(Dropout(p=dropout), Linear(1280, num_classes))

    Initialisation as torchvision's: convolutions kaiming normal (fan_out), BatchNorm γ = 1,
    β = 0, Linear weight ~ N(0, 0.01²), bias 0. Input (B, 3, H, W); output (B, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        dropout: float = 0.2,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        dropout = real_number("dropout", dropout, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        input_channel, last_channel = _make_divisible(32), _make_divisible(1280)
        features: list[nn.Module] = [Conv2dNormActivation(3, input_channel, stride=2, dtype=dtype)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            output_channel = _make_divisible(c)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(
                    InvertedResidual(input_channel, output_channel, stride, t, dtype=dtype)
                )
                input_channel = output_channel
        features.append(Conv2dNormActivation(input_channel, last_channel, 1, dtype=dtype))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, rng=rng),
            nn.Linear(last_channel, num_classes, rng=rng, dtype=dtype),
        )
        init_fan_out_normal(self, rng)
        out = self.add(self.features, "x")
        out = self.add(_wiring(nn.AdaptiveAvgPool2d((1, 1))), out, name="pool")
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.classifier, out))


def mobilenet_v2(
    num_classes: int = 1000, dropout: float = 0.2, *, seed: int = 0, dtype: Any = np.float32
) -> MobileNetV2:
    """MobileNetV2, torchvision's ``mobilenet_v2()``: 3 504 872 parameters for 1000 classes,
    the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside).

    >>> mobilenet_v2(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    return MobileNetV2(num_classes, dropout, seed=seed, dtype=dtype)
