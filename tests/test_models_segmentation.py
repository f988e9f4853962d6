"""cnnmath's segmentation models (FCN, DeepLabV3, LR-ASPP) against torchvision 0.28.0: the same
repr, state_dict keys and shapes, parameter count; torchvision's weights (random, BatchNorm
statistics randomised) give torchvision's ``out`` in eval mode, and in float64 train mode the
same gradients. With the auxiliary classifier (``aux_loss=True``): torchvision's layout and
published parameter counts, its (out, aux) in both modes, and the gradients of its reference
loss CE(out) + 0.5·CE(aux) through ``backward`` of both outputs' gradients. Their parts too: ResizeLike against F.interpolate and finite differences, the
dilated ResNet and MobileNetV3 backbones against torchvision's, the ONNX export against
onnxruntime and cnnmath's loader."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import losses, models, nn
from cnnmath.gradcheck import check_gradients
from helpers import meta_device, randomise_batchnorm, rel_error, torch_layout
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPE = (2, 3, 64, 64)
CLASSES = 5
TOL, TOL64 = 1e-4, 1e-10

#: builder -> torchvision's parameter count (aux_loss=False) for 21 classes
PARAMETERS = {
    "fcn_resnet50": 32_957_013,
    "fcn_resnet101": 51_949_141,
    "deeplabv3_resnet50": 39_638_869,
    "deeplabv3_resnet101": 58_630_997,
    "deeplabv3_mobilenet_v3_large": 11_025_477,
    "lraspp_mobilenet_v3_large": 3_221_538,
}
#: builder -> torchvision's parameter count with aux_loss=True for 21 classes (the published
#: figure of its trained weights, which include the auxiliary classifier)
AUX_PARAMETERS = {
    "fcn_resnet50": 35_322_218,
    "fcn_resnet101": 54_314_346,
    "deeplabv3_resnet50": 42_004_074,
    "deeplabv3_resnet101": 60_996_202,
    "deeplabv3_mobilenet_v3_large": 11_029_328,
}
RUN = [
    "fcn_resnet50",
    "deeplabv3_resnet50",
    "deeplabv3_mobilenet_v3_large",
    "lraspp_mobilenet_v3_large",
]

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
    (lambda: models.fcn_resnet50(aux_loss="yes"), TypeError, "aux_loss: expected a bool or None"),
    (
        lambda: models.lraspp_mobilenet_v3_large(aux_loss=True),
        ValueError,
        "aux_loss: LR-ASPP has no auxiliary classifier",
    ),
    (  # an aux_classifier needs a backbone that names its "aux" layer
        lambda: models.segmentation.FCN(
            models.segmentation.IntermediateLayerGetter(
                nn.Sequential(nn.Conv2d(3, 4, 1)), {"0": "out"}
            ),
            models.segmentation.FCNHead(4, 2),
            models.segmentation.FCNHead(4, 2),
        ),
        ValueError,
        "FCN: backbone: expected an IntermediateLayerGetter whose return_layers name an 'aux'",
    ),
    (lambda: models.lraspp_mobilenet_v3_large(0), ValueError, "num_classes"),
    (lambda: nn.ResizeLike(mode="nearest"), ValueError, "mode: expected 'bilinear'"),
    (lambda: nn.ResizeLike(align_corners=None), TypeError, "align_corners: expected a bool"),
    (lambda: nn.ResizeLike(antialias=1), TypeError, "antialias: expected a bool"),
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


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _torchvision(name, aux_loss=False, **kw):
    tv = import_torchvision()
    options = {} if name.startswith("lraspp") else {"aux_loss": aux_loss}
    torch.manual_seed(0)
    return getattr(tv.models.segmentation, name)(
        weights=None, weights_backbone=None, **options, **kw
    )


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


@pytest.mark.parametrize("align_corners", [False, True])
def test_resize_like_antialias_is_interpolates(align_corners):
    """ResizeLike(antialias=True) is F.interpolate(x, size=like.shape[-2:], mode="bilinear",
    antialias=True): forward and ∂ℓ/∂x (float64), shrinking one axis by a non-integer factor
    and growing the other; the backward agrees with finite differences."""
    rng = np.random.default_rng(2)
    x, like = rng.standard_normal((2, 3, 17, 5)), rng.standard_normal((1, 1, 6, 9))
    layer = nn.ResizeLike(align_corners=align_corners, antialias=True)
    assert repr(layer) == (
        f"ResizeLike(mode='bilinear', align_corners={align_corners}, antialias=True)"
    )
    y, ctx = layer.forward_ctx(x, like)
    G = rng.standard_normal(y.shape)
    gx, glike = layer.backward_ctx(ctx, G)
    xt = torch.from_numpy(x).requires_grad_()
    yt = F.interpolate(
        xt, size=(6, 9), mode="bilinear", align_corners=align_corners, antialias=True
    )
    (yt * torch.from_numpy(G)).sum().backward()
    assert rel_error(y, yt.detach().numpy()) <= 1e-13
    assert rel_error(gx, xt.grad.numpy()) <= 1e-13
    assert glike.shape == like.shape and not glike.any()
    plain = nn.ResizeLike(align_corners=align_corners)(x, like)
    assert rel_error(y, plain) > 1e-2  # the shrinking axis averages, plain bilinear samples

    def backward(G, x):
        return layer.backward_ctx(layer.forward_ctx(x, like)[1], G)[0]

    assert max(check_gradients(lambda x: layer(x, like), backward, [x])) <= 1e-8


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
    theirs = randomise_batchnorm(
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
    theirs = randomise_batchnorm(getattr(tv.models, name)(num_classes=10, dilated=True)).eval()
    assert repr(ours) == _want_repr(theirs)
    ours.load_state_dict(_numpy_state(theirs))
    x = np.random.default_rng(3).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    assert rel_error(ours(x), want) <= TOL
    assert ours.features(x).shape[-2:] == (4, 4)  # 64/16
    assert getattr(models, name)(10, seed=1).features(x).shape[-2:] == (2, 2)  # 64/32


# -- the segmentation models ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_layout_matches_torchvision(name):
    """repr, state_dict keys (in order), shapes and dtypes, and the parameter count
    (torchvision's model on the meta device: no memory or initialisation)."""
    ours = getattr(models, name)()
    with meta_device():
        theirs = _torchvision(name)
    assert repr(ours) == _want_repr(theirs)
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    assert ours.num_parameters() == PARAMETERS[name]
    got = {k: (v.shape, v.dtype) for k, v in ours.state_dict().items()}
    want = torch_layout(theirs)
    assert list(got) == list(want)
    assert got == want


@pytest.mark.parametrize("name", RUN)
def test_torchvision_weights_eval(name, tmp_path):
    """torchvision's random weights with randomised BatchNorm statistics: in float32 through
    a safetensors file (cnnmath.weights.load, no key renamed), in float64 through
    load_state_dict — torchvision's ``out`` (N, classes, H, W) in eval mode."""
    theirs = randomise_batchnorm(_torchvision(name, num_classes=CLASSES)).eval()
    x = np.random.default_rng(4).standard_normal(SHAPE)
    safetensors_torch = pytest.importorskip("safetensors.torch")
    from cnnmath import weights

    path = tmp_path / f"{name}.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, path)
    ours = getattr(models, name)(CLASSES, seed=1).eval()
    weights.load(ours, path)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x.astype(np.float32)))["out"].numpy()
    got = ours(x.astype(np.float32))
    assert got.dtype == np.float32 and got.shape == (*SHAPE[:1], CLASSES, *SHAPE[2:])
    assert rel_error(got, want) <= TOL
    theirs = theirs.double()
    ours = getattr(models, name)(CLASSES, seed=1, dtype=np.float64).eval()
    ours.load_state_dict(_numpy_state(theirs))
    with torch.no_grad():
        want = theirs(torch.from_numpy(x))["out"].numpy()
    assert rel_error(ours(x), want) <= TOL64


def test_odd_input_size():
    """An image whose size no stride divides: the logits still come back at its size, as
    torchvision's (the resize reads the input's shape)."""
    name = "lraspp_mobilenet_v3_large"
    theirs = randomise_batchnorm(_torchvision(name, num_classes=3)).eval().double()
    ours = models.lraspp_mobilenet_v3_large(3, dtype=np.float64).eval()
    ours.load_state_dict(_numpy_state(theirs))
    x = np.random.default_rng(5).standard_normal((1, 3, 37, 50))
    with torch.no_grad():
        want = theirs(torch.from_numpy(x))["out"].numpy()
    got = ours(x)
    assert got.shape == (1, 3, 37, 50)
    assert rel_error(got, want) <= TOL64


@pytest.mark.parametrize("name", ["deeplabv3_resnet50", "lraspp_mobilenet_v3_large"])
def test_train_step_float64(name):
    """Train mode (batch statistics), float64, dropout off on both sides: the same ``out``,
    input gradient, every parameter's gradient and the updated running statistics. PyTorch's
    float64 Hardsigmoid backward multiplies by a float32 1/6: its gates run as relu6(x + 3)/6,
    the same function differentiated exactly (as in test_models_torchvision.py)."""
    theirs = randomise_batchnorm(_torchvision(name, num_classes=CLASSES)).double().train()
    for module in theirs.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(module, torch.nn.Hardsigmoid):
            module.forward = lambda x: F.relu6(x + 3.0) / 6.0
    ours = getattr(models, name)(CLASSES, seed=1, dtype=np.float64).train()
    for module in ours.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    ours.load_state_dict(_numpy_state(theirs))
    rng = np.random.default_rng(6)
    x = rng.standard_normal(SHAPE)
    G = rng.standard_normal((SHAPE[0], CLASSES, *SHAPE[2:]))
    xt = torch.from_numpy(x).requires_grad_()
    out_t = theirs(xt)["out"]
    (out_t * torch.from_numpy(G)).sum().backward()
    out_o = ours(x)
    gx = ours.backward(G)
    assert rel_error(out_o, out_t.detach().numpy()) <= TOL64
    assert rel_error(gx, xt.grad.numpy()) <= 1e-9
    # a bias feeding a train-mode BatchNorm has zero true gradient: rounding noise, measured
    # against 1e-6 of the largest gradient
    grads = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    floor = 1e-6 * max(np.abs(g).max() for g in grads.values())
    for key, p in ours.named_parameters():
        err = np.abs(p.grad - grads[key]).max() / max(np.abs(grads[key]).max(), floor)
        assert err <= 1e-8, (key, err)
    want_state = _numpy_state(theirs)
    for key, value in ours.state_dict().items():
        err = np.abs(value - want_state[key]).max() / max(np.abs(want_state[key]).max(), 1.0)
        assert err <= TOL64, key


# -- the auxiliary classifier (aux_loss=True) --------------------------------------------------


@pytest.mark.parametrize("name", list(AUX_PARAMETERS))
def test_aux_layout_matches_torchvision(name):
    """With aux_loss=True: repr, state_dict keys (in order: "aux_classifier.…" last), shapes
    and dtypes, the backbone's return_layers, and the parameter count, which is torchvision's
    published figure for its trained weights."""
    ours = getattr(models, name)(aux_loss=True)
    with meta_device():
        theirs = _torchvision(name, aux_loss=True)
    assert repr(ours) == _want_repr(theirs)
    assert ours.backbone.return_layers == theirs.backbone.return_layers
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    published = next(iter(import_torchvision().models.get_model_weights(name)))
    assert ours.num_parameters() == AUX_PARAMETERS[name] == published.meta["num_params"]
    got = {k: (v.shape, v.dtype) for k, v in ours.state_dict().items()}
    want = torch_layout(theirs)
    assert list(got) == list(want)
    assert got == want


AUX_SHAPE = (2, 3, 48, 40)  # not square: a resize that swapped H and W would show


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_mobilenet_v3_large"])
def test_aux_outputs_and_train_step_float64(name):
    """torchvision's weights (aux_loss=True, BatchNorm randomised, dropout off on both sides)
    loaded strictly, float64: training mode returns (out, aux) as torchvision's dict; one
    step of torchvision's reference loss CE(out) + 0.5·CE(aux) (ignore_index 255, as its
    training script) gives, through backward((G_out, 0.5·G_aux)), every parameter's gradient
    and the running statistics as autograd; evaluation mode returns both too, as torchvision.
    PyTorch's float64 Hardsigmoid backward is replaced as in test_train_step_float64."""
    theirs = _torchvision(name, aux_loss=True, num_classes=CLASSES)
    theirs = randomise_batchnorm(theirs).double().train()
    for module in theirs.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(module, torch.nn.Hardsigmoid):
            module.forward = lambda x: F.relu6(x + 3.0) / 6.0
    ours = getattr(models, name)(CLASSES, aux_loss=True, seed=1, dtype=np.float64).train()
    for module in ours.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    ours.load_state_dict(_numpy_state(theirs))
    rng = np.random.default_rng(9)
    x = rng.standard_normal(AUX_SHAPE)
    target = rng.integers(0, CLASSES, (AUX_SHAPE[0], *AUX_SHAPE[2:]))
    target[:, :5, :7] = 255  # unlabelled pixels, as in torchvision's reference training

    result = theirs(torch.from_numpy(x))
    assert list(result) == ["out", "aux"]
    target_t = torch.from_numpy(target)
    loss_t = F.cross_entropy(result["out"], target_t, ignore_index=255)
    loss_t = loss_t + 0.5 * F.cross_entropy(result["aux"], target_t, ignore_index=255)
    loss_t.backward()
    outs = ours(x)
    assert isinstance(outs, tuple) and ours.outputs == ("resize", "aux_resize")
    (l_out, g_out), (l_aux, g_aux) = (
        losses.cross_entropy(y, target, ignore_index=255) for y in outs
    )
    ours.zero_grad()
    ours.backward((g_out, 0.5 * g_aux), input_grad=False)
    for mine, key in zip(outs, ("out", "aux"), strict=True):
        assert mine.shape == (AUX_SHAPE[0], CLASSES, *AUX_SHAPE[2:])
        assert rel_error(mine, result[key].detach().numpy()) <= TOL64, key
    assert abs(l_out + 0.5 * l_aux - loss_t.item()) <= TOL64 * loss_t.item()
    # a parameter whose true gradient is 0 (MobileNetV3's BatchNorm biases before a residual
    # sum that only convolutions into train-mode BatchNorm read) holds rounding noise:
    # measured against 1e-6 of the largest gradient, as in test_train_step_float64
    grads = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    floor = 1e-6 * max(np.abs(g).max() for g in grads.values())
    for key, p in ours.named_parameters():
        err = np.abs(p.grad - grads[key]).max() / max(np.abs(grads[key]).max(), floor)
        assert err <= 1e-8, (key, err)
    want_state = _numpy_state(theirs)
    for key, value in ours.state_dict().items():
        err = np.abs(value - want_state[key]).max() / max(np.abs(want_state[key]).max(), 1.0)
        assert err <= TOL64, key

    theirs.eval()
    ours.eval()
    x = rng.standard_normal((1, *AUX_SHAPE[1:]))
    with torch.no_grad():
        want = theirs(torch.from_numpy(x))
    got = ours(x)
    assert isinstance(got, tuple) and len(got) == 2
    assert rel_error(got[0], want["out"].numpy()) <= TOL64
    assert rel_error(got[1], want["aux"].numpy()) <= TOL64


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_mobilenet_v3_large"])
def test_aux_head_is_added_to_the_same_model(name):
    """The auxiliary head draws after the others: every other weight is the aux_loss=False
    model's of the same seed; the head has PyTorch's default U(±1/√fan_in) law; the backbone
    runs as two nodes sharing its blocks, the aux one ending at the stage torchvision reads
    (ResNet's layer3; MobileNetV3's block 4, output stride 8)."""
    model = getattr(models, name)(aux_loss=True, seed=2)
    state, plain = model.state_dict(), getattr(models, name)(seed=2).state_dict()
    head = [k for k in state if k.startswith("aux_classifier.")]
    assert set(state) - set(plain) == set(head)
    assert all(np.array_equal(state[k], v) for k, v in plain.items())
    weight, bias = state["aux_classifier.0.weight"], state["aux_classifier.4.bias"]
    bound = 1 / np.sqrt(weight[0].size)
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.99 * bound
    assert np.abs(bias).max() <= 1 / np.sqrt(weight.shape[0]) and np.any(bias != 0)
    assert [n.name for n in model.nodes] == [
        "backbone_aux", "backbone_out", "classifier", "resize", "aux_classifier", "aux_resize"
    ]  # fmt: skip
    walked = [n.name for n in model.walk()]
    last = "layer3" if name.startswith("fcn") else "4"
    aux_blocks = {w.split(".")[1] for w in walked if w.startswith("backbone_aux.")}
    assert last in aux_blocks and not any(w.startswith(f"backbone_out.{last}.") for w in walked)


def test_aux_model_saves_both_outputs_to_onnx(tmp_path):
    """cnnmath.onnx.save writes both outputs (the aux one is returned in evaluation mode
    too): onnxruntime computes each as cnnmath, and cnnmath's loader returns both."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    model = models.deeplabv3_mobilenet_v3_large(3, aux_loss=True, seed=1).eval()
    x = np.random.default_rng(10).standard_normal((2, 3, 48, 40)).astype(np.float32)
    path = tmp_path / "deeplab_aux.onnx"
    save(model, path, x)
    assert [o.name for o in onnx.load(str(path)).graph.output] == ["resize", "aux_resize"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = model(x)
    for got, mine in zip(session.run(None, {"x": x}), want, strict=True):
        assert got.shape == mine.shape and rel_error(got, mine) <= 1e-5
    for back, mine in zip(load(path).eval()(x), want, strict=True):
        assert rel_error(back, mine) <= 1e-5


def test_initialisation():
    """The backbone is the seeded classification network's (kaiming fan_out convolutions);
    the heads have PyTorch's default U(±1/√fan_in) weights and biases; the same seed gives the
    same weights, another seed others."""
    model = models.lraspp_mobilenet_v3_large(seed=3)
    state = model.state_dict()
    mobilenet = models.mobilenet_v3_large(dilated=True, seed=3).state_dict()
    for key, value in mobilenet.items():
        if key.startswith("features."):
            assert np.array_equal(state["backbone." + key[len("features.") :]], value), key
    head = state["classifier.cbr.0.weight"]  # (128, 960, 1, 1)
    bound = 1 / np.sqrt(head[0].size)
    assert np.abs(head).max() <= bound and abs(head.std() / (bound / np.sqrt(3)) - 1) < 0.05
    bias = state["classifier.low_classifier.bias"]
    assert np.abs(bias).max() <= 1 / np.sqrt(40) and np.any(bias != 0)
    again = models.lraspp_mobilenet_v3_large(seed=3).state_dict()
    other = models.lraspp_mobilenet_v3_large(seed=4).state_dict()
    assert all(np.array_equal(again[k], v) for k, v in state.items())
    assert not np.array_equal(other["classifier.cbr.0.weight"], head)
    assert not np.array_equal(other["backbone.0.0.weight"], state["backbone.0.0.weight"])
    deeplab = models.deeplabv3_mobilenet_v3_large(seed=3).state_dict()
    aspp = deeplab["classifier.0.convs.1.0.weight"]  # (256, 960, 3, 3)
    bound = 1 / np.sqrt(aspp[0].size)
    assert np.abs(aspp).max() <= bound and abs(aspp.std() / (bound / np.sqrt(3)) - 1) < 0.05
    assert np.all(deeplab["classifier.0.project.1.weight"] == 1)


def test_graph_structure():
    """The backbone's nodes are its blocks; LR-ASPP reads block 4 (stride 8) and block 16
    (stride 16), and resizes to the input's size last."""
    model = models.lraspp_mobilenet_v3_large(3)
    assert [n.name for n in model.nodes] == ["low", "high", "classifier", "resize"]
    assert model.backbone.return_layers == {"4": "low", "16": "high"}
    walked = [n.name for n in model.walk()]
    assert walked[-1] == "resize" and "classifier.resize" in walked
    deeplab = models.deeplabv3_resnet50(3)
    assert [n.name for n in deeplab.nodes] == ["backbone", "classifier", "resize"]
    assert list(dict(deeplab.backbone.named_children())) == [
        "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"
    ]  # fmt: skip


# -- ONNX -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"])
def test_onnx_save_runs_in_onnxruntime_and_loads(name, tmp_path):
    """cnnmath.onnx.save writes ResizeLike as a Resize whose sizes come from the shapes at
    run time: onnxruntime's output agrees (for another batch size too), and cnnmath's
    loader reads the file back to the same function."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    model = getattr(models, name)(4, seed=1).eval()
    x = np.random.default_rng(7).standard_normal((2, 3, 64, 48)).astype(np.float32)
    path = tmp_path / "model.onnx"
    save(model, path, x)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops[-1] == "Resize" and ops.count("Resize") == ops.count("Shape") // 2
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (x, x[:1]):
        got = session.run(None, {session.get_inputs()[0].name: batch})[0]
        assert rel_error(got, model(batch)) <= 1e-5
    assert rel_error(load(path).eval()(x), model(x)) <= 1e-5


@pytest.mark.parametrize("align_corners", [False, True])
def test_onnx_resize_like_both_coordinate_modes(align_corners, tmp_path):
    """ResizeLike alone, up along one axis and down along the other, to the size of another
    input of the graph: onnxruntime's Resize ("half_pixel" clamps at 0 as PyTorch's, or
    "align_corners") gives the node's output."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import save

    g = nn.Graph(("x", "like"))
    g.add(nn.ResizeLike(align_corners=align_corners), "x", "like", name="resize")
    g.set_output("resize")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 5, 9)).astype(np.float32)
    like = rng.standard_normal((2, 1, 12, 4)).astype(np.float32)
    path = tmp_path / "resize.onnx"
    save(g, path, (x, like))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, dict(zip(names, (x, like), strict=True)))[0]
    assert got.shape == (2, 3, 12, 4)
    assert rel_error(got, g(x, like)) <= 1e-6
