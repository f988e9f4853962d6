"""fit beyond one class per example: per-pixel class indices (segmentation), float targets
with a regression loss, multi-label 0/1 targets with BCE-with-logits — each run against the
same mini-batch SGD written out in PyTorch (same initial weights, same batch order, float64),
with the accuracy recorded only where it means something."""

import functools

import numpy as np
import pytest

from cnnmath import checkpoint, losses, nn
from cnnmath.optim import SGD
from cnnmath.train import fit

torch = pytest.importorskip("torch")
F = torch.nn.functional

N, B, EPOCHS, LR, SEED = 12, 5, 3, 0.1, 7


def _torch_sgd(model, X, y, loss_fn):
    """The loop fit runs: each epoch a permutation from default_rng(SEED), batches of B, one
    SGD step each; returns the epoch-mean losses."""
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    rng = np.random.default_rng(SEED)
    means = []
    for _ in range(EPOCHS):
        order = rng.permutation(N)
        total = 0.0
        for k in range(0, N, B):
            batch = order[k : k + B]
            loss = loss_fn(model(torch.from_numpy(X[batch])), torch.from_numpy(y[batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        means.append(total / N)
    return means


def _same_weights(ours, theirs):
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})


def _compare(ours, theirs, history, means):
    np.testing.assert_allclose([r["loss"] for r in history], means, rtol=1e-10)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-10, atol=1e-14)


def test_segmentation_with_per_pixel_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 3, 6, 7))
    y = rng.integers(0, 4, size=(N, 6, 7))
    ours = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, rng=1, dtype=np.float64),
        nn.ReLU(),
        nn.Conv2d(8, 4, 1, rng=2, dtype=np.float64),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1)
    ).double()
    _same_weights(ours, theirs)
    history = fit(
        ours,
        SGD(ours.parameters(), lr=LR),
        (X, y),
        epochs=EPOCHS,
        batch_size=B,
        seed=SEED,
        val_data=(X, y),
        progress=False,
    )
    _compare(ours, theirs, history, _torch_sgd(theirs, X, y, F.cross_entropy))
    # the recorded held-out accuracy is per pixel, of the final model
    with torch.no_grad():
        pixels = (theirs(torch.from_numpy(X)).argmax(1).numpy() == y).mean()
    assert history[-1]["val_accuracy"] == pytest.approx(pixels, abs=1e-12)
    assert 0 < history[0]["train_accuracy"] < 1


def test_segmentation_with_an_ignored_label():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N, 2, 5, 5))
    y = rng.integers(0, 3, size=(N, 5, 5))
    y[:, 0, :] = 255  # an unlabelled border
    ours = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=3, dtype=np.float64))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1)).double()
    _same_weights(ours, theirs)
    loss = functools.partial(losses.cross_entropy, ignore_index=255)
    history = fit(
        ours,
        SGD(ours.parameters(), lr=LR),
        (X, y),
        epochs=EPOCHS,
        batch_size=B,
        seed=SEED,
        loss=loss,
        val_data=(X, y),
        progress=False,
    )
    _compare(
        ours,
        theirs,
        history,
        _torch_sgd(theirs, X, y, functools.partial(F.cross_entropy, ignore_index=255)),
    )
    with torch.no_grad():
        pred = theirs(torch.from_numpy(X)).argmax(1).numpy()
    labelled = y != 255
    assert history[-1]["val_accuracy"] == pytest.approx((pred == y)[labelled].mean(), abs=1e-12)


def test_regression_with_float_targets():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(N, 4))
    y = rng.normal(size=(N, 2))
    ours = nn.Sequential(
        nn.Linear(4, 6, rng=4, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(6, 2, rng=5, dtype=np.float64),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2)
    ).double()
    _same_weights(ours, theirs)
    history = fit(
        ours,
        SGD(ours.parameters(), lr=LR),
        (X, y),
        epochs=EPOCHS,
        batch_size=B,
        seed=SEED,
        loss=losses.huber_loss,
        val_data=(X, y),
        progress=False,
    )
    _compare(ours, theirs, history, _torch_sgd(theirs, X, y, F.huber_loss))
    assert all(r["train_accuracy"] is None and r["val_accuracy"] is None for r in history)
    assert history[-1]["val_loss"] == pytest.approx(
        losses.huber_loss(ours.eval()(X), y)[0], rel=1e-12
    )


def test_multi_label_with_bce_and_a_checkpoint(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, 5))
    y = (rng.uniform(size=(N, 3)) < 0.4).astype(np.float64)
    ours = nn.Sequential(nn.Linear(5, 3, rng=6, dtype=np.float64))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 3)).double()
    _same_weights(ours, theirs)
    path = tmp_path / "run.ckpt"
    opt = SGD(ours.parameters(), lr=LR)
    loss = losses.binary_cross_entropy_with_logits
    fit(
        ours,
        opt,
        (X, y),
        epochs=2,
        batch_size=B,
        seed=SEED,
        loss=loss,
        checkpoint=path,
        progress=False,
    )
    history = fit(
        ours,
        opt,
        (X, y),
        epochs=EPOCHS,
        batch_size=B,
        seed=SEED,
        loss=loss,
        resume=path,
        progress=False,
    )  # the history's null accuracies read back
    assert checkpoint.read_checkpoint(path).history[0]["train_accuracy"] is None
    _compare(ours, theirs, history, _torch_sgd(theirs, X, y, F.binary_cross_entropy_with_logits))


def test_epoch_lines_leave_out_what_was_not_measured(capsys):
    X = np.random.default_rng(4).normal(size=(N, 3))
    model = nn.Sequential(nn.Linear(3, 1, rng=0, dtype=np.float64))
    fit(
        model,
        SGD(model.parameters(), lr=0.01),
        (X, X[:, :1] * 2),
        epochs=1,
        batch_size=B,
        loss=losses.mse_loss,
        val_data=(X, X[:, :1]),
        progress=True,
    )
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "loss" in line and "held-out loss" in line and "acc" not in line


@pytest.mark.parametrize(
    ("y", "kwargs", "error", "words"),
    [
        (np.zeros((N, 2)), {}, TypeError, ["train_data", "integer", "loss="]),
        (np.zeros(N + 1, np.int64), {}, ValueError, ["train_data", f"({N},)", f"({N + 1},)"]),
        (np.full((N, 4, 4), -1), {}, ValueError, ["train_data", "y[0, 0, 0] = -1"]),
        (np.full((N, 4, 4), 9), {}, ValueError, ["train_data", "K = 3", "y[0, 0, 0] = 9"]),
        (np.zeros(N, bool), {"loss": losses.mse_loss}, TypeError, ["train_data", "bool"]),
    ],
)
def test_bad_targets_are_named(y, kwargs, error, words):
    X = np.zeros((N, 2, 4, 4))
    model = nn.Sequential(nn.Conv2d(2, 3, 1, rng=0, dtype=np.float64))
    with pytest.raises(error) as caught:
        fit(model, SGD(model.parameters(), lr=0.1), (X, y), epochs=1, progress=False, **kwargs)
    for word in words:
        assert word in str(caught.value)
