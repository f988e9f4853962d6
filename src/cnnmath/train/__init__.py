"""Training: the mini-batch loop (``fit``) and evaluation (``predict``, ``evaluate``).

``fit`` runs epochs of mini-batch gradient descent on any model of :mod:`cnnmath.nn` (a
Sequential, a Graph such as a ResNet, a hand-written module) with an optimiser of
:mod:`cnnmath.optim`. One epoch, with N examples and batch size B::

    π  ← rng.permutation(N)                             (shuffling by the seed)
    for each batch I = π[kB : (k+1)B]:
        x  ← augment(X[I], rng)                         (if an augmentation is given)
        x, a ← mix(x, y[I], rng)                        (if a mix is given: MixUp / CutMix,
                                                         soft labels a (B, K); else a = y[I])
        z  ← model(x);  ℓ, G ← loss(z, a)               (G = ∂ℓ/∂z; for several outputs
                                                         ℓ = Σ_k w_k loss(z_k, a))
        zero the gradients; model.backward(G); optimizer.step()
    scheduler.step()                                    (if a scheduler is given)

All randomness of the loop — the permutations, the augmentation and the mix — comes from one
``numpy.random.Generator``, ``np.random.default_rng(seed)``; the model's initial weights
come from the model's own seed. After every epoch a checkpoint (:mod:`cnnmath.checkpoint`)
can hold the weights, the optimiser's and the scheduler's state, the epoch, that generator's
state (and those of generators inside the model, e.g. a Dropout's) and the history so far,
replaced atomically: a run stopped at any point and resumed from its checkpoint repeats
exactly the epochs the uninterrupted run would have made, and ends with the same weights bit
for bit.

The pieces live in their own modules: learning-rate schedules in :mod:`cnnmath.optim`
(``CosineAnnealingLR``, ``StepLR``, …, PyTorch's names), augmentation in
:mod:`cnnmath.augment`, checkpoints in :mod:`cnnmath.checkpoint`, the digits network in
:mod:`cnnmath.models` and the digits recipe (``train_digits``, ``RECIPE``) in
:mod:`cnnmath.recipes`, which sits above this module because it calls ``fit``. The names
``lenet``, ``random_shift``, ``RECIPE`` and ``train_digits`` are still importable from here.

The code, one concern a module: ``_records`` (``History``, ``TrainingDiverged``),
``_inputs`` (the checks of the data, labels, output weights and a mix's result),
``_objective`` (the loss and its gradient over a model's outputs), ``_evaluation``
(``predict``, ``evaluate``, K, the held-out pass), ``_progress`` (bars and epoch lines),
``_fitting`` (``fit``, ``num_threads``) and ``_epochs`` (the loop). This package re-exports
every name the single module had but ``_told_no_tqdm``, the once-per-process flag, which
lives in ``_progress``; a module-level name is bound in each module that reads it, so a test
that replaces one sets it in each of them (``helpers.set_everywhere``).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._epochs import _fit as _fit
from ._evaluation import _fraction as _fraction
from ._evaluation import _hits as _hits
from ._evaluation import _main as _main
from ._evaluation import _num_classes as _num_classes
from ._evaluation import _validation as _validation
from ._evaluation import evaluate, predict
from ._fitting import fit
from ._fitting import num_threads as num_threads
from ._inputs import _check_data as _check_data
from ._inputs import _check_labels_fit as _check_labels_fit
from ._inputs import _check_labels_nonnegative as _check_labels_nonnegative
from ._inputs import _mixed as _mixed
from ._inputs import _output_weights as _output_weights
from ._objective import _INDEX_ONLY_LOSSES as _INDEX_ONLY_LOSSES
from ._objective import _index_only as _index_only
from ._objective import _loss_and_grad as _loss_and_grad
from ._objective import _weighted_loss as _weighted_loss
from ._progress import _NO_TQDM_NOTE as _NO_TQDM_NOTE
from ._progress import _epoch_line as _epoch_line
from ._progress import _progress_bar as _progress_bar
from ._records import History, TrainingDiverged

__all__ = [
    "History",
    "TrainingDiverged",
    "evaluate",
    "fit",
    "predict",
]


#: Names that moved to their own modules, still importable from here (loaded on first use:
#: ``cnnmath.recipes`` imports this module).
_MOVED = {
    "lenet": "cnnmath.models",
    "random_shift": "cnnmath.augment",
    "RECIPE": "cnnmath.recipes",
    "train_digits": "cnnmath.recipes",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
