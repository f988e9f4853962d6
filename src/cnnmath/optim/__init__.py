"""Optimisers with PyTorch's exact update rules: SGD (momentum, Nesterov, weight decay), Adam,
AdamW and RMSprop; and learning-rate schedules with ``torch.optim.lr_scheduler``'s names and
rules (``LambdaLR``, ``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``CosineAnnealingLR``,
``LinearLR``, ``SequentialLR``, ``ReduceLROnPlateau`` and ``OneCycleLR``; see
``LRScheduler``).

An optimiser holds a list of :class:`cnnmath.nn.Parameter` and updates ``p.data`` in place
from ``p.grad`` at each ``step()``. With g = p.grad, θ = p.data, λ the weight decay, t the
step number (1, 2, …):

SGD (``torch.optim.SGD``)::

    g ← g + λθ
    b ← g                      at the first step (the buffer starts as the gradient)
    b ← μb + (1 − τ)g          afterwards (τ the dampening, 0 by default)
    g ← g + μb  (Nesterov)  or  g ← b
    θ ← θ − η g

Adam (``torch.optim.Adam``; AdamW decays θ ← θ(1 − ηλ) first instead of adding λθ to g)::

    g ← g + λθ
    m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²     (m, v start at 0)
    θ ← θ − (η / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)

``state_dict()`` is flat, for a safetensors checkpoint: "step" (0-d int64), the
hyperparameters as 0-d float64 arrays ("lr", "momentum", "weight_decay", "nesterov",
"dampening" for SGD; "lr", "beta1", "beta2", "eps", "weight_decay" for Adam and AdamW) and
"i.<buffer>" for parameter i ("0.momentum_buffer", "3.exp_avg", "3.exp_avg_sq").

The code, one concern per module: ``optimizer`` (the base class :class:`Optimizer`: parameters,
rate, steps, the flat ``state_dict``), ``sgd``, ``adam`` (Adam and AdamW), ``rmsprop``,
``lr_scheduler`` (the base class :class:`LRScheduler` and the schedules with a closed form in
the epoch) and ``lr_policies`` (SequentialLR, ReduceLROnPlateau, OneCycleLR).
"""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .lr_cyclic import CosineAnnealingWarmRestarts, CyclicLR
from .lr_policies import ChainedScheduler, OneCycleLR, ReduceLROnPlateau, SequentialLR
from .lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "NAdam",
    "OneCycleLR",
    "Optimizer",
    "PolynomialLR",
    "RAdam",
    "RMSprop",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]
