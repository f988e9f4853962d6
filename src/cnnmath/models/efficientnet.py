"""EfficientNet-B0 to B7 (Tan & Le 2019) and EfficientNetV2-S/M/L (Tan & Le 2021) as
torchvision builds them. B0 is seven stages of MBConv blocks — MobileNetV2's inverted
residual with SiLU, squeeze-and-excitation and stochastic depth on the residual branch —
and B1–B7 scale it by a width and a depth multiplier; V2 starts with FusedMBConv stages,
whose expansion is a full 3×3 convolution instead of a 1×1 and a depthwise 3×3 (faster on
early, wide feature maps), and ends with a fixed 1280-channel head.

Stochastic depth drops a block's branch for whole examples in training (``nn.StochasticDepth``,
mode "row"), with a probability rising linearly from 0 at the first block to
``stochastic_depth_prob`` · (k − 1)/k at the last of k; evaluation runs every branch.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("features.2.0.block.2.fc1
.weight", ``MBConv``, ``FusedMBConv``, ``SqueezeExcitation``), so weights move between the
two as they are; BatchNorm has torchvision's ε and momentum for each model (B5–B7:
0.001 and 0.01; V2: ε = 0.001).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from .mobilenet import Conv2dNormActivation, _make_divisible
from .mobilenetv3 import SqueezeExcitation
from .resnet import _wiring, kaiming_normal_fan_out

__all__ = [
    "EfficientNet",
    "FusedMBConv",
    "MBConv",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_v2_s",
    "efficientnet_v2_m",
    "efficientnet_v2_l",
]


class StageConfig(NamedTuple):
    """One stage: expansion ratio, kernel, first stride, input and output channels, number
    of blocks, and whether its blocks are FusedMBConv (else MBConv)."""

    expand_ratio: int
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int
    fused: bool = False


#: EfficientNet-B0's stages (the paper's Table 1).
B0 = (
    StageConfig(1, 3, 1, 32, 16, 1),
    StageConfig(6, 3, 2, 16, 24, 2),
    StageConfig(6, 5, 2, 24, 40, 2),
    StageConfig(6, 3, 2, 40, 80, 3),
    StageConfig(6, 5, 1, 80, 112, 3),
    StageConfig(6, 5, 2, 112, 192, 4),
    StageConfig(6, 3, 1, 192, 320, 1),
)

#: EfficientNetV2's stages (the V2 paper's Tables 4 and its M and L variants).
V2_S = (
    StageConfig(1, 3, 1, 24, 24, 2, True),
    StageConfig(4, 3, 2, 24, 48, 4, True),
    StageConfig(4, 3, 2, 48, 64, 4, True),
    StageConfig(4, 3, 2, 64, 128, 6),
    StageConfig(6, 3, 1, 128, 160, 9),
    StageConfig(6, 3, 2, 160, 256, 15),
)
V2_M = (
    StageConfig(1, 3, 1, 24, 24, 3, True),
    StageConfig(4, 3, 2, 24, 48, 5, True),
    StageConfig(4, 3, 2, 48, 80, 5, True),
    StageConfig(4, 3, 2, 80, 160, 7),
    StageConfig(6, 3, 1, 160, 176, 14),
    StageConfig(6, 3, 2, 176, 304, 18),
    StageConfig(6, 3, 1, 304, 512, 5),
)
V2_L = (
    StageConfig(1, 3, 1, 32, 32, 4, True),
    StageConfig(4, 3, 2, 32, 64, 7, True),
    StageConfig(4, 3, 2, 64, 96, 7, True),
    StageConfig(4, 3, 2, 96, 192, 10),
    StageConfig(6, 3, 1, 192, 224, 19),
    StageConfig(6, 3, 2, 224, 384, 25),
    StageConfig(6, 3, 1, 384, 640, 7),
)


def scaled(width_mult: float, depth_mult: float) -> tuple[StageConfig, ...]:
    """B0's stages with the channels times ``width_mult`` (multiples of 8, never below 90 %)
    and the blocks per stage times ``depth_mult`` (rounded up)."""
    return tuple(
        cfg._replace(
            input_channels=_make_divisible(cfg.input_channels * width_mult, 8),
            out_channels=_make_divisible(cfg.out_channels * width_mult, 8),
            num_layers=int(math.ceil(cfg.num_layers * depth_mult)),
        )
        for cfg in B0
    )


class MBConv(nn.Graph):
    """torchvision's ``MBConv``, its layers in ``self.block``::

    block = [Conv2dNormActivation 1×1 to e = C_in·t channels, SiLU (when t ≠ 1)]
            → Conv2dNormActivation k×k depthwise at the stride, SiLU
            → SqueezeExcitation(e, max(1, C_in/4), SiLU, sigmoid)
            → Conv2dNormActivation 1×1 to C_out, no activation
    y = x + stochastic_depth(block(x)) when stride = 1 and C_in = C_out, else block(x)
    """

    def __init__(
        self,
        expand_ratio: int,
        kernel: int,
        stride: int,
        input_channels: int,
        out_channels: int,
        stochastic_depth_prob: float,
        *,
        rng: np.random.Generator,
        eps: float = 1e-5,
        momentum: float = 0.1,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        norm = {"eps": eps, "momentum": momentum, "dtype": dtype}
        self.use_res_connect = stride == 1 and input_channels == out_channels
        expanded = _make_divisible(input_channels * expand_ratio, 8)
        layers: list[nn.Module] = []
        if expanded != input_channels:
            layers.append(
                Conv2dNormActivation(input_channels, expanded, 1, activation=nn.SiLU, **norm)
            )
        layers += [
            Conv2dNormActivation(
                expanded,
                expanded,
                kernel,
                stride,
                groups=expanded,
                activation=nn.SiLU,
                **norm,
            ),
            SqueezeExcitation(
                expanded,
                max(1, input_channels // 4),
                activation=nn.SiLU,
                scale_activation=nn.Sigmoid,
                dtype=dtype,
            ),
            Conv2dNormActivation(expanded, out_channels, 1, activation=None, **norm),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = nn.StochasticDepth(stochastic_depth_prob, "row", rng=rng)
        self.out_channels = out_channels
        out = self.add(self.block, "x")
        if self.use_res_connect:
            out = self.add(self.stochastic_depth, out)
            out = self.add(nn.Add(), out, "x")
        self.set_output(out)


class FusedMBConv(nn.Graph):
    """torchvision's ``FusedMBConv`` (EfficientNetV2's early stages), its layers in
    ``self.block``::

    block = Conv2dNormActivation k×k at the stride to e = C_in·t, SiLU
            → Conv2dNormActivation 1×1 to C_out, no activation          (t ≠ 1)
    block = Conv2dNormActivation k×k at the stride to C_out, SiLU         (t = 1)
    y = x + stochastic_depth(block(x)) when stride = 1 and C_in = C_out, else block(x)
    """

    def __init__(
        self,
        expand_ratio: int,
        kernel: int,
        stride: int,
        input_channels: int,
        out_channels: int,
        stochastic_depth_prob: float,
        *,
        rng: np.random.Generator,
        eps: float = 1e-5,
        momentum: float = 0.1,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        norm = {"eps": eps, "momentum": momentum, "dtype": dtype}
        self.use_res_connect = stride == 1 and input_channels == out_channels
        expanded = _make_divisible(input_channels * expand_ratio, 8)
        if expanded != input_channels:
            layers: list[nn.Module] = [
                Conv2dNormActivation(
                    input_channels, expanded, kernel, stride, activation=nn.SiLU, **norm
                ),
                Conv2dNormActivation(expanded, out_channels, 1, activation=None, **norm),
            ]
        else:
            layers = [
                Conv2dNormActivation(
                    input_channels, out_channels, kernel, stride, activation=nn.SiLU, **norm
                )
            ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = nn.StochasticDepth(stochastic_depth_prob, "row", rng=rng)
        self.out_channels = out_channels
        out = self.add(self.block, "x")
        if self.use_res_connect:
            out = self.add(self.stochastic_depth, out)
            out = self.add(nn.Add(), out, "x")
        self.set_output(out)


class EfficientNet(nn.Graph):
    """torchvision's ``EfficientNet`` (B0–B3)::

        features = [Conv2dNormActivation 3×3/2, SiLU] + the stages of MBConv (and, in V2,
                   FusedMBConv) blocks + [Conv2dNormActivation 1×1 to the head's channels,
                   SiLU: ``last_channel``, or 4× the last stage's]
        y = classifier(flatten(avgpool(features(x)))),
        classifier = Dropout(p=dropout) → Linear(head, num_classes)

    ``setting`` is the stages (:data:`B0` scaled by :func:`scaled`, or :data:`V2_S` …).
    Initialisation as torchvision's: convolutions kaiming normal (fan_out), BatchNorm γ = 1,
    β = 0, Linear U(±1/√out_features), bias 0. Input (B, 3, H, W); output (B, num_classes).
    """

    def __init__(
        self,
        setting: tuple[StageConfig, ...],
        last_channel: int | None = None,
        num_classes: int = 1000,
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        *,
        eps: float = 1e-5,
        momentum: float = 0.1,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        dropout = real_number("dropout", dropout, func=func)
        stochastic_depth_prob = real_number(
            "stochastic_depth_prob", stochastic_depth_prob, func=func, low=0.0, high=1.0
        )
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        norm = {"eps": eps, "momentum": momentum, "dtype": dtype}
        total, block_id = sum(cfg.num_layers for cfg in setting), 0
        layers: list[nn.Module] = [
            Conv2dNormActivation(3, setting[0].input_channels, 3, 2, activation=nn.SiLU, **norm)
        ]
        for cfg in setting:
            block = FusedMBConv if cfg.fused else MBConv
            stage: list[nn.Module] = []
            for i in range(cfg.num_layers):
                stage.append(
                    block(
                        cfg.expand_ratio,
                        cfg.kernel,
                        cfg.stride if i == 0 else 1,
                        cfg.input_channels if i == 0 else cfg.out_channels,
                        cfg.out_channels,
                        stochastic_depth_prob * block_id / total,
                        rng=rng,
                        **norm,
                    )
                )
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = setting[-1].out_channels
        head = last_channel if last_channel is not None else 4 * last_in
        layers.append(Conv2dNormActivation(last_in, head, 1, activation=nn.SiLU, **norm))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, rng=rng),
            nn.Linear(head, num_classes, rng=rng, dtype=dtype),
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                kaiming_normal_fan_out(module, rng)
            elif isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.out_features)
                nn.init.uniform_(module.weight, -bound, bound, rng=rng)
                if module.bias is not None:
                    module.bias.data[...] = 0
        out = self.add(self.features, "x")
        out = self.add(self.avgpool, out)
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.classifier, out))


def _b(
    width_mult: float,
    depth_mult: float,
    num_classes: int,
    dropout: float,
    stochastic_depth_prob: float,
    seed: int,
    dtype: Any,
    **norm: float,
) -> EfficientNet:
    setting = scaled(width_mult, depth_mult)
    options = {"seed": seed, "dtype": dtype, **norm}
    return EfficientNet(setting, None, num_classes, dropout, stochastic_depth_prob, **options)


def efficientnet_b0(
    num_classes: int = 1000,
    dropout: float = 0.2,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNet-B0, torchvision's ``efficientnet_b0()``: 5 288 548 parameters for 1000
    classes, the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside);
    ``stochastic_depth_prob=0`` turns stochastic depth off. So for B1–B7 and V2.

    >>> efficientnet_b0(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    return _b(1.0, 1.0, num_classes, dropout, stochastic_depth_prob, seed, dtype)


def efficientnet_b1(
    num_classes: int = 1000,
    dropout: float = 0.2,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNet-B1 (B0 with 1.1× the blocks), torchvision's ``efficientnet_b1()``."""
    return _b(1.0, 1.1, num_classes, dropout, stochastic_depth_prob, seed, dtype)


def efficientnet_b2(
    num_classes: int = 1000,
    dropout: float = 0.3,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNet-B2 (1.1× the channels, 1.2× the blocks), torchvision's
    ``efficientnet_b2()``."""
    return _b(1.1, 1.2, num_classes, dropout, stochastic_depth_prob, seed, dtype)


def efficientnet_b3(
    num_classes: int = 1000,
    dropout: float = 0.3,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNet-B3 (1.2× the channels, 1.4× the blocks), torchvision's
    ``efficientnet_b3()``."""
    return _b(1.2, 1.4, num_classes, dropout, stochastic_depth_prob, seed, dtype)


#: B5–B7's BatchNorm, as torchvision's (TensorFlow's ε and decay 0.99).
_LARGE_B = {"eps": 0.001, "momentum": 0.01}


def efficientnet_b4(
    num_classes: int = 1000,
    dropout: float = 0.4,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNet-B4 (1.4× the channels, 1.8× the blocks), torchvision's
    ``efficientnet_b4()``."""
    return _b(1.4, 1.8, num_classes, dropout, stochastic_depth_prob, seed, dtype)


def efficientnet_b5(
    num_classes: int = 1000,
    dropout: float = 0.4,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNet-B5 (1.6× the channels, 2.2× the blocks), torchvision's
    ``efficientnet_b5()``."""
    return _b(1.6, 2.2, num_classes, dropout, stochastic_depth_prob, seed, dtype, **_LARGE_B)


def efficientnet_b6(
    num_classes: int = 1000,
    dropout: float = 0.5,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNet-B6 (1.8× the channels, 2.6× the blocks), torchvision's
    ``efficientnet_b6()``."""
    return _b(1.8, 2.6, num_classes, dropout, stochastic_depth_prob, seed, dtype, **_LARGE_B)


def efficientnet_b7(
    num_classes: int = 1000,
    dropout: float = 0.5,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNet-B7 (2× the channels, 3.1× the blocks), torchvision's
    ``efficientnet_b7()``."""
    return _b(2.0, 3.1, num_classes, dropout, stochastic_depth_prob, seed, dtype, **_LARGE_B)


def _v2(
    setting: tuple[StageConfig, ...],
    num_classes: int,
    dropout: float,
    stochastic_depth_prob: float,
    seed: int,
    dtype: Any,
) -> EfficientNet:
    options = {"eps": 0.001, "seed": seed, "dtype": dtype}
    return EfficientNet(setting, 1280, num_classes, dropout, stochastic_depth_prob, **options)


def efficientnet_v2_s(
    num_classes: int = 1000,
    dropout: float = 0.2,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNetV2-S, torchvision's ``efficientnet_v2_s()``: 21 458 488 parameters for
    1000 classes, the same ``state_dict`` keys and ``repr`` (``inplace=True`` aside).

    >>> efficientnet_v2_s(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    return _v2(V2_S, num_classes, dropout, stochastic_depth_prob, seed, dtype)


def efficientnet_v2_m(
    num_classes: int = 1000,
    dropout: float = 0.3,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNetV2-M, torchvision's ``efficientnet_v2_m()``."""
    return _v2(V2_M, num_classes, dropout, stochastic_depth_prob, seed, dtype)


def efficientnet_v2_l(
    num_classes: int = 1000,
    dropout: float = 0.4,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNetV2-L, torchvision's ``efficientnet_v2_l()``."""
    return _v2(V2_L, num_classes, dropout, stochastic_depth_prob, seed, dtype)
