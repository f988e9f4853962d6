"""cnnmath.models.s3d against torchvision 0.28.0's torchvision.models.video.s3d as the witness:
the same repr, parameter count (its published 8 320 048), state_dict keys and shapes;
PyTorch's default initialisation laws, which torchvision's S3D keeps; the feature map's size
formula and the smallest clip its 2×7×7 average pool accepts (13 frames of 209×209);
torchvision's random weights, with random BatchNorm statistics, loaded strictly, give the same
eval logits on that clip (float32 and float64); one float64 training step (cross entropy, SGD)
gives the same logits, loss, every parameter's gradient, updated parameters and running
statistics; weights cross as safetensors both ways; and ``cnnmath summary s3d`` runs.

The smallest clip costs ~3 s a float64 forward here, so the training step runs on a small
(2, 3, 8, 96, 96) clip with the average pool (no parameters) replaced on both sides by a
1×2×2 one, which the clip's 1×3×3 feature map allows: every layer with parameters runs
forward and backward, and the closing mean averages 2×2 positions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnmath import losses, models, nn, optim
from cnnmath.models.s3d import MIN_FRAMES, MIN_SIZE
from helpers import randomise_batchnorm, rel_error
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")

PARAMETERS = 8_320_048  # torchvision's published count for 400 classes (weights' meta)
CLIP = (1, 3, MIN_FRAMES, MIN_SIZE, MIN_SIZE)  # the smallest clip S3D accepts
SMALL = (2, 3, 8, 96, 96)  # for the training step, with a 1×2×2 average pool
TOL32 = 1e-4  # float32 through 30 layers, relative to the logits' scale
TOL64 = 1e-10
TOL64_TRAIN = 1e-8  # train-mode BatchNorm over few values per channel amplifies rounding


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _torchvision(**kw):
    return import_torchvision().models.video.s3d(**kw)


def _numpy_state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _clip(seed, shape=CLIP, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_layout_matches_torchvision():
    """repr (torchvision's ReLU prints inplace=True), parameter count (torchvision's and its
    published one), state_dict keys in order, shapes and dtypes are torchvision's."""
    ours, theirs = models.s3d(), _torchvision()
    assert repr(ours) == repr(theirs).replace("inplace=True", "")
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == PARAMETERS
    got = {k: (v.shape, v.dtype) for k, v in ours.state_dict().items()}
    want = {k: (v.shape, v.dtype) for k, v in _numpy_state(theirs).items()}
    assert list(got) == list(want)
    assert got == want
    bn = ours.features[0][0][1]
    assert (bn.eps, bn.momentum) == (0.001, 0.001)


def test_initialisation_is_pytorchs_default():
    """torchvision's S3D sets no initialisation of its own, so PyTorch's defaults hold, here
    drawn from the seed: every Conv3d weight U(−b, b), b = 1/√fan_in, fan_in = C_in·f0·f1·f2
    (within the bound, std b/√3 within 10 % on the weights with enough draws, torchvision's
    as well); the classifier's bias U(−1/√1024, 1/√1024); BatchNorm γ = 1, β = 0 and the
    running statistics 0 and 1. The same seed gives the same weights, another seed others."""
    state = models.s3d(seed=3).state_dict()
    theirs = _numpy_state(_torchvision())
    checked = 0
    for key, value in state.items():
        if value.ndim == 5:
            bound = 1 / math.sqrt(int(np.prod(value.shape[1:])))
            assert np.abs(value).max() <= bound, key
            assert np.abs(theirs[key]).max() <= bound, key
            if value.size >= 4096:
                for w in (value, theirs[key]):
                    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.1, key
                    assert abs(w.mean()) < 0.1 * bound, key
                checked += 1
        elif key == "classifier.1.bias":
            assert value.shape == (400,) and np.abs(value).max() <= 1 / 32
            assert value.std() > 0.5 / 32 / math.sqrt(3)
        elif key.endswith((".weight", ".running_var")):  # BatchNorm
            assert np.all(value == 1), key
        elif key.endswith((".bias", ".running_mean")):
            assert np.all(value == 0), key
    assert checked >= 50
    again, other = models.s3d(seed=3).state_dict(), models.s3d(seed=4).state_dict()
    assert all(np.array_equal(again[k], v) for k, v in state.items())
    for key in ("features.0.0.0.weight", "features.15.branch3.1.0.weight", "classifier.1.bias"):
        assert not np.array_equal(other[key], state[key]), key


def test_feature_map_size_and_the_smallest_clip():
    """features maps T frames of H×W to T′ = ⌊⌈⌈T/2⌉/2⌉/2⌋, H′ = ⌊⌈⌈⌈⌈H/2⌉/2⌉/2⌉/2⌉/2⌋ (the
    docstring's formula; torchvision's shapes on small clips, eval mode, float32); the 2×7×7
    average pool then needs T′ ≥ 2 and H′ ≥ 7: 13 frames and 209 pixels are the least, and one
    frame or pixel fewer is refused on both sides (checked on the pool, which is what refuses)."""
    up = lambda n: -(-n // 2)  # noqa: E731 — ⌈n/2⌉

    def frames(t):
        return up(up(t)) // 2

    def size(h):
        return up(up(up(up(h)))) // 2

    ours, theirs = models.s3d(10).eval(), _torchvision(num_classes=10).eval()
    for t, h, w in [(5, 17, 40), (6, 33, 64), (8, 64, 47)]:
        x = _clip(t, (1, 3, t, h, w))
        with torch.no_grad():
            want = tuple(theirs.features(torch.from_numpy(x)).shape)
        assert ours.features(x).shape == want == (1, 1024, frames(t), size(h), size(w))
    assert (frames(MIN_FRAMES), size(MIN_SIZE)) == (2, 7)
    assert (frames(MIN_FRAMES - 1), size(MIN_SIZE - 1)) == (1, 6)
    for shape in [(1, 1024, 1, 7, 7), (1, 1024, 2, 6, 7)]:
        with pytest.raises(RuntimeError):
            theirs.avgpool(torch.zeros(shape))
        with pytest.raises(ValueError):
            ours.avgpool(np.zeros(shape, np.float32))
    # the model refuses a clip one frame or pixel short by name, before any layer runs
    for clip in [(1, 3, MIN_FRAMES - 1, MIN_SIZE, MIN_SIZE), (3, MIN_FRAMES, MIN_SIZE, 208)]:
        with pytest.raises(ValueError, match=r"S3D.forward: x: .*at least 13 frames of 209×209"):
            ours(np.zeros(clip, np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torchvision_weights_give_torchvisions_eval_logits(dtype):
    """torchvision's random weights with random BatchNorm statistics, loaded strictly by
    state_dict (no key renamed), give the same eval logits on the smallest clip, 13 frames of
    209×209 (float32 ≤ 1e-4 of their scale, float64 ≤ 1e-10)."""
    torch.manual_seed(1)
    theirs = randomise_batchnorm(_torchvision(num_classes=10), seed=2).eval()
    if dtype == np.float64:
        theirs = theirs.double()
    ours = models.s3d(num_classes=10, seed=5, dtype=dtype).eval()
    ours.load_state_dict(_numpy_state(theirs), strict=True)
    x = _clip(3, dtype=dtype)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    got = ours(x)
    assert got.dtype == dtype and got.shape == (1, 10)
    assert rel_error(got, want) <= (TOL32 if dtype == np.float32 else TOL64)


def test_train_step_matches_torchvision_float64():
    """One training step, float64, train mode, dropout off (p = 0 on both sides), from
    torchvision's random weights and random BatchNorm statistics: cross entropy of the logits
    against class indices, then SGD (lr 0.1, momentum 0.9, weight decay 1e-4). The same
    logits and loss, ∂ℓ/∂x, every parameter's gradient, the parameters after the step and the
    running statistics. On a (2, 3, 8, 96, 96) clip with avgpool replaced on both sides by
    AvgPool3d((1, 2, 2), stride=1) (see the module docstring): the features end 1×3×3, the
    pool leaves 2×2 positions and the closing mean averages them; the last BatchNorms
    normalise 18 values per channel."""
    torch.manual_seed(4)
    theirs = randomise_batchnorm(_torchvision(num_classes=10, dropout=0.0), seed=5)
    theirs = theirs.double().train()
    ours = models.s3d(num_classes=10, dropout=0.0, seed=1, dtype=np.float64).train()
    ours.load_state_dict(_numpy_state(theirs), strict=True)
    theirs.avgpool = torch.nn.AvgPool3d((1, 2, 2), stride=1)
    ours.avgpool = nn.AvgPool3d((1, 2, 2), stride=1)
    x = _clip(6, SMALL, dtype=np.float64)
    target = np.array([3, 7])
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    xt = torch.from_numpy(x).requires_grad_()
    out = theirs(xt)
    loss_t = torch.nn.functional.cross_entropy(out, torch.from_numpy(target))
    opt_t.zero_grad()
    loss_t.backward()
    grads = {k: p.grad.numpy().copy() for k, p in theirs.named_parameters()}
    opt_t.step()

    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    logits = ours(x)
    assert rel_error(logits, out.detach().numpy()) <= TOL64_TRAIN
    loss, grad = losses.cross_entropy(logits, target)
    assert abs(loss - loss_t.item()) <= TOL64_TRAIN * abs(loss_t.item())
    opt.zero_grad()
    assert rel_error(ours.backward(grad), xt.grad.numpy()) <= TOL64_TRAIN
    # a BN bias feeding a train-mode BN has zero true gradient: rounding noise on both
    # sides, measured against 1e-6 of the largest gradient (as in test_models_video)
    floor = 1e-6 * max(np.abs(g).max() for g in grads.values())
    named = list(ours.named_parameters())
    assert [k for k, _ in named] == list(grads)
    for key, p in named:
        err = np.abs(p.grad - grads[key]).max() / max(np.abs(grads[key]).max(), floor)
        assert err <= TOL64_TRAIN, (key, err)
    opt.step()
    want_state = _numpy_state(theirs)
    for key, value in ours.state_dict().items():
        err = np.abs(value - want_state[key]).max() / max(np.abs(want_state[key]).max(), 1.0)
        assert err <= TOL64_TRAIN, (key, err)


def test_weights_cross_as_safetensors_files_both_ways(tmp_path):
    """torchvision's state_dict saved by safetensors.torch loads with cnnmath.weights.load (no
    key renamed) and gives its eval logits on the smallest clip; cnnmath's seeded weights,
    their running statistics moved by a train-mode pass of ``features`` over a small clip,
    saved by cnnmath.weights.save, load strictly into torchvision and give cnnmath's eval
    logits (float32)."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    from cnnmath import weights

    torch.manual_seed(8)
    theirs = randomise_batchnorm(_torchvision(num_classes=10), seed=9).eval()
    path = tmp_path / "theirs.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, path)
    ours = models.s3d(num_classes=10, seed=1).eval()
    weights.load(ours, path)
    x = _clip(10)
    with torch.no_grad():
        assert rel_error(ours(x), theirs(torch.from_numpy(x)).numpy()) <= TOL32

    ours = models.s3d(num_classes=10, seed=2).train()
    ours.features(_clip(11, (2, 3, 5, 32, 32)))
    ours.eval()
    path = tmp_path / "ours.safetensors"
    weights.save(ours, path)
    theirs = _torchvision(num_classes=10)
    theirs.load_state_dict(safetensors_torch.load_file(path), strict=True)
    assert int(theirs.state_dict()["features.0.0.1.num_batches_tracked"]) == 1
    assert not np.all(theirs.state_dict()["features.0.0.1.running_mean"].numpy() == 0)
    with torch.no_grad():
        assert rel_error(theirs.eval()(torch.from_numpy(x)).numpy(), ours(x)) <= TOL32


def test_cli_summary_and_predict_list_s3d(capsys):
    """``cnnmath summary s3d --input 3 13 209 209`` prints the table (the published count) and
    the architectures ``cnnmath summary`` and ``cnnmath predict --arch`` offer include s3d."""
    from cnnmath.cli import main
    from cnnmath.commands import predict, summary

    assert "s3d" in predict._architectures() and "s3d" in summary._architectures()
    assert main(["summary", "s3d", "--input", "3", "13", "209", "209"]) == 0
    out = capsys.readouterr().out
    assert "input 1×3×13×209×209" in out and "total parameters:     8,320,048" in out
    assert "features.5.branch1.1.0.0" in out
