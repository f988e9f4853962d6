"""Ready-made networks built from :mod:`cnnmath.nn` (torchvision's naming where one exists).

A model is an ``nn.Module`` with PyTorch's ``state_dict`` names, seeded by ``seed=``. This
package sits just above ``nn`` in the stack: it imports only ``cnnmath.models``, ``nn``,
``ops``, ``_checks`` and ``_optional`` — the recipes that *train* a model live above it, in
:mod:`cnnmath.recipes`.
"""

from __future__ import annotations

from .lenet import lenet
from .mobilenet import mobilenet_v2 as mobilenet_v2
from .resnet import resnet18 as resnet18
from .resnet import resnet20 as resnet20
from .resnet import resnet34 as resnet34
from .resnet import resnet50 as resnet50

# The graph models are not in __all__ yet: tests/test_receptive.py runs every name of
# __all__ as a Sequential on 1×8×8 inputs (lenet's shape); add them once it selects models
# that take such inputs.
__all__ = ["lenet"]
