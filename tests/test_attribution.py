"""cnnmath.attribution against PyTorch: feature maps, saliency, input × gradient, Grad-CAM and
Grad-CAM++ on ResNet-18 computed as PyTorch's users write them (forward hooks, tensor hooks,
autograd, torch.nn.functional.interpolate) on torchvision's ResNet-18 with the same weights,
in float64; the user's model left as it was; the heat-map overlay against matplotlib's and
Pillow's own blending."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

from cnnmath import attribution, images, models, nn
from cnnmath.nn._running import has_hooks
from helpers import rel_error, small_cnn_pair
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.fixture(scope="module")
def pair():
    """ResNet-18 (4 classes) here and in torchvision, float64, the same weights, eval mode."""
    tv = import_torchvision()
    ours = models.resnet18(num_classes=4, seed=3, dtype=np.float64)
    tm = tv.models.resnet18(num_classes=4).double().eval()
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, tm


def _x(seed=0, batch=2):
    return np.random.default_rng(seed).standard_normal((batch, 3, 64, 64))


def _snapshot(model):
    """Everything about the model a call could change: modes, flags, gradients (the arrays
    themselves and their values), hooks, state."""
    return {
        "modes": [m.training for m in model.modules()],
        "flags": [p.requires_grad for p in model.parameters()],
        "grad_ids": [id(p.grad) for p in model.parameters()],
        "grads": [p.grad.copy() for p in model.parameters()],
        "hooks": sum(has_hooks(m) for m in model.modules()),
        "state": model.state_dict(),
    }


def _assert_same(before, after):
    for key in ("modes", "flags", "grad_ids", "hooks"):
        assert before[key] == after[key], key
    for a, b in zip(before["grads"], after["grads"], strict=True):
        assert np.array_equal(a, b)
    for k, v in before["state"].items():
        assert np.array_equal(v, after["state"][k]), k


@pytest.fixture
def used(pair):
    """The pair, the cnnmath model in a state a user might leave it in: training mode but
    one block in eval mode, layer1 frozen, non-zero gradients kept from an earlier step;
    checked unchanged after the test."""
    ours, tm = pair
    ours.train()
    ours.layer2.eval()
    ours.layer1.requires_grad_(False)
    rng = np.random.default_rng(9)
    for p in ours.parameters():
        p.grad = rng.standard_normal(p.data.shape)
    before = _snapshot(ours)
    yield ours, tm
    _assert_same(before, _snapshot(ours))
    ours.requires_grad_(True)


def test_feature_maps_are_torchs_forward_hook_records(used):
    ours, tm = used
    x = _x(1)
    paths = ["layer1", "layer3.1.conv2", "avgpool", "fc"]
    got = attribution.feature_maps(ours, x, paths)
    want = {}
    for path in paths:
        tm.get_submodule(path).register_forward_hook(
            lambda m, a, y, path=path: want.update({path: y.detach().clone()})
        )
    try:
        with torch.no_grad():
            tm(torch.from_numpy(x))
    finally:
        for m in tm.modules():
            m._forward_hooks.clear()
    assert list(got) == paths
    for path in paths:
        assert rel_error(got[path], want[path].numpy()) <= 1e-12, path
    # one path alone
    (only,) = attribution.feature_maps(ours, x, "layer1").values()
    assert rel_error(only, want["layer1"].numpy()) <= 1e-12


def _torch_input_gradient(tm, x, target):
    xt = torch.from_numpy(x).requires_grad_()
    scores = tm(xt)
    scores[torch.arange(len(x)), torch.as_tensor(target)].sum().backward()
    return xt.grad.numpy()


def test_saliency_and_input_times_gradient_are_torchs_autograd(used):
    ours, tm = used
    x = _x(2)
    target = [3, 1]
    grad = _torch_input_gradient(tm, x, target)
    assert rel_error(attribution.saliency(ours, x, target), np.abs(grad)) <= 1e-10
    assert rel_error(attribution.input_times_gradient(ours, x, target), x * grad) <= 1e-10
    # one int for every image
    grad = _torch_input_gradient(tm, x, [2, 2])
    assert rel_error(attribution.saliency(ours, x, 2), np.abs(grad)) <= 1e-10
    # None: each image's top class, by PyTorch's scores
    with torch.no_grad():
        top = tm(torch.from_numpy(x)).argmax(dim=1).tolist()
    assert top[0] != top[1]
    grad = _torch_input_gradient(tm, x, top)
    assert rel_error(attribution.saliency(ours, x, None), np.abs(grad)) <= 1e-10


def _torch_cam(tm, x, layer, target, plus_plus=False):
    """Grad-CAM as its users write it in PyTorch: a forward hook keeps A and puts a tensor
    hook on it for ∂s/∂A; the map upsampled with F.interpolate and min-max scaled."""
    kept = {}

    def keep(m, args, y):
        kept["A"] = y
        y.register_hook(lambda g: kept.update(dA=g))

    handle = tm.get_submodule(layer).register_forward_hook(keep)
    try:
        scores = tm(torch.from_numpy(x))
        scores[torch.arange(len(x)), torch.as_tensor(target)].sum().backward()
    finally:
        handle.remove()
    A, g = kept["A"].detach(), kept["dA"]
    if plus_plus:
        g2, g3 = g**2, g**3
        denominator = 2 * g2 + A.sum(dim=(2, 3), keepdim=True) * g3
        a = torch.where(denominator != 0, g2 / denominator, torch.zeros_like(g2))
        weights = (a * torch.relu(g)).sum(dim=(2, 3))
    else:
        weights = g.mean(dim=(2, 3))
    raw = torch.relu((weights[:, :, None, None] * A).sum(dim=1))
    up = F.interpolate(raw[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    low = up.amin(dim=(1, 2), keepdim=True)
    high = up.amax(dim=(1, 2), keepdim=True)
    span = high - low  # a constant map (all zero after the ReLU) is zero, as documented
    scaled = torch.where(span > 0, (up - low) / torch.where(span > 0, span, 1), 0)
    return scaled.numpy(), raw.numpy()


@pytest.mark.parametrize(
    ("function", "plus_plus"),
    [(attribution.grad_cam, False), (attribution.grad_cam_plus_plus, True)],
)
def test_grad_cam_is_torchs(used, function, plus_plus):
    ours, tm = used
    x = _x(3)
    target = [0, 2]
    heat, raw = _torch_cam(tm, x, "layer3", target, plus_plus)
    cam = function(ours, x, "layer3", target)
    assert raw.min(axis=(1, 2)).max() < raw.max(axis=(1, 2)).min()  # no constant map
    assert cam.raw.shape == (2, 4, 4) and cam.heatmap.shape == (2, 64, 64)
    assert rel_error(cam.raw, raw) <= 1e-10
    assert rel_error(cam.heatmap, heat) <= 1e-10
    assert cam.heatmap.min(axis=(1, 2)).tolist() == [0, 0]
    assert cam.heatmap.max(axis=(1, 2)).tolist() == [1, 1]


def test_a_constant_map_gives_a_zero_heatmap():
    """A layer whose map is zero (a ReLU after a convolution of zero weights and a negative
    bias): the raw map is zero, the heat map zero, not NaN."""
    conv = nn.Conv2d(1, 2, 3, padding=1, dtype=np.float64)
    conv.weight.data[...] = 0
    conv.bias.data[...] = -1
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(2 * 8 * 8, 3, dtype=np.float64))
    cam = attribution.grad_cam(model, np.ones((1, 1, 8, 8)), "1", 0)
    assert not cam.raw.any() and not cam.heatmap.any()


def test_hooks_are_removed_when_the_forward_raises(pair):
    ours, _ = pair
    wrong = np.zeros((1, 5, 64, 64))  # five channels for a three-channel model
    for call in (
        lambda: attribution.feature_maps(ours, wrong, ["layer1", "layer2"]),
        lambda: attribution.grad_cam(ours, wrong, "layer4", 0),
    ):
        with pytest.raises(ValueError, match="channel"):
            call()
        assert not any(has_hooks(m) for m in ours.modules())


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda m, x: attribution.feature_maps(m, x, ["layer1", "layer9"]),
            AttributeError,
            "feature_maps: layers 'layer9' is not in the model.*has no submodule 'layer9'",
        ),
        (lambda m, x: attribution.feature_maps(m, x, []), TypeError, "layers: expected"),
        (
            lambda m, x: attribution.feature_maps(m, x, "layer1.0.relu"),
            ValueError,
            "layer 'layer1.0.relu'.*ran 2 times.*its parent 'layer1.0'",
        ),
        (
            lambda m, x: attribution.grad_cam(m, x, "layer4.x", 0),
            AttributeError,
            "grad_cam: layer 'layer4.x'",
        ),
        (
            lambda m, x: attribution.grad_cam(m, x, "fc", 0),
            ValueError,
            r"layer 'fc': expected a layer whose output is feature maps \(B, K, h, w\), got shape",
        ),
        (lambda m, x: attribution.grad_cam(m, x, 4, 0), TypeError, "layer: expected a dotted"),
        (
            lambda m, x: attribution.saliency(m, x, 4),
            ValueError,
            r"saliency: target: expected a class index in \[0, 4\), one per image \(2 of them\) or None",
        ),
        (lambda m, x: attribution.saliency(m, x, [1, 2, 3]), ValueError, "got 3 indices"),
        (lambda m, x: attribution.saliency(m, x, -1), ValueError, "target: expected"),
        (lambda m, x: attribution.saliency(m, x, 1.5), TypeError, "target: expected"),
        (
            lambda m, x: attribution.saliency(m, x[0], 1),
            ValueError,
            r"saliency: x: expected a 4-D array \(B, C, H, W\).*x\[None\]",
        ),
        (
            lambda m, x: attribution.input_times_gradient(m, x.astype(int), 1),
            TypeError,
            "input_times_gradient: x: expected dtype float",
        ),
        (
            lambda m, x: attribution.saliency("resnet", x, 1),
            TypeError,
            "saliency: model: expected a cnnmath.nn.Module, got str",
        ),
    ],
)
def test_bad_arguments_are_named(used, call, error, message):
    ours, _ = used
    with pytest.raises(error, match=message):
        call(ours, _x(4))


def test_a_layer_the_output_does_not_depend_on_is_refused():
    """A graph node nothing reads: the graph does not run it, and the error says so."""
    g = nn.Graph("x")
    g.add(nn.Conv2d(1, 2, 3, dtype=np.float64), "x", name="conv")
    g.add(nn.ReLU(), "conv", name="side")
    g.add(nn.Flatten(), "conv", name="flat")
    g.add(nn.Linear(18, 3, dtype=np.float64), "flat", name="fc")
    g.set_output("fc")
    for call in (attribution.grad_cam, attribution.grad_cam_plus_plus):
        with pytest.raises(ValueError, match="layer 'side': .*did not run .*does not depend"):
            call(g, np.ones((1, 1, 5, 5)), "side", 0)
    with pytest.raises(ValueError, match="feature_maps: layer 'side': .*did not run"):
        attribution.feature_maps(g, np.ones((1, 1, 5, 5)), ["conv", "side"])


def test_a_model_that_is_not_a_classifier_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, dtype=np.float64))
    with pytest.raises(ValueError, match=r"saliency: model: expected a classifier .*\(B, K\)"):
        attribution.saliency(model, np.ones((1, 1, 5, 5)), 0)


def _picture():
    rng = np.random.default_rng(5)
    return rng.random((3, 16, 24)), rng.random((16, 24))


@pytest.mark.parametrize("cmap", ["jet", "inferno"])
def test_overlay_is_pillows_blend_of_matplotlibs_colours(cmap):
    PIL = pytest.importorskip("PIL.Image")
    matplotlib = pytest.importorskip("matplotlib")
    image, heat = _picture()
    colours = matplotlib.colormaps[cmap](heat, bytes=True)[..., :3]
    photo = np.rint(image.transpose(1, 2, 0) * 255).astype(np.uint8)
    for alpha in (0.0, 0.4, 1.0):
        want = np.asarray(PIL.blend(PIL.fromarray(photo), PIL.fromarray(colours), alpha))
        got = attribution.overlay(image, heat, alpha, cmap)
        assert got.dtype == np.uint8 and got.shape == (16, 24, 3)
        # matplotlib's bytes truncate and Pillow blends the rounded bytes: one level apart
        assert np.abs(got.astype(int) - want).max() <= 1, alpha
    gray = attribution.overlay(image[:1], heat, 0.0, cmap)
    assert np.array_equal(gray, np.repeat(photo[:, :, :1], 3, axis=2))


def test_save_overlay_writes_the_overlay(tmp_path):
    image, heat = _picture()
    path = attribution.save_overlay(tmp_path / "cam.png", image, heat, 0.3, "inferno")
    back, _ = images.load_image(path)
    assert np.array_equal(
        np.rint(back * 255).astype(np.uint8).transpose(1, 2, 0),
        attribution.overlay(image, heat, 0.3, "inferno"),
    )


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ({"alpha": 1.5}, ValueError, r"overlay: alpha: expected a finite number >= 0 and <= 1"),
        ({"cmap": "nope"}, ValueError, "overlay: cmap: expected a matplotlib colour map's name"),
        ({"heatmap": np.ones((16, 23))}, ValueError, r"heatmap: expected shape \(16, 24\)"),
        ({"heatmap": 2 * np.ones((16, 24))}, ValueError, r"heatmap: expected values in \[0, 1\]"),
        ({"image": np.ones((2, 16, 24))}, ValueError, "image: expected 1 or 3 channels"),
        ({"image": np.ones((16, 24))}, ValueError, r"image: expected a 3-D array \(C, H, W\)"),
    ],
)
def test_overlay_names_bad_arguments(args, error, message):
    image, heat = _picture()
    given = {"image": image, "heatmap": heat} | args
    with pytest.raises(error, match=message):
        attribution.overlay(**given)


def test_the_users_next_backward_is_for_the_users_last_forward(pair):
    """A forward, then Grad-CAM and saliency on other images, then the user's backward: the
    gradient of the user's forward, not of the ones in between."""
    ours, _ = pair
    ours.eval().requires_grad_(False)
    x, G = _x(6, batch=1), np.ones((1, 4))
    ours(x)
    want = ours.backward(G)
    ours(x)
    attribution.grad_cam(ours, _x(7), "layer4", 1)
    attribution.saliency(ours, _x(7), 1)
    assert np.array_equal(ours.backward(G), want)
    ours.requires_grad_(True)


def test_float32_gives_torchs_float32_values():
    """The small CNN of tests/helpers in float32: saliency and Grad-CAM at its second
    convolution (a 6 × 2 × 2 map; the first image's is zero, so its heat map too), as
    PyTorch's in float32."""
    ours, tm = small_cnn_pair(11)
    ours.float().eval()
    tm.float().eval()
    x = np.random.default_rng(12).standard_normal((2, 3, 8, 8)).astype(np.float32)
    target = [4, 0]
    S = attribution.saliency(ours, x, target)
    assert S.dtype == np.float32
    assert rel_error(S, np.abs(_torch_input_gradient(tm, x, target))) <= 1e-5
    cam = attribution.grad_cam(ours, x, "4", target)
    heat, raw = _torch_cam(tm, x, "4", target)
    assert cam.heatmap.dtype == cam.raw.dtype == np.float32
    assert rel_error(cam.raw, raw) <= 1e-5
    assert rel_error(cam.heatmap, heat) <= 1e-5
    assert not cam.raw[0].any() and cam.raw[1].any()


def test_the_docs_example_runs_as_the_page_says(tmp_path, monkeypatch):
    doc = Path(__file__).resolve().parents[1] / "docs" / "attribution.md"
    text = doc.read_text("utf-8")
    (block,) = re.findall(r"```python\n(.*?)```", text, re.S)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(block, {})
    lines = out.getvalue().splitlines()
    assert lines == [
        "{'layer1': (1, 64, 16, 16), 'layer4': (1, 512, 2, 2)}",
        "(1, 3, 64, 64)",
        "(1, 64, 64) (1, 4, 4)",
    ]
    assert "prints `" + "`, `".join(lines[:2]) + "` and\n`" + lines[2] + "`" in text
    back, _ = images.load_image(tmp_path / "cam.png")
    assert back.shape == (3, 64, 64)


def test_feature_maps_of_a_layer_of_two_outputs_are_both():
    """MaxPool2d(return_indices=True) gives (Y, I): both, as PyTorch's max_pool2d gives them."""
    g = nn.Graph("x")
    g.add(nn.MaxPool2d(2, return_indices=True), "x", name="pool")
    g.add(nn.Flatten(), "pool", name="flat")
    g.set_output("flat")
    x = np.random.default_rng(13).standard_normal((2, 3, 6, 6))
    (Y, I) = attribution.feature_maps(g, x, "pool")["pool"]
    want_y, want_i = F.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    assert np.array_equal(Y, want_y.numpy()) and np.array_equal(I, want_i.numpy())


def test_inside_no_grad_the_gradients_are_still_computed(used):
    """A caller inside nn.no_grad() (an evaluation loop) gets the same saliency and
    Grad-CAM as outside it."""
    ours, _ = used
    x = _x(5)
    want = attribution.saliency(ours, x, 1), attribution.grad_cam(ours, x, "layer3", 1).raw
    with nn.no_grad():
        got = attribution.saliency(ours, x, 1), attribution.grad_cam(ours, x, "layer3", 1).raw
        assert not nn.grad_enabled()
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b)
