"""Training through a graph: ``fit`` on a ResNet with BatchNorm, its digits recipe, and
checkpoints that resume a ResNet run bit for bit.

Witnesses: a PyTorch twin of ``resnet20`` (written here in ``torch.nn`` from He et al.'s
description, option-A shortcuts by ``F.pad``) replays fit's batches with torch's autograd,
``torch.optim.SGD`` and ``StepLR``; the uninterrupted run is the witness of a resumed one;
counts of batches are worked out from N and B.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re

import numpy as np
import pytest

from cnnmath import losses, optim, weights
from cnnmath.augment import random_shift
from cnnmath.cli import main
from cnnmath.data import load_digits
from cnnmath.models import resnet20
from cnnmath.models.resnet import CifarResNet
from cnnmath.recipes import RESNET20_RECIPE, digits_model, train_digits
from cnnmath.train import evaluate, fit
from helpers import assert_close

pytest.importorskip("sklearn")
pytest.importorskip("safetensors")


@pytest.fixture
def torch_one_thread():
    """torch on one thread for the test (threads spinning on shared cores are slow)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits64():
    X, y = load_digits("train", dtype=np.float64)
    Xt, yt = load_digits("test", dtype=np.float64)
    return X, y, Xt, yt


def batch_norms(model):
    return [m for m in model.modules() if type(m).__name__ == "BatchNorm2d"]


# ---------------------------------------------------------------------------------------------
# fit on a Graph, against a PyTorch replay


def torch_resnet20(torch, in_channels=1, num_classes=10):
    """He et al.'s ResNet-20 in torch.nn with cnnmath's (torchvision's) module names."""
    tnn, F = torch.nn, torch.nn.functional

    class ShortcutA(tnn.Module):
        def __init__(self, pad):
            super().__init__()
            self.pad = pad

        def forward(self, x):
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))

    class Block(tnn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(c_out)
            self.conv2 = tnn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(c_out)
            self.downsample = ShortcutA(c_out // 4) if stride != 1 or c_in != c_out else None

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(16)
            widths = [(16, 16, 1), (16, 32, 2), (32, 64, 2)]
            self.layer1, self.layer2, self.layer3 = (
                tnn.Sequential(Block(a, b, s), Block(b, b, 1), Block(b, b, 1)) for a, b, s in widths
            )
            self.fc = tnn.Linear(64, num_classes)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.fc(x.mean(dim=(2, 3)))

    return Net().double()


def test_fit_on_resnet20_equals_a_pytorch_replay_with_batchnorm_modes(digits64, torch_one_thread):
    """fit through a Graph with BatchNorm: every weight and running statistic after two epochs
    of SGD (momentum, weight decay, StepLR) equals torch's replay of the same batches, each
    epoch's training loss is torch's train-mode loss, and the held-out loss and accuracy are
    torch's *eval-mode* ones (they differ from the train-mode ones, so a validation pass in
    the wrong mode fails here, and it would also count extra batches)."""
    torch = torch_one_thread
    F = torch.nn.functional
    X, y, Xt, yt = digits64
    X, y, Xv, yv = X[:64], y[:64], Xt[:40], yt[:40]
    epochs, B, seed = 2, 16, 3

    model = resnet20(10, in_channels=1, seed=1, dtype=np.float64)
    twin = torch_resnet20(torch)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    t_opt = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    t_sched = torch.optim.lr_scheduler.StepLR(t_opt, step_size=1, gamma=0.5)

    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(
        model,
        opt,
        (X, y),
        epochs=epochs,
        batch_size=B,
        seed=seed,
        val_data=(Xv, yv),
        scheduler=sched,
        progress=False,
        threads=1,
    )

    rng = np.random.default_rng(seed)  # fit's stream: one permutation per epoch, nothing else
    xv, yv_t = torch.from_numpy(Xv), torch.from_numpy(yv)
    for epoch in range(epochs):
        order = rng.permutation(X.shape[0])
        twin.train()
        total = 0.0
        for k in range(0, X.shape[0], B):
            idx = order[k : k + B]
            loss = F.cross_entropy(twin(torch.from_numpy(X[idx])), torch.from_numpy(y[idx]))
            t_opt.zero_grad()
            loss.backward()
            t_opt.step()
            total += float(loss.detach()) * idx.shape[0]
        assert_close(history[epoch]["loss"], total / X.shape[0], factor=1e3)
        with torch.no_grad():
            eval_logits = twin.eval()(xv)
            # batch statistics instead, on a copy (a train-mode pass moves the running ones)
            train_mode_loss = float(F.cross_entropy(copy.deepcopy(twin).train()(xv), yv_t))
        eval_loss = float(F.cross_entropy(eval_logits, yv_t))
        # the two modes give different numbers here: the check below can tell them apart
        assert abs(train_mode_loss - eval_loss) > 1e-3 * eval_loss
        assert_close(history[epoch]["val_loss"], eval_loss, factor=1e3)
        accuracy = float((eval_logits.argmax(1) == yv_t).double().mean())
        assert history[epoch]["val_accuracy"] == accuracy
        t_sched.step()

    state = model.state_dict()
    want = twin.state_dict()
    assert list(state) == list(want)
    for key, value in want.items():
        if key.endswith("num_batches_tracked"):
            assert state[key].dtype == np.int64
            assert int(state[key]) == epochs * math.ceil(X.shape[0] / B), key
        else:
            assert_close(state[key], value.numpy(), factor=1e3)
    assert model.training and all(m.training for m in model.modules())


# ---------------------------------------------------------------------------------------------
# Checkpoints of a ResNet run


class Interrupt(Exception):
    pass


def interrupting_shift(after_calls):
    """random_shift that raises at batch ``after_calls + 1``: a run killed there."""
    calls = {"n": 0}

    def augment(x, rng):
        calls["n"] += 1
        if calls["n"] > after_calls:
            raise Interrupt
        return random_shift(x, rng)

    return augment


def sgd_step(model):
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    return opt, optim.StepLR(opt, step_size=2, gamma=0.1)


def adam_cosine(model):
    opt = optim.Adam(model.parameters(), lr=0.01)
    return opt, optim.CosineAnnealingLR(opt, T_max=3)


def resnet_run(X, y):
    return {
        "train_data": (X, y),
        "epochs": 3,
        "batch_size": 16,
        "seed": 4,
        "loss": functools.partial(losses.cross_entropy, label_smoothing=0.1),
        "progress": False,
        "threads": 1,
    }


@pytest.mark.parametrize(
    "make_optimizer, after_calls",
    [(sgd_step, 12), (adam_cosine, 15)],  # killed as epoch 3 starts / in its middle
    ids=["sgd-steplr-at-epoch-end", "adam-cosine-mid-epoch"],
)
def test_resnet20_resumes_to_the_same_weights_and_buffers_bit_for_bit(
    tmp_path, make_optimizer, after_calls
):
    X, y = load_digits("train")
    X, y = X[:96], y[:96]  # 6 batches of 16 per epoch
    settings = resnet_run(X, y)

    whole = resnet20(10, in_channels=1, seed=2)
    whole_opt, whole_sched = make_optimizer(whole)
    whole_history = fit(whole, whole_opt, augment=random_shift, scheduler=whole_sched, **settings)

    ckpt = tmp_path / "run.ckpt"
    first = resnet20(10, in_channels=1, seed=2)
    first_opt, first_sched = make_optimizer(first)
    with pytest.raises(Interrupt):
        fit(
            first,
            first_opt,
            augment=interrupting_shift(after_calls),
            scheduler=first_sched,
            checkpoint=ckpt,
            **settings,
        )
    tensors, meta = weights.read(ckpt)
    assert json.loads(meta["epoch"]) == 2
    assert tensors["model.layer2.0.bn1.num_batches_tracked"].dtype == np.int64
    assert int(tensors["model.layer2.0.bn1.num_batches_tracked"]) == 2 * 6

    resumed = resnet20(10, in_channels=1, seed=9)  # other weights: all must come from the file
    resumed_opt, resumed_sched = make_optimizer(resumed)
    resumed_opt.lr = 0.5  # the rate, too
    fresh = {k: v.copy() for k, v in resumed.named_buffers()}
    history = fit(
        resumed,
        resumed_opt,
        augment=random_shift,
        scheduler=resumed_sched,
        checkpoint=ckpt,
        resume=ckpt,
        **settings,
    )

    want, got = whole.state_dict(), resumed.state_dict()
    assert list(got) == list(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    buffers = dict(resumed.named_buffers())
    assert buffers.keys() == dict(whole.named_buffers()).keys()
    assert len(buffers) == 3 * len(batch_norms(whole))  # mean, var, count of each BatchNorm
    for key, value in whole.named_buffers():
        np.testing.assert_array_equal(buffers[key], value, err_msg=key)
        if key.endswith("num_batches_tracked"):
            assert int(value) == 3 * 6
        else:  # the running statistics moved away from a fresh model's (1s and 0s)
            assert not np.array_equal(value, fresh[key]), key
    whole_state, resumed_state = whole_opt.state_dict(), resumed_opt.state_dict()
    assert whole_state.keys() == resumed_state.keys()
    for key in whole_state:
        np.testing.assert_array_equal(resumed_state[key], whole_state[key], err_msg=key)
    assert resumed_sched.state_dict() == whole_sched.state_dict()
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in whole_history]


@pytest.mark.parametrize(
    "change, pattern",
    [
        (lambda t: t.pop("model.layer1.0.bn1.running_var"), r"missing key.*layer1\.0\.bn1"),
        (
            lambda t: t.update(
                {"model.bn1.num_batches_tracked": np.array(6.0)}  # a float count
            ),
            r"bn1\.num_batches_tracked.*expected dtype int64",
        ),
    ],
    ids=["missing-running-var", "float-batch-count"],
)
def test_a_checkpoint_without_sound_buffers_is_refused_and_changes_nothing(
    tmp_path, change, pattern
):
    X, y = load_digits("train")
    settings = resnet_run(X[:32], y[:32])
    settings["epochs"] = 1
    ckpt = tmp_path / "run.ckpt"
    model = resnet20(10, in_channels=1, seed=2)
    opt, sched = sgd_step(model)
    fit(model, opt, scheduler=sched, checkpoint=ckpt, **settings)
    tensors, meta = weights.read(ckpt)
    change(tensors)
    weights.save(tensors, ckpt, metadata=meta)

    other = resnet20(10, in_channels=1, seed=3)
    other_opt, other_sched = sgd_step(other)
    before = other.state_dict()
    with pytest.raises(ValueError, match="does not fit") as info:
        fit(other, other_opt, scheduler=other_sched, resume=ckpt, **settings)
    assert str(ckpt) in str(info.value)
    assert re.search(pattern, str(info.value)), str(info.value)
    after = other.state_dict()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


# ---------------------------------------------------------------------------------------------
# The resnet20 digits recipe


def test_resnet20_digits_recipe_reaches_98_percent_held_out():
    """The full recipe (all 1437 training images, 16 epochs): >= 0.98 on the 360 test
    images. Slow for a unit test (~20 s on one core) but it is the claim itself, not a
    reduction."""
    model, history, accuracy = train_digits(arch="resnet20", progress=False)
    assert isinstance(model, CifarResNet) and model.conv1.in_channels == 1
    assert len(history) == RESNET20_RECIPE["epochs"] == 16
    Xt, yt = load_digits("test")
    assert accuracy == evaluate(model, Xt, yt)
    assert accuracy >= 0.98, accuracy
    for bn in batch_norms(model):
        assert int(bn.num_batches_tracked) == 16 * math.ceil(1437 / 32)


def test_resume_with_another_arch_is_refused_naming_both(tmp_path):
    ckpt = tmp_path / "lenet.ckpt"
    train_digits(epochs=1, progress=False, checkpoint=ckpt, limit=32)
    with pytest.raises(
        ValueError, match=r"another network than arch='resnet20' \(those of arch='lenet'\)"
    ):
        train_digits(epochs=1, arch="resnet20", progress=False, resume=ckpt, limit=32)
    with pytest.raises(
        ValueError, match=r"train_digits: arch: expected one of \['lenet', 'resnet20'\], got 'vgg'"
    ):
        train_digits(arch="vgg")


def test_cli_trains_resnet20_and_saves_weights_that_give_the_printed_accuracy(tmp_path, capsys):
    path = tmp_path / "r20.safetensors"
    argv = ["train", "--arch", "resnet20", "--epochs", "1", "--limit", "64", "--quiet"]
    assert main([*argv, "--save", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("test accuracy ")
    model = digits_model("resnet20", seed=0)
    weights.load(model, path)  # BatchNorm's running statistics come with the weights
    assert int(model.bn1.num_batches_tracked) == 2  # 64 images, batches of 32
    Xt, yt = load_digits("test")
    assert lines[0] == f"test accuracy {evaluate(model, Xt, yt):.3f}"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--arch", "vgg"])
    assert exit_.value.code == 2
    assert "invalid choice: 'vgg'" in capsys.readouterr().err
