"""cnnmath.train: the loop, the losses it records, evaluation, checkpoints and resumption.

Witnesses: PyTorch's ``cross_entropy(label_smoothing=ε)`` for the losses the loop records;
the closed-form cosine for the scheduled rates; a run never interrupted for resumption
(bit-for-bit); hand-built classifiers for the accuracy. Runs are small (a few hundred digits,
a narrow LeNet, BLAS on one thread) to stay fast. The augmentation, the models, the
schedulers and the checkpoint file have their own test modules.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest

from cnnmath import losses, nn, optim, weights
from cnnmath.augment import random_shift
from cnnmath.data import load_digits
from cnnmath.models import lenet
from cnnmath.recipes import train_digits
from cnnmath.train import (
    History,
    TrainingDiverged,
    evaluate,
    fit,
    predict,
)
from helpers import interrupted_at_batch, set_everywhere

pytest.importorskip("sklearn")

SMALL = {"channels": (8, 16, 16), "hidden": 32}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits("train")
    Xt, yt = load_digits("test")
    return X[:300], y[:300], Xt, yt


def small_model(seed=0):
    return lenet(seed, **SMALL)


def no_seconds(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


# ---------------------------------------------------------------------------------------------
# The losses the loop records


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_recorded_losses_are_torchs_cross_entropy_over_all_examples(digits, smoothing):
    """With lr = 0 nothing moves, so the epoch's recorded training loss (batches of 32 and 8,
    weighted by their sizes) and held-out loss are PyTorch's cross-entropy of the whole set."""
    torch = pytest.importorskip("torch")
    X, y, Xt, yt = digits
    X, y, Xt, yt = X[:40].astype(np.float64), y[:40], Xt[:50].astype(np.float64), yt[:50]
    model = lenet(0, dtype=np.float64, **SMALL)
    history = fit(
        model,
        optim.SGD(model.parameters(), lr=0.0),
        (X, y),
        epochs=1,
        batch_size=32,
        val_data=(Xt, yt),
        loss=functools.partial(losses.cross_entropy, label_smoothing=smoothing),
        progress=False,
    )
    F = torch.nn.functional
    for key, (inputs, labels) in (("loss", (X, y)), ("val_loss", (Xt, yt))):
        want = F.cross_entropy(
            torch.from_numpy(model(inputs)), torch.from_numpy(labels), label_smoothing=smoothing
        ).item()
        assert abs(history[0][key] - want) <= 1e-12 * abs(want), key


# ---------------------------------------------------------------------------------------------
# Evaluation


def test_predict_and_evaluate_on_a_hand_built_classifier():
    # logits = x @ I: the predicted class is the index of the largest feature
    model = nn.Sequential(nn.Linear(3, 3, bias=False, rng=0, dtype=np.float64))
    model[0].weight.data[...] = np.eye(3)
    X = np.array([[0.0, 1.0, 0.5], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0], [1.0, 4.0, 0.0]])
    np.testing.assert_array_equal(predict(model, X, batch_size=3), [1, 0, 2, 1])
    assert evaluate(model, X, np.array([1, 0, 0, 1])) == 0.75
    assert model.training  # the mode is restored


# ---------------------------------------------------------------------------------------------
# The loop


def test_fit_learns_a_small_subset(digits, capsys):
    X, y, Xt, yt = digits
    model = small_model(0)
    history = fit(
        model,
        optim.Adam(model.parameters(), lr=5e-3),
        (X, y),
        epochs=8,
        batch_size=32,
        seed=0,
        val_data=(Xt, yt),
        progress=False,
        threads=1,
    )
    assert capsys.readouterr().out == ""  # progress=False is silent
    assert isinstance(history, History) and [r["epoch"] for r in history] == list(range(1, 9))
    assert set(history[0]) == {
        "epoch",
        "loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    }
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    # the recorded held-out accuracy is that of the final weights, and it is well above chance
    assert history[-1]["val_accuracy"] == evaluate(model, Xt, yt)
    assert history[-1]["val_accuracy"] >= 0.75
    assert all(r["lr"] == 5e-3 for r in history)


def test_fit_is_deterministic_and_seed_dependent(digits):
    X, y, _, _ = digits

    def run(seed):
        model = small_model(0)
        h = fit(
            model,
            optim.Adam(model.parameters(), lr=5e-3),
            (X[:100], y[:100]),
            epochs=2,
            batch_size=16,
            seed=seed,
            augment=random_shift,
            progress=False,
            threads=1,
        )
        return model.state_dict(), no_seconds(h)

    (wa, ha), (wb, hb), (wc, _) = run(3), run(3), run(4)
    assert ha == hb
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert not all(np.array_equal(wa[k], wc[k]) for k in wa)


def test_fit_prints_epoch_lines(digits, capsys):
    X, y, Xt, yt = digits
    model = small_model(0)
    fit(
        model,
        optim.SGD(model.parameters(), lr=0.05),
        (X[:40], y[:40]),
        epochs=2,
        batch_size=20,
        val_data=(Xt[:20], yt[:20]),
        progress=True,
        threads=1,
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2  loss ") and "held-out" in lines[0]
    assert lines[1].startswith("epoch 2/2  loss ")


def _without_tqdm(monkeypatch):
    import sys

    import cnnmath.train

    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm.auto` now fails
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    set_everywhere(monkeypatch, cnnmath.train, "_told_no_tqdm", False)  # where the bar reads it


def test_missing_tqdm_is_said_once_when_progress_was_asked(digits, capsys, monkeypatch):
    _without_tqdm(monkeypatch)
    X, y, _, _ = digits
    for _ in range(2):  # two runs, two epochs each: the note comes once
        model = small_model(0)
        fit(
            model,
            optim.SGD(model.parameters(), lr=0.05),
            (X[:40], y[:40]),
            epochs=2,
            batch_size=20,
            progress=True,
            threads=1,
        )
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if "tqdm" in line]
    assert len(notes) == 1 and 'pip install "cnnmath[progress]"' in notes[0], captured.err
    assert len(captured.out.splitlines()) == 4  # the epoch lines still print


def test_missing_tqdm_is_not_mentioned_without_progress(digits, capsys, monkeypatch):
    _without_tqdm(monkeypatch)
    X, y, _, _ = digits
    model = small_model(0)
    fit(
        model,
        optim.SGD(model.parameters(), lr=0.05),
        (X[:40], y[:40]),
        epochs=1,
        batch_size=20,
        progress=False,
        threads=1,
    )
    assert capsys.readouterr() == ("", "")


def cosine(lr, T, e):
    """The closed form of cosine annealing to 0 (SGDR), the witness for CosineAnnealingLR."""
    return lr * (1 + math.cos(math.pi * e / T)) / 2


def test_scheduler_sets_each_epochs_rate_and_steps_after_it(digits):
    X, y, _, _ = digits
    model = small_model(0)
    opt = optim.SGD(model.parameters(), lr=0.04)
    history = fit(
        model,
        opt,
        (X[:32], y[:32]),
        epochs=3,
        batch_size=32,
        scheduler=optim.CosineAnnealingLR(opt, T_max=3),
        progress=False,
    )
    assert [r["lr"] for r in history] == pytest.approx(
        [cosine(0.04, 3, e) for e in range(3)], rel=1e-12
    )
    # stepped after every epoch, as in PyTorch: the optimiser ends at epoch 3's rate, 0
    assert opt.lr == pytest.approx(cosine(0.04, 3, 3), abs=1e-15)


def test_scheduler_of_another_optimiser_is_refused(digits):
    X, y, _, _ = digits
    model = small_model(0)
    opt = optim.SGD(model.parameters(), lr=0.04)
    other = optim.SGD(small_model(1).parameters(), lr=0.04)
    with pytest.raises(ValueError, match="scheduler: it drives another optimiser"):
        fit(
            model,
            opt,
            (X[:32], y[:32]),
            epochs=1,
            scheduler=optim.StepLR(other, step_size=1),
            progress=False,
        )
    with pytest.raises(TypeError, match="scheduler: expected a cnnmath.optim learning-rate"):
        fit(model, opt, (X[:32], y[:32]), epochs=1, scheduler=lambda e: 0.1, progress=False)


# ---------------------------------------------------------------------------------------------
# Checkpoints and resumption


def dropout_model(seed=0):
    """A model holding its own generator (Dropout), to check that its state is resumed too."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.3, rng=np.random.default_rng(seed + 100)),
        nn.Linear(64, 10, rng=rng),
    )


class Interrupt(Exception):
    pass


def interrupting_shift(after_calls):
    """random_shift that raises after ``after_calls`` batches: a run killed mid-epoch."""
    calls = {"n": 0}

    def augment(x, rng):
        calls["n"] += 1
        if calls["n"] > after_calls:
            raise Interrupt
        return random_shift(x, rng)

    return augment


def run_settings(X, y):
    return {
        "train_data": (X, y),
        "epochs": 3,
        "batch_size": 16,
        "seed": 5,
        "loss": functools.partial(losses.cross_entropy, label_smoothing=0.1),
        "progress": False,
    }


def adam_with_cosine(model):
    """Adam at 0.01 annealed over the 3 epochs of ``run_settings``: (optimizer, scheduler)."""
    opt = optim.Adam(model.parameters(), lr=0.01)
    return opt, optim.CosineAnnealingLR(opt, T_max=3)


@pytest.mark.parametrize("make_model", [small_model, dropout_model])
def test_resume_after_interruption_gives_identical_weights(digits, tmp_path, make_model):
    X, y = digits[0][:96], digits[1][:96]  # 6 batches of 16 per epoch
    settings = run_settings(X, y)

    whole = make_model()
    whole_opt, whole_sched = adam_with_cosine(whole)
    whole_history = fit(whole, whole_opt, augment=random_shift, scheduler=whole_sched, **settings)

    ckpt = tmp_path / "run.ckpt"
    first = make_model()
    first_opt, first_sched = adam_with_cosine(first)
    with pytest.raises(Interrupt):  # dies in the middle of epoch 3 (after 2·6 + 3 batches)
        fit(
            first,
            first_opt,
            augment=interrupting_shift(15),
            scheduler=first_sched,
            checkpoint=ckpt,
            **settings,
        )
    tensors, meta = weights.read(ckpt)
    assert json.loads(meta["epoch"]) == 2 and len(json.loads(meta["history"])) == 2

    resumed = make_model(seed=9)  # other initial weights: all must come from the checkpoint
    resumed_opt = optim.Adam(resumed.parameters(), lr=0.5)  # the rate, too
    resumed_sched = optim.CosineAnnealingLR(resumed_opt, T_max=3)  # and the schedule's place
    history = fit(
        resumed,
        resumed_opt,
        augment=random_shift,
        scheduler=resumed_sched,
        checkpoint=ckpt,
        resume=ckpt,
        **settings,
    )
    for key, value in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)
    whole_state, resumed_state = whole_opt.state_dict(), resumed_opt.state_dict()
    assert whole_state.keys() == resumed_state.keys()
    for key in whole_state:
        np.testing.assert_array_equal(resumed_state[key], whole_state[key], err_msg=key)
    assert resumed_sched.state_dict() == whole_sched.state_dict()
    assert no_seconds(history) == no_seconds(whole_history)
    assert json.loads(weights.read(ckpt)[1]["epoch"]) == 3


def test_resume_of_finished_run_trains_nothing(digits, tmp_path):
    X, y = digits[0][:32], digits[1][:32]
    ckpt = tmp_path / "c.ckpt"
    model = small_model()
    fit(
        model,
        optim.SGD(model.parameters(), lr=0.01),
        (X, y),
        epochs=1,
        batch_size=16,
        checkpoint=ckpt,
        progress=False,
    )
    again = small_model(4)
    history = fit(
        again,
        optim.SGD(again.parameters(), lr=0.01),
        (X, y),
        epochs=1,
        batch_size=16,
        resume=ckpt,
        progress=False,
    )
    assert len(history) == 1
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[k], v)


@pytest.mark.parametrize(
    "change, pattern",
    [
        ({"batch_size": 8}, "batch_size=16.*this run has batch_size=8"),
        ({"seed": 1}, "seed=0.*this run has seed=1"),
        ({"epochs": 1}, "at epoch 2, beyond this run's epochs=1"),
        ({"optimizer": "Adam"}, "optimizer='SGD'.*optimizer='Adam'"),
        ({"scheduler": "StepLR"}, "scheduler=None.*this run has scheduler='StepLR'"),
    ],
)
def test_resume_refuses_a_different_run(digits, tmp_path, change, pattern):
    X, y = digits[0][:32], digits[1][:32]
    ckpt = tmp_path / "c.ckpt"
    model = small_model()
    fit(
        model,
        optim.SGD(model.parameters(), lr=0.01),
        (X, y),
        epochs=2,
        batch_size=16,
        checkpoint=ckpt,
        progress=False,
    )
    other = small_model()
    opt = (
        optim.Adam(other.parameters())
        if change.get("optimizer") == "Adam"
        else optim.SGD(other.parameters(), lr=0.01)
    )
    kwargs = {"epochs": 3, "batch_size": 16, "seed": 0, **change}
    kwargs.pop("optimizer", None)
    if kwargs.pop("scheduler", None):
        kwargs["scheduler"] = optim.StepLR(opt, step_size=1)
    before = other.state_dict()
    with pytest.raises(ValueError, match=pattern):
        fit(other, opt, (X, y), resume=ckpt, progress=False, **kwargs)
    for key, value in before.items():  # refused before anything was restored
        np.testing.assert_array_equal(other.state_dict()[key], value)


def test_resume_from_a_weights_file_or_a_corrupt_file(digits, tmp_path):
    X, y = digits[0][:32], digits[1][:32]
    model = small_model()
    plain = tmp_path / "w.safetensors"
    weights.save(model, plain)
    with pytest.raises(ValueError, match="not a cnnmath training checkpoint"):
        fit(
            model,
            optim.SGD(model.parameters(), lr=0.01),
            (X, y),
            epochs=1,
            resume=plain,
            progress=False,
        )
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(plain.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a valid safetensors"):
        fit(
            model,
            optim.SGD(model.parameters(), lr=0.01),
            (X, y),
            epochs=1,
            resume=bad,
            progress=False,
        )


# ---------------------------------------------------------------------------------------------
# Divergence and bad input


@pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"
)
def test_divergence_raises_with_epoch_and_batch(digits):
    X, y = digits[0][:64], digits[1][:64]
    model = small_model()
    with pytest.raises(
        TrainingDiverged,
        match=r"diverged at epoch 1, batch [2-4]/4: the loss "
        r"is (nan|inf).*learning rate 1e\+30",
    ):
        fit(
            model,
            optim.SGD(model.parameters(), lr=1e30),
            (X, y),
            epochs=2,
            batch_size=16,
            progress=False,
        )
    assert issubclass(TrainingDiverged, FloatingPointError)


def test_nan_loss_from_the_loss_function_raises(digits):
    X, y = digits[0][:32], digits[1][:32]
    model = small_model()

    def nan_loss(logits, labels):
        return float("nan"), np.zeros_like(logits)

    with pytest.raises(TrainingDiverged, match="epoch 1, batch 1/2: the loss is nan"):
        fit(
            model,
            optim.SGD(model.parameters(), lr=0.1),
            (X, y),
            epochs=1,
            batch_size=16,
            loss=nan_loss,
            progress=False,
        )


def _bad(X, y, **change):
    X = X.copy()
    y = y.copy()
    if "nan_at" in change:
        X[change["nan_at"], 0, 3, 3] = np.nan
    if "inf_at" in change:
        X[change["inf_at"], 0, 0, 0] = np.inf
    if "label" in change:
        y[change["label"][0]] = change["label"][1]
    return X, y


@pytest.mark.parametrize(
    "change, error, pattern",
    [
        (
            {"nan_at": 7},
            ValueError,
            r"train_data: X has non-finite.*1 example\(s\), the first "
            r"at index 7",
        ),
        ({"inf_at": 3}, ValueError, "non-finite.*index 3"),
        (
            {"label": (5, 10)},
            ValueError,
            r"train_data: expected class indices in \[0, 9\] for "
            r"a model with K = 10 outputs, got y\[5\] = 10",
        ),
        ({"label": (2, -1)}, ValueError, r"train_data: expected class indices >= 0.*y\[2\] = -1"),
    ],
)
def test_bad_training_data(digits, change, error, pattern):
    X, y = _bad(digits[0][:32], digits[1][:32], **change)
    model = small_model()
    before = model.state_dict()
    with pytest.raises(error, match=pattern):
        fit(model, optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1, progress=False)
    for k, v in model.state_dict().items():  # checked before any update
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"train_data": "nope"}, TypeError, r"train_data: expected a pair \(X, y\)"),
        ({"train_data": ("X", "y")}, TypeError, r"train_data\[0\] \(X\)"),
        ({"y": np.zeros(32)}, TypeError, "train_data: expected y as an integer array.*float64"),
        ({"y": np.zeros(31, np.int64)}, ValueError, r"expected y of shape \(32,\).*got \(31,\)"),
        (
            {"val_data": (np.full((2, 1, 8, 8), np.nan, np.float32), np.zeros(2, np.int64))},
            ValueError,
            "val_data: X has non-finite",
        ),
        (
            {"val_data": (np.zeros((2, 1, 8, 8), np.float32), np.array([0, 12]))},
            ValueError,
            r"val_data: expected class indices in \[0, 9\].*y\[1\] = 12",
        ),
        ({"epochs": 0}, ValueError, "epochs: expected an int >= 1, got 0"),
        ({"batch_size": 2.5}, TypeError, "batch_size: expected an int"),
        ({"seed": -1}, ValueError, "seed: expected an int >= 0, got -1"),
        ({"optimizer": "adam"}, TypeError, "optimizer: expected a cnnmath.optim optimiser"),
        ({"model": print}, TypeError, "model: expected a cnnmath.nn.Module"),
        ({"augment": 3}, TypeError, "augment: expected a callable"),
        ({"checkpoint": "/no/such/dir/c.ckpt"}, FileNotFoundError, "/no/such/dir"),
        (
            {"loss": functools.partial(losses.cross_entropy, reduction="none")},
            TypeError,
            r"^fit: loss: expected a real scalar loss \(reduction 'mean' or 'sum'\), got "
            r"ndarray of shape \(32,\)",
        ),
        (
            {"loss": lambda z, y: losses.cross_entropy(z, y)[0]},
            TypeError,
            r"^fit: loss: expected a function returning \(loss, ∂loss/∂logits\), got a float",
        ),
        (
            {"loss": lambda z, y: (1.0, z[:, :3])},
            ValueError,
            r"^fit: loss: expected ∂loss/∂logits of the logits' shape \(32, 10\), got shape "
            r"\(32, 3\)",
        ),
    ],
)
def test_bad_arguments(digits, kwargs, error, pattern):
    X, y = digits[0][:32], digits[1][:32]
    model = small_model()
    settings = {
        "optimizer": optim.SGD(model.parameters(), lr=0.1),
        "train_data": (X, y),
        "epochs": 1,
        "progress": False,
    }
    if "y" in kwargs:
        settings["train_data"] = (X, kwargs.pop("y"))
    settings.update(kwargs)
    optimizer = settings.pop("optimizer")
    model = settings.pop("model", model)
    with pytest.raises(error, match=pattern):
        fit(model, optimizer, **settings)


def test_evaluate_bad_input():
    model = small_model()
    with pytest.raises(ValueError, match=r"expected y of shape \(2,\)"):
        evaluate(model, np.zeros((2, 1, 8, 8), np.float32), np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="X"):
        evaluate(model, np.zeros((2, 1, 8, 8), np.int64), np.zeros(2, np.int64))


# ---------------------------------------------------------------------------------------------
# The digits recipe, briefly (the full recipe runs in `cnnmath train`, not in the tests)


def test_train_digits_quick_run_saves_loadable_weights(tmp_path):
    path = tmp_path / "digits.safetensors"
    model, history, accuracy = train_digits(epochs=1, seed=0, progress=False, save=path, limit=128)
    assert len(history) == 1 and 0.0 <= accuracy <= 1.0
    X_test, y_test = load_digits("test")
    assert accuracy == evaluate(model, X_test, y_test)
    assert history[-1]["val_accuracy"] == accuracy  # held-out record = the test split
    fresh = lenet(7)
    loaded = weights.load(fresh, path)
    assert float(loaded.metadata["test_accuracy"]) == pytest.approx(accuracy, abs=1e-6)
    assert evaluate(fresh, X_test, y_test) == accuracy


def test_train_digits_refuses_missing_directory_before_training(tmp_path):
    with pytest.raises(FileNotFoundError, match="save: output directory does not exist: .*missing"):
        train_digits(epochs=1, progress=False, save=tmp_path / "missing" / "w.safetensors")
    assert not (tmp_path / "missing").exists()


def test_train_digits_checks_every_output_before_training(tmp_path, monkeypatch):
    import cnnmath.recipes

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(cnnmath.recipes, "fit", no_training)
    with pytest.raises(IsADirectoryError, match="train_digits: save: .* is a directory"):
        train_digits(epochs=1, progress=False, save=tmp_path)
    with pytest.raises(
        ValueError, match="train_digits: checkpoint: expected a file path, got an empty"
    ):
        train_digits(epochs=1, progress=False, checkpoint="")
    same = tmp_path / "w.st"
    with pytest.raises(ValueError, match="train_digits: save and checkpoint are the same file"):
        train_digits(epochs=1, progress=False, save=same, checkpoint=same)
    assert list(tmp_path.iterdir()) == []


def test_fit_refuses_a_folder_as_checkpoint_before_training(digits, tmp_path):
    X, y = digits[0][:32], digits[1][:32]
    model = small_model()
    before = model.state_dict()
    with pytest.raises(IsADirectoryError, match="fit: checkpoint: .* is a directory"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1, checkpoint=tmp_path)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("bit_generator", [np.random.MT19937, np.random.Philox, np.random.SFC64])
def test_checkpoints_hold_generators_whose_state_has_arrays(bit_generator, tmp_path):
    """MT19937/Philox/SFC64 states hold arrays (not JSON); a checkpointed run still resumes."""
    from cnnmath import nn, optim, train

    rng = np.random.default_rng(0)
    X = rng.random((24, 5))
    y = rng.integers(0, 3, 24)

    def model():
        return nn.Sequential(
            nn.Linear(5, 4, rng=0, dtype=np.float64),
            nn.Dropout(0.5, rng=np.random.Generator(bit_generator(1))),
            nn.Linear(4, 3, rng=1, dtype=np.float64),
        )

    straight = model()
    train.fit(
        straight,
        optim.SGD(straight.parameters(), lr=0.1),
        (X, y),
        epochs=2,
        batch_size=8,
        progress=False,
    )
    ck = tmp_path / "run.ckpt"
    first = model()
    train.fit(
        first,
        optim.SGD(first.parameters(), lr=0.1),
        (X, y),
        epochs=1,
        batch_size=8,
        progress=False,
        checkpoint=ck,
    )
    resumed = model()
    train.fit(
        resumed,
        optim.SGD(resumed.parameters(), lr=0.1),
        (X, y),
        epochs=2,
        batch_size=8,
        progress=False,
        resume=ck,
    )
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_fit_threads_sets_cnnmaths_count_for_the_call_and_restores_it(digits):
    """threads=n is ``cnnmath.set_num_threads(n)`` while training (seen from inside the loop,
    through ``augment``), and the counts before the call — cnnmath's and NumPy's BLAS — are
    back afterwards, also when training fails; the weights do not depend on n."""
    from threadpoolctl import threadpool_info

    import cnnmath

    def blas():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    X, y, _, _ = digits
    before = (cnnmath.get_num_threads(), blas())
    results = {}
    for n in (1, 2):
        seen = []

        def augment(x, rng, seen=seen):
            seen.append((cnnmath.get_num_threads(), blas()))
            return x

        model = small_model(0)
        fit(
            model,
            optim.Adam(model.parameters()),
            (X[:64], y[:64]),
            epochs=1,
            batch_size=32,
            augment=augment,
            progress=False,
            threads=n,
        )
        assert seen == [(n, [n] * len(before[1]))] * 2
        assert (cnnmath.get_num_threads(), blas()) == before
        results[n] = model.state_dict()
    for key, value in results[1].items():
        np.testing.assert_array_equal(value, results[2][key])

    def fails(x, rng):
        raise RuntimeError("augment failed")

    with pytest.raises(RuntimeError, match="augment failed"):
        fit(
            small_model(0),
            optim.SGD(small_model(0).parameters(), lr=0.1),
            (X[:32], y[:32]),
            epochs=1,
            augment=fails,
            progress=False,
            threads=2,
        )
    assert (cnnmath.get_num_threads(), blas()) == before


def test_train_digits_resumed_without_epochs_keeps_the_checkpoints_run(tmp_path):
    """A 2-epoch run interrupted in its second epoch, resumed with no ``epochs``: it ends
    where the uninterrupted run ends (the recipe's 40 epochs would change the schedule); a
    conflicting ``epochs`` is refused naming both."""
    full, _, full_accuracy = train_digits(epochs=2, progress=False, limit=64)
    ckpt = tmp_path / "run.ckpt"
    with interrupted_at_batch(3), pytest.raises(KeyboardInterrupt):  # 64 images: 2 batches
        train_digits(epochs=2, progress=False, limit=64, checkpoint=ckpt)
    with pytest.raises(ValueError, match=r"comes from a run of 2 epochs, this one has 3"):
        train_digits(epochs=3, progress=False, limit=64, resume=ckpt)
    resumed, _, accuracy = train_digits(progress=False, limit=64, resume=ckpt)
    assert accuracy == full_accuracy
    for key, value in full.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)
