"""EfficientNet-B0 to B3 as torchvision builds them (Tan & Le 2019): MBConv blocks — MobileNetV2's
inverted residual with SiLU, squeeze-and-excitation and stochastic depth on the residual
branch — in seven stages, scaled from B0 by a width and a depth multiplier.

Stochastic depth drops a block's branch for whole examples in training (``nn.StochasticDepth``,
mode "row"), with a probability rising linearly from 0 at the first block to
``stochastic_depth_prob`` · (k − 1)/k at the last of k; evaluation runs every branch.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("features.2.0.block.2.fc1
.weight", ``MBConv``, ``SqueezeExcitation``), so weights move between the two as they are.
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
    "MBConv",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
]


class StageConfig(NamedTuple):
    """One stage of B0: expansion ratio, depthwise kernel, first stride, input and output
    channels, number of blocks."""

    expand_ratio: int
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int


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
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and input_channels == out_channels
        expanded = _make_divisible(input_channels * expand_ratio, 8)
        layers: list[nn.Module] = []
        if expanded != input_channels:
            layers.append(
                Conv2dNormActivation(input_channels, expanded, 1, activation=nn.SiLU, dtype=dtype)
            )
        layers += [
            Conv2dNormActivation(
                expanded,
                expanded,
                kernel,
                stride,
                groups=expanded,
                activation=nn.SiLU,
                dtype=dtype,
            ),
            SqueezeExcitation(
                expanded,
                max(1, input_channels // 4),
                activation=nn.SiLU,
                scale_activation=nn.Sigmoid,
                dtype=dtype,
            ),
            Conv2dNormActivation(expanded, out_channels, 1, activation=None, dtype=dtype),
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

        features = [Conv2dNormActivation 3×3/2 to 32·w, SiLU] + the stages of MBConv blocks
                   + [Conv2dNormActivation 1×1 to 4× the last stage's channels, SiLU]
        y = classifier(flatten(avgpool(features(x)))),
        classifier = Dropout(p=dropout) → Linear(4·C_last, num_classes)

    with B0's channels scaled by ``width_mult`` (rounded to multiples of 8) and its blocks
    per stage by ``depth_mult`` (rounded up). Initialisation as torchvision's: convolutions
    kaiming normal (fan_out), BatchNorm γ = 1, β = 0, Linear U(±1/√out_features), bias 0.
    Input (B, 3, H, W); output (B, num_classes).
    """

    def __init__(
        self,
        width_mult: float,
        depth_mult: float,
        num_classes: int = 1000,
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        *,
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

        def width(c: int) -> int:
            return _make_divisible(c * width_mult, 8)

        stages = [(cfg, width(cfg.input_channels), width(cfg.out_channels)) for cfg in B0]
        depths = [int(math.ceil(cfg.num_layers * depth_mult)) for cfg in B0]
        total, block_id = sum(depths), 0
        layers: list[nn.Module] = [
            Conv2dNormActivation(3, stages[0][1], 3, 2, activation=nn.SiLU, dtype=dtype)
        ]
        for (cfg, c_in, c_out), depth in zip(stages, depths):
            stage: list[nn.Module] = []
            for i in range(depth):
                stage.append(
                    MBConv(
                        cfg.expand_ratio,
                        cfg.kernel,
                        cfg.stride if i == 0 else 1,
                        c_in if i == 0 else c_out,
                        c_out,
                        stochastic_depth_prob * block_id / total,
                        rng=rng,
                        dtype=dtype,
                    )
                )
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = stages[-1][2]
        layers.append(
            Conv2dNormActivation(last_in, 4 * last_in, 1, activation=nn.SiLU, dtype=dtype)
        )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, rng=rng),
            nn.Linear(4 * last_in, num_classes, rng=rng, dtype=dtype),
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                kaiming_normal_fan_out(module, rng)
            elif isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.out_features)
                w = module.weight.data
                w[...] = rng.uniform(-bound, bound, size=w.shape).astype(w.dtype)
                if module.bias is not None:
                    module.bias.data[...] = 0
        out = self.add(self.features, "x")
        out = self.add(self.avgpool, out)
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.classifier, out))


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
    ``stochastic_depth_prob=0`` turns stochastic depth off.

    >>> efficientnet_b0(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    return EfficientNet(
        1.0, 1.0, num_classes, dropout, stochastic_depth_prob, seed=seed, dtype=dtype
    )


def efficientnet_b1(
    num_classes: int = 1000,
    dropout: float = 0.2,
    stochastic_depth_prob: float = 0.2,
    *,
    seed: int = 0,
    dtype: Any = np.float32,
) -> EfficientNet:
    """EfficientNet-B1 (B0 with 1.1× the blocks), torchvision's ``efficientnet_b1()``."""
    return EfficientNet(
        1.0, 1.1, num_classes, dropout, stochastic_depth_prob, seed=seed, dtype=dtype
    )


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
    return EfficientNet(
        1.1, 1.2, num_classes, dropout, stochastic_depth_prob, seed=seed, dtype=dtype
    )


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
    return EfficientNet(
        1.2, 1.4, num_classes, dropout, stochastic_depth_prob, seed=seed, dtype=dtype
    )
