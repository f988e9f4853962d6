"""VGG as torchvision builds it (Simonyan & Zisserman 2014): stages of 3×3 convolutions
(padding 1) with ReLU, each stage closed by a 2×2 max pool, then three fully connected layers.

Module names, ``state_dict`` keys ("features.0.weight", "classifier.6.bias") and ``repr`` are
torchvision's (ReLU's ``inplace=True`` aside), so its weights load as they are. The flatten
between ``avgpool`` and ``classifier`` is wiring, as torchvision writes it in ``forward``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from ..nn import init
from .resnet import _wiring

__all__ = [
    "VGG",
    "VGG_STAGES",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]

#: the paper's configurations A, B, D and E (Table 1) as convolutions per stage; the five
#: stages have 64, 128, 256, 512 and 512 channels.
VGG_STAGES: dict[str, tuple[int, int, int, int, int]] = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
_WIDTHS = (64, 128, 256, 512, 512)


def _features(convs: tuple[int, ...], batch_norm: bool, dtype: Any) -> nn.Sequential:
    """[Conv2d 3×3 (padding 1) → [BatchNorm2d →] ReLU] × n, then MaxPool2d 2×2, per stage."""
    layers: list[nn.Module] = []
    c_in = 3
    for n, width in zip(convs, _WIDTHS, strict=True):
        for _ in range(n):
            layers.append(nn.Conv2d(c_in, width, 3, padding=1, dtype=dtype))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width, dtype=dtype))
            layers.append(nn.ReLU())
            c_in = width
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG(nn.Graph):
    """torchvision's ``VGG``::

        features (stages of 3×3 convolutions, each halved by a 2×2 max pool: /32 in all)
        → avgpool (adaptive, to 7×7) → flatten (512·7·7 = 25 088)
        → classifier: Linear 4096 → ReLU → Dropout → Linear 4096 → ReLU → Dropout
          → Linear num_classes

    Initialisation as torchvision's (``init_weights=True``): convolutions w ~ N(0, 2/fan_out),
    bias 0; BatchNorm γ = 1, β = 0; Linear w ~ N(0, 0.01²), bias 0. Input (B, 3, H, W), H and
    W at least 32; output (B, num_classes) logits.
    """

    def __init__(
        self,
        features: nn.Sequential,
        num_classes: int = 1000,
        dropout: float = 0.5,
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
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096, rng=rng, dtype=dtype),
            nn.ReLU(),
            nn.Dropout(p=dropout, rng=rng),
            nn.Linear(4096, 4096, rng=rng, dtype=dtype),
            nn.ReLU(),
            nn.Dropout(p=dropout, rng=rng),
            nn.Linear(4096, num_classes, rng=rng, dtype=dtype),
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", rng=rng)
            elif isinstance(module, nn.Linear):
                init.normal_(module.weight, 0.0, 0.01, rng=rng)
            if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
                init.zeros_(module.bias)
        out = self.add(self.avgpool, self.add(self.features, "x"))
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.classifier, out))


def _vgg(
    name: str, batch_norm: bool, num_classes: int, dropout: float, seed: int, dtype: Any
) -> VGG:
    features = _features(VGG_STAGES[name], batch_norm, dtype)
    return VGG(features, num_classes, dropout, seed=seed, dtype=dtype)


def vgg11(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> VGG:
    """VGG-11 (configuration A: 8 convolutions), torchvision's ``vgg11()``: 132 863 336
    parameters for 1000 classes.

    >>> vgg11(10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
    (1, 10)
    """
    return _vgg("vgg11", False, num_classes, dropout, seed, dtype)


def vgg11_bn(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> VGG:
    """VGG-11 with a BatchNorm2d after each convolution, torchvision's ``vgg11_bn()``."""
    return _vgg("vgg11", True, num_classes, dropout, seed, dtype)


def vgg13(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> VGG:
    """VGG-13 (configuration B: 10 convolutions), torchvision's ``vgg13()``."""
    return _vgg("vgg13", False, num_classes, dropout, seed, dtype)


def vgg13_bn(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> VGG:
    """VGG-13 with batch norm, torchvision's ``vgg13_bn()``."""
    return _vgg("vgg13", True, num_classes, dropout, seed, dtype)


def vgg16(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> VGG:
    """VGG-16 (configuration D: 13 convolutions), torchvision's ``vgg16()``: 138 357 544
    parameters for 1000 classes."""
    return _vgg("vgg16", False, num_classes, dropout, seed, dtype)


def vgg16_bn(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> VGG:
    """VGG-16 with batch norm, torchvision's ``vgg16_bn()``."""
    return _vgg("vgg16", True, num_classes, dropout, seed, dtype)


def vgg19(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> VGG:
    """VGG-19 (configuration E: 16 convolutions), torchvision's ``vgg19()``."""
    return _vgg("vgg19", False, num_classes, dropout, seed, dtype)


def vgg19_bn(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> VGG:
    """VGG-19 with batch norm, torchvision's ``vgg19_bn()``."""
    return _vgg("vgg19", True, num_classes, dropout, seed, dtype)
