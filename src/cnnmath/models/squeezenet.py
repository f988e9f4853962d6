"""SqueezeNet as torchvision builds it (Iandola et al. 2016): "Fire" modules, a 1×1 squeeze
convolution feeding 1×1 and 3×3 expand convolutions side by side, their outputs concatenated;
no fully connected layer — a 1×1 convolution to the classes, then a global average.

Module names, ``state_dict`` keys ("features.3.expand3x3.weight") and ``repr`` are
torchvision's (ReLU's ``inplace=True`` aside), so its weights load as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from ..nn import init
from .resnet import _wiring

__all__ = ["Fire", "SqueezeNet", "squeezenet1_0", "squeezenet1_1"]


class Fire(nn.Graph):
    """torchvision's ``Fire`` module::

        s = relu(squeeze(x))                              1×1, C_in → S
        y = concat(relu(expand1x1(s)), relu(expand3x3(s)))  1×1 and 3×3 (padding 1), S → E1 + E3

    The squeeze layer cuts the channels the 3×3 filters read (S < C_in), so a Fire module
    has a fraction of a 3×3 layer's parameters at the same width.
    """

    def __init__(
        self,
        inplanes: int,
        squeeze_planes: int,
        expand1x1_planes: int,
        expand3x3_planes: int,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1, dtype=dtype)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1, dtype=dtype)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1, dtype=dtype)
        self.expand3x3_activation = nn.ReLU()
        s = self.add(self.squeeze_activation, self.add(self.squeeze, "x"))
        e1 = self.add(self.expand1x1_activation, self.add(self.expand1x1, s))
        e3 = self.add(self.expand3x3_activation, self.add(self.expand3x3, s))
        self.set_output(self.add(nn.Concat(1), e1, e3))


# (squeeze, expand) widths of the eight Fire modules, each expand split evenly between 1×1
# and 3×3, and where the max pools sit ("M"): the paper's Table 1 (1.0) and its 1.1 revision
_FIRES: dict[str, tuple[int, int, int, tuple[int | str, ...]]] = {
    "1_0": (96, 7, 2, ("M", 16, 16, 32, "M", 32, 48, 48, 64, "M", 64)),
    "1_1": (64, 3, 2, ("M", 16, 16, "M", 32, 32, "M", 48, 48, 64, 64)),
}


class SqueezeNet(nn.Graph):
    """torchvision's ``SqueezeNet`` (``version`` "1_0" or "1_1")::

        features: Conv (96 7×7/2, or 64 3×3/2) → ReLU → [MaxPool 3×3/2 (ceil) | Fire]…
        → classifier: Dropout → Conv 1×1 (512 → num_classes) → ReLU → AdaptiveAvgPool 1×1
        → flatten

    Initialisation as torchvision's: the last convolution w ~ N(0, 0.01²), the others
    ``kaiming_uniform_`` (gain √2, fan_in), every bias 0. Input (B, 3, H, W); output
    (B, num_classes).
    """

    def __init__(
        self,
        version: str = "1_0",
        num_classes: int = 1000,
        dropout: float = 0.5,
        *,
        seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        if version not in _FIRES:
            raise ValueError(f"{func}: version: expected '1_0' or '1_1', got {version!r}")
        num_classes = positive_int("num_classes", num_classes, func=func)
        dropout = real_number("dropout", dropout, func=func)
        seed = positive_int("seed", seed, func=func, minimum=0)
        rng = np.random.default_rng(seed)
        self.num_classes = num_classes
        stem, k, stride, plan = _FIRES[version]
        layers: list[nn.Module] = [nn.Conv2d(3, stem, k, stride=stride, dtype=dtype), nn.ReLU()]
        c_in = stem
        for item in plan:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True))
                continue
            squeeze = int(item)  # a width: "M" was handled above
            expand = 4 * squeeze  # each of 1×1 and 3×3: e = 4·s, so the output is 8·s
            layers.append(Fire(c_in, squeeze, expand, expand, dtype=dtype))
            c_in = 2 * expand
        self.features = nn.Sequential(*layers)
        final_conv = nn.Conv2d(c_in, num_classes, 1, dtype=dtype)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, rng=rng), final_conv, nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1))
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if module is final_conv:
                    init.normal_(module.weight, 0.0, 0.01, rng=rng)
                else:
                    init.kaiming_uniform_(module.weight, rng=rng)
                if module.bias is not None:
                    init.zeros_(module.bias)
        out = self.add(self.classifier, self.add(self.features, "x"))
        self.set_output(self.add(_wiring(nn.Flatten()), out, name="flatten"))


def squeezenet1_0(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> SqueezeNet:
    """SqueezeNet 1.0, torchvision's ``squeezenet1_0()``: 1 248 424 parameters for 1000
    classes.

    >>> squeezenet1_0(10).eval()(np.zeros((1, 3, 64, 64), np.float32)).shape
    (1, 10)
    """
    return SqueezeNet("1_0", num_classes, dropout, seed=seed, dtype=dtype)


def squeezenet1_1(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> SqueezeNet:
    """SqueezeNet 1.1 (a 3×3 stem and earlier pools: 2.4× fewer mult-adds than 1.0, the same
    accuracy), torchvision's ``squeezenet1_1()``: 1 235 496 parameters for 1000 classes."""
    return SqueezeNet("1_1", num_classes, dropout, seed=seed, dtype=dtype)
