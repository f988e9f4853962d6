"""``cnnmath.checkpoint.save`` / ``load``: a hand-written loop's checkpoint, as PyTorch's
``torch.save({"model": ..., "optimizer": ..., "scheduler": ..., "epoch": e})``. A run
stopped and resumed from the file ends where PyTorch's uninterrupted run ends, and the file
is checked as untrusted input."""

import os

import numpy as np
import pytest

from cnnmath import checkpoint, nn, optim, weights
from helpers import rel_error, small_cnn_pair

torch = pytest.importorskip("torch")
safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _batches(n, seed=3):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((2, 5))) for _ in range(n)]


def _step(model, opt, x, G):
    opt.zero_grad()
    model(x)
    model.backward(G, input_grad=False)
    opt.step()


def test_a_resumed_run_ends_where_torchs_uninterrupted_run_ends(tmp_path):
    ours, tm = small_cnn_pair(0)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=2, gamma=0.5)
    batches = _batches(6)
    for x, G in batches:
        topt.zero_grad()
        (tm(torch.from_numpy(x)) * torch.from_numpy(G)).sum().backward()
        topt.step()
        tsched.step()

    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    for x, G in batches[:3]:
        _step(ours, opt, x, G)
        sched.step()
    path = tmp_path / "run.safetensors"
    checkpoint.save(path, model=ours, optimizer=opt, scheduler=sched, epoch=2, losses=[0.5, 0.25])

    again, _ = small_cnn_pair(1)  # other weights, fresh optimiser and schedule
    opt2 = optim.SGD(again.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    sched2 = optim.StepLR(opt2, step_size=2, gamma=0.5)
    extra = checkpoint.load(path, model=again, optimizer=opt2, scheduler=sched2)
    assert extra == {"epoch": 2, "losses": [0.5, 0.25]}
    for x, G in batches[3:]:
        _step(again, opt2, x, G)
        sched2.step()
    assert opt2.lr == pytest.approx(tsched.get_last_lr()[0], rel=1e-15)
    for key, value in tm.state_dict().items():
        assert rel_error(again.state_dict()[key], value.numpy()) < 1e-12, key


def test_dropout_masks_resume_where_they_were(tmp_path):
    def model():
        return nn.Sequential(nn.Linear(4, 8, rng=0), nn.Dropout(0.5, rng=1), nn.Linear(8, 2, rng=2))

    x = np.ones((3, 4), np.float32)
    whole = model()
    whole(x)
    want = whole(x)  # the second pass's mask
    first = model()
    first(x)
    checkpoint.save(tmp_path / "m.safetensors", model=first)
    second = model()
    checkpoint.load(tmp_path / "m.safetensors", model=second)
    np.testing.assert_array_equal(second(x), want)


def _trained(tmp_path):
    ours, _ = small_cnn_pair(0)
    opt = optim.Adam(ours.parameters(), lr=0.01)
    _step(ours, opt, *_batches(1)[0])
    path = tmp_path / "run.safetensors"
    checkpoint.save(path, model=ours, optimizer=opt, epoch=1)
    return ours, opt, path


def test_a_file_that_does_not_fit_changes_nothing(tmp_path):
    """The model fits but the optimiser does not (Adam's state into SGD): the model, already
    loaded when the optimiser refuses, is put back; a missing part is named."""
    _, _, path = _trained(tmp_path)
    target = small_cnn_pair(1)[0]
    sgd = optim.SGD(target.parameters(), lr=0.1, momentum=0.9)
    before = target.state_dict()
    with pytest.raises(ValueError, match=r"checkpoint.load: .*run.safetensors does not fit"):
        checkpoint.load(path, model=target, optimizer=sgd)
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert sgd.step_count == 0
    schedule_opt = optim.SGD(target.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler: the file holds no scheduler state"):
        checkpoint.load(path, model=target, scheduler=optim.StepLR(schedule_opt, 2))
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"format": "cnnmath-checkpoint-2"}, "not a file of checkpoint.save.*fit\\(resume"),
        ({}, "not a file of checkpoint.save.*weights.load"),
        (
            {"format": "cnnmath-state-1", "scheduler": "null", "model_rngs": "{}", "extra": "[1"},
            "metadata 'extra': not valid JSON",
        ),
        (
            {"format": "cnnmath-state-1", "scheduler": "7", "model_rngs": "{}", "extra": "{}"},
            "metadata 'scheduler': expected a scheduler state object or null",
        ),
        ({"format": "cnnmath-state-1"}, "damaged file: expected the metadata"),
    ],
)
def test_a_file_that_is_not_a_saved_state_is_refused_naming_what(tmp_path, metadata, message):
    ours, _ = small_cnn_pair(0)
    path = tmp_path / "bad.safetensors"
    tensors = {"model." + k: v for k, v in ours.state_dict().items()}
    safetensors_numpy.save_file(tensors, path, metadata=metadata or None)
    target = small_cnn_pair(1)[0]
    before = target.state_dict()
    with pytest.raises(ValueError, match=message):
        checkpoint.load(path, model=target)
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_a_value_json_cannot_hold_is_refused_before_anything_is_written(tmp_path):
    ours, _ = small_cnn_pair(0)
    path = tmp_path / "run.safetensors"
    with pytest.raises(TypeError, match="checkpoint.save: seen: expected a value JSON holds"):
        checkpoint.save(path, model=ours, seen={1, 2})
    assert not os.path.exists(path)
    checkpoint.save(path, model=ours, best=np.float32(0.5), step=np.int64(7))  # NumPy scalars
    assert checkpoint.load(path, model=ours) == {"best": 0.5, "step": 7}
    weights.save(ours, path)  # a weights file is not a saved state
    with pytest.raises(ValueError, match="weights.load"):
        checkpoint.load(path, model=ours)
