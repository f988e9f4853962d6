"""The volumetric (3-D) layers (Conv3d with every padding_mode, ConvTranspose3d, MaxPool3d,
AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d, BatchNorm3d, Dropout3d) against PyTorch's
(repr, state_dict, forward, autograd), max pooling's tie rule, a small 3-D CNN that trains as PyTorch's, and the tools that
walk a model (summary runs it; receptive fields refuse volumes, naming the layer), ONNX both
ways. The ops themselves (conv3d, conv_transpose3d, the poolings) are checked by their records
(tests/records/volumetric.py: reference loops, PyTorch, finite differences, non-finite values,
views, errors)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, ops, optim, reference
from cnnmath.gradcheck import check_gradients
from helpers import assert_close, rel_error

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]

# (layer keywords, input shape (N, C, D, H, W))
CONVS = [
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding=1), (2, 3, 6, 7, 5)),
    (
        dict(in_channels=2, out_channels=6, kernel_size=(3, 2, 3), stride=(2, 1, 2), dilation=2),
        (2, 2, 9, 6, 8),
    ),
    (
        dict(in_channels=4, out_channels=4, kernel_size=(2, 3, 4), padding="same", bias=False),
        (1, 4, 5, 6, 6),
    ),
    (
        dict(in_channels=4, out_channels=6, kernel_size=3, padding=(1, 0, 2), groups=2),
        (2, 4, 5, 5, 4),
    ),
    (
        dict(in_channels=3, out_channels=3, kernel_size=3, stride=2, padding=1, groups=3),
        (2, 3, 7, 6, 6),
    ),
    (dict(in_channels=2, out_channels=3, kernel_size=1, padding="valid"), (1, 2, 3, 4, 5)),
]


def _torch_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def _tol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


@pytest.mark.parametrize("index", range(len(CONVS)))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one volume"])
def test_conv3d_is_torchs(index, dtype, batched):
    kwargs, shape = CONVS[index]
    torch.manual_seed(index)
    theirs = torch.nn.Conv3d(**kwargs).to(_torch_dtype(dtype))
    ours = nn.Conv3d(**kwargs, dtype=dtype, rng=index)
    assert repr(ours) == repr(theirs)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in state.items()
    }
    ours.load_state_dict(state)
    rng = np.random.default_rng(index)
    x = rng.standard_normal(shape if batched else shape[1:]).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    assert y.shape == tuple(yt.shape) and y.dtype == dtype
    assert rel_error(y, yt.detach().numpy()) <= _tol(dtype)
    G = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(G))
    ours.zero_grad()
    grad_x = ours.backward(G)
    assert grad_x.dtype == dtype
    assert rel_error(grad_x, xt.grad.numpy()) <= _tol(dtype)
    for name, p in theirs.named_parameters():
        assert rel_error(dict(ours.named_parameters())[name].grad, p.grad.numpy()) <= _tol(dtype)


def test_conv3d_init_law_is_torchs():
    """weight and bias ~ U(−1/√fan_in, 1/√fan_in), fan_in = (C_in/G)·f0·f1·f2: the bound is
    reached to within a few percent and never exceeded."""
    layer = nn.Conv3d(8, 16, (3, 2, 3), groups=2, rng=0, dtype=np.float64)
    bound = 1 / np.sqrt(4 * 3 * 2 * 3)
    w = layer.weight.data
    assert w.shape == (16, 4, 3, 2, 3)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(layer.bias.data).max() <= bound


def test_conv3d_layer_matches_finite_differences():
    layer = nn.Conv3d(
        2, 3, (2, 3, 2), stride=(1, 2, 1), padding=1, dilation=(2, 1, 1), rng=1, dtype=np.float64
    )
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 5, 4))
    w, b = layer.weight.data, layer.bias.data
    args = dict(stride=(1, 2, 1), padding=1, dilation=(2, 1, 1))
    check_gradients(
        lambda x, w, b: ops.conv3d(x, w, b, **args),
        lambda g, x, w, b: ops.conv3d_backward(g, x, w, **args),
        [x, w, b],
    )


PADDING_MODES = ["reflect", "replicate", "circular"]

# Conv3d under a padding_mode: (layer keywords, input shape (N, C, D, H, W))
PADDED_CONVS = [
    (dict(in_channels=2, out_channels=3, kernel_size=3, padding=1), (2, 2, 5, 6, 7)),
    (
        dict(in_channels=4, out_channels=6, kernel_size=(2, 3, 4), padding="same", groups=2),
        (1, 4, 4, 5, 6),
    ),  # uneven: the extra cell of an even kernel after
    (
        dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=(2, 1, 0)),
        (2, 2, 5, 6, 5),
    ),
    (
        dict(in_channels=3, out_channels=2, kernel_size=(3, 2, 3), padding=(1, 1, 2), dilation=2),
        (1, 3, 6, 5, 6),
    ),
]


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("index", range(len(PADDED_CONVS)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv3d_padding_modes_are_torchs(mode, index, dtype):
    """Conv3d(padding_mode=...) against torch.nn.Conv3d with the same mode: repr, forward,
    ∂ℓ/∂x (the border cells' gradients folded back into the voxels they copied) and the
    parameters' gradients; a batch and one unbatched volume."""
    kwargs, shape = PADDED_CONVS[index]
    torch.manual_seed(index)
    theirs = torch.nn.Conv3d(**kwargs, padding_mode=mode).to(_torch_dtype(dtype))
    ours = nn.Conv3d(**kwargs, padding_mode=mode, dtype=dtype, rng=index)
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(index)
    for x_shape in (shape, shape[1:]):
        x = rng.standard_normal(x_shape).astype(dtype)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        y = ours(x)
        assert y.shape == tuple(yt.shape) and y.dtype == dtype
        assert rel_error(y, yt.detach().numpy()) <= _tol(dtype)
        G = rng.standard_normal(y.shape).astype(dtype)
        theirs.zero_grad()
        yt.backward(torch.from_numpy(G))
        ours.zero_grad()
        grad_x = ours.backward(G)
        assert grad_x.shape == x.shape and grad_x.dtype == dtype
        assert rel_error(grad_x, xt.grad.numpy()) <= _tol(dtype)
        for name, p in theirs.named_parameters():
            got = dict(ours.named_parameters())[name].grad
            assert rel_error(got, p.grad.numpy()) <= _tol(dtype), name


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_conv3d_padding_mode_layer_matches_finite_differences(mode):
    """The layer's ∂ℓ/∂x through the border's copies, against central differences of its own
    forward (float64): a witness that needs neither PyTorch nor the op's backward."""
    layer = nn.Conv3d(2, 2, (3, 2, 3), padding=(1, 1, 2), padding_mode=mode, rng=3)
    layer = layer.to(np.float64)
    x = np.random.default_rng(4).standard_normal((1, 2, 3, 4, 3))

    def backward(g, x):
        layer(x)
        return layer.backward(g)

    check_gradients(lambda x: layer(x), backward, [x])


# ConvTranspose3d: (layer keywords, input shape (N, C, D, H, W))
TRANSPOSED = [
    (dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 3, 4, 3)),
    (
        dict(in_channels=4, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1),
        (2, 4, 3, 3, 4),
    ),  # 2x upsampling, as in a 3-D U-Net's decoder
    (
        dict(
            in_channels=2,
            out_channels=3,
            kernel_size=(2, 3, 2),
            stride=(2, 1, 3),
            padding=(1, 0, 1),
            output_padding=(1, 0, 2),
            dilation=(1, 2, 1),
        ),
        (1, 2, 4, 3, 3),
    ),
    (
        dict(in_channels=4, out_channels=6, kernel_size=2, stride=2, groups=2, bias=False),
        (2, 4, 2, 3, 3),
    ),
    (
        dict(in_channels=3, out_channels=3, kernel_size=3, padding=(2, 1, 0), dilation=(2, 1, 1)),
        (1, 3, 4, 3, 3),
    ),  # output_padding below dilation, stride 1
]


@pytest.mark.parametrize("index", range(len(TRANSPOSED)))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one volume"])
def test_conv_transpose3d_is_torchs(index, dtype, batched):
    kwargs, shape = TRANSPOSED[index]
    torch.manual_seed(index)
    theirs = torch.nn.ConvTranspose3d(**kwargs).to(_torch_dtype(dtype))
    ours = nn.ConvTranspose3d(**kwargs, dtype=dtype, rng=index)
    assert repr(ours) == repr(theirs)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in state.items()
    }
    ours.load_state_dict(state)
    rng = np.random.default_rng(index)
    x = rng.standard_normal(shape if batched else shape[1:]).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    assert y.shape == tuple(yt.shape) and y.dtype == dtype
    assert rel_error(y, yt.detach().numpy()) <= _tol(dtype)
    G = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(G))
    ours.zero_grad()
    grad_x = ours.backward(G)
    assert grad_x.dtype == dtype
    assert rel_error(grad_x, xt.grad.numpy()) <= _tol(dtype)
    for name, p in theirs.named_parameters():
        assert rel_error(dict(ours.named_parameters())[name].grad, p.grad.numpy()) <= _tol(dtype)


def test_conv_transpose3d_init_law_is_torchs():
    """weight (C_in, C_out/G, f0, f1, f2) and bias ~ U(−1/√fan_in, 1/√fan_in) with PyTorch's
    fan_in = weight.shape[1]·f0·f1·f2 = (C_out/G)·f0·f1·f2 (not C_in): PyTorch's own draws
    fill the same interval, and ours reach its bound to within a few percent."""
    ours = nn.ConvTranspose3d(6, 8, (3, 2, 3), groups=2, rng=0, dtype=np.float64)
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose3d(6, 8, (3, 2, 3), groups=2)
    assert ours.weight.shape == tuple(theirs.weight.shape) == (6, 4, 3, 2, 3)
    bound = 1 / np.sqrt(4 * 3 * 2 * 3)
    for w in (ours.weight.data, theirs.weight.detach().numpy()):
        assert bound * 0.95 < np.abs(w).max() <= bound
    for b in (ours.bias.data, theirs.bias.detach().numpy()):
        assert np.abs(b).max() <= bound


def test_conv_transpose3d_is_the_adjoint_of_conv3d():
    """⟨conv3d(Y, w), x⟩ = ⟨Y, conv_transpose3d(x, w)⟩ for the same weight, stride, padding,
    dilation and groups (SPEC.md, Wave 2), whatever the output_padding picks (it only adds
    planes conv3d never reads); float64, to rounding."""
    rng = np.random.default_rng(11)
    kw = dict(stride=(2, 3, 1), padding=(1, 0, 2), dilation=(1, 1, 2), groups=2)
    w = rng.standard_normal((4, 3, 3, 2, 3))
    x = rng.standard_normal((2, 4, 3, 4, 5))
    for output_padding in [(0, 0, 0), (1, 2, 1)]:
        y_t = ops.conv_transpose3d(x, w, output_padding=output_padding, **kw)
        Y = rng.standard_normal(y_t.shape)
        y = ops.conv3d(Y, w, **kw)[:, :, : x.shape[2], : x.shape[3], : x.shape[4]]
        assert y.shape == x.shape
        lhs, rhs = float(np.sum(y * x)), float(np.sum(Y * y_t))
        assert abs(lhs - rhs) <= 1e-12 * np.sqrt(np.sum(y**2) * np.sum(x**2))


def test_conv_transpose3d_layer_matches_finite_differences():
    layer = nn.ConvTranspose3d(
        2, 2, (2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0), output_padding=(1, 0, 1), rng=1
    ).to(np.float64)
    x = np.random.default_rng(2).standard_normal((2, 2, 2, 3, 2))
    w, b = layer.weight.data, layer.bias.data
    args = dict(stride=(2, 1, 2), padding=(1, 1, 0), output_padding=(1, 0, 1))
    check_gradients(
        lambda x, w, b: ops.conv_transpose3d(x, w, b, **args),
        lambda g, x, w, b: ops.conv_transpose3d_backward(g, x, w, **args),
        [x, w, b],
    )

    def backward(g, x):
        layer(x)
        return layer.backward(g)

    check_gradients(lambda x: layer(x), backward, [x])


POOLS = [
    (lambda: nn.MaxPool3d(2), lambda: torch.nn.MaxPool3d(2), (2, 3, 6, 6, 7)),
    (
        lambda: nn.MaxPool3d((3, 2, 3), stride=(2, 1, 2), padding=(1, 1, 0), ceil_mode=True),
        lambda: torch.nn.MaxPool3d((3, 2, 3), stride=(2, 1, 2), padding=(1, 1, 0), ceil_mode=True),
        (2, 2, 7, 6, 8),
    ),
    (
        lambda: nn.MaxPool3d(3, stride=2, padding=1, dilation=(2, 1, 2)),
        lambda: torch.nn.MaxPool3d(3, stride=2, padding=1, dilation=(2, 1, 2)),
        (1, 2, 8, 7, 9),
    ),
    (lambda: nn.AvgPool3d(2), lambda: torch.nn.AvgPool3d(2), (2, 3, 6, 6, 7)),
    (
        lambda: nn.AvgPool3d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        lambda: torch.nn.AvgPool3d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        (2, 2, 6, 7, 6),
    ),
    (
        lambda: nn.AvgPool3d((2, 3, 2), stride=1, padding=1, divisor_override=5),
        lambda: torch.nn.AvgPool3d((2, 3, 2), stride=1, padding=1, divisor_override=5),
        (1, 2, 4, 5, 4),
    ),
    (lambda: nn.AdaptiveAvgPool3d(1), lambda: torch.nn.AdaptiveAvgPool3d(1), (2, 3, 5, 6, 7)),
    (
        lambda: nn.AdaptiveAvgPool3d((3, None, 2)),
        lambda: torch.nn.AdaptiveAvgPool3d((3, None, 2)),
        (2, 3, 5, 6, 7),
    ),
    (
        lambda: nn.AdaptiveMaxPool3d((2, 4, 3)),
        lambda: torch.nn.AdaptiveMaxPool3d((2, 4, 3)),
        (2, 3, 5, 6, 7),
    ),
]


@pytest.mark.parametrize("index", range(len(POOLS)))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one volume"])
def test_pools3d_are_torchs(index, dtype, batched):
    make_ours, make_theirs, shape = POOLS[index]
    ours, theirs = make_ours(), make_theirs()
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(index)
    x = rng.standard_normal(shape if batched else shape[1:]).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    assert y.shape == tuple(yt.shape) and y.dtype == dtype
    assert rel_error(y, yt.detach().numpy()) <= _tol(dtype)
    G = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(G))
    assert rel_error(ours.backward(G), xt.grad.numpy()) <= _tol(dtype)


TIES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3, 2), stride=(1, 2, 1), dilation=(2, 1, 2)),
]


@pytest.mark.parametrize("kw", TIES, ids=[str(k) for k in TIES])
def test_max_pool3d_ties_choose_torchs_element(kw):
    """Values drawn from {0, 1, 2}: most windows hold several maxima; the chosen element (the
    indices, and where the gradient goes) is PyTorch's — the first in (depth, row, column)
    order — and the literal oracle's."""
    x = np.random.default_rng(7).integers(0, 3, (2, 3, 7, 6, 7)).astype(np.float64)
    y, indices = ops.max_pool3d(x, **kw, return_indices=True)
    yt, it = torch.nn.functional.max_pool3d(torch.tensor(x), **kw, return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(indices, it.numpy())
    _, want = reference.max_pool3d(x, **kw, return_indices=True)
    np.testing.assert_array_equal(indices, want)
    G = np.random.default_rng(8).standard_normal(y.shape)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool3d(xt, **kw).backward(torch.tensor(G))
    np.testing.assert_array_equal(ops.max_pool3d_backward(G, x, **kw), xt.grad.numpy())
    np.testing.assert_array_equal(
        ops.max_pool3d_backward(G, x, **kw, indices=indices), xt.grad.numpy()
    )


def test_max_pool3d_window_of_minus_infinity_chooses_its_first_element_as_torch():
    """A window whose real elements are all −∞ (next to the −∞ padding): the choice is the
    window's first element inside x, never the padding."""
    x = np.full((1, 1, 4, 4, 4), -np.inf)
    x[0, 0, 3, 3, 3] = 1.0
    kw = dict(kernel_size=3, stride=2, padding=1)
    _, indices = ops.max_pool3d(x, **kw, return_indices=True)
    _, it = torch.nn.functional.max_pool3d(torch.tensor(x), **kw, return_indices=True)
    np.testing.assert_array_equal(indices, it.numpy())


def test_adaptive_max_pool3d_ties_choose_torchs_element():
    x = np.random.default_rng(9).integers(0, 2, (2, 2, 5, 7, 6)).astype(np.float64)
    _, indices = ops.adaptive_max_pool3d(x, (3, 4, 4), return_indices=True)
    _, it = torch.nn.functional.adaptive_max_pool3d(torch.tensor(x), (3, 4, 4), return_indices=True)
    np.testing.assert_array_equal(indices, it.numpy())


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm3d_is_torchs(momentum):
    """Two training steps (running statistics with the unbiased variance, the momentum or the
    cumulative average), the gradients of the last, then evaluation by the running statistics."""
    theirs = torch.nn.BatchNorm3d(3, momentum=momentum).double()
    ours = nn.BatchNorm3d(3, momentum=momentum, dtype=np.float64)
    assert repr(ours) == repr(theirs)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    for step in range(2):
        x = rng.standard_normal((2, 3, 4, 5, 3)) * 2 + step
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        theirs.zero_grad()
        ours.zero_grad()
        y = ours(x)
        assert_close(y, yt.detach().numpy())
        G = rng.standard_normal(y.shape)
        yt.backward(torch.tensor(G))
        assert_close(ours.backward(G), xt.grad.numpy())
    assert_close(ours.weight.grad, theirs.weight.grad.numpy())
    assert_close(ours.bias.grad, theirs.bias.grad.numpy())
    for key, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[key], value.numpy())
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((1, 3, 2, 3, 4))
    assert_close(ours(x), theirs(torch.tensor(x)).detach().numpy())


def test_dropout3d_drops_whole_volumes():
    layer = nn.Dropout3d(0.5, rng=0)
    x = np.ones((4, 6, 3, 4, 5))
    y = layer(x)
    per_volume = y.reshape(4, 6, -1)
    assert set(np.unique(per_volume)) <= {0.0, 2.0}
    assert (per_volume.min(axis=2) == per_volume.max(axis=2)).all()  # one draw per (n, c)
    assert 0 < (per_volume[:, :, 0] == 0).sum() < 24
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)
    assert repr(layer) == repr(torch.nn.Dropout3d(0.5))
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)


def _small_cnns(seed=0):
    torch.manual_seed(seed)
    theirs = torch.nn.Sequential(
        torch.nn.Conv3d(2, 4, 3, padding=1),
        torch.nn.BatchNorm3d(4),
        torch.nn.ReLU(),
        torch.nn.MaxPool3d(2),
        torch.nn.Conv3d(4, 6, (2, 3, 3), stride=(1, 2, 1), padding=(0, 1, 1)),
        torch.nn.AdaptiveAvgPool3d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(6, 3),
    ).double()
    ours = nn.Sequential(
        nn.Conv3d(2, 4, 3, padding=1, dtype=np.float64),
        nn.BatchNorm3d(4, dtype=np.float64),
        nn.ReLU(),
        nn.MaxPool3d(2),
        nn.Conv3d(4, 6, (2, 3, 3), stride=(1, 2, 1), padding=(0, 1, 1), dtype=np.float64),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(6, 3, dtype=np.float64),
    )
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def test_a_small_3d_cnn_trains_as_torch():
    """Conv3d → BatchNorm3d → ReLU → MaxPool3d → Conv3d → AdaptiveAvgPool3d → Flatten → Linear:
    three SGD steps (momentum) on a cross-entropy loss; after each the loss, every parameter's
    gradient (relative to the largest) and then every parameter and buffer equal PyTorch's
    (float64)."""
    ours, theirs = _small_cnns()
    rng = np.random.default_rng(0)
    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    named = dict(ours.named_parameters())
    for _ in range(3):
        x = rng.standard_normal((4, 2, 6, 8, 8))
        labels = rng.integers(0, 3, 4)
        logits_t = theirs(torch.tensor(x))
        loss_t = torch.nn.functional.cross_entropy(logits_t, torch.tensor(labels))
        topt.zero_grad()
        loss_t.backward()
        topt.step()
        opt.zero_grad()
        logits = ours(x)
        shifted = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(4), labels]).mean()
        G = p.copy()
        G[np.arange(4), labels] -= 1
        ours.backward(G / 4)
        assert abs(loss - loss_t.item()) <= 1e-12 * max(1, abs(loss))
        # relative to the largest gradient: the first convolution's bias, followed by batch
        # normalisation, has a gradient of zero up to rounding in both libraries
        scale = max(np.abs(param.grad.numpy()).max() for param in theirs.parameters())
        for name, param in theirs.named_parameters():
            diff = np.abs(named[name].grad - param.grad.numpy()).max()
            assert diff <= 1e-10 * scale, name
        opt.step()
        for key, value in theirs.state_dict().items():
            assert rel_error(ours.state_dict()[key], value.detach().numpy()) <= 1e-10, key


def test_tools_run_or_refuse_volumes():
    from cnnmath.receptive import receptive_field
    from cnnmath.summary import summary

    ours, _ = _small_cnns()
    s = summary(ours, (2, 6, 8, 8))  # one volume: the batch axis put in front
    assert s.input_shape == (1, 2, 6, 8, 8)
    assert [r.output_shape for r in s.rows][:4] == [(1, 4, 6, 8, 8)] * 3 + [(1, 4, 3, 4, 4)]
    assert s.rows[-1].output_shape == (1, 3)
    assert s.total_parameters == sum(p.size for p in ours.parameters())
    assert "not volumes" in s.field_note
    assert summary(ours, (3, 2, 6, 8, 8)).input_shape == (3, 2, 6, 8, 8)
    with pytest.raises(ValueError, match=r"Conv3d works on volumes \(N, C, D, H, W\)"):
        receptive_field(ours, (1, 2, 6, 8))
    with pytest.raises(ValueError, match=r"MaxPool3d works on volumes"):
        receptive_field(nn.Sequential(nn.ReLU(), nn.MaxPool3d(2)), (1, 2, 6, 8))
    with pytest.raises(ValueError, match=r"ConvTranspose3d works on volumes"):
        receptive_field(nn.Sequential(nn.ReLU(), nn.ConvTranspose3d(2, 2, 2)), (1, 2, 6, 8))
    decoder = nn.Sequential(nn.ConvTranspose3d(2, 3, 2, stride=2, rng=0), nn.ReLU())
    s = summary(decoder, (2, 3, 4, 5))
    assert [r.output_shape for r in s.rows] == [(1, 3, 6, 8, 10)] * 2
    assert s.total_parameters == 2 * 3 * 8 + 3


@pytest.mark.parametrize(
    "make, exception, match",
    [
        (lambda: nn.Conv3d(3, 4, (3, 3)), TypeError, r"Conv3d: kernel_size: .*triple"),
        (lambda: nn.Conv3d(3, 4, 3, stride=0), ValueError, r"Conv3d: stride: expected values >= 1"),
        (
            lambda: nn.Conv3d(3, 4, 3, groups=2),
            ValueError,
            r"Conv3d: in_channels: expected a multiple of groups=2",
        ),
        (lambda: nn.Conv3d(3, 4, 3, padding="full"), ValueError, r"Conv3d: padding: expected"),
        (
            lambda: nn.Conv3d(3, 4, 3, stride=2, padding="same"),
            ValueError,
            r"'same' needs stride 1",
        ),
        (
            lambda: nn.Conv3d(3, 4, 3, padding_mode="mirror"),
            ValueError,
            r"Conv3d: padding_mode: expected one of zeros, reflect, replicate, circular, "
            r"got 'mirror'",
        ),
        (
            lambda: nn.ConvTranspose3d(3, 4, (3, 3)),
            TypeError,
            r"ConvTranspose3d: kernel_size: .*triple",
        ),
        (
            lambda: nn.ConvTranspose3d(3, 4, 3, groups=2),
            ValueError,
            r"ConvTranspose3d: in_channels: expected a multiple of groups=2",
        ),
        (
            lambda: nn.ConvTranspose3d(3, 4, 3, stride=2, output_padding=(0, 2, 0)),
            ValueError,
            r"ConvTranspose3d: output_padding: expected less than stride or dilation",
        ),
        (
            lambda: nn.ConvTranspose3d(3, 4, 3, padding="same"),
            TypeError,
            r"ConvTranspose3d: padding: .*no 'valid' or 'same'",
        ),
        (
            lambda: nn.ConvTranspose3d(3, 4, 3, padding_mode="reflect"),
            ValueError,
            r"ConvTranspose3d: padding_mode: expected 'zeros'",
        ),
        (lambda: nn.ConvTranspose3d(3, 4, 3, bias=1), TypeError, r"ConvTranspose3d: bias"),
        (
            lambda: nn.ConvTranspose3d(3, 4, 3, dtype=np.int32),
            TypeError,
            r"ConvTranspose3d: dtype",
        ),
        (
            lambda: nn.MaxPool3d(2, padding=2),
            ValueError,
            r"MaxPool3d: padding: expected at most half",
        ),
        (lambda: nn.MaxPool3d(2, return_indices=1), TypeError, r"return_indices.*bool"),
        (lambda: nn.AvgPool3d(2, divisor_override=0), ValueError, r"divisor_override"),
        (
            lambda: nn.AdaptiveAvgPool3d((2, 2)),
            ValueError,
            r"AdaptiveAvgPool3d: output_size: .*triple",
        ),
    ],
)
def test_3d_layers_refuse_bad_arguments_naming_them(make, exception, match):
    with pytest.raises(exception, match=match):
        make()


def test_3d_layers_refuse_bad_input_naming_it():
    conv = nn.Conv3d(3, 4, 3, rng=0)
    with pytest.raises(ValueError, match=r"Conv3d.forward: x: expected shape \(N, C, D, H, W\)"):
        conv(np.zeros((3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv3d.forward: x: expected 3 channels"):
        conv(np.zeros((1, 2, 5, 5, 5), np.float32))
    with pytest.raises(TypeError, match=r"dtype"):
        conv(np.zeros((1, 3, 5, 5, 5)))
    with pytest.raises(
        ValueError, match=r"BatchNorm3d.forward: x: expected shape \(N, C, D, H, W\)"
    ):
        nn.BatchNorm3d(3)(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"max_pool3d: x: .*x\[None, None\]"):
        nn.MaxPool3d(2)(np.zeros((4, 4, 4)))
    transposed = nn.ConvTranspose3d(3, 4, 3, rng=0)
    with pytest.raises(
        ValueError, match=r"ConvTranspose3d.forward: x: expected shape \(N, C, D, H, W\)"
    ):
        transposed(np.zeros((3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"ConvTranspose3d.forward: x: expected 3 channels"):
        transposed(np.zeros((1, 2, 5, 5, 5), np.float32))
    with pytest.raises(TypeError, match=r"dtype"):
        transposed(np.zeros((1, 3, 5, 5, 5)))
    reflect = nn.Conv3d(3, 4, 3, padding=2, padding_mode="reflect", rng=0)
    with pytest.raises(ValueError, match=r"reflect needs each pad smaller than the axis"):
        reflect(np.zeros((1, 3, 2, 5, 5), np.float32))


def _volume_cnn(dtype):
    """Every 3-D layer once: Conv3d (grouped, "same"), BatchNorm3d, ReLU, MaxPool3d (ceil),
    Conv3d (strided), AvgPool3d (divisor override), AdaptiveAvgPool3d(1), a linear head."""
    return nn.Sequential(
        nn.Conv3d(2, 4, 3, padding="same", groups=2, rng=0, dtype=dtype),
        nn.BatchNorm3d(4, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool3d(2, ceil_mode=True),
        nn.Conv3d(4, 6, (1, 3, 3), stride=(1, 2, 1), padding=(0, 1, 1), rng=1, dtype=dtype),
        nn.AvgPool3d((1, 2, 2), stride=1, divisor_override=3),
        nn.Dropout3d(0.5),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(6, 3, rng=2, dtype=dtype),
    ).eval()


def test_volumes_save_to_onnx_and_load_back(tmp_path):
    """A 3-D CNN is written with ONNX's Conv, BatchNormalization, MaxPool, AveragePool and
    GlobalAveragePool over three spatial axes: onnxruntime computes the model's output, and
    the loader reads the file back as the same 3-D layers, whose float64 gradient is the
    model's."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    rng = np.random.default_rng(7)
    model = _volume_cnn(np.float32)
    bn = model[1]
    bn.running_mean[...] = rng.standard_normal(4)
    bn.running_var[...] = rng.uniform(0.5, 2, 4)
    x = rng.standard_normal((2, 2, 5, 7, 6)).astype(np.float32)
    save(model, tmp_path / "v.onnx", x)
    session = ort.InferenceSession(str(tmp_path / "v.onnx"), providers=["CPUExecutionProvider"])
    want = model(x)
    assert rel_error(session.run(None, {session.get_inputs()[0].name: x})[0], want) <= 1e-5
    loaded = load(tmp_path / "v.onnx")
    kinds = {type(n.module).__name__ for n in loaded.walk()}
    assert {"Conv3d", "BatchNorm3d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d"} <= kinds
    assert rel_error(loaded(x), want) <= 1e-6
    model64, x64 = model.to(np.float64), x.astype(np.float64)
    save(model64, tmp_path / "v64.onnx", x64)
    loaded64 = load(tmp_path / "v64.onnx")
    G = rng.standard_normal(want.shape)
    model64(x64)
    loaded64(x64)
    assert rel_error(loaded64.backward(G), model64.backward(G)) <= 1e-12


def test_pytorchs_export_of_a_3d_cnn_loads_and_trains_as_torch():
    """torch.onnx.export of a Conv3d / MaxPool3d / AvgPool3d / global pooling network (no
    batch norm: the exporter folds an eval-mode one into the convolution; the save test
    above covers BatchNorm3d): cnnmath's graph gives PyTorch's output (float64) and
    onnxruntime's, and its gradients are PyTorch's autograd's."""
    pytest.importorskip("onnx")
    from cnnmath.onnx import load
    from helpers import loads_as_onnxruntime, torch_onnx_export, trains_as_torch

    torch.manual_seed(8)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(2, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool3d(2),
        torch.nn.Conv3d(4, 4, (1, 3, 3), padding=(0, 1, 1), groups=2),
        torch.nn.AvgPool3d((1, 2, 2), stride=1, padding=(0, 1, 1), count_include_pad=False),
        torch.nn.AdaptiveAvgPool3d(1),
        torch.nn.Flatten(),
    ).double()
    x = torch.randn(2, 2, 4, 6, 6, dtype=torch.float64)
    graph = load(torch_onnx_export(model, x, opset_version=17))
    with torch.no_grad():
        assert rel_error(graph(x.numpy()), model(x).numpy()) <= 1e-12
    loads_as_onnxruntime(model, x, opset_version=17)
    trains_as_torch(model, x, graph)


def test_conv3d_same_with_an_even_kernel_round_trips_through_onnx(tmp_path):
    """Conv3d(padding="same") with an even kernel saves with uneven pads (the odd one
    after); onnxruntime runs the file, and the loader reads it back as padding="same" —
    as it reads auto_pad SAME_UPPER at stride 1."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import helper

    from cnnmath.onnx import load, save

    layer = nn.Conv3d(2, 3, (2, 3, 4), padding="same", dilation=(1, 2, 1), rng=0)
    x = np.random.default_rng(9).standard_normal((1, 2, 4, 5, 6)).astype(np.float32)
    save(nn.Sequential(layer), tmp_path / "s.onnx", x)
    session = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    assert rel_error(session.run(None, {session.get_inputs()[0].name: x})[0], layer(x)) <= 1e-5
    loaded = load(tmp_path / "s.onnx")
    (conv,) = [n.module for n in loaded.walk()]
    assert isinstance(conv, nn.Conv3d) and conv.padding == "same"
    assert rel_error(loaded(x), layer(x)) <= 1e-6
    import onnx

    model = onnx.load(str(tmp_path / "s.onnx"))
    node = model.graph.node[0]
    del node.attribute[:]
    node.attribute.extend(
        [
            helper.make_attribute("auto_pad", "SAME_UPPER"),
            helper.make_attribute("kernel_shape", [2, 3, 4]),
            helper.make_attribute("dilations", [1, 2, 1]),
        ]
    )
    assert rel_error(load(model.SerializeToString())(x), layer(x)) <= 1e-6


def _decoder(dtype):
    """A 3-D encoder–decoder's layers once each: Conv3d in every non-zero padding_mode
    (reflect, replicate with an even 'same' kernel, circular), ConvTranspose3d upsampling
    (grouped, output_padding) and one dilated without a bias."""
    return nn.Sequential(
        nn.Conv3d(2, 4, 3, padding=1, padding_mode="reflect", rng=0, dtype=dtype),
        nn.ReLU(),
        nn.ConvTranspose3d(
            4, 4, 3, stride=2, padding=1, output_padding=1, groups=2, rng=1, dtype=dtype
        ),
        nn.Conv3d(4, 3, (2, 3, 2), padding="same", padding_mode="replicate", rng=2, dtype=dtype),
        nn.ConvTranspose3d(
            3, 2, (2, 1, 3), stride=(1, 2, 1), dilation=(2, 1, 1), bias=False, rng=3, dtype=dtype
        ),
        nn.Conv3d(
            2,
            2,
            3,
            stride=(1, 2, 2),
            padding=(1, 0, 2),
            padding_mode="circular",
            rng=4,
            dtype=dtype,
        ),
    )


def test_conv_transpose3d_and_padding_modes_save_to_onnx_and_load_back(tmp_path):
    """ConvTranspose3d saves as a ConvTranspose with three spatial axes and a Conv3d's
    padding_mode as a Pad (reflect, edge, wrap) of those axes before an unpadded Conv:
    onnxruntime computes the model's output, and the loader reads the ConvTranspose back as
    ConvTranspose3d, whose float64 gradients (input and parameters) are the model's."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    model = _decoder(np.float32)
    x = np.random.default_rng(12).standard_normal((2, 2, 3, 4, 3)).astype(np.float32)
    save(model, tmp_path / "d.onnx", x, opset=19)  # Pad's mode "wrap" arrived in opset 19
    saved = onnx.load(str(tmp_path / "d.onnx"))
    kinds = [n.op_type for n in saved.graph.node]
    assert kinds.count("ConvTranspose") == 2 and kinds.count("Pad") == 3
    pad_modes = [a.s.decode() for n in saved.graph.node if n.op_type == "Pad" for a in n.attribute]
    assert pad_modes == ["reflect", "edge", "wrap"]
    session = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    want = model(x)
    assert rel_error(session.run(None, {session.get_inputs()[0].name: x})[0], want) <= 1e-5
    loaded = load(tmp_path / "d.onnx")
    layers = [n.module for n in loaded.walk() if isinstance(n.module, nn.ConvTranspose3d)]
    assert [repr(m) for m in layers] == [
        repr(m) for m in model if isinstance(m, nn.ConvTranspose3d)
    ]
    assert rel_error(loaded(x), want) <= 1e-6
    model64, x64 = model.to(np.float64), x.astype(np.float64)
    save(model64, tmp_path / "d64.onnx", x64, opset=19)
    loaded64 = load(tmp_path / "d64.onnx")
    G = np.random.default_rng(13).standard_normal(want.shape)
    model64.zero_grad()
    loaded64.zero_grad()
    model64(x64)
    loaded64(x64)
    assert rel_error(loaded64.backward(G), model64.backward(G)) <= 1e-12
    ours = dict(loaded64.named_parameters())
    for name, p in model64.named_parameters():
        assert rel_error(ours[loaded64.initializer_names[name]].grad, p.grad) <= 1e-12, name


def test_circular_conv3d_needs_opset_19_to_save(tmp_path):
    pytest.importorskip("onnx")
    from cnnmath.onnx import save

    model = nn.Sequential(nn.Conv3d(1, 1, 3, padding=1, padding_mode="circular", rng=0))
    with pytest.raises(ValueError, match=r"save: opset: circular padding .* needs opset 19"):
        save(model, tmp_path / "c.onnx", np.zeros((1, 1, 3, 3, 3), np.float32), opset=17)
    assert not (tmp_path / "c.onnx").exists()


def test_pytorchs_export_of_a_3d_decoder_loads_and_trains_as_torch():
    """torch.onnx.export of ConvTranspose3d layers (grouped with output_padding; dilated
    without a bias) and of Conv3d with padding_mode reflect and replicate: each
    ConvTranspose loads as nn.ConvTranspose3d, and the graph gives PyTorch's output (float64)
    and onnxruntime's (float32), with PyTorch's autograd's gradients."""
    pytest.importorskip("onnx")
    from cnnmath.onnx import load
    from helpers import loads_as_onnxruntime, torch_onnx_export, trains_as_torch

    torch.manual_seed(14)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(2, 4, 3, padding=1, padding_mode="reflect"),
        torch.nn.ReLU(),
        torch.nn.ConvTranspose3d(4, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
        torch.nn.Conv3d(4, 3, (1, 3, 3), padding=(0, 1, 1), padding_mode="replicate"),
        torch.nn.ConvTranspose3d(3, 2, (2, 1, 3), stride=(1, 2, 1), dilation=(2, 1, 1), bias=False),
    ).double()
    x = torch.randn(2, 2, 3, 4, 3, dtype=torch.float64)
    graph = load(torch_onnx_export(model, x, opset_version=17))
    found = [repr(n.module) for n in graph.walk() if isinstance(n.module, nn.ConvTranspose3d)]
    assert found == [repr(m) for m in model if isinstance(m, torch.nn.ConvTranspose3d)]
    with torch.no_grad():
        assert rel_error(graph(x.numpy()), model(x).numpy()) <= 1e-12
    loads_as_onnxruntime(model, x, opset_version=17)
    trains_as_torch(model, x, graph)


def test_a_3d_conv_transpose_with_output_shape_is_refused_naming_it(tmp_path):
    """ONNX's output_shape (and auto_pad SAME_*) have no ConvTranspose3d form: the loader
    refuses the node, naming it and the attribute, rather than guessing the pads."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    from cnnmath.onnx import load, save

    layer = nn.ConvTranspose3d(2, 2, 2, stride=2, rng=0)
    x = np.zeros((1, 2, 2, 2, 2), np.float32)
    save(nn.Sequential(layer), tmp_path / "t.onnx", x)
    model = onnx.load(str(tmp_path / "t.onnx"))
    model.graph.node[0].attribute.append(helper.make_attribute("output_shape", [4, 4, 4]))
    with pytest.raises(ValueError, match=r"\(ConvTranspose\): .*no output_shape"):
        load(model.SerializeToString())
    del model.graph.node[0].attribute[-1]
    model.graph.node[0].attribute.append(helper.make_attribute("auto_pad", "SAME_UPPER"))
    with pytest.raises(ValueError, match=r"\(ConvTranspose\): attribute 'auto_pad'"):
        load(model.SerializeToString())
