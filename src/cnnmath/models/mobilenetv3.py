"""MobileNetV3 as torchvision builds it (Howard et al. 2019): MobileNetV2's inverted residual
blocks with 3×3 or 5×5 depthwise kernels, hard-swish activations in the later stages and
squeeze-and-excitation in some blocks.

Squeeze-and-excitation rescales each channel of a block's activation by a gate computed from
the whole image: s = hardsigmoid(W₂ relu(W₁ avgpool(x) + b₁) + b₂), y = s ⊙ x, s of shape
(B, C, 1, 1) broadcast over the pixels (``nn.Mul``), so its backward adds, into ∂ℓ/∂x, both
the direct term s ⊙ G and the path through the pooled average.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("features.4.block.2.fc1
.weight", ``SqueezeExcitation``, ``InvertedResidual``), so weights move between the two as
they are; BatchNorm is torchvision's for this family (ε = 0.001, momentum 0.01).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from .mobilenet import Conv2dNormActivation, _make_divisible, init_fan_out_normal
from .resnet import _wiring

__all__ = [
    "MobileNetV3",
    "SqueezeExcitation",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
]

_EPS, _MOMENTUM = 0.001, 0.01


class BlockConfig(NamedTuple):
    """One inverted residual block: input channels, depthwise kernel, expanded channels,
    output channels, squeeze-and-excitation, hard-swish (else ReLU), stride, and the
    depthwise convolution's dilation (a dilated block runs at stride 1 instead)."""

    input_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    use_hs: bool
    stride: int
    dilation: int = 1


def dilated(setting: tuple[BlockConfig, ...]) -> tuple[BlockConfig, ...]:
    """torchvision's ``dilated=True``: the last stage (C4: the last stride-2 block and those
    after it) at dilation 2. Its stride-2 block then keeps stride 1, so the features stop at
    output stride 16 instead of 32, each depthwise kernel seeing what it saw before."""
    last = max(i for i, cnf in enumerate(setting) if cnf.stride > 1)
    return setting[:last] + tuple(cnf._replace(dilation=2) for cnf in setting[last:])


# The paper's Tables 1 and 2, as torchvision lists them (width multiplier 1, no dilation).
LARGE = (
    BlockConfig(16, 3, 16, 16, False, False, 1),
    BlockConfig(16, 3, 64, 24, False, False, 2),
    BlockConfig(24, 3, 72, 24, False, False, 1),
    BlockConfig(24, 5, 72, 40, True, False, 2),
    BlockConfig(40, 5, 120, 40, True, False, 1),
    BlockConfig(40, 5, 120, 40, True, False, 1),
    BlockConfig(40, 3, 240, 80, False, True, 2),
    BlockConfig(80, 3, 200, 80, False, True, 1),
    BlockConfig(80, 3, 184, 80, False, True, 1),
    BlockConfig(80, 3, 184, 80, False, True, 1),
    BlockConfig(80, 3, 480, 112, True, True, 1),
    BlockConfig(112, 3, 672, 112, True, True, 1),
    BlockConfig(112, 5, 672, 160, True, True, 2),
    BlockConfig(160, 5, 960, 160, True, True, 1),
    BlockConfig(160, 5, 960, 160, True, True, 1),
)
SMALL = (
    BlockConfig(16, 3, 16, 16, True, False, 2),
    BlockConfig(16, 3, 72, 24, False, False, 2),
    BlockConfig(24, 3, 88, 24, False, False, 1),
    BlockConfig(24, 5, 96, 40, True, True, 2),
    BlockConfig(40, 5, 240, 40, True, True, 1),
    BlockConfig(40, 5, 240, 40, True, True, 1),
    BlockConfig(40, 5, 120, 48, True, True, 1),
    BlockConfig(48, 5, 144, 48, True, True, 1),
    BlockConfig(48, 5, 288, 96, True, True, 2),
    BlockConfig(96, 5, 576, 96, True, True, 1),
    BlockConfig(96, 5, 576, 96, True, True, 1),
)


class SqueezeExcitation(nn.Graph):
    """torchvision's ``SqueezeExcitation``: y = s ⊙ x with the per-channel gate
    s = scale_activation(fc2(activation(fc1(avgpool(x))))), fc1 and fc2 1×1 convolutions
    with bias (C → squeeze_channels → C). Children avgpool, fc1, fc2, activation and
    scale_activation, in torchvision's order."""

    def __init__(
        self,
        input_channels: int,
        squeeze_channels: int,
        *,
        activation: type[nn.Module] = nn.ReLU,
        scale_activation: type[nn.Module] = nn.Hardsigmoid,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1, dtype=dtype)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1, dtype=dtype)
        self.activation = activation()
        self.scale_activation = scale_activation()
        out = "x"
        for name in ("avgpool", "fc1", "activation", "fc2", "scale_activation"):
            out = self.add(getattr(self, name), out)
        self.set_output(self.add(nn.Mul(), out, "x", name="scale"))


class InvertedResidual(nn.Graph):
    """torchvision's MobileNetV3 ``InvertedResidual``, its layers in ``self.block``::

    block = [Conv2dNormActivation 1×1 to the expanded channels (when they differ)]
            → Conv2dNormActivation k×k depthwise at the stride
            → [SqueezeExcitation(expanded, _make_divisible(expanded / 4))]
            → Conv2dNormActivation 1×1 to the output channels, no activation
    y = x + block(x) when stride = 1 and the channels agree, else block(x)

    A block with dilation d > 1 runs its depthwise convolution at stride 1 and dilation d
    (the residual rule still reads the configured stride, as torchvision's), and
    ``_is_cn`` marks a configured stride > 1: where torchvision's segmentation models find
    the stages' ends.
    """

    def __init__(self, cnf: BlockConfig, *, dtype: Any = np.float32) -> None:
        super().__init__()
        act = nn.Hardswish if cnf.use_hs else nn.ReLU
        norm = {"eps": _EPS, "momentum": _MOMENTUM, "dtype": dtype}
        layers: list[nn.Module] = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(
                Conv2dNormActivation(
                    cnf.input_channels, cnf.expanded_channels, 1, activation=act, **norm
                )
            )
        layers.append(
            Conv2dNormActivation(
                cnf.expanded_channels,
                cnf.expanded_channels,
                cnf.kernel,
                1 if cnf.dilation > 1 else cnf.stride,
                groups=cnf.expanded_channels,
                dilation=cnf.dilation,
                activation=act,
                **norm,
            )
        )
        if cnf.use_se:
            squeeze = _make_divisible(cnf.expanded_channels // 4, 8)
            layers.append(SqueezeExcitation(cnf.expanded_channels, squeeze, dtype=dtype))
        layers.append(
            Conv2dNormActivation(
                cnf.expanded_channels, cnf.out_channels, 1, activation=None, **norm
            )
        )
        self.block = nn.Sequential(*layers)
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        self.out_channels = cnf.out_channels
        self._is_cn = cnf.stride > 1
        out = self.add(self.block, "x")
        if self.use_res_connect:
            out = self.add(nn.Add(), out, "x")
        self.set_output(out)


class MobileNetV3(nn.Graph):
    """torchvision's ``MobileNetV3``::

        features = [Conv2dNormActivation 3×3/2 to 16, hard-swish] + inverted residual blocks
                   + [Conv2dNormActivation 1×1 to 6× the last block's channels, hard-swish]
        y = classifier(flatten(avgpool(features(x)))),
        classifier = Linear → Hardswish → Dropout(p=dropout) → Linear(last_channel, classes)

    ``setting`` is :data:`LARGE` or :data:`SMALL` and ``last_channel`` 1280 or 1024.
    Initialisation as torchvision's: convolutions kaiming normal (fan_out) with bias 0,
    BatchNorm γ = 1, β = 0, Linear weight ~ N(0, 0.01²), bias 0. Input (B, 3, H, W); output
    (B, num_classes).
    """

    def __init__(
        self,
        setting: tuple[BlockConfig, ...],
        last_channel: int,
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
        norm = {"eps": _EPS, "momentum": _MOMENTUM, "dtype": dtype}
        first = setting[0].input_channels
        layers: list[nn.Module] = [
            Conv2dNormActivation(3, first, 3, 2, activation=nn.Hardswish, **norm)
        ]
        layers += [InvertedResidual(cnf, dtype=dtype) for cnf in setting]
        last_in = setting[-1].out_channels
        layers.append(
            Conv2dNormActivation(last_in, 6 * last_in, 1, activation=nn.Hardswish, **norm)
        )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(6 * last_in, last_channel, rng=rng, dtype=dtype),
            nn.Hardswish(),
            nn.Dropout(p=dropout, rng=rng),
            nn.Linear(last_channel, num_classes, rng=rng, dtype=dtype),
        )
        init_fan_out_normal(self, rng)
        out = self.add(self.features, "x")
        out = self.add(self.avgpool, out)
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.classifier, out))


def _dilated_setting(
    setting: tuple[BlockConfig, ...], flag: Any, func: str
) -> tuple[BlockConfig, ...]:
    if not isinstance(flag, (bool, np.bool_)):
        raise TypeError(f"{func}: dilated: expected a bool, got {flag!r}")
    return dilated(setting) if flag else setting


def mobilenet_v3_large(
    num_classes: int = 1000,
    dropout: float = 0.2,
    *,
    dilated: bool = False,
    seed: int = 0,
    dtype: Any = np.float32,
) -> MobileNetV3:
    """MobileNetV3-Large, torchvision's ``mobilenet_v3_large()``: 5 483 032 parameters for
    1000 classes, the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside).
    ``dilated=True`` dilates the last stage (:func:`dilated`), as torchvision's option.

    >>> mobilenet_v3_large(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    setting = _dilated_setting(LARGE, dilated, "mobilenet_v3_large")
    return MobileNetV3(setting, 1280, num_classes, dropout, seed=seed, dtype=dtype)


def mobilenet_v3_small(
    num_classes: int = 1000,
    dropout: float = 0.2,
    *,
    dilated: bool = False,
    seed: int = 0,
    dtype: Any = np.float32,
) -> MobileNetV3:
    """MobileNetV3-Small, torchvision's ``mobilenet_v3_small()``: 2 542 856 parameters for
    1000 classes, the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside).
    ``dilated=True`` dilates the last stage (:func:`dilated`), as torchvision's option.

    >>> mobilenet_v3_small(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    setting = _dilated_setting(SMALL, dilated, "mobilenet_v3_small")
    return MobileNetV3(setting, 1024, num_classes, dropout, seed=seed, dtype=dtype)
