"""``fit``: its arguments checked, a checkpoint resumed, then the epochs run with the thread
count asked for (``num_threads``)."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .. import checkpoint as _checkpoint
from .. import losses, nn, optim
from .._checks import output_file, positive_int
from ..augment import Mix
from ._epochs import _fit
from ._inputs import _check_data, _check_labels_nonnegative, _output_weights
from ._objective import _index_only
from ._records import History


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
        training loss without ``val_data``), ``OneCycleLR`` and ``CyclicLR`` (or a
        ``SequentialLR`` or ``ChainedScheduler`` holding one) after every batch (make a
        OneCycleLR with ``epochs`` and ``steps_per_epoch = ceil(N / batch_size)``: fewer
        total steps than the run's batches is refused before training; the record's ``lr``
        is then the epoch's first). Without it the optimiser's lr is left
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

    from ..threads import get_num_threads, set_num_threads

    before = get_num_threads()
    with threadpool_limits(limits=threads, user_api="blas"):  # gives the BLAS its count back
        set_num_threads(threads)
        try:
            yield
        finally:
            set_num_threads(before)
