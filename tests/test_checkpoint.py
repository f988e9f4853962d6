"""cnnmath.checkpoint: a checkpoint is a file a user hands us, so its metadata is untrusted input.

Each crafted file below starts from a real checkpoint (a two-epoch run of a tiny model) and
changes one metadata field, a tensor, or the format. Resuming from it must raise a ValueError
that names the file and the field — never another exception's traceback, never a silent
acceptance (a negative epoch used to start the schedule at −2) — and must leave the model, the
optimiser and the scheduler as they were. The witness for "as they were" is their state before
the call.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from cnnmath import nn, optim, weights
from cnnmath.checkpoint import (
    CHECKPOINT_FORMAT,
    read_checkpoint,
    save_checkpoint,
)
from cnnmath.train import fit

pytest.importorskip("safetensors")

RNG = np.random.default_rng(0)
X = RNG.random((24, 5))
Y = RNG.integers(0, 3, 24)


def tiny(bit_generator=np.random.PCG64):
    """A model with a generator of its own (Dropout), so "model_rngs" has an entry."""
    return nn.Sequential(
        nn.Linear(5, 4, rng=0, dtype=np.float64),
        nn.Dropout(0.5, rng=np.random.Generator(bit_generator(1))),
        nn.Linear(4, 3, rng=1, dtype=np.float64),
    )


def setup(model):
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return opt, optim.StepLR(opt, step_size=1, gamma=0.5)


def train(model, opt, sched, **kwargs):
    return fit(
        model, opt, (X, Y), epochs=3, batch_size=8, scheduler=sched, progress=False, **kwargs
    )


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A checkpoint after 2 of 3 epochs: (tensors, metadata)."""
    path = tmp_path_factory.mktemp("ck") / "good.ckpt"
    model = tiny()
    opt, sched = setup(model)
    fit(
        model,
        opt,
        (X, Y),
        epochs=2,
        batch_size=8,
        scheduler=sched,
        progress=False,
        checkpoint=path,
    )
    tensors, meta = weights.read(path)
    meta["run"] = json.dumps({**json.loads(meta["run"]), "epochs": 3})
    return tensors, meta


def crafted(tmp_path, good, *, tensors=None, **fields):
    """The good checkpoint with some metadata fields replaced (None removes one)."""
    meta = dict(good[1])
    for key, value in fields.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    path = tmp_path / "crafted.ckpt"
    weights.save(good[0] if tensors is None else tensors, path, metadata=meta)
    return path


def state_of(model, opt, sched):
    return model.state_dict(), opt.state_dict(), sched.state_dict()


def assert_same_state(a, b):
    for x, y in zip(a[:2], b[:2]):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)
    assert a[2] == b[2]


def refuses(path, field_pattern):
    """Resuming from ``path`` raises a ValueError naming the file and matching the pattern, and
    changes nothing."""
    model = tiny()
    opt, sched = setup(model)
    before = state_of(model, opt, sched)
    with pytest.raises(ValueError) as info:
        train(model, opt, sched, resume=path)
    message = str(info.value)
    assert type(info.value) is ValueError, type(info.value)
    assert str(path) in message, message
    assert re.search(field_pattern, message), message
    assert_same_state(state_of(model, opt, sched), before)
    return message


def int_list(array):
    """JSON for an array of a generator state: its integers (the shape checks will refuse)."""
    return [int(v) for v in array]


def pcg_state(**change):
    state = np.random.default_rng(0).bit_generator.state
    return json.dumps({**state, **change})


# (metadata field, crafted value, pattern the message must match)
CRAFTED_METADATA = [
    ("run", "null", r"metadata 'run': expected a JSON object"),
    ("run", '"epochs=3"', r"metadata 'run': expected a JSON object"),
    ("run", "{}", r"metadata 'run': expected the keys"),
    (
        "run",
        '{"epochs": "3", "batch_size": 8, "seed": 0, "n_train": 24, "optimizer": "SGD", '
        '"scheduler": "StepLR"}',
        r"metadata 'run': epochs: expected a whole number >= 1, got '3'",
    ),
    (
        "run",
        '{"epochs": 3, "batch_size": 0, "seed": 0, "n_train": 24, "optimizer": "SGD", '
        '"scheduler": "StepLR"}',
        r"metadata 'run': batch_size: expected a whole number >= 1, got 0",
    ),
    (
        "run",
        '{"epochs": 3, "batch_size": 8, "seed": true, "n_train": 24, "optimizer": "SGD", '
        '"scheduler": "StepLR"}',
        r"metadata 'run': seed: expected a whole number >= 0, got True",
    ),
    (
        "run",
        '{"epochs": 3, "batch_size": 8, "seed": 0, "n_train": 24, "optimizer": 7, '
        '"scheduler": "StepLR"}',
        r"metadata 'run': optimizer: expected a class name",
    ),
    ("epoch", "-2", r"metadata 'epoch': expected a whole number >= 0, got '-2'"),
    ("epoch", "2.5", r"metadata 'epoch': expected a whole number >= 0, got '2.5'"),
    ("epoch", "true", r"metadata 'epoch': expected a whole number >= 0, got 'true'"),
    ("epoch", "two", r"metadata 'epoch': not valid JSON"),
    ("epoch", "", r"metadata 'epoch': not valid JSON"),
    ("epoch", "7", r"metadata 'epoch': 7 epochs done, more than the 3"),
    ("epoch", "1", r"metadata 'history': expected 1 epoch record\(s\).*got 2"),
    ("history", "5", r"metadata 'history': expected a JSON array of epoch records, got 5"),
    ("history", '"[]"', r"metadata 'history': expected a JSON array"),
    ("history", "[]", r"metadata 'history': expected 2 epoch record\(s\)"),
    ("history", "[1, 2]", r"metadata 'history': \[0\]: expected an object with the keys"),
    ("history", "[" * 100_000 + "]" * 100_000, r"metadata 'history': not valid JSON"),
    ("rng", "garbage", r"metadata 'rng': not valid JSON"),
    ("rng", "5", r"metadata 'rng': expected a generator state object, got 5"),
    ("rng", "{}", r"metadata 'rng': .*expected a PCG64 generator state"),
    ("rng", '{"bit_generator": "PCG64"}', r"metadata 'rng': .*expected the keys"),
    (
        "rng",
        json.dumps(np.random.Generator(np.random.MT19937(0)).bit_generator.state, default=int_list),
        r"metadata 'rng': .*expected a PCG64 generator state, got 'MT19937'",
    ),
    ("rng", pcg_state(state={"state": -1, "inc": 1}), r"metadata 'rng': .*'state'.*>= 0, got -1"),
    ("rng", pcg_state(state={"state": 1.5, "inc": 1}), r"metadata 'rng': .*expected an integer"),
    ("rng", pcg_state(state={"state": 2**200, "inc": 1}), r"metadata 'rng': .*numpy refuses"),
    ("rng", pcg_state(has_uint32=7), r"metadata 'rng': .*'has_uint32'.*in \[0, 1\], got 7"),
    ("rng", pcg_state(extra=1), r"metadata 'rng': .*expected the keys"),
    ("model_rngs", "[]", r"metadata 'model_rngs': expected an object of generator states"),
    ("model_rngs", "{}", r"holds generator states for \[\], the model has .*'1\._?rng'"),
    ("model_rngs", '{"1.rng": 3}', r"metadata 'model_rngs': expected an object of generator"),
    ("scheduler", "[1]", r"metadata 'scheduler': expected a scheduler state object or null"),
    ("scheduler", "null", r"metadata 'scheduler': the run's scheduler is 'StepLR'"),
    (
        "scheduler",
        '{"step_size": "x", "gamma": 0.5, "base_lrs": [0.1], "last_epoch": 2, "_last_lr": [0.025]}',
        r"does not fit this model/optimiser/scheduler: .*step_size",
    ),
    (
        "scheduler",
        '{"step_size": 1, "gamma": 0.5, "base_lrs": [0.1], "last_epoch": -2, "_last_lr": [0.025]}',
        r"does not fit this model/optimiser/scheduler: .*last_epoch",
    ),
    ("format", "cnnmath-checkpoint-1", r"earlier cnnmath \(format 'cnnmath-checkpoint-1'\)"),
    ("format", "pickle", r"not a cnnmath training checkpoint"),
    ("surprise", "1", r"unexpected metadata 'surprise'"),
]


@pytest.mark.parametrize(
    "field, value, pattern",
    CRAFTED_METADATA,
    ids=[f"{f}={v[:30]}" for f, v, _ in CRAFTED_METADATA],
)
def test_crafted_metadata_is_refused_naming_file_and_field(tmp_path, good, field, value, pattern):
    refuses(crafted(tmp_path, good, **{field: value}), pattern)


@pytest.mark.parametrize(
    "field", ["format", "epoch", "run", "rng", "model_rngs", "scheduler", "history"]
)
def test_a_missing_metadata_field_is_named(tmp_path, good, field):
    pattern = (
        "not a cnnmath training checkpoint"
        if field == "format"
        else rf"metadata '{field}' is missing"
    )
    refuses(crafted(tmp_path, good, **{field: None}), pattern)


def test_history_records_are_checked_one_by_one(tmp_path, good):
    records = json.loads(good[1]["history"])
    cases = [
        ({"loss": float("nan")}, r"\[0\]\['loss'\]: expected a finite number, got nan"),
        ({"loss": 10**400}, r"\[0\]\['loss'\]: expected a finite number, got 1000"),
        ({"val_loss": float("inf"), "val_accuracy": 0.5}, r"\[0\]\['val_loss'\]: .* or NaN"),
        ({"train_accuracy": 1.5}, r"\[0\]\['train_accuracy'\]: .*<= 1, or null, got 1.5"),
        ({"lr": "0.1"}, r"\[0\]\['lr'\]"),
        ({"epoch": 2}, r"\[0\]\['epoch'\]: expected 1, got 2"),
        ({"val_accuracy": 0.5}, r"\[0\]\['val_loss'\]: .*null with the other val_ key\), got None"),
        ({"seconds": None}, r"\[0\]\['seconds'\]"),
    ]
    for change, pattern in cases:
        history = json.dumps([{**records[0], **change}, records[1]])
        refuses(crafted(tmp_path, good, history=history), r"metadata 'history': " + pattern)


def test_crafted_tensors_are_refused(tmp_path, good):
    tensors = dict(good[0])
    refuses(
        crafted(tmp_path, good, tensors={**tensors, "junk.x": np.zeros(2)}),
        r"unexpected tensor 'junk.x'",
    )
    nan = tensors["model.0.weight"].copy()
    nan[0, 0] = np.nan
    refuses(
        crafted(tmp_path, good, tensors={**tensors, "model.0.weight": nan}),
        r"tensor 'model.0.weight': expected finite weights",
    )
    refuses(
        crafted(
            tmp_path, good, tensors={**tensors, "model.0.weight": tensors["model.0.weight"][:2]}
        ),
        r"does not fit this model/optimiser/scheduler: .*0.weight.*shape",
    )
    short = {k: v for k, v in tensors.items() if k != "optimizer.0.momentum_buffer"}
    refuses(
        crafted(tmp_path, good, tensors=short),
        r"does not fit.*missing key\(s\) \['0.momentum_buffer'\] \(step 6",
    )
    other = {**short, "optimizer.9.momentum_buffer": tensors["optimizer.0.momentum_buffer"]}
    refuses(crafted(tmp_path, good, tensors=other), r"does not fit.*'9.momentum_buffer'")


def test_an_mt19937_position_past_its_key_is_refused(tmp_path):
    """numpy's MT19937 setter takes any ``pos``; one past 624 would read outside the key."""
    path = tmp_path / "mt.ckpt"
    model = tiny(np.random.MT19937)
    opt, sched = setup(model)
    fit(
        model, opt, (X, Y), epochs=1, batch_size=8, scheduler=sched, progress=False, checkpoint=path
    )
    tensors, meta = weights.read(path)
    states = json.loads(meta["model_rngs"])
    (key,) = states  # the Dropout's generator
    states[key]["state"]["pos"] = 10**6
    weights.save(tensors, path, metadata={**meta, "model_rngs": json.dumps(states)})
    fresh = tiny(np.random.MT19937)
    opt, sched = setup(fresh)
    with pytest.raises(ValueError, match=r"metadata 'model_rngs': .*'pos'.*in \[0, 624\]"):
        fit(
            fresh, opt, (X, Y), epochs=2, batch_size=8, scheduler=sched, progress=False, resume=path
        )


def test_the_good_checkpoint_resumes_to_the_uninterrupted_run(tmp_path, good):
    """The crafted files differ from this one in one field only: it must be accepted."""
    straight = tiny()
    train(straight, *setup(straight))
    resumed = tiny()
    opt, sched = setup(resumed)
    history = train(resumed, opt, sched, resume=crafted(tmp_path, good))
    assert [r["epoch"] for r in history] == [1, 2, 3]
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


def test_read_checkpoint_gives_the_checked_fields(tmp_path, good):
    ck = read_checkpoint(crafted(tmp_path, good))
    assert ck.epoch == 2 and len(ck.history) == 2
    assert ck.run == {
        "epochs": 3,
        "batch_size": 8,
        "seed": 0,
        "n_train": 24,
        "optimizer": "SGD",
        "scheduler": "StepLR",
    }
    assert ck.scheduler is not None and ck.scheduler["last_epoch"] == 2
    assert set(ck.model_state) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert good[1]["format"] == CHECKPOINT_FORMAT


def test_checkpoints_are_written_atomically_and_never_pickled(tmp_path, monkeypatch):
    """A write that fails half-way leaves the previous checkpoint whole and no temporary file."""
    import pickle

    path = tmp_path / "run.ckpt"
    model = tiny()
    opt, sched = setup(model)
    rng = np.random.default_rng(0)
    save_checkpoint(
        path, model=model, optimizer=opt, rng=rng, epoch=0, run={}, history=[], scheduler=sched
    )
    before = path.read_bytes()
    assert b"pickle" not in before and pickle.PROTO not in before[:2]

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(
            path, model=model, optimizer=opt, rng=rng, epoch=1, run={}, history=[], scheduler=sched
        )
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]


def test_history_of_a_negative_or_undefined_loss_resumes(tmp_path, good):
    """A user's loss may be negative, and a held-out loss NaN (every label ignore_index):
    fit records them, and the records resume (to the uninterrupted run's weights)."""
    records = json.loads(good[1]["history"])
    history = json.dumps(
        [{**records[0], "loss": -0.91}, {**records[1], "val_loss": float("nan"), "val_accuracy": 0}]
    )
    straight = tiny()
    train(straight, *setup(straight))
    resumed = tiny()
    got = train(resumed, *setup(resumed), resume=crafted(tmp_path, good, history=history))
    assert got[0]["loss"] == -0.91 and np.isnan(got[1]["val_loss"])
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


@pytest.mark.parametrize("kind", ["missing", "folder", "garbage"])
def test_an_unreadable_checkpoint_is_named_by_fit_and_resume(tmp_path, kind):
    """The file's own errors name the caller's function and argument, as the metadata's do,
    keeping their types (FileNotFoundError, IsADirectoryError, ValueError)."""
    path = tmp_path / "run.ckpt"
    if kind == "folder":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    expected = {"missing": FileNotFoundError, "folder": IsADirectoryError, "garbage": ValueError}
    model = tiny()
    with pytest.raises(expected[kind], match=r"^fit: resume: ") as info:
        train(model, *setup(model), resume=path)
    assert str(path) in str(info.value)
    with pytest.raises(expected[kind], match=r"^read_checkpoint: "):
        read_checkpoint(path)
