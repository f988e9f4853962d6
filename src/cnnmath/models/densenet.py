"""DenseNet as torchvision builds it (Huang et al. 2017): in a dense block, layer l reads the
concatenation of the block's input and every earlier layer's output,

    x_l = H_l([x_0, x_1, …, x_{l−1}]),   H_l = BN → ReLU → 1×1 conv → BN → ReLU → 3×3 conv,

each adding k (the growth rate) channels; transition layers (BN → ReLU → 1×1 conv → 2×2
average pool) halve the channels and the resolution between blocks. In the backward pass
x_j's gradient sums the terms of every later layer that read it — the Graph adds them, the
chain rule's sum over paths.

Module names, ``state_dict`` keys and ``repr`` are torchvision's ("features.denseblock1
.denselayer1.conv1.weight", ``_DenseLayer``, ``_Transition``), so weights move between the
two as they are.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from .resnet import _wiring

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201"]


class _DenseLayer(nn.Graph):
    """H_l of the module docstring, with children norm1, relu1, conv1 (to bn_size·k
    channels), norm2, relu2, conv2 (to k), reading the concatenated features; dropout of
    ``drop_rate`` on its output in training (wiring, as torchvision's ``F.dropout``)."""

    def __init__(
        self,
        num_input_features: int,
        growth_rate: int,
        bn_size: int,
        drop_rate: float,
        *,
        rng: np.random.Generator,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(num_input_features, dtype=dtype)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(num_input_features, width, 1, bias=False, rng=rng, dtype=dtype)
        self.norm2 = nn.BatchNorm2d(width, dtype=dtype)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, growth_rate, 3, padding=1, bias=False, rng=rng, dtype=dtype)
        out = "x"
        for name in ("norm1", "relu1", "conv1", "norm2", "relu2", "conv2"):
            out = self.add(getattr(self, name), out)
        if drop_rate > 0:
            out = self.add(_wiring(nn.Dropout(drop_rate, rng=rng)), out, name="dropout")
        self.set_output(out)


class _DenseBlock(nn.Graph):
    """``num_layers`` dense layers, children denselayer1, denselayer2, …: layer l reads the
    concatenation [x_0, …, x_{l−1}] and the block returns [x_0, …, x_L] (C_in + L·k
    channels)."""

    def __init__(
        self,
        num_layers: int,
        num_input_features: int,
        bn_size: int,
        growth_rate: int,
        drop_rate: float,
        *,
        rng: np.random.Generator,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        features = ["x"]
        for i in range(num_layers):
            layer = _DenseLayer(
                num_input_features + i * growth_rate,
                growth_rate,
                bn_size,
                drop_rate,
                rng=rng,
                dtype=dtype,
            )
            name = f"denselayer{i + 1}"
            setattr(self, name, layer)
            joined = (
                features[0]
                if len(features) == 1
                else self.add(nn.Concat(1), *features, name=f"cat{i + 1}")
            )
            features.append(self.add(layer, joined, name=name))
        self.set_output(self.add(nn.Concat(1), *features, name="cat"))


class _Transition(nn.Sequential):
    """BN → ReLU → 1×1 conv → 2×2 average pool, children norm, relu, conv, pool."""

    def __init__(
        self,
        num_input_features: int,
        num_output_features: int,
        *,
        rng: np.random.Generator,
        dtype: Any = np.float32,
    ) -> None:
        conv = nn.Conv2d(
            num_input_features, num_output_features, 1, bias=False, rng=rng, dtype=dtype
        )
        super().__init__(
            OrderedDict(
                norm=nn.BatchNorm2d(num_input_features, dtype=dtype),
                relu=nn.ReLU(),
                conv=conv,
                pool=nn.AvgPool2d(kernel_size=2, stride=2),
            )
        )


class DenseNet(nn.Graph):
    """torchvision's ``DenseNet``::

        features = conv0 7×7/2 → norm0 → relu0 → pool0 3×3/2 → denseblock1 → transition1
                   → … → denseblock4 → norm5
        y = classifier(flatten(adaptive_avg_pool2d(relu(features(x)), 1)))

    with ``block_config`` layers per block, growth rate k, bottleneck width bn_size·k.
    Initialisation as torchvision's: convolutions kaiming normal (fan_in), BatchNorm γ = 1,
    β = 0, the classifier's bias 0 (its weight PyTorch's default). Input (B, 3, H, W);
    output (B, num_classes).
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, int, int, int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        num_classes = positive_int("num_classes", num_classes, func=func)
        drop_rate = real_number("drop_rate", drop_rate, func=func, low=0.0, high=1.0)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        conv0 = nn.Conv2d(
            3, num_init_features, 7, stride=2, padding=3, bias=False, rng=rng, dtype=dtype
        )
        self.features = nn.Sequential(
            OrderedDict(
                conv0=conv0,
                norm0=nn.BatchNorm2d(num_init_features, dtype=dtype),
                relu0=nn.ReLU(),
                pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        )
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(
                num_layers, channels, bn_size, growth_rate, drop_rate, rng=rng, dtype=dtype
            )
            self.features.add_module(f"denseblock{i + 1}", block)
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                transition = _Transition(channels, channels // 2, rng=rng, dtype=dtype)
                self.features.add_module(f"transition{i + 1}", transition)
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels, dtype=dtype))
        self.classifier = nn.Linear(channels, num_classes, rng=rng, dtype=dtype)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):  # kaiming_normal_, fan_in, ReLU's gain √2
                f1, f2 = module.kernel_size
                std = np.sqrt(2.0 / (module.in_channels // module.groups * f1 * f2))
                nn.init.normal_(module.weight, 0.0, std, rng=rng)
        assert self.classifier.bias is not None
        self.classifier.bias.data[...] = 0
        out = self.add(self.features, "x")
        out = self.add(_wiring(nn.ReLU()), out, name="relu")
        out = self.add(_wiring(nn.AdaptiveAvgPool2d(1)), out, name="pool")
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.classifier, out))


def densenet121(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> DenseNet:
    """DenseNet-121 (k = 32, blocks of 6, 12, 24 and 16 layers), torchvision's
    ``densenet121()``: 7 978 856 parameters for 1000 classes, the same ``state_dict`` keys
    and ``repr`` (``inplace=True`` aside).

    >>> densenet121(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    return DenseNet(32, (6, 12, 24, 16), 64, num_classes=num_classes, seed=seed, dtype=dtype)


def densenet161(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> DenseNet:
    """DenseNet-161 (k = 48, 96 initial features, blocks of 6, 12, 36 and 24 layers),
    torchvision's ``densenet161()``."""
    return DenseNet(48, (6, 12, 36, 24), 96, num_classes=num_classes, seed=seed, dtype=dtype)


def densenet169(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> DenseNet:
    """DenseNet-169 (k = 32, blocks of 6, 12, 32 and 32 layers), torchvision's
    ``densenet169()``."""
    return DenseNet(32, (6, 12, 32, 32), 64, num_classes=num_classes, seed=seed, dtype=dtype)


def densenet201(num_classes: int = 1000, *, seed: int = 0, dtype: Any = np.float32) -> DenseNet:
    """DenseNet-201 (k = 32, blocks of 6, 12, 48 and 32 layers), torchvision's
    ``densenet201()``."""
    return DenseNet(32, (6, 12, 48, 32), 64, num_classes=num_classes, seed=seed, dtype=dtype)
