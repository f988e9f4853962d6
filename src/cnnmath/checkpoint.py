"""Training checkpoints: one safetensors file, replaced atomically, that resumes a run exactly.

A checkpoint written after epoch e holds everything the loop of :func:`cnnmath.train.fit` needs
to carry on as if never stopped::

    tensors   "model.<name>"      the model's state_dict() (PyTorch's names): parameters and
                                  persistent buffers, e.g. BatchNorm's running_mean,
                                  running_var and num_batches_tracked (int64)
              "optimizer.<key>"   the optimiser's state_dict() (step, hyperparameters, buffers)
    metadata  "format"            "cnnmath-checkpoint-2"
              "epoch"             e, the epochs done (JSON int)
              "run"               {"epochs", "batch_size", "seed", "n_train", "optimizer",
                                   "scheduler"}: the settings a resumed run must share
              "rng"               the loop generator's ``bit_generator.state``
              "model_rngs"        {path: state} of the generators the model declares (Dropout)
              "scheduler"         the learning-rate scheduler's state_dict(), or null
              "history"           the e epoch records so far (a JSON array)

Metadata values are JSON text; a bit generator's arrays (MT19937, Philox, SFC64) are written as
``{"__ndarray__": values, "dtype": name}``. Nothing is pickled. The file is written through a
temporary file in the same folder and renamed over the target (``weights.save``), so a run
killed at any moment leaves the previous checkpoint or the new one, never half of one.

A checkpoint is a file a user hands us, so :func:`read_checkpoint` treats it as untrusted: every
metadata field is checked for its kind, range and consistency with the others, and a bad one is a
``ValueError`` that names the file and the field. :func:`restore_checkpoint` changes the model,
optimiser, scheduler and generators all together or not at all.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import nn, optim, weights

__all__ = [
    "CHECKPOINT_FORMAT",
    "HISTORY_KEYS",
    "RUN_KEYS",
    "Checkpoint",
    "load",
    "model_generators",
    "read_checkpoint",
    "restore_checkpoint",
    "save",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "cnnmath-checkpoint-2"
_OLDER_FORMATS = ("cnnmath-checkpoint-1",)
MODEL_PREFIX = "model."
OPTIMIZER_PREFIX = "optimizer."

#: The settings a checkpoint records and a resumed run must share (all but "epochs" exactly;
#: a resumed run may not have fewer epochs than the checkpoint has done).
RUN_KEYS = ("epochs", "batch_size", "seed", "n_train", "optimizer", "scheduler")
#: The keys of one epoch record of the history (see ``cnnmath.train.History``).
HISTORY_KEYS = ("epoch", "loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
_METADATA_KEYS = ("format", "epoch", "run", "rng", "model_rngs", "scheduler", "history")

#: Integer fields of numpy's bit-generator states whose setters accept any value although only
#: a few are meaningful (an MT19937 ``pos`` past 624 reads outside its key): (low, high).
_STATE_RANGES = {
    "has_uint32": (0, 1),
    "uinteger": (0, 2**32 - 1),
    "pos": (0, 624),
    "buffer_pos": (0, 4),
}


# ---------------------------------------------------------------------------------------------
# Output paths (each checked on its own by ``_checks.output_file``)


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (through symbolic links, ``..`` and the like)."""
    return os.path.realpath(os.fspath(a)) == os.path.realpath(os.fspath(b))


# ---------------------------------------------------------------------------------------------
# Generators


def model_generators(model: Any) -> dict[str, np.random.Generator]:
    """Every numpy Generator the model declares (``Module.named_generators``: a Dropout's mask
    stream), keyed by its path ("3.rng"); nothing is found by walking attributes."""
    return dict(model.named_generators())


def _state_json(state: Any) -> str:
    """A bit generator's state (or a dict of them) as JSON; arrays as {"__ndarray__", "dtype"}."""

    def encode(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
        if isinstance(value, np.integer):
            return int(value)
        raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")

    return json.dumps(state, default=encode)


class _BadField(ValueError):
    """A metadata field that fails its check; the caller adds the file and the field name."""


def _decode_arrays(obj: dict[str, Any]) -> Any:
    """JSON object hook: {"__ndarray__": ints, "dtype": an integer dtype} → ndarray."""
    if set(obj) != {"__ndarray__", "dtype"}:
        return obj
    values, dtype = obj["__ndarray__"], obj["dtype"]
    if not isinstance(dtype, str):
        raise _BadField(f"an array's dtype must be a string, got {dtype!r:.40}")
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise _BadField(f"unknown array dtype {dtype!r:.40}") from None
    if resolved.kind not in "iu":
        raise _BadField(f"expected an integer array dtype, got {dtype!r:.40}")
    flat = values if isinstance(values, list) else [values]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        raise _BadField("an array of a generator state must hold integers only")
    info = np.iinfo(resolved)
    if any(not info.min <= v <= info.max for v in flat):
        raise _BadField(f"an array value does not fit {resolved}")
    return np.array(values, dtype=resolved)


def _json_field(meta: Mapping[str, Any], key: str) -> Any:
    raw = meta[key]
    if not isinstance(raw, str):
        raise _BadField(f"expected JSON text, got {type(raw).__name__}")
    try:
        return json.loads(raw, object_hook=_decode_arrays)
    except _BadField:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise _BadField(f"not valid JSON ({type(exc).__name__}: {exc})") from None


def _same_structure(got: Any, want: Any, where: str, key: str = "") -> None:
    """``got`` has ``want``'s keys, kinds, dtypes and shapes, recursively (``key``: the name
    of the field being compared, for the ranges of ``_STATE_RANGES``)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            raise _BadField(f"{where}: expected an object, got {type(got).__name__}")
        if set(got) != set(want):
            raise _BadField(
                f"{where}: expected the keys {sorted(want)}, got {sorted(map(str, got))}"
            )
        for k in want:
            _same_structure(got[k], want[k], f"{where}[{k!r}]", k)
    elif isinstance(want, np.ndarray):
        if not isinstance(got, np.ndarray) or got.dtype != want.dtype or got.shape != want.shape:
            raise _BadField(
                f"{where}: expected an array of dtype {want.dtype} and shape {want.shape}"
            )
    elif isinstance(want, str):
        if got != want:
            raise _BadField(f"{where}: expected {want!r}, got {got!r:.40}")
    elif isinstance(want, (int, np.integer)):
        if isinstance(got, bool) or not isinstance(got, int):
            raise _BadField(f"{where}: expected an integer, got {got!r:.40}")
        low, high = _STATE_RANGES.get(key, (0, None))
        if got < low or (high is not None and got > high):
            bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise _BadField(f"{where}: expected an integer {bounds}, got {got}")


def _states_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_states_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


def _check_generator_state(state: Any, generator: np.random.Generator, where: str) -> None:
    """``state`` is a valid state of ``generator``'s kind of bit generator: same structure as a
    fresh one's, known fields in range, accepted by numpy and read back unchanged."""
    kind = type(generator.bit_generator)
    if not isinstance(state, dict) or state.get("bit_generator") != kind.__name__:
        got = state.get("bit_generator") if isinstance(state, dict) else state
        raise _BadField(f"{where}: expected a {kind.__name__} generator state, got {got!r:.60}")
    _same_structure(state, kind().state, where)
    scratch = kind()
    try:
        scratch.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise _BadField(f"{where}: numpy refuses this {kind.__name__} state ({exc})") from None
    if not _states_equal(scratch.state, state):
        raise _BadField(f"{where}: not a {kind.__name__} state (numpy reads it back changed)")


# ---------------------------------------------------------------------------------------------
# Writing


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: optim.Optimizer,
    rng: np.random.Generator,
    epoch: int,
    run: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    scheduler: optim.LRScheduler | None = None,
) -> None:
    """Write a checkpoint after ``epoch`` epochs (the layout is in the module docstring).

    ``run`` holds ``RUN_KEYS``; ``history`` the ``epoch`` records so far. The file is replaced
    atomically; its folder must exist.
    """
    tensors = {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}
    tensors.update({OPTIMIZER_PREFIX + k: v for k, v in optimizer.state_dict().items()})
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "epoch": json.dumps(int(epoch)),
        "run": json.dumps(dict(run)),
        "rng": _state_json(rng.bit_generator.state),
        "model_rngs": _state_json(
            {k: g.bit_generator.state for k, g in model_generators(model).items()}
        ),
        "scheduler": json.dumps(None if scheduler is None else scheduler.state_dict()),
        "history": json.dumps([dict(r) for r in history]),
    }
    weights.save(tensors, path, metadata=metadata)


# ---------------------------------------------------------------------------------------------
# Reading, as untrusted input


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read and checked by :func:`read_checkpoint` (fields as in the module
    docstring; generator states still as plain dicts, checked when restored)."""

    path: str
    epoch: int
    run: dict[str, Any]
    history: list[dict[str, Any]]
    rng: dict[str, Any]
    model_rngs: dict[str, Any]
    scheduler: dict[str, Any] | None
    model_state: dict[str, np.ndarray]
    optimizer_state: dict[str, np.ndarray]


def _whole(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _real(value: Any, low: float = 0.0, high: float | None = None) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        finite = math.isfinite(value)
    except OverflowError:  # a JSON integer past float's range (10**400)
        return False
    return finite and value >= low and (high is None or value <= high)


def _check_run(run: Any) -> dict[str, Any]:
    if not isinstance(run, dict):
        raise _BadField(f"expected a JSON object with the keys {list(RUN_KEYS)}, got {run!r:.60}")
    if set(run) != set(RUN_KEYS):
        raise _BadField(f"expected the keys {list(RUN_KEYS)}, got {sorted(map(str, run))}")
    for key, minimum in (("epochs", 1), ("batch_size", 1), ("seed", 0), ("n_train", 1)):
        if not _whole(run[key], minimum):
            raise _BadField(f"{key}: expected a whole number >= {minimum}, got {run[key]!r:.40}")
    if not isinstance(run["optimizer"], str):
        raise _BadField(f"optimizer: expected a class name, got {run['optimizer']!r:.40}")
    if run["scheduler"] is not None and not isinstance(run["scheduler"], str):
        raise _BadField(f"scheduler: expected a class name or null, got {run['scheduler']!r:.40}")
    return run


def _accuracy(value: Any) -> bool:
    return value is None or _real(value, high=1.0)


def _check_history(history: Any, epoch: int) -> list[dict[str, Any]]:
    if not isinstance(history, list):
        raise _BadField(f"expected a JSON array of epoch records, got {history!r:.60}")
    if len(history) != epoch:
        raise _BadField(f"expected {epoch} epoch record(s), one per epoch done, got {len(history)}")
    for i, record in enumerate(history):
        at = f"[{i}]"
        if not isinstance(record, dict) or set(record) != set(HISTORY_KEYS):
            got = sorted(map(str, record)) if isinstance(record, dict) else repr(record)[:40]
            raise _BadField(
                f"{at}: expected an object with the keys {list(HISTORY_KEYS)}, got {got}"
            )
        if record["epoch"] != i + 1 or not _whole(record["epoch"], 1):
            raise _BadField(f"{at}['epoch']: expected {i + 1}, got {record['epoch']!r:.40}")
        checks = {
            # a loss is any finite number (a user's loss may be negative: fit stops on a
            # non-finite one), a held-out loss may be NaN (a set whose labels are all
            # ignore_index has no mean), the rest are >= 0
            # (an accuracy is null where the targets were not class indices)
            "loss": _real(record["loss"], low=-math.inf),
            "train_accuracy": _accuracy(record["train_accuracy"]),
            "lr": _real(record["lr"]),
            "seconds": _real(record["seconds"]),
        }
        if record["val_loss"] is not None:
            val_loss = record["val_loss"]
            checks["val_loss"] = _real(val_loss, low=-math.inf) or (
                isinstance(val_loss, float) and math.isnan(val_loss)
            )
            checks["val_accuracy"] = _accuracy(record["val_accuracy"])
        elif record["val_accuracy"] is not None:
            checks["val_loss"] = False
        for key, ok in checks.items():
            if not ok:
                kind = {"loss": "a finite number", "val_loss": "a finite number or NaN"}
                raise _BadField(
                    f"{at}[{key!r}]: expected {kind.get(key, 'a finite number >= 0')}"
                    + (" and <= 1, or null" if "accuracy" in key else "")
                    + (" (or null with the other val_ key)" if key.startswith("val_") else "")
                    + f", got {record[key]!r:.40}"
                )
    return history


def read_checkpoint(path: str | os.PathLike, *, func: str = "read_checkpoint") -> Checkpoint:
    """Read and check a checkpoint file; nothing is restored (see :func:`restore_checkpoint`).

    Every metadata field is checked as untrusted input: present, JSON of the right kind, in
    range ("epoch" a whole number >= 0 and at most the run's "epochs"; "history" exactly one
    well-formed record per epoch done; "run" the ``RUN_KEYS`` with whole numbers; "rng" a
    PCG64 state, fit's loop generator, that numpy reads back unchanged; "model_rngs" and
    "scheduler" objects, checked in full against the model and scheduler when restored), and
    every tensor named "model.*" or "optimizer.*" with finite model weights.

    Raises ``ValueError`` "FUNC: PATH: metadata 'FIELD': what was expected, what was found"
    (``func`` prefixes every message); a file that is not safetensors ``ValueError`` naming
    the path; a missing file ``FileNotFoundError``, a directory ``IsADirectoryError``.
    """
    name = os.fspath(path)
    tensors, meta = weights._read(path, who=func)
    fmt = meta.get("format")
    if fmt in _OLDER_FORMATS:
        raise ValueError(
            f"{func}: {name} is a checkpoint of an earlier cnnmath (format {fmt!r}), which did "
            f"not store the learning-rate scheduler; it cannot be resumed exactly: start the run "
            f"again"
        )
    if fmt != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{func}: {name} is not a cnnmath training checkpoint (metadata format "
            f"{fmt!r:.60}, expected {CHECKPOINT_FORMAT!r}); a weights file is loaded with "
            "cnnmath.weights.load"
        )
    for key in _METADATA_KEYS:
        if key not in meta:
            raise ValueError(f"{func}: {name}: damaged checkpoint: metadata {key!r} is missing")
    unknown = sorted(set(meta) - set(_METADATA_KEYS))
    if unknown:
        raise ValueError(
            f"{func}: {name}: damaged checkpoint: unexpected metadata {unknown[0]!r:.60}; "
            f"expected only {list(_METADATA_KEYS)}"
        )

    field = ""
    try:
        field = "epoch"
        epoch = _json_field(meta, "epoch")
        if not _whole(epoch, 0):
            raise _BadField(f"expected a whole number >= 0, got {meta['epoch']!r:.40}")
        field = "run"
        run = _check_run(_json_field(meta, "run"))
        field = "epoch"
        if epoch > run["epochs"]:
            raise _BadField(
                f"{epoch} epochs done, more than the {run['epochs']} of the run it records"
            )
        field = "history"
        history = _check_history(_json_field(meta, "history"), epoch)
        field = "rng"
        rng = _json_field(meta, "rng")
        if not isinstance(rng, dict):
            raise _BadField(f"expected a generator state object, got {rng!r:.60}")
        _check_generator_state(rng, np.random.default_rng(), "state")  # fit's loop generator
        field = "model_rngs"
        model_rngs = _json_field(meta, "model_rngs")
        if not isinstance(model_rngs, dict) or not all(
            isinstance(v, dict) for v in model_rngs.values()
        ):
            raise _BadField(
                f"expected an object of generator states by attribute path, got {model_rngs!r:.60}"
            )
        field = "scheduler"
        scheduler = _json_field(meta, "scheduler")
        if not (scheduler is None or isinstance(scheduler, dict)):
            raise _BadField(f"expected a scheduler state object or null, got {scheduler!r:.60}")
        if (scheduler is None) != (run["scheduler"] is None):
            raise _BadField(
                f"the run's scheduler is {run['scheduler']!r:.40} but the state is "
                f"{'missing' if scheduler is None else 'present'}"
            )
    except _BadField as exc:
        raise ValueError(f"{func}: {name}: metadata {field!r}: {exc}") from None

    model_state, optimizer_state = _split(tensors, f"{func}: {name}", finite=True)
    return Checkpoint(
        path=name,
        epoch=epoch,
        run=run,
        history=history,
        rng=rng,
        model_rngs=model_rngs,
        scheduler=scheduler,
        model_state=model_state,
        optimizer_state=optimizer_state,
    )


def _split(
    tensors: Mapping[str, np.ndarray], where: str, *, finite: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The file's tensors as (model state, optimiser state), by their prefixes; any other
    name refused, and with ``finite`` a model tensor holding NaN or inf (``where``: the
    message's "func: path")."""
    model_state: dict[str, np.ndarray] = {}
    optimizer_state: dict[str, np.ndarray] = {}
    for key, value in tensors.items():
        if key.startswith(MODEL_PREFIX):
            if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
                raise ValueError(
                    f"{where}: tensor {key!r}: expected finite weights, got NaN or inf"
                )
            model_state[key[len(MODEL_PREFIX) :]] = value
        elif key.startswith(OPTIMIZER_PREFIX):
            optimizer_state[key[len(OPTIMIZER_PREFIX) :]] = value
        else:
            raise ValueError(
                f"{where}: unexpected tensor {key!r:.60}; the file holds only "
                f"'{MODEL_PREFIX}*' and '{OPTIMIZER_PREFIX}*'"
            )
    return model_state, optimizer_state


def restore_checkpoint(
    checkpoint: Checkpoint,
    *,
    model: nn.Module,
    optimizer: optim.Optimizer,
    rng: np.random.Generator,
    run: Mapping[str, Any],
    scheduler: optim.LRScheduler | None = None,
    func: str = "restore_checkpoint",
) -> None:
    """Load ``checkpoint`` into the model, optimiser, scheduler and generators of a run with
    the settings ``run`` (``RUN_KEYS``), all of them or none.

    Refused with ``ValueError`` naming the file: another run's settings (any of ``RUN_KEYS``
    but "epochs" differs), more epochs done than ``run["epochs"]``, generator states for other
    generators than the model holds or of another kind, weights or optimiser state that do not
    fit (names, shapes, dtypes), or a scheduler state that does not fit the scheduler.
    """
    name = checkpoint.path
    saved = checkpoint.run
    for key in RUN_KEYS:
        if key != "epochs" and saved[key] != run[key]:
            raise ValueError(
                f"{func}: {name} was written by a run with {key}={saved[key]!r}, this run has "
                f"{key}={run[key]!r}; resume with the same settings"
            )
    if checkpoint.epoch > run["epochs"]:
        raise ValueError(
            f"{func}: {name} is at epoch {checkpoint.epoch}, beyond this run's "
            f"epochs={run['epochs']}"
        )
    own_rngs = model_generators(model)
    if set(own_rngs) != set(checkpoint.model_rngs):
        raise ValueError(
            f"{func}: {name} holds generator states for {sorted(checkpoint.model_rngs)}, the "
            f"model has generators at {sorted(own_rngs)}"
        )
    try:
        _check_generator_state(checkpoint.rng, rng, "state")
    except _BadField as exc:
        raise ValueError(f"{func}: {name}: metadata 'rng': {exc}") from None
    for key, g in own_rngs.items():
        try:
            _check_generator_state(checkpoint.model_rngs[key], g, key)
        except _BadField as exc:
            raise ValueError(f"{func}: {name}: metadata 'model_rngs': {exc}") from None

    before_model = model.state_dict()
    before_optimizer = optimizer.state_dict()
    before_scheduler = None if scheduler is None else scheduler.state_dict()
    try:
        model.load_state_dict(checkpoint.model_state, strict=True)
        optimizer.load_state_dict(checkpoint.optimizer_state)
        if scheduler is not None and checkpoint.scheduler is not None:
            scheduler.load_state_dict(checkpoint.scheduler)
    except (KeyError, ValueError, TypeError) as exc:
        model.load_state_dict(before_model)
        optimizer.load_state_dict(before_optimizer)
        if scheduler is not None and before_scheduler is not None:
            scheduler.load_state_dict(before_scheduler)
        raise ValueError(
            f"{func}: {name} does not fit this model/optimiser/scheduler: {exc}"
        ) from None
    rng.bit_generator.state = checkpoint.rng
    for key, g in own_rngs.items():
        g.bit_generator.state = checkpoint.model_rngs[key]


# ---------------------------------------------------------------------------------------------
# A hand-written loop's checkpoint: PyTorch's torch.save({"model": ..., "optimizer": ...})

STATE_FORMAT = "cnnmath-state-1"
_STATE_KEYS = ("format", "scheduler", "model_rngs", "extra")


def save(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: optim.Optimizer | None = None,
    scheduler: Any = None,
    **extra: Any,
) -> None:
    """Write what a hand-written training loop resumes from, as PyTorch's
    ``torch.save({"model": model.state_dict(), "optimizer": ..., "scheduler": ...,
    "epoch": e}, path)``: one safetensors file, replaced atomically (no pickle).

    Tensors "model.<name>" (``model.state_dict()``) and "optimizer.<key>"
    (``optimizer.state_dict()``); metadata (JSON text) "format" ("cnnmath-state-1"),
    "scheduler" (its ``state_dict()`` or null), "model_rngs" (the model's generators:
    Dropout's masks resume where they were) and "extra": the keyword values (an epoch, a best
    accuracy, a list of losses: anything JSON holds). Read back with :func:`load`.

    >>> import numpy as np, os, tempfile
    >>> from cnnmath import checkpoint, nn, optim
    >>> model = nn.Linear(2, 1, rng=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.safetensors")
    >>> checkpoint.save(path, model=model, optimizer=optim.SGD(model.parameters(), lr=0.1), epoch=3)
    >>> checkpoint.load(path, model=model)
    {'epoch': 3}
    """
    func = "checkpoint.save"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{func}: model: expected a cnnmath.nn.Module, got {type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, optim.Optimizer):
        raise TypeError(
            f"{func}: optimizer: expected a cnnmath.optim optimiser or None, got "
            f"{type(optimizer).__name__}"
        )
    if scheduler is not None and not callable(getattr(scheduler, "state_dict", None)):
        raise TypeError(
            f"{func}: scheduler: expected a learning-rate scheduler (with state_dict) or None, "
            f"got {type(scheduler).__name__}"
        )
    for key, value in extra.items():
        try:
            json.dumps(value, default=_number)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{func}: {key}: expected a value JSON holds (a number, string, list or dict "
                f"of them), got {type(value).__name__} ({exc})"
            ) from None
    tensors = {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}
    if optimizer is not None:
        tensors.update({OPTIMIZER_PREFIX + k: v for k, v in optimizer.state_dict().items()})
    metadata = {
        "format": STATE_FORMAT,
        "scheduler": json.dumps(None if scheduler is None else scheduler.state_dict()),
        "model_rngs": _state_json(
            {k: g.bit_generator.state for k, g in model_generators(model).items()}
        ),
        "extra": json.dumps(extra, default=_number),
    }
    weights.save(tensors, path, metadata=metadata)


def _number(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds (``best=np.float32(acc)``), for JSON."""
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a value JSON holds")


def load(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: optim.Optimizer | None = None,
    scheduler: Any = None,
) -> dict[str, Any]:
    """Restore a file written by :func:`save` into ``model`` (and ``optimizer``,
    ``scheduler`` when given: each must have been saved) and return the extra values
    (``{"epoch": 3}``), as PyTorch's ``ckpt = torch.load(path);
    model.load_state_dict(ckpt["model"]); ...``.

    The file is untrusted input: its format, every metadata field and tensor name are
    checked, and the model, optimiser, scheduler and the model's generators are restored all
    together or not at all; a refusal is a ``ValueError`` naming the file and what does not
    fit (names, shapes, dtypes, a missing part). Nothing is unpickled.
    """
    func = "checkpoint.load"
    name = os.fspath(path)
    tensors, meta = weights._read(path, who=func)
    if meta.get("format") != STATE_FORMAT:
        hint = (
            "; a fit checkpoint is resumed with fit(resume=...)"
            if meta.get("format") == CHECKPOINT_FORMAT
            else "; a weights file is loaded with cnnmath.weights.load"
        )
        raise ValueError(
            f"{func}: {name} is not a file of checkpoint.save (metadata format "
            f"{meta.get('format')!r:.60}, expected {STATE_FORMAT!r}){hint}"
        )
    if sorted(meta) != sorted(_STATE_KEYS):
        raise ValueError(
            f"{func}: {name}: damaged file: expected the metadata {list(_STATE_KEYS)}, got "
            f"{sorted(meta)}"
        )
    field = ""
    try:
        field = "scheduler"
        saved_scheduler = _json_field(meta, "scheduler")
        if not (saved_scheduler is None or isinstance(saved_scheduler, dict)):
            raise _BadField(
                f"expected a scheduler state object or null, got {saved_scheduler!r:.60}"
            )
        field = "extra"
        extra = json.loads(meta["extra"]) if isinstance(meta["extra"], str) else None
        if not isinstance(extra, dict):
            raise _BadField(f"expected a JSON object, got {meta['extra']!r:.60}")
        field = "model_rngs"
        saved_rngs = _json_field(meta, "model_rngs")
        own_rngs = model_generators(model)
        if not isinstance(saved_rngs, dict):
            raise _BadField(f"expected an object of generator states, got {saved_rngs!r:.60}")
        if set(saved_rngs) != set(own_rngs):
            raise _BadField(
                f"holds generator states for {sorted(saved_rngs)}, the model has generators "
                f"at {sorted(own_rngs)}"
            )
        for key, g in own_rngs.items():
            _check_generator_state(saved_rngs[key], g, key)
    except _BadField as exc:
        raise ValueError(f"{func}: {name}: metadata {field!r}: {exc}") from None
    except ValueError as exc:  # extra's JSON
        raise ValueError(f"{func}: {name}: metadata {field!r}: not valid JSON ({exc})") from None

    model_state, optimizer_state = _split(tensors, f"{func}: {name}", finite=False)
    if optimizer is not None and not optimizer_state:
        raise ValueError(f"{func}: {name}: optimizer: the file holds no optimiser state")
    if scheduler is not None and saved_scheduler is None:
        raise ValueError(f"{func}: {name}: scheduler: the file holds no scheduler state")

    parts: list[tuple[Any, Any]] = [(model, model_state)]  # each part and its state
    if optimizer is not None:
        parts.append((optimizer, optimizer_state))
    if scheduler is not None:
        parts.append((scheduler, saved_scheduler))
    before = [part.state_dict() for part, _ in parts]
    try:
        for part, state in parts:
            part.load_state_dict(state)  # a model's strict by default
    except (KeyError, ValueError, TypeError) as exc:
        for (part, _), state in zip(parts, before, strict=True):
            part.load_state_dict(state)
        raise ValueError(
            f"{func}: {name} does not fit this model/optimiser/scheduler: {exc}"
        ) from None
    for key, g in own_rngs.items():
        g.bit_generator.state = saved_rngs[key]
    return extra
