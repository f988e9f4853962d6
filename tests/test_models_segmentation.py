"""The parts of torchvision's segmentation models: ResizeLike against F.interpolate and finite
differences, the dilated ResNet and MobileNetV3 backbones against torchvision's."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import models, nn
from cnnmath.gradcheck import check_gradients
from helpers import rel_error
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-4

# ResizeLike samples: (x shape, like shape, align_corners)
RESIZE_SAMPLES = [
    ((2, 3, 4, 5), (2, 7, 9, 11), False),  # up
    ((1, 2, 9, 7), (1, 1, 4, 3), False),  # down
    ((2, 3, 5, 4), (1, 1, 5, 9), False),  # one axis kept, one stretched
    ((2, 4, 1, 1), (2, 4, 6, 7), False),  # ASPP's pooled branch spread over the map
    ((3, 4, 6), (2, 5, 8, 3), False),  # unbatched x, like of another batch and channels
    ((2, 3, 4, 5), (1, 1, 7, 8), True),
]

ERRORS = [
    (lambda: nn.ResizeLike(mode="nearest"), ValueError, "mode: expected 'bilinear'"),
    (lambda: nn.ResizeLike(align_corners=None), TypeError, "align_corners: expected a bool"),
    (lambda: nn.ResizeLike()(np.zeros((4, 4)), np.zeros((8, 8))), ValueError, r"x: expected"),
    (lambda: nn.ResizeLike()(np.zeros((1, 1, 4, 4)), np.zeros(8)), ValueError, "like: expected"),
    (
        lambda: nn.ResizeLike()(np.zeros((1, 1, 4, 4), np.int64), np.zeros((8, 8))),
        TypeError,
        "x",
    ),
    (
        lambda: models.resnet50(replace_stride_with_dilation=[True, False]),
        ValueError,
        "replace_stride_with_dilation: expected None or three bools",
    ),
    (
        lambda: models.resnet.ResNet(
            models.resnet.BasicBlock, (2, 2, 2, 2), replace_stride_with_dilation=(0, 1, 1)
        ),
        ValueError,
        "three bools",
    ),
    (
        lambda: models.resnet.ResNet(
            models.resnet.BasicBlock, (2, 2, 2, 2), replace_stride_with_dilation=(False, True, True)
        ),
        ValueError,
        "BasicBlock: dilation: only 1",
    ),
    (lambda: models.mobilenet_v3_large(dilated=1), TypeError, "dilated: expected a bool"),
]


@pytest.mark.parametrize(("call", "error", "match"), ERRORS)
def test_bad_inputs_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _randomise_batchnorm(model, seed=0):
    """Running statistics and affine parameters away from their defaults, so eval mode
    tests them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                C = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(C, generator=g))
                m.running_var.copy_(0.5 + torch.rand(C, generator=g))
                m.weight.copy_(0.5 + torch.rand(C, generator=g))
                m.bias.copy_(0.1 * torch.randn(C, generator=g))
    return model


def _numpy_state(module, dtype=None):
    state = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    if dtype is not None:
        state = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in state.items()}
    return state


def _want_repr(module):
    # cnnmath's ReLU prints no inplace flag, its Dropout inplace=False
    text = repr(module).replace(", inplace=True)\n", ", inplace=False)\n")
    return text.replace("inplace=True", "")


# -- ResizeLike ----------------------------------------------------------------------------


@pytest.mark.parametrize(("x_shape", "like_shape", "align_corners"), RESIZE_SAMPLES)
def test_resize_like_matches_interpolate(x_shape, like_shape, align_corners):
    """Forward and ∂ℓ/∂x as F.interpolate(x, size=like.shape[-2:], mode="bilinear") (float64,
    and float32 keeps its dtype); like gets a zero gradient of its shape."""
    rng = np.random.default_rng(0)
    x, like = rng.standard_normal(x_shape), rng.standard_normal(like_shape)
    layer = nn.ResizeLike(align_corners=align_corners)
    y, ctx = layer.forward_ctx(x, like)
    G = rng.standard_normal(y.shape)
    gx, glike = layer.backward_ctx(ctx, G)
    xt = torch.from_numpy(x).requires_grad_()
    size = like_shape[-2:]
    yt = F.interpolate(
        xt[None] if x.ndim == 3 else xt, size=size, mode="bilinear", align_corners=align_corners
    )
    yt = yt[0] if x.ndim == 3 else yt
    (yt * torch.from_numpy(G)).sum().backward()
    assert y.shape == (*x_shape[:-2], *size)
    assert rel_error(y, yt.detach().numpy()) <= 1e-14
    assert rel_error(gx, xt.grad.numpy()) <= 1e-14
    assert glike.shape == like.shape and not glike.any()
    y32 = layer(x.astype(np.float32), like.astype(np.float32))
    assert y32.dtype == np.float32 and rel_error(y32, y) <= 1e-6


@pytest.mark.parametrize(("x_shape", "like_shape", "align_corners"), RESIZE_SAMPLES[:4])
def test_resize_like_finite_differences(x_shape, like_shape, align_corners):
    rng = np.random.default_rng(1)
    x, like = rng.standard_normal(x_shape), rng.standard_normal(like_shape)
    layer = nn.ResizeLike(align_corners=align_corners)

    def backward(G, x, like):
        return layer.backward_ctx(layer.forward_ctx(x, like)[1], G)

    errors = check_gradients(layer, backward, [x, like])
    assert max(errors) <= 1e-8


def test_resize_like_is_wiring():
    """A graph node in walk(), in neither repr nor state_dict; its repr names its options."""
    g = nn.Graph()
    g.add(nn.Conv2d(3, 2, 3, stride=2, padding=1, rng=0), "x", name="conv")
    g.add(nn.ResizeLike(), "conv", "x", name="resize")
    g.set_output("resize")
    assert [n.name for n in g.walk()] == ["conv", "resize"]
    assert "ResizeLike" not in repr(g) and list(g.state_dict()) == ["conv.weight", "conv.bias"]
    assert repr(nn.ResizeLike()) == "ResizeLike(mode='bilinear', align_corners=False)"
    assert g(np.zeros((1, 3, 7, 9), np.float32)).shape == (1, 2, 7, 9)


# -- the dilated backbones -----------------------------------------------------------------


def test_dilated_resnet_follows_torchvisions_rule():
    """A replaced stride keeps its stage at stride 1 and multiplies the dilation; the stage's
    first block uses the previous dilation. Layout and eval outputs are torchvision's."""
    tv = import_torchvision()
    flags = (False, True, True)
    ours = models.resnet50(10, replace_stride_with_dilation=flags, seed=1).eval()
    dilations = [
        [block.conv2.dilation[0] for block in stage]
        for stage in (ours.layer2, ours.layer3, ours.layer4)
    ]
    assert dilations == [[1] * 4, [1] + [2] * 5, [2, 4, 4]]
    assert ours.layer3[0].conv2.stride == (1, 1) and ours.layer4[0].downsample[0].stride == (1, 1)
    theirs = _randomise_batchnorm(
        tv.models.resnet50(num_classes=10, replace_stride_with_dilation=list(flags))
    ).eval()
    assert repr(ours) == _want_repr(theirs)
    ours.load_state_dict(_numpy_state(theirs))
    x = np.random.default_rng(2).standard_normal((1, 3, 48, 48)).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    assert rel_error(ours(x), want) <= TOL
    for other in ((True, False, True), (True, True, True)):
        built = models.resnet50(replace_stride_with_dilation=other)
        assert repr(built) == _want_repr(
            tv.models.resnet50(replace_stride_with_dilation=list(other))
        )


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_dilated_mobilenet_v3_is_torchvisions(name):
    """dilated=True: the last stage at dilation 2 and stride 1 (output stride 16), the same
    repr and parameters as torchvision's, and its eval logits from its weights."""
    tv = import_torchvision()
    ours = getattr(models, name)(10, dilated=True, seed=1).eval()
    theirs = _randomise_batchnorm(getattr(tv.models, name)(num_classes=10, dilated=True)).eval()
    assert repr(ours) == _want_repr(theirs)
    ours.load_state_dict(_numpy_state(theirs))
    x = np.random.default_rng(3).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    assert rel_error(ours(x), want) <= TOL
    assert ours.features(x).shape[-2:] == (4, 4)  # 64/16
    assert getattr(models, name)(10, seed=1).features(x).shape[-2:] == (2, 2)  # 64/32
