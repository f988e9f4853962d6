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
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import checkpoint as _checkpoint
from . import losses, nn, optim
from ._checks import check_float_array, output_file, positive_int
from .augment import Mix

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


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and the batch."""


class History(list):
    """One dict per epoch, in order, with the keys

    - ``epoch`` (1-based), ``lr`` (the learning rate used in that epoch), ``seconds``;
    - ``loss``: the mean training loss over the epoch's examples (as the loss function
      computes it, on the augmented batches), ``train_accuracy``: the fraction of those
      batches' examples (or, for per-pixel class indices, of their labelled pixels) the model
      classified right *before* each update — None when the targets are not class indices;
      with ``fit(..., mix=...)`` both are on the mixed batches, and an example counts as right
      when the model's class is the argmax of its mixed label (the class with the larger
      share, the lower index on a tie), as torchvision's reference scripts count it;
    - ``val_loss``, ``val_accuracy``: on ``val_data`` after the epoch, None without it (the
      accuracy also None when the targets are not class indices).
    """

    @property
    def epochs(self) -> list[dict[str, Any]]:
        """The records themselves (a list of dicts)."""
        return list(self)

    def to_json(self) -> str:
        """The records as a JSON array."""
        return json.dumps(list(self))

    @classmethod
    def from_json(cls, text: str) -> History:
        """Inverse of ``to_json``."""
        return cls(json.loads(text))


# ---------------------------------------------------------------------------------------------
# Checking the data


def _check_data(
    name: str, data: Any, *, func: str, any_targets: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): X a float array with N >= 1 rows, all finite; y integer class indices >= 0 of
    shape (N,) or (N, d1, ...) (per pixel), or with ``any_targets`` (a loss of the user's)
    any integer or float array with N rows."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{func}: {name}: expected a pair (X, y), got {type(data).__name__}")
    X, y = data
    check_float_array(f"{name}[0] (X)", X, func=func)
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(
            f"{func}: {name}: expected X with a leading batch axis of N >= 1 examples, got "
            f"shape {X.shape}"
        )
    integer = isinstance(y, np.ndarray) and y.dtype != np.bool_ and y.dtype.kind in "iu"
    if any_targets:
        if not isinstance(y, np.ndarray) or y.dtype.kind not in "iuf":
            raise TypeError(
                f"{func}: {name}: expected y as an integer or float array of targets, got "
                f"{y.dtype if isinstance(y, np.ndarray) else type(y).__name__}"
            )
    elif not integer:
        got = y.dtype if isinstance(y, np.ndarray) else type(y).__name__
        raise TypeError(
            f"{func}: {name}: expected y as an integer array of class indices, got {got}"
            + ("; for other targets pass loss= (e.g. losses.mse_loss)" if got != "bool" else "")
        )
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{func}: {name}: expected y of shape ({X.shape[0]},) or ({X.shape[0]}, …), "
            f"targets for each example of X {X.shape}, got {y.shape}"
        )
    bad = ~np.isfinite(X.reshape(X.shape[0], -1)).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{func}: {name}: X has non-finite values (NaN or inf) in {int(bad.sum())} "
            f"example(s), the first at index {int(np.argmax(bad))}"
        )
    if integer and not any_targets:
        _check_labels_nonnegative(name, y, func=func)
    return X, (y.astype(np.int64, copy=False) if integer else y)


def _check_labels_nonnegative(name: str, y: np.ndarray, *, func: str) -> None:
    if y.size and y.min() < 0:
        first = tuple(int(i) for i in np.argwhere(y < 0)[0])
        at = ", ".join(map(str, first))
        raise ValueError(
            f"{func}: {name}: expected class indices >= 0 in y, got y[{at}] = {int(y[first])}"
        )


def _check_labels_fit(name: str, y: np.ndarray, K: int, *, func: str) -> None:
    if y.size and y.max() >= K:
        first = tuple(int(i) for i in np.argwhere(y >= K)[0])
        at = ", ".join(map(str, first))
        raise ValueError(
            f"{func}: {name}: expected class indices in [0, {K - 1}] for a model with K = {K} "
            f"outputs, got y[{at}] = {int(y[first])}"
        )


def _hits(logits: np.ndarray, labels: np.ndarray) -> tuple[int, int] | None:
    """(right, counted): the examples (or, for labels (B, d1, …) against logits
    (B, K, d1, …), the pixels) whose argmax over the class axis 1 is their label, counting
    only labels in [0, K) (an ignore_index is not counted); None when the labels are not class
    indices of these logits."""
    if labels.dtype.kind not in "iu" or logits.ndim != labels.ndim + 1:
        return None
    if logits.shape[:1] + logits.shape[2:] != labels.shape:
        return None
    counted = (labels >= 0) & (labels < logits.shape[1])
    right = (np.argmax(logits, axis=1) == labels) & counted
    return int(np.sum(right)), int(np.sum(counted))


#: Losses that take class indices only, refused by ``fit(..., mix=...)``, whose labels are
#: class probabilities (B, K).
_INDEX_ONLY_LOSSES: tuple[Any, ...] = (losses.softmax_cross_entropy, losses.nll_loss)


def _index_only(loss: Any) -> bool:
    """Whether ``loss`` (or the function a functools.partial wraps) takes class indices only."""
    inner = getattr(loss, "func", loss)  # a functools.partial's function
    return isinstance(inner, losses.NLLLoss) or any(inner is f for f in _INDEX_ONLY_LOSSES)


def _mixed(result: Any, x: np.ndarray, K: int | None, func: str) -> tuple[np.ndarray, np.ndarray]:
    """(x̃, ỹ) as the mix returned them, checked: a pair, x̃ of x's shape and dtype, ỹ class
    probabilities (B, K) of x's dtype (K the model's outputs, once known)."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"{func}: mix: expected a function (x, y, rng) -> (x, y_soft) returning a pair, "
            f"got a {type(result).__name__} from it"
        )
    x_mixed, y_soft = result
    if not isinstance(x_mixed, np.ndarray) or x_mixed.shape != x.shape or x_mixed.dtype != x.dtype:
        got = (
            f"shape {x_mixed.shape} of dtype {x_mixed.dtype}"
            if isinstance(x_mixed, np.ndarray)
            else type(x_mixed).__name__
        )
        raise ValueError(
            f"{func}: mix: expected images of the batch's shape {x.shape} and dtype {x.dtype}, "
            f"got {got}"
        )
    B = x.shape[0]
    shape_ok = (
        isinstance(y_soft, np.ndarray)
        and y_soft.ndim == 2
        and y_soft.shape[0] == B
        and (K is None or y_soft.shape[1] == K)
    )
    if shape_ok and y_soft.dtype.kind == "f" and y_soft.dtype != x.dtype:
        raise ValueError(
            f"{func}: mix: expected soft labels of dtype {x.dtype}, the images' (and the "
            f"model's), got {y_soft.dtype}"
        )
    if not shape_ok or y_soft.dtype != x.dtype:
        got = (
            f"shape {y_soft.shape} of dtype {y_soft.dtype}"
            if isinstance(y_soft, np.ndarray)
            else type(y_soft).__name__
        )
        shape = f"(B, K) = ({B}, K)" if K is None else f"(B, K) = ({B}, {K}), K the model's outputs"
        raise ValueError(
            f"{func}: mix: expected soft labels of shape {shape}, of dtype {x.dtype} (give the "
            f"mix num_classes = K), got {got}"
        )
    return x_mixed, y_soft


def _num_classes(model: nn.Module, x: np.ndarray, func: str) -> int:
    """K, the number of classes of the model's logits (B, K) for the batch x, read from its
    logits for x[:1] in evaluation mode (no BatchNorm statistics updated, no Dropout draw);
    the model's mode is restored afterwards."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        logits = _main(model(x[:1]))
    finally:
        model.train(was_training)
    if not isinstance(logits, np.ndarray) or logits.ndim != 2:
        raise ValueError(
            f"{func}: model: expected logits (B, K) for mix= (one class distribution per "
            f"image), got shape {np.shape(logits)}"
        )
    return int(logits.shape[1])


def _fraction(right: int, counted: int, classes: bool) -> float | None:
    return right / counted if classes and counted else None


# ---------------------------------------------------------------------------------------------
# Evaluation


def predict(model: nn.Module, X: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class indices argmax_k model(X)[β, k], shape (N,) int64, computed in evaluation mode
    (Dropout off, BatchNorm on its running statistics, which stay as they are) in batches of
    ``batch_size``; the model's mode is restored afterwards."""
    check_float_array("X", X, func="predict")
    batch_size = positive_int("batch_size", batch_size, func="predict")
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        out = [
            np.argmax(_main(model(X[k : k + batch_size])), axis=1)
            for k in range(0, X.shape[0], batch_size)
        ]
    finally:
        model.train(was_training)
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Accuracy (1/N) Σ_β [argmax_k model(X)[β, k] = y_β] in evaluation mode.

    X : (N, …) float array in the model's dtype; y : (N,) integer class indices.
    """
    X, y = _check_data("(X, y)", (X, y), func="evaluate")
    return float(np.mean(predict(model, X, batch_size) == y))


def _main(z: Any) -> np.ndarray:
    """A model's main output: the first of several (the logits before auxiliary heads'), or
    its only one."""
    return z[0] if isinstance(z, tuple) else z


def _output_weights(weights: Any, *, func: str) -> tuple[float, ...] | None:
    """``output_weights`` checked: None, or finite numbers >= 0 (at least one)."""
    if weights is None:
        return None
    try:
        values = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise TypeError(
            f"{func}: output_weights: expected a sequence of numbers, got {weights!r}"
        ) from None
    if not values or not all(math.isfinite(w) and w >= 0 for w in values):
        raise ValueError(
            f"{func}: output_weights: expected one or more finite numbers >= 0, got {weights!r}"
        )
    return values


def _weighted_loss(
    loss_fn: Callable, z: Any, labels: np.ndarray, weights: tuple[float, ...] | None, func: str
) -> tuple[float, Any]:
    """(ℓ, G) of a model's output z: ℓ = Σ_k w_k loss(z_k, y) over its outputs z_k (one
    output, weight 1, without ``weights``), G = (w_k ∂loss/∂z_k)_k (None where w_k = 0; one
    array for one output)."""
    outputs = z if isinstance(z, tuple) else (z,)
    if weights is None:
        if len(outputs) > 1:
            raise ValueError(
                f"{func}: model: it returns {len(outputs)} outputs; pass output_weights with "
                "a weight for each output's loss (torchvision's recipes: GoogLeNet (1, 0.3, "
                "0.3), Inception v3 (1, 0.4), the segmentation networks' aux head (1, 0.5))"
            )
        weights = (1.0,)
    if len(weights) != len(outputs):
        raise ValueError(
            f"{func}: output_weights: expected one weight per model output ({len(outputs)}), "
            f"got {len(weights)}: {weights}"
        )
    total = 0.0
    grads: list[np.ndarray | None] = []
    for out, w in zip(outputs, weights):
        if w == 0:
            grads.append(None)
            continue
        value, grad = _loss_and_grad(loss_fn(out, labels), out, func)
        total += w * value
        grads.append(grad if w == 1 else grad * np.asarray(w, grad.dtype))
    return total, (grads[0] if len(grads) == 1 else tuple(grads))


def _loss_and_grad(result: Any, logits: np.ndarray, func: str) -> tuple[float, np.ndarray]:
    """(ℓ, G) as the loss function returned them, checked: a pair, ℓ a real scalar (a
    reduced loss: a per-example one has no single gradient step), G of the logits' shape."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"{func}: loss: expected a function returning (loss, ∂loss/∂logits), got a "
            f"{type(result).__name__} from it"
        )
    value, grad = result
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "fiu":
        raise TypeError(
            f"{func}: loss: expected a real scalar loss (reduction 'mean' or 'sum'), got "
            f"{type(value).__name__} of shape {np.shape(value)}"
        )
    if np.shape(grad) != logits.shape:
        raise ValueError(
            f"{func}: loss: expected ∂loss/∂logits of the logits' shape {logits.shape}, got "
            f"shape {np.shape(grad)}"
        )
    return float(value), grad


def _validation(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    loss_fn: Callable,
    batch_size: int = 512,
    *,
    func: str = "fit",
    one_hot: bool = False,
) -> tuple[float, float | None]:
    """(mean loss, accuracy or None) on held-out data, in evaluation mode; with ``one_hot``
    the loss gets class indices y (N,) as one-hot rows in the logits' dtype (the soft-label
    form a mix trains on), the accuracy still the indices'."""
    was_training = getattr(model, "training", False)
    model.eval()
    total_loss, right, counted, classes = 0.0, 0, 0, True
    try:
        for k in range(0, X.shape[0], batch_size):
            logits = _main(model(X[k : k + batch_size]))
            labels = y[k : k + batch_size]
            target = np.eye(logits.shape[1], dtype=logits.dtype)[labels] if one_hot else labels
            value, _ = _loss_and_grad(loss_fn(logits, target), logits, func)
            total_loss += value * labels.shape[0]
            hits = _hits(logits, labels)
            classes = classes and hits is not None
            if hits is not None:
                right, counted = right + hits[0], counted + hits[1]
    finally:
        model.train(was_training)
    return total_loss / X.shape[0], _fraction(right, counted, classes)


# ---------------------------------------------------------------------------------------------
# The loop


#: Said once per process on stderr when progress bars were asked for but tqdm is missing.
_NO_TQDM_NOTE = (
    "note: progress bars need tqdm, which is not installed: "
    'pip install "cnnmath[progress]" (training goes on; epoch lines still print)'
)
_told_no_tqdm = False


def _progress_bar(total: int, desc: str, enabled: bool, unit: str = "batch"):
    """A tqdm bar on stderr counting ``unit``s when ``enabled``; None when not, or when tqdm
    is missing (then ``_NO_TQDM_NOTE`` is printed on stderr, once per process: a bar is
    cosmetic)."""
    global _told_no_tqdm
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if not _told_no_tqdm:
            _told_no_tqdm = True
            print(_NO_TQDM_NOTE, file=sys.stderr, flush=True)
        return None
    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    width = len(str(epochs))
    line = f"epoch {record['epoch']:{width}d}/{epochs}  loss {record['loss']:.4f}"
    if record["train_accuracy"] is not None:
        line += f"  train acc {record['train_accuracy']:.4f}"
    if record["val_loss"] is not None:
        line += f"  held-out loss {record['val_loss']:.4f}"
        if record["val_accuracy"] is not None:
            line += f"  acc {record['val_accuracy']:.4f}"
    return line + f"  lr {record['lr']:.2e}  {record['seconds']:.1f} s"


def fit(
    model: nn.Module,
    optimizer: optim.Optimizer,
    train_data: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int = 64,
    seed: int = 0,
    val_data: tuple[np.ndarray, np.ndarray] | None = None,
    loss: Callable[[np.ndarray, np.ndarray], tuple[float | np.ndarray, np.ndarray]] | None = None,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    mix: Mix | None = None,
    scheduler: optim.LRScheduler | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    threads: int | None = None,
    output_weights: Sequence[float] | None = None,
) -> History:
    """Train ``model`` in place by mini-batch descent for ``epochs`` epochs; return the History.

    Parameters
    ----------
    model : any :class:`cnnmath.nn.Module` mapping X[I] (B, …) to logits (B, K): a
        Sequential, a Graph (``cnnmath.models.resnet20()``, ``resnet18()``), or a module
        with a hand-written forward and backward. It is put in training mode for the
        updates (BatchNorm normalises by the batch's statistics and updates its running
        ones, Dropout drops) and in evaluation mode for ``val_data`` (BatchNorm uses and
        keeps its running statistics), then back; it is left in training mode.
    optimizer : a :mod:`cnnmath.optim` optimiser over ``model.parameters()``.
    train_data : (X, y): X (N, …) float array in the model's dtype, all finite. With the
        default loss, y holds integer class indices in [0, K): (N,) for logits (N, K), or
        (N, d1, …) per pixel for logits (N, K, d1, …) (segmentation). With ``loss=``, y is
        any integer or float array of N rows the loss understands (regression values,
        multi-label 0/1 targets, masks with an ignore_index).
    epochs : total number of epochs (>= 1), counting those a resumed checkpoint already did.
    batch_size : B; the last batch of an epoch holds the N mod B remaining examples.
    seed : seed of the loop's generator ``np.random.default_rng(seed)``, which draws each
        epoch's permutation and is passed to ``augment``. Same seed, same model seed → same
        numbers.
    val_data : optional held-out (X, y); its loss and accuracy are recorded after every epoch
        (in evaluation mode). Nothing here picks an epoch by it: the weights returned are the
        last epoch's.
    loss : ``(logits, labels) -> (loss, ∂loss/∂logits)`` with a scalar loss, default
        ``losses.softmax_cross_entropy`` (``losses.cross_entropy`` for per-pixel labels);
        label smoothing ε is ``functools.partial(losses.cross_entropy, label_smoothing=ε)``,
        regression ``losses.mse_loss``, multi-label ``losses.binary_cross_entropy_with_logits``.
        Accuracy is recorded where y holds class indices of the logits (per example, or per
        pixel counting labels in [0, K) only); for other targets it is None.
    augment : ``(x_batch, rng) -> x_batch``, applied to every training batch (e.g.
        ``cnnmath.augment.random_shift``); it must draw its randomness from the ``rng`` it is
        given.
    mix : ``(x_batch, y_batch, rng) -> (x_batch, y_soft)``, a label-aware augmentation applied
        to every training batch after ``augment``: MixUp / CutMix, e.g.
        ``functools.partial(cnnmath.augment.random_mix, num_classes=K)`` (torchvision's
        ``RandomChoice([MixUp, CutMix])``). It gets the batch's class indices y (B,) and
        returns soft labels y_soft (B, K), class probabilities in the model's dtype, on
        which that batch's loss is computed: the default loss is then ``losses.cross_entropy``,
        ℓ = −(1/B) Σ_β Σ_c y_soft[β, c] log softmax(z_β)_c (PyTorch's ``CrossEntropyLoss``
        with probabilities); a ``loss=`` of yours must take probabilities too (a loss of
        class indices only — ``softmax_cross_entropy``, ``nll_loss``, ``NLLLoss`` — is
        refused by name). Needs y (of ``train_data`` and ``val_data``) as (N,) class
        indices, all in [0, K): K is read from the model's logits for one image of the first
        batch (in evaluation mode, before the first mix), and every label is checked against
        it before the first step, whatever the loss. It draws from the loop's generator,
        so a run with a mix repeats from its seed and resumes from a checkpoint exactly
        (the checkpoint does not record which mix was used: resume with the same one).
        ``train_accuracy`` counts a mixed example right when the model picks the argmax of
        its soft label (see :class:`History`). ``val_data`` is not mixed, but its loss is
        given the one-hot rows of its class indices, (N, K) in the model's dtype — the
        soft-label form the training loss sees, so any loss that trains also validates
        (``cross_entropy`` gives the same value on them as on the indices); ``val_accuracy``
        is against the indices.
    scheduler : a :class:`cnnmath.optim.LRScheduler` of ``optimizer`` (e.g.
        ``CosineAnnealingLR(optimizer, T_max=epochs)``, or a warm-up first with
        ``SequentialLR``), stepped once after every epoch, as in PyTorch; epoch e runs at the
        rate it set. ``ReduceLROnPlateau`` is stepped with the epoch's held-out loss (its
        training loss without ``val_data``), ``OneCycleLR`` (or a ``SequentialLR`` holding
        one) after every batch (make it with ``epochs`` and ``steps_per_epoch = ceil(N /
        batch_size)``: fewer total steps than the run's batches is refused before training;
        the record's ``lr`` is then the epoch's first). Without it the optimiser's lr is left
        alone.
    checkpoint : path of a checkpoint written (atomically) after every epoch, see
        :mod:`cnnmath.checkpoint`. Checked before any training: it must name a file (not a
        folder) in an existing, writable folder.
    resume : path of a checkpoint to continue from (its run must have had the same
        batch_size, seed and N, the same optimiser and the same kind of scheduler): the
        model, optimiser, scheduler and generators are restored and training continues at the
        next epoch, giving the same final weights as a run never interrupted. If it already
        reached ``epochs``, nothing is trained. Its metadata is checked as untrusted input
        (:func:`cnnmath.checkpoint.read_checkpoint`) before anything is changed.
    progress : a tqdm bar per epoch (stderr) and one line per epoch (stdout); False: silent.
        Without tqdm the lines still print, after a one-time note on stderr naming the
        extra: pip install "cnnmath[progress]".
    threads : train with this many threads: ``cnnmath.set_num_threads(threads)`` (the ops and
        NumPy's BLAS) for the call, the previous counts restored on return. None leaves the
        counts as they are. The numbers do not depend on it (the ops give the same bits at
        any thread count).
    output_weights : for a model of several outputs (a Graph with ``set_output(a, b, …)``,
        ``googlenet(aux_logits=True)``): w_k for each output's loss, trained on
        ℓ = Σ_k w_k loss(z_k, y) with the same labels y for every output (torchvision's
        recipes: GoogLeNet (1, 0.3, 0.3), Inception v3 (1, 0.4), a segmentation network's
        aux head (1, 0.5)); one weight per output the model returns in training mode.
        Needed for such a model. The recorded loss is ℓ; the accuracies, the held-out loss
        and ``predict`` / ``evaluate`` read the main (first) output only.

    Returns
    -------
    History: one record per epoch (resumed epochs included), see :class:`History`.

    Raises
    ------
    TrainingDiverged : the loss became NaN or ±inf (message: epoch, batch, learning rate).
    ValueError / TypeError / OSError : bad data (non-finite X, labels out of range,
        mismatched lengths), bad settings, an unusable checkpoint path, or a checkpoint to
        resume that is damaged or does not fit (the message names the file and the field).
    """
    func = "fit"
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{func}: model: expected a cnnmath.nn.Module (e.g. a Sequential), got "
            f"{type(model).__name__}"
        )
    any_targets = loss is not None
    X, y = _check_data("train_data", train_data, func=func, any_targets=any_targets)
    if val_data is not None:
        val_data = _check_data("val_data", val_data, func=func, any_targets=any_targets)
    epochs = positive_int("epochs", epochs, func=func)
    batch_size = positive_int("batch_size", batch_size, func=func)
    seed = positive_int("seed", seed, func=func, minimum=0)
    if not isinstance(optimizer, optim.Optimizer):
        raise TypeError(
            f"{func}: optimizer: expected a cnnmath.optim optimiser, got {type(optimizer).__name__}"
        )
    for name, value in (("loss", loss), ("augment", augment), ("mix", mix)):
        if value is not None and not callable(value):
            raise TypeError(f"{func}: {name}: expected a callable or None, got {value!r}")
    if scheduler is not None:
        if not isinstance(scheduler, optim.LRScheduler):
            raise TypeError(
                f"{func}: scheduler: expected a cnnmath.optim learning-rate scheduler (e.g. "
                f"CosineAnnealingLR) or None, got {type(scheduler).__name__}"
            )
        if scheduler.optimizer is not optimizer:
            raise ValueError(
                f"{func}: scheduler: it drives another optimiser than the one given; make it "
                "with this optimizer"
            )
        batches = math.ceil(X.shape[0] / batch_size)
        if isinstance(scheduler, optim.OneCycleLR) and scheduler.total_steps < epochs * batches:
            # refused now rather than by its step past total_steps, late in the run
            raise ValueError(
                f"{func}: scheduler: OneCycleLR has total_steps={scheduler.total_steps}, fewer "
                f"than the {epochs * batches} batches of {epochs} epochs of {batches}; make it "
                f"with epochs={epochs}, steps_per_epoch={batches}"
            )
    if checkpoint is not None:
        output_file("checkpoint", checkpoint, func=func)
    if threads is not None:
        threads = positive_int("threads", threads, func=func)
    weights = _output_weights(output_weights, func=func)
    if mix is not None:
        if y.dtype.kind not in "iu" or y.ndim != 1:
            raise ValueError(
                f"{func}: train_data: expected y as (N,) integer class indices for mix= (MixUp "
                f"and CutMix mix whole images' labels), got shape {y.shape} of dtype {y.dtype}"
            )
        _check_labels_nonnegative("train_data", y, func=func)
        if val_data is not None:
            y_val = val_data[1]
            if y_val.dtype.kind not in "iu" or y_val.ndim != 1:
                raise ValueError(
                    f"{func}: val_data: expected y as (N,) integer class indices for mix= "
                    "(the loss gets their one-hot rows, the soft-label form it trains on), got "
                    f"shape {y_val.shape} of dtype {y_val.dtype}"
                )
            _check_labels_nonnegative("val_data", y_val, func=func)
        if loss is not None and _index_only(loss):
            name = getattr(getattr(loss, "func", loss), "__name__", type(loss).__name__)
            raise ValueError(
                f"{func}: loss: expected a loss taking class probabilities (B, K), as mix= "
                f"gives, e.g. losses.cross_entropy, got {name}, which takes class indices only"
            )
    if loss is not None:
        loss_fn = loss
    elif y.ndim == 1 and mix is None:
        loss_fn = losses.softmax_cross_entropy
    else:  # soft labels of a mix, or class indices per pixel (the mean over the pixels)
        loss_fn = losses.cross_entropy

    run = {
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "n_train": X.shape[0],
        "optimizer": type(optimizer).__name__,
        "scheduler": None if scheduler is None else type(scheduler).__name__,
    }
    rng = np.random.default_rng(seed)
    history = History()
    if resume is not None:
        where = f"{func}: resume"
        saved = _checkpoint.read_checkpoint(resume, func=where)
        _checkpoint.restore_checkpoint(
            saved,
            model=model,
            optimizer=optimizer,
            rng=rng,
            run=run,
            scheduler=scheduler,
            func=where,
        )
        history = History(saved.history)
    with num_threads(threads):
        _fit(
            model,
            optimizer,
            scheduler,
            rng,
            (X, y),
            val_data,
            run,
            history,
            loss_fn,
            augment,
            mix,
            checkpoint,
            progress,
            weights,
        )
    return history


@contextlib.contextmanager
def num_threads(threads: int | None) -> Iterator[None]:
    """``cnnmath.set_num_threads(threads)`` inside the block (the ops' count and NumPy's
    BLAS), both counts as they were afterwards; None changes nothing."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    from .threads import get_num_threads, set_num_threads

    before = get_num_threads()
    with threadpool_limits(limits=threads, user_api="blas"):  # gives the BLAS its count back
        set_num_threads(threads)
        try:
            yield
        finally:
            set_num_threads(before)


def _fit(
    model: nn.Module,
    optimizer: optim.Optimizer,
    scheduler: optim.LRScheduler | None,
    rng: np.random.Generator,
    train_data: tuple[np.ndarray, np.ndarray],
    val_data: tuple[np.ndarray, np.ndarray] | None,
    run: dict[str, Any],
    history: History,
    loss_fn: Callable[[np.ndarray, np.ndarray], tuple[float | np.ndarray, np.ndarray]],
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None,
    mix: Mix | None,
    checkpoint: str | os.PathLike | None,
    progress: bool,
    weights: tuple[float, ...] | None = None,
) -> None:
    """The epochs from ``len(history)`` to ``run["epochs"]``, appending to ``history``."""
    func = "fit"
    X, y = train_data
    epochs, batch_size = run["epochs"], run["batch_size"]
    N = X.shape[0]
    n_batches = math.ceil(N / batch_size)

    model.train()
    own_backward = type(model).backward is not nn.Module.backward  # a hand-written one
    per_batch = getattr(scheduler, "per_batch", False)  # OneCycleLR: a step after each batch
    # the default losses' class indices are checked against the model's K once; a user's loss
    # checks its own targets (which may hold an ignore_index, or not be classes at all)
    labels_checked = loss_fn not in (losses.softmax_cross_entropy, losses.cross_entropy)
    K = None  # the model's number of classes, read from the first batch with a mix
    for epoch in range(len(history), epochs):
        t0 = time.perf_counter()
        lr = float(optimizer.lr)  # this epoch's rate (set by the scheduler after the last one)
        order = rng.permutation(N)
        total_loss, right, counted, classes = 0.0, 0, 0, True
        bar = _progress_bar(n_batches, f"epoch {epoch + 1}/{epochs}", progress)
        try:
            for k in range(n_batches):
                batch = order[k * batch_size : (k + 1) * batch_size]
                x_batch, y_batch = X[batch], y[batch]
                if augment is not None:
                    x_batch = augment(x_batch, rng)
                if mix is not None:
                    if K is None:  # every label against the model's K, before the first mix
                        K = _num_classes(model, x_batch, func)
                        _check_labels_fit("train_data", y, K, func=func)
                        if val_data is not None:
                            _check_labels_fit("val_data", val_data[1], K, func=func)
                        labels_checked = True
                    x_batch, y_batch = _mixed(mix(x_batch, y_batch, rng), x_batch, K, func)
                z = model(x_batch)
                logits = _main(z)
                if not labels_checked:
                    _check_labels_fit("train_data", y, logits.shape[1], func=func)
                    if val_data is not None:
                        _check_labels_fit("val_data", val_data[1], logits.shape[1], func=func)
                    labels_checked = True
                batch_loss, grad = _weighted_loss(loss_fn, z, y_batch, weights, func)
                if not math.isfinite(batch_loss):
                    raise TrainingDiverged(
                        f"{func}: training diverged at epoch {epoch + 1}, batch "
                        f"{k + 1}/{n_batches}: the loss is {batch_loss} (learning rate "
                        f"{optimizer.lr:g}); lower the learning rate or check the data"
                    )
                optimizer.zero_grad()
                if own_backward:
                    model.backward(grad)
                else:  # only the parameters' gradients: ∂ℓ/∂x of the batch is not needed
                    model.backward(grad, input_grad=False)
                optimizer.step()
                if per_batch:
                    scheduler.step()  # type: ignore[union-attr]
                total_loss += batch_loss * batch.shape[0]
                # a mixed example is right when the model picks its soft label's argmax
                hits = _hits(logits, y_batch if mix is None else np.argmax(y_batch, axis=1))
                classes = classes and hits is not None
                if hits is not None:
                    right, counted = right + hits[0], counted + hits[1]
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{batch_loss:.4f}", refresh=False)
        finally:
            if bar is not None:
                bar.close()
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": total_loss / N,
            "train_accuracy": _fraction(right, counted, classes),
            "val_loss": None,
            "val_accuracy": None,
            "lr": lr,
        }
        if val_data is not None:
            record["val_loss"], record["val_accuracy"] = _validation(
                model, *val_data, loss_fn, func=func, one_hot=mix is not None
            )
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        if progress:
            print(_epoch_line(record, epochs), flush=True)
        if isinstance(scheduler, optim.ReduceLROnPlateau):  # stepped with the epoch's loss
            scheduler.step(record["loss"] if record["val_loss"] is None else record["val_loss"])
        elif scheduler is not None and not per_batch:
            scheduler.step()
        if checkpoint is not None:
            _checkpoint.save_checkpoint(
                checkpoint,
                model=model,
                optimizer=optimizer,
                rng=rng,
                epoch=epoch + 1,
                run=run,
                history=history,
                scheduler=scheduler,
            )
