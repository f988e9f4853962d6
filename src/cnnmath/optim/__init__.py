"""Optimisers with PyTorch's exact update rules: SGD (momentum, Nesterov, weight decay), Adam,
AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD and L-BFGS (``LBFGS``,
stepped with a closure that re-evaluates the loss); and learning-rate schedules with
``torch.optim.lr_scheduler``'s names and rules (``LambdaLR``, ``MultiplicativeLR``,
``StepLR``, ``MultiStepLR``, ``ConstantLR``, ``LinearLR``, ``ExponentialLR``,
``PolynomialLR``, ``CosineAnnealingLR``, ``CosineAnnealingWarmRestarts``, ``CyclicLR``,
``OneCycleLR``, ``SequentialLR``, ``ChainedScheduler`` and ``ReduceLROnPlateau``; see
``LRScheduler``); and ``swa_utils``, ``torch.optim.swa_utils``'s weight averaging
(``AveragedModel`` for SWA or an EMA of the weights, ``update_bn``, ``SWALR``).

An optimiser holds a list of :class:`cnnmath.nn.Parameter`, or PyTorch's parameter groups
(dicts of parameters and the settings that differ for them, ``add_param_group``), and
updates ``p.data`` in place from ``p.grad`` at each ``step()``, with the settings of p's
group, skipping a frozen parameter (``requires_grad`` False) and one no backward reached
since the last ``zero_grad`` (``Parameter.has_grad`` False: PyTorch's grad of None).
With g = p.grad, θ = p.data, λ the weight decay, t the parameter's step number (1, 2, …:
the steps it took, as PyTorch counts them, which differ from the optimiser's for a parameter
that was frozen for some):

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

Adagrad (``torch.optim.Adagrad``; δ the lr_decay, s starting at initial_accumulator_value)::

    g ← g + λθ;   s ← s + g²;   θ ← θ − (η / (1 + (t − 1)δ)) · g / (√s + ε)

Adamax (``torch.optim.Adamax``)::

    g ← g + λθ;   m ← β1 m + (1 − β1) g;   u ← max(β2 u, |g| + ε)
    θ ← θ − (η / (1 − β1ᵗ)) · m / u

NAdam (``torch.optim.NAdam``; ψ the momentum_decay, Π_t kept in float32 as torch's)::

    μ_t = β1 (1 − ½·0.96^(tψ)),   Π_t = μ_1 ⋯ μ_t
    g ← g + λθ  (decoupled_weight_decay: θ ← θ(1 − ηλ) instead)
    m, v as Adam's;   d = √(v / (1 − β2ᵗ)) + ε
    θ ← θ − η(1 − μ_t)/(1 − Π_t) · g/d − η μ_{t+1}/(1 − Π_t μ_{t+1}) · m/d

RAdam (``torch.optim.RAdam``)::

    g ← g + λθ  (decoupled_weight_decay: θ ← θ(1 − ηλ) instead);   m, v as Adam's
    ρ_∞ = 2/(1 − β2) − 1,   ρ_t = ρ_∞ − 2t β2ᵗ/(1 − β2ᵗ),   m̂ = m/(1 − β1ᵗ)
    ρ_t > 5:  θ ← θ − η m̂ · √(1 − β2ᵗ)/(√v + ε) · √((ρ_t−4)(ρ_t−2)ρ_∞ / ((ρ_∞−4)(ρ_∞−2)ρ_t))
    else:     θ ← θ − η m̂

Adadelta (``torch.optim.Adadelta``; v, u starting at 0)::

    g ← g + λθ;   v ← ρv + (1 − ρ)g²;   Δ = √(u + ε)/√(v + ε) · g;   u ← ρu + (1 − ρ)Δ²
    θ ← θ − ηΔ

Rprop (``torch.optim.Rprop``; Δ each coordinate's step size, η at first; g_prev 0 at first)::

    s = sign(g·g_prev);   Δ ← clamp(Δ·(η₊, η₋ or 1 as s > 0, < 0, = 0), Δ_min, Δ_max)
    g ← 0 where s < 0;   θ ← θ − sign(g)Δ;   g_prev ← g

ASGD (``torch.optim.ASGD``; η_t from η, μ_t from 1, θ̄ the average)::

    g ← g + λ_w θ;   θ ← θ(1 − λη_t) − η_t g;   θ̄ ← θ̄ + μ_t(θ − θ̄)  (θ̄ ← θ while μ_t = 1)
    η_{t+1} = η/(1 + ληt)^α,   μ_{t+1} = 1/max(1, t − t₀)

The schedules' rules (t the epoch, or the batch for the per-batch ones; η₀ the base rate)::

    ConstantLR          η_t = η₀·factor for t < total_iters, then η₀
    PolynomialLR        η_t = η₀ (1 − min(t, T)/T)^power
    MultiplicativeLR    η_t = η_{t−1} · λ(t)
    CosineAnnealingWarmRestarts
                        η = η_min + (η₀ − η_min)(1 + cos(π T_cur/T_i))/2, T_cur the epochs since
                        the last restart, T_i = T_0·T_multⁱ (step(epoch) takes fractions)
    SWALR               η_s = η₀ + (swa_lr − η₀)·α(min(s/A, 1)), η₀ the rate when it starts,
                        A = anneal_epochs, α(t) = (1 − cos πt)/2 or t
    CyclicLR            η_t = base_lr + (max_lr − base_lr)·s·f, s the triangle's height in
                        [0, 1] over step_size_up + step_size_down batches, f the mode's scale
                        (1; 1/2^(cycle−1); γᵗ; or scale_fn); momentum or β1 the other way
    ChainedScheduler    every schedule stepped in turn on the rate the previous one left

``state_dict()`` is flat, for a safetensors checkpoint: "step" (0-d int64), the
hyperparameters as 0-d float64 arrays ("lr", "momentum", "weight_decay", "nesterov",
"dampening" for SGD; "lr", "beta1", "beta2", "eps", "weight_decay" for Adam and AdamW, and
the same names as torch's param_groups for the others, betas split in "beta1" and "beta2",
Rprop's etas and step_sizes in "etaminus", "etaplus", "step_size_min", "step_size_max")
and "i.<buffer>" for parameter i with torch's state names ("0.momentum_buffer", "3.exp_avg",
"3.exp_avg_sq", Adagrad's "0.sum", Adamax's "0.exp_inf", Adadelta's "0.square_avg" and
"0.acc_delta", Rprop's "0.prev" and "0.step_size", ASGD's "0.ax"; NAdam's "0.mu_product"
and ASGD's "0.eta" and "0.mu" are 0-d float32 arrays, the others like the parameter), and
"i.step" (0-d int64) for a parameter that sat out steps, frozen or added later: the steps it
took (none: no buffers yet). With several parameter groups the hyperparameters above are
the first group's, "groups.k.lr", … group k's, and "groups.sizes" (1-d int64) the number of
parameters in each, checked on loading: i counts the parameters of all groups in order. A
checkpoint records the optimiser by class name, so a run resumes only with the same class.

The code, one concern per module: ``optimizer`` (the base class :class:`Optimizer`: parameters,
rate, steps, the flat ``state_dict``), ``sgd``, ``adam`` (Adam and AdamW), ``adam_variants``
(Adamax, NAdam, RAdam), ``adagrad``, ``adadelta``, ``rprop``, ``asgd``, ``rmsprop``,
``lbfgs``, ``lr_scheduler`` (the base class :class:`LRScheduler` and the schedules with a
closed form in the epoch), ``lr_policies`` (SequentialLR, ChainedScheduler,
ReduceLROnPlateau, OneCycleLR), ``lr_cyclic`` (CosineAnnealingWarmRestarts, CyclicLR) and
``swa_utils`` (AveragedModel, update_bn, SWALR and the averaging functions).
"""

from . import swa_utils
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .asgd import ASGD
from .lbfgs import LBFGS
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
from .rprop import Rprop
from .sgd import SGD

__all__ = [
    "ASGD",
    "SGD",
    "Adadelta",
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
    "LBFGS",
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
    "Rprop",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
    "swa_utils",
]
