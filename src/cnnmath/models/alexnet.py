"""AlexNet as torchvision builds it (the single-tower variant of Krizhevsky's "one weird
trick" paper, 2014): five convolutions with three max pools, then three fully connected
layers. ``state_dict`` keys and ``repr`` are torchvision's (ReLU's ``inplace=True`` aside).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int, real_number
from .resnet import _wiring

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Graph):
    """torchvision's ``AlexNet``::

        features: Conv 11×11/4 (64, padding 2) → ReLU → MaxPool 3×3/2
                  → Conv 5×5 (192, padding 2) → ReLU → MaxPool 3×3/2
                  → Conv 3×3 (384) → ReLU → Conv 3×3 (256) → ReLU → Conv 3×3 (256) → ReLU
                  → MaxPool 3×3/2
        → avgpool (adaptive, to 6×6) → flatten (256·6·6 = 9216)
        → classifier: Dropout → Linear 4096 → ReLU → Dropout → Linear 4096 → ReLU
          → Linear num_classes

    Every layer keeps PyTorch's default initialisation, as torchvision's does: w, b ~
    U(±1/√fan_in). Input (B, 3, H, W), H and W at least 63; output (B, num_classes).
    """

    def __init__(
        self,
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

        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2, rng=rng, dtype=dtype),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2, rng=rng, dtype=dtype),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1, rng=rng, dtype=dtype),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, rng=rng, dtype=dtype),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1, rng=rng, dtype=dtype),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, rng=rng),
            nn.Linear(256 * 6 * 6, 4096, rng=rng, dtype=dtype),
            nn.ReLU(),
            nn.Dropout(p=dropout, rng=rng),
            nn.Linear(4096, 4096, rng=rng, dtype=dtype),
            nn.ReLU(),
            nn.Linear(4096, num_classes, rng=rng, dtype=dtype),
        )
        out = self.add(self.avgpool, self.add(self.features, "x"))
        out = self.add(_wiring(nn.Flatten()), out, name="flatten")
        self.set_output(self.add(self.classifier, out))


def alexnet(
    num_classes: int = 1000, dropout: float = 0.5, *, seed: int = 0, dtype: Any = np.float32
) -> AlexNet:
    """AlexNet, torchvision's ``alexnet()``: 61 100 840 parameters for 1000 classes.

    >>> alexnet(10).eval()(np.zeros((1, 3, 64, 64), np.float32)).shape
    (1, 10)
    """
    return AlexNet(num_classes, dropout, seed=seed, dtype=dtype)
