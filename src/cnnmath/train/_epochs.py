"""The loop itself: each epoch's permutation, augmentation and mix, forward, loss, backward
and optimiser step per batch, then its record, the scheduler's step and the checkpoint."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import checkpoint as _checkpoint
from .. import losses, nn, optim
from ..augment import Mix
from ._evaluation import _fraction, _hits, _main, _num_classes, _validation
from ._inputs import _check_labels_fit, _mixed
from ._objective import _weighted_loss
from ._progress import _epoch_line, _progress_bar
from ._records import History, TrainingDiverged


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
    per_batch = getattr(
        scheduler, "per_batch", False
    )  # OneCycleLR, CyclicLR: a step after each batch
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
