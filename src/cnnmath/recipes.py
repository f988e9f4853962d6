"""Training recipes: a model, its data and fixed settings, trained end to end.

``train_digits`` is the recipe behind ``cnnmath train``: ``cnnmath.models.lenet()`` trained on
the digits' training split (``cnnmath.data.load_digits``), evaluated once at the end on the 360
test images. Its settings are fixed in advance (no epoch or model is picked by looking at any
score), see ``RECIPE``.

Why a module of its own: a recipe calls the training loop (``cnnmath.train.fit``), and
``cnnmath.models`` sits below the loop in the stack (it may import only ``models``, ``nn``,
``ops``, ``_checks`` and ``_optional``; ``python ../shared/hooks/layering.py .`` checks it).
So the networks live in ``cnnmath.models`` and what trains them lives here, one layer up,
beside ``cnnmath.train``.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import numpy as np

from . import losses, nn, optim, weights
from ._checks import output_file, positive_int
from .augment import random_shift
from .checkpoint import _same_file, read_checkpoint
from .models.lenet import CHANNELS, HIDDEN, lenet
from .train import History, evaluate, fit

__all__ = ["RECIPE", "train_digits"]

#: The digits recipe (``train_digits``, ``cnnmath train``). Chosen on validation parts of
#: the training split, never on the test split: see ``train_digits``.
RECIPE: dict[str, Any] = {
    "epochs": 40,
    "batch_size": 32,
    "lr": 5e-3,  # Adam, cosine-annealed to 0 over the epochs (CosineAnnealingLR)
    "label_smoothing": 0.1,
    "max_shift": 1,  # random translations of ±1 pixel
    "channels": CHANNELS,  # lenet()'s defaults
    "hidden": HIDDEN,
}


def train_digits(
    epochs: int = RECIPE["epochs"],
    seed: int = 0,
    *,
    progress: bool = True,
    save: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    limit: int | None = None,
    threads: int | None = 1,
) -> tuple[nn.Sequential, History, float]:
    """Train ``lenet(seed)`` on the digits' training split with ``RECIPE``; test once at the end.

    The recipe: Adam (lr 5e-3) annealed by ``CosineAnnealingLR(T_max=epochs)`` to 0, batch
    size 32, cross-entropy with label smoothing 0.1 (``losses.cross_entropy``), random
    ±1-pixel translations of every training batch (``cnnmath.augment.random_shift``),
    float32, BLAS on one thread; the last epoch's weights are kept. Per-epoch held-out loss
    and accuracy are measured on the test split for the record only: no setting, epoch or
    model is chosen by them. The recipe itself was chosen on validation parts of the training
    split (three stratified 1150/287 splits × several seeds, in PyTorch): label smoothing, the
    shifts and batch size 32 each cut the validation error; the test split was used only to
    confirm.

    Parameters
    ----------
    epochs : total epochs (default ``RECIPE["epochs"]``); the schedule depends on it, so a
        resumed run must use the same value.
    seed : seeds the initial weights (``lenet(seed)``) and the loop (``fit(seed=seed)``).
    progress : progress bar and per-epoch lines, or silence.
    save : write the final weights there (safetensors, PyTorch's names: loadable with
        ``safetensors.torch.load_file`` into the same ``torch.nn.Sequential``).
    checkpoint : write a checkpoint there after every epoch (default: the ``resume`` path).
    resume : continue from this checkpoint.
    limit : train on the first ``limit`` training images only (quick runs, tests).
    threads : BLAS threads while training (see ``fit``); 1 is fastest for this small network.

    Every output is checked before any training: ``save`` and ``checkpoint`` must each name
    a file (not a folder) in an existing, writable folder, and not the same file; ``resume``
    is read and checked as untrusted input (``cnnmath.checkpoint.read_checkpoint``).

    Returns
    -------
    (model, history, test accuracy on the 360 test images).
    """
    from .data import load_digits

    func = "train_digits"
    epochs = positive_int("epochs", epochs, func=func)
    if limit is not None:
        limit = positive_int("limit", limit, func=func)
    if save is not None:
        output_file("save", save, func=func)
    if checkpoint is not None:
        output_file("checkpoint", checkpoint, func=func)
    if checkpoint is None and resume is not None:
        output_file("resume", resume, func=func)
        checkpoint = resume
    if save is not None and checkpoint is not None and _same_file(save, checkpoint):
        which = "checkpoint" if checkpoint != resume else "checkpoint (here the resume file)"
        raise ValueError(
            f"{func}: save and {which} are the same file, {save}: the final weights would "
            "replace the checkpoint; give them different paths"
        )
    if resume is not None:  # the cosine schedule spans the whole run: same epochs or bust
        saved = read_checkpoint(resume, func=f"{func}: resume")
        if saved.run["epochs"] != epochs:
            raise ValueError(
                f"{func}: resume: {os.fspath(resume)} comes from a run of {saved.run['epochs']} "
                f"epochs, this one has {epochs}; the learning-rate schedule spans the run, so "
                f"resume with epochs={saved.run['epochs']}"
            )
    X, y = load_digits("train", dtype=np.float32)
    X_test, y_test = load_digits("test", dtype=np.float32)
    if limit is not None:
        X, y = X[:limit], y[:limit]
    model = lenet(seed)
    optimizer = optim.Adam(model.parameters(), lr=RECIPE["lr"])
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=epochs)
    history = fit(
        model,
        optimizer,
        (X, y),
        epochs=epochs,
        batch_size=RECIPE["batch_size"],
        seed=seed,
        val_data=(X_test, y_test),
        loss=functools.partial(losses.cross_entropy, label_smoothing=RECIPE["label_smoothing"]),
        augment=functools.partial(random_shift, max_shift=RECIPE["max_shift"]),
        scheduler=scheduler,
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        threads=threads,
    )
    test_accuracy = evaluate(model, X_test, y_test)
    if save is not None:
        weights.save(
            model,
            save,
            metadata={
                "architecture": repr(model),
                "recipe": json.dumps({**RECIPE, "epochs": epochs, "seed": seed}),
                "test_accuracy": f"{test_accuracy:.6f}",
            },
        )
    return model, history, test_accuracy
