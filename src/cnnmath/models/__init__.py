"""Ready-made networks built from :mod:`cnnmath.nn` (torchvision's naming where one exists).

A model is an ``nn.Module`` with PyTorch's ``state_dict`` names, seeded by ``seed=``. This
package sits just above ``nn`` in the stack: it imports only ``cnnmath.models``, ``nn``,
``ops``, ``_checks`` and ``_optional`` — the recipes that *train* a model live above it, in
:mod:`cnnmath.recipes`.
"""

from __future__ import annotations

from .lenet import lenet
from .mobilenet import mobilenet_v2
from .resnet import resnet18, resnet20, resnet34, resnet50

__all__ = ["lenet", "mobilenet_v2", "resnet18", "resnet20", "resnet34", "resnet50"]
