"""cnnmath.models' video ResNets (r3d_18, mc3_18, r2plus1d_18) against torchvision 0.28.0's
torchvision.models.video as the witness: the same repr, parameter count, state_dict keys and
shapes; the initialisation laws of torchvision's VideoResNet; torchvision's random weights,
with random BatchNorm statistics, give the same eval logits here (float32 and float64); in
train mode (float64) the same logits, input gradient, parameter gradients and running
statistics. Clips are small, (N, 3, T, H, W) with T = 4 and 32×32 frames, so the file runs in
seconds; and cnnmath.summary, receptive_field and ``cnnmath summary`` handle the 3-D layers."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import models, receptive_field, summary
from cnnmath.models.video import midplanes
from helpers import randomise_batchnorm, rel_error
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")

NAMES = ["r3d_18", "mc3_18", "r2plus1d_18"]

#: torchvision's published parameter counts for 400 classes (its weights' meta "num_params")
PARAMETERS = {"r3d_18": 33_371_472, "mc3_18": 11_695_440, "r2plus1d_18": 31_505_325}

CLIP = (2, 3, 4, 32, 32)  # (N, C, T, H, W)
TOL32 = 1e-4  # float32 through 18 layers, relative to the logits' scale
TOL64 = 1e-10
TOL64_TRAIN = 1e-8  # train-mode BatchNorm over few values per channel amplifies rounding


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _torchvision(name, **kw):
    return getattr(import_torchvision().models.video, name)(**kw)


def _numpy_state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _clip(seed, shape=CLIP, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("name", NAMES)
def test_layout_matches_torchvision(name):
    """repr (torchvision's ReLU prints inplace=True), parameter count (torchvision's and its
    published one), state_dict keys in order, shapes and dtypes are torchvision's."""
    ours, theirs = getattr(models, name)(), _torchvision(name)
    assert repr(ours) == repr(theirs).replace("inplace=True", "")
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == PARAMETERS[name]
    got = {k: (v.shape, v.dtype) for k, v in ours.state_dict().items()}
    want = {k: (v.shape, v.dtype) for k, v in _numpy_state(theirs).items()}
    assert list(got) == list(want)
    assert got == want


def test_midplanes_is_torchvisions_rule():
    """R(2+1)D's middle width M = ⌊27·C_in·C_out / (9·C_in + 3·C_out)⌋: torchvision's
    Conv2Plus1D widths for every stage's (C_in, C_out), and the pair of convolutions then has
    at most the 3×3×3's parameters, and less than one more M's worth."""
    import_torchvision()
    from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D

    for c_in, c_out in [(64, 64), (64, 128), (128, 128), (128, 256), (256, 512), (512, 512)]:
        block = BasicBlock(c_in, c_out, Conv2Plus1D)
        assert midplanes(c_in, c_out) == block.conv1[0][0].out_channels, (c_in, c_out)
        m, full = midplanes(c_in, c_out), 27 * c_in * c_out
        assert full - (9 * c_in + 3 * c_out) < m * (9 * c_in + 3 * c_out) <= full


@pytest.mark.parametrize("name", NAMES)
def test_initialisation_is_torchvisions(name):
    """torchvision's VideoResNet laws, checked on a seeded draw: every Conv3d N(0, 2/fan_out)
    with fan_out = C_out·f0·f1·f2 (std within 10 %, mean near 0, on the weights with enough
    draws); BatchNorm γ = 1, β = 0 and the running statistics 0 and 1; fc N(0, 0.01²), bias 0.
    The same seed gives the same weights, another seed others."""
    state = getattr(models, name)(seed=3).state_dict()
    checked = 0
    for key, value in state.items():
        if value.ndim == 5 and value.size >= 4096:
            fan_out = value.shape[0] * int(np.prod(value.shape[2:]))
            std = np.sqrt(2 / fan_out)
            assert abs(value.std() / std - 1) < 0.1, key
            assert abs(value.mean()) < 0.1 * std, key
            checked += 1
        elif value.ndim == 1 and key.endswith((".weight", ".running_var")):  # BatchNorm
            assert np.all(value == 1), key
        elif value.ndim == 1 and key.endswith((".bias", ".running_mean")):
            assert np.all(value == 0), key
    assert checked >= 20
    w, b = state["fc.weight"], state["fc.bias"]
    assert w.shape == (400, 512)
    assert abs(w.std() / 0.01 - 1) < 0.05 and abs(w.mean()) < 1e-3 and np.all(b == 0)
    if name == "mc3_18":  # the cheapest to build three times
        again = models.mc3_18(seed=3).state_dict()
        other = models.mc3_18(seed=4).state_dict()
        assert all(np.array_equal(again[k], v) for k, v in state.items())
        assert not np.array_equal(other["stem.0.weight"], state["stem.0.weight"])
        assert not np.array_equal(other["fc.weight"], state["fc.weight"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_torchvision_weights_give_torchvisions_eval_logits(name, dtype):
    """torchvision's random weights with random BatchNorm statistics, loaded by state_dict
    (no key renamed): the same eval logits (float32 ≤ 1e-4 of their scale, float64 ≤ 1e-10)."""
    torch.manual_seed(1)
    theirs = randomise_batchnorm(_torchvision(name, num_classes=10), seed=2).eval()
    if dtype == np.float64:
        theirs = theirs.double()
    ours = getattr(models, name)(num_classes=10, seed=5, dtype=dtype).eval()
    ours.load_state_dict(_numpy_state(theirs))
    x = _clip(3, dtype=dtype)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    got = ours(x)
    assert got.dtype == dtype and got.shape == (CLIP[0], 10)
    assert rel_error(got, want) <= (TOL32 if dtype == np.float32 else TOL64)


def test_weights_cross_as_safetensors_files_both_ways(tmp_path):
    """torchvision's state_dict saved by safetensors.torch loads with cnnmath.weights.load (no
    key renamed) and gives its eval logits; cnnmath's seeded weights, their running statistics
    moved by a train-mode clip, saved by cnnmath.weights.save, load strictly into torchvision
    and give cnnmath's eval logits (MC3-18, the smallest)."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    from cnnmath import weights

    torch.manual_seed(8)
    theirs = randomise_batchnorm(_torchvision("mc3_18", num_classes=10), seed=9).eval()
    path = tmp_path / "theirs.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, path)
    ours = models.mc3_18(num_classes=10, seed=1).eval()
    weights.load(ours, path)
    x = _clip(10)
    with torch.no_grad():
        assert rel_error(ours(x), theirs(torch.from_numpy(x)).numpy()) <= TOL32

    ours = models.mc3_18(num_classes=10, seed=2).train()
    ours(_clip(11))
    ours.eval()
    path = tmp_path / "ours.safetensors"
    weights.save(ours, path)
    theirs = _torchvision("mc3_18", num_classes=10)
    theirs.load_state_dict(safetensors_torch.load_file(path), strict=True)
    assert int(theirs.state_dict()["stem.1.num_batches_tracked"]) == 1
    with torch.no_grad():
        assert rel_error(theirs.eval()(torch.from_numpy(x)).numpy(), ours(x)) <= TOL32


@pytest.mark.parametrize("name", NAMES)
def test_train_step_matches_torchvision_float64(name):
    """Train mode, float64, from torchvision's random weights and random BatchNorm statistics:
    the same logits, ∂ℓ/∂x, every parameter's gradient (ℓ = ⟨logits, G⟩, G random) and the
    updated running statistics. R3D exercises Conv3DSimple and the (2, 2, 2) shortcuts, MC3
    Conv3DNoTemporal and the (1, 2, 2) ones, R(2+1)D the factorised convolutions and their
    inner BatchNorm. On a (2, 3, 4, 32, 32) clip: at 16×16 the last stage of R3D and R(2+1)D
    is 1×1×1, its BatchNorm normalises 2 values per channel, and float64 rounding is amplified
    to ~1e-6 on both sides (agreement here is ~1e-13)."""
    torch.manual_seed(4)
    theirs = randomise_batchnorm(_torchvision(name, num_classes=10), seed=5).double().train()
    ours = getattr(models, name)(num_classes=10, seed=1, dtype=np.float64).train()
    ours.load_state_dict(_numpy_state(theirs))
    x = _clip(6, dtype=np.float64)
    G = np.random.default_rng(7).standard_normal((CLIP[0], 10))
    xt = torch.from_numpy(x).requires_grad_()
    out = theirs(xt)
    (out * torch.from_numpy(G)).sum().backward()
    assert rel_error(ours(x), out.detach().numpy()) <= TOL64_TRAIN
    ours.zero_grad()
    assert rel_error(ours.backward(G), xt.grad.numpy()) <= TOL64_TRAIN
    # a BN bias feeding a train-mode BN has zero true gradient: rounding noise on both
    # sides, measured against 1e-6 of the largest gradient (as in test_models_torchvision)
    grads = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    floor = 1e-6 * max(np.abs(g).max() for g in grads.values())
    named = list(ours.named_parameters())
    assert [k for k, _ in named] == list(grads)
    for key, p in named:
        err = np.abs(p.grad - grads[key]).max() / max(np.abs(grads[key]).max(), floor)
        assert err <= TOL64_TRAIN, (key, err)
    want_state = _numpy_state(theirs)
    for key, value in ours.state_dict().items():
        err = np.abs(value - want_state[key]).max() / max(np.abs(want_state[key]).max(), 1.0)
        assert err <= TOL64_TRAIN, (key, err)


def test_time_axis_follows_each_models_strides():
    """R3D halves T in layers 2–4 with its 3×3×3 convolutions and (2, 2, 2) shortcuts; MC3's
    1×3×3 convolutions and (1, 2, 2) shortcuts keep it; R(2+1)D's temporal halves halve it:
    the last stage's output shape, from cnnmath.summary on one (3, 8, 32, 32) clip."""
    want = {"r3d_18": (1, 512, 1, 2, 2), "mc3_18": (1, 512, 8, 2, 2)}
    want["r2plus1d_18"] = want["r3d_18"]
    for name, shape in want.items():
        rows = {r.name: r for r in summary(getattr(models, name)(10), (3, 8, 32, 32)).rows}
        assert rows["layer4.1.relu"].output_shape == shape, name


def test_summary_shows_three_dimensional_windows_and_counts():
    """cnnmath.summary on an (3, T, H, W) clip: kernels and strides keep their depth
    ((3, 7, 7) prints 3×7×7, (1, 2, 2) 1×2×2, (3, 3, 3) 3), a Conv3d's mult-adds are its
    weights times the output's positions (torchinfo's rule), the totals are the model's, and
    the receptive field is left out with the reason."""
    model = models.r2plus1d_18(10)
    table = summary(model, (3, 4, 32, 32))
    rows = {r.name: r for r in table.rows}
    stem = rows["stem.0"]
    assert (stem.kernel, stem.stride, stem.output_shape) == (
        (1, 7, 7),
        (1, 2, 2),
        (1, 45, 4, 16, 16),
    )
    assert rows["stem.3"].kernel == (3, 1, 1)
    assert stem.mult_adds == 45 * 3 * 49 * (4 * 16 * 16)
    assert rows["layer2.0.downsample.0"].stride == (2, 2, 2)
    assert table.total_parameters == model.num_parameters()
    text = str(table)
    line = next(s for s in text.splitlines() if s.startswith("stem.0 "))
    assert " 1×7×7 " in line and " 1×2×2 " in line
    r3d = str(summary(models.r3d_18(10), (3, 4, 32, 32)))
    line = next(s for s in r3d.splitlines() if s.startswith("layer1.0.conv1.0 "))
    assert "Conv3DSimple" in line and " 3 " in line and "3×3" not in line
    assert "not volumes" in text
    with pytest.raises(ValueError, match=r"receptive_field: model: Conv3d works on volumes"):
        receptive_field(model, (3, 4, 32, 32))


def test_cli_summary_takes_a_clip_and_refuses_an_image_shape(capsys):
    """``cnnmath summary mc3_18 --input 3 4 32 32`` prints the table (the published count for
    400 classes); ``--input 3 32 32`` is refused by name before the model runs."""
    from cnnmath.cli import main

    assert main(["summary", "mc3_18", "--input", "3", "4", "32", "32"]) == 0
    out = capsys.readouterr().out
    assert "input 1×3×4×32×32" in out and "total parameters:     11,695,440" in out
    assert main(["summary", "mc3_18", "--input", "3", "32", "32"]) == 2
    err = capsys.readouterr().err
    assert "--input: Conv3d 'stem.0' takes video clips or volumes: expected C T H W" in err
