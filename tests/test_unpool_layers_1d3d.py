"""MaxPool1d/3d(return_indices=True), MaxUnpool1d/3d and the adaptive max poolings' indices
(1-D, 2-D, 3-D) as layers and graph nodes, against PyTorch's layers and autograd in float64."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, summary
from helpers import unpool_sized

torch = pytest.importorskip("torch")

T = torch.nn
_LAYERS = {1: (nn.MaxPool1d, nn.MaxUnpool1d), 3: (nn.MaxPool3d, nn.MaxUnpool3d)}
_TORCH = {1: (T.MaxPool1d, T.MaxUnpool1d), 3: (T.MaxPool3d, T.MaxUnpool3d)}

# (rank, input shape, pool kwargs, unpool output_size: None, "input" (the pool's input) or ints)
SAMPLES = [
    (1, (2, 3, 8), {"kernel_size": 2}, None),
    (1, (2, 2, 9), {"kernel_size": 3, "stride": 2, "padding": 1}, "input"),
    (1, (1, 2, 7), {"kernel_size": 2}, (7,)),  # the pool dropped the last element
    (1, (2, 1, 10), {"kernel_size": 3, "stride": 2, "dilation": 2}, None),
    (1, (1, 2, 8), {"kernel_size": 3, "stride": 2, "ceil_mode": True}, "input"),
    (1, (3, 7), {"kernel_size": 2}, "input"),  # one signal
    (3, (2, 2, 4, 4, 4), {"kernel_size": 2}, None),
    (3, (1, 2, 5, 4, 5), {"kernel_size": 3, "stride": 2, "padding": 1}, "input"),
    (3, (1, 1, 5, 5, 4), {"kernel_size": (2, 3, 2), "stride": (2, 2, 1)}, (5, 5, 4)),
    (3, (1, 2, 6, 5, 5), {"kernel_size": 2, "stride": 2, "dilation": (1, 2, 1)}, "input"),
    (3, (1, 1, 5, 5, 5), {"kernel_size": 2, "ceil_mode": True, "padding": 1}, "input"),
    (3, (2, 3, 4, 4), {"kernel_size": 2}, "input"),  # unbatched
]

ERRORS = [
    (lambda: nn.MaxPool1d(2, return_indices=1), TypeError, "MaxPool1d: return_indices"),
    (lambda: nn.MaxPool3d(2, return_indices=None), TypeError, "MaxPool3d: return_indices"),
    (lambda: nn.AdaptiveMaxPool2d(2, return_indices="y"), TypeError, "return_indices"),
    (lambda: nn.MaxUnpool1d((2, 2)), TypeError, "MaxUnpool1d: kernel_size"),
    (lambda: nn.MaxUnpool3d(0), ValueError, "MaxUnpool3d: kernel_size"),
    (
        lambda: nn.MaxUnpool1d(2)(np.ones((1, 1, 2)), np.zeros((1, 1, 2))),
        TypeError,
        r"indices: expected an integer array .*max_pool1d",
    ),
    (
        lambda: nn.MaxUnpool3d(2)(np.ones((1, 1, 1, 1, 1)), np.full((1, 1, 1, 1, 1), 8)),
        ValueError,
        r"indices: expected positions in \[0, 8\)",
    ),
    (
        lambda: nn.MaxUnpool3d(2)(np.ones((1, 1, 1, 1, 1)), np.zeros((1, 1, 1, 1, 1), int), (3, 3)),
        TypeError,
        r"output_size: expected None or \(depth, height, width\)",
    ),
    (
        lambda: nn.MaxUnpool1d(2)(np.ones((1, 1, 2)), np.zeros((1, 1, 2), int), np.zeros(2)),
        TypeError,
        r"MaxUnpool1d.forward: output_size: expected None, \(L,\)",
    ),
    (
        lambda: nn.MaxUnpool1d(2)(np.ones((1, 1, 2)), np.zeros((1, 1, 2), int), np.zeros((1, 9))),
        ValueError,
        r"strictly between .*read from output_size, an array",
    ),
]


@pytest.mark.parametrize(("call", "exc", "pattern"), ERRORS)
def test_bad_input_names_the_argument(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


@pytest.mark.parametrize(("rank", "shape", "kw", "size"), SAMPLES)
@pytest.mark.parametrize("data", ["normal", "ties"])
def test_pool_and_unpool_match_torch_forward_and_gradients(rank, shape, kw, size, data):
    rng = np.random.default_rng(len(shape) + sum(shape))
    x = rng.standard_normal(shape) if data == "normal" else rng.integers(0, 3, shape) * 1.0
    geometry = {k: v for k, v in kw.items() if k in ("kernel_size", "stride", "padding")}
    Pool, Unpool = _LAYERS[rank]
    g = nn.Graph()
    y, i = g.add(Pool(**kw, return_indices=True), "x", name="pool")
    assert (y, i) == ("pool", "pool_indices")
    g.add(Unpool(**geometry), y, i, *(("x",) if size == "input" else ()), name="unpool")
    g.set_output("unpool", y, i)
    if isinstance(size, tuple):
        layer = g.unpool
        g.unpool = unpool_sized(layer, size)
    out, pooled, idx = g(x)

    TPool, TUnpool = _TORCH[rank]
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = TPool(**kw, return_indices=True)(tx)
    t_size = x.shape[-rank:] if size == "input" else size  # (torch: no unbatched x.shape)
    tout = TUnpool(**geometry)(ty, ti, output_size=t_size)
    np.testing.assert_array_equal(idx, ti.numpy())
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(pooled, ty.detach().numpy())
    np.testing.assert_array_equal(out, tout.detach().numpy())

    G_out, G_y = rng.standard_normal(out.shape), rng.standard_normal(pooled.shape)
    ((tout * torch.tensor(G_out)).sum() + (ty * torch.tensor(G_y)).sum()).backward()
    grad = g.backward((G_out, G_y, None))
    assert np.abs(grad - tx.grad.numpy()).max() <= 1e-12 * np.abs(tx.grad.numpy()).max()


# (layer, torch layer, input shape)
ADAPTIVE = [
    (nn.AdaptiveMaxPool1d(3, return_indices=True), T.AdaptiveMaxPool1d(3, True), (2, 3, 7)),
    (nn.AdaptiveMaxPool1d(5, return_indices=True), T.AdaptiveMaxPool1d(5, True), (2, 4)),
    (nn.AdaptiveMaxPool2d((2, 3), True), T.AdaptiveMaxPool2d((2, 3), True), (2, 2, 5, 7)),
    (nn.AdaptiveMaxPool2d(1, True), T.AdaptiveMaxPool2d(1, True), (2, 3, 4, 4)),
    (nn.AdaptiveMaxPool2d((None, 2), True), T.AdaptiveMaxPool2d((None, 2), True), (2, 5, 4)),
    (nn.AdaptiveMaxPool3d((2, 1, 3), True), T.AdaptiveMaxPool3d((2, 1, 3), True), (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize(("layer", "witness", "shape"), ADAPTIVE)
@pytest.mark.parametrize("data", ["normal", "ties"])
def test_adaptive_max_pool_indices_and_gradient_match_torch(layer, witness, shape, data):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape) if data == "normal" else rng.integers(0, 3, shape) * 1.0
    y, i = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = witness(tx)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    G = rng.standard_normal(y.shape)
    (ty * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(layer.backward((G, None)), tx.grad.numpy(), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(layer.backward(G), tx.grad.numpy())
    assert layer.extra_outputs == ("indices",) and repr(layer) == repr(witness)


@pytest.mark.parametrize(
    "layer",
    [nn.MaxPool1d(2, return_indices=True), nn.MaxPool3d(2, return_indices=True)],
    ids=["1d", "3d"],
)
def test_pool_alone_returns_the_pair_and_takes_g_or_a_pair(layer):
    rank = 1 if isinstance(layer, nn.MaxPool1d) else 3
    x = np.random.default_rng(0).standard_normal((1, 2) + (4,) * rank)
    layer.eval()  # the indices are returned in either mode
    y, i = layer(x)
    g1, g2 = layer.backward(np.ones_like(y)), layer.backward((np.ones_like(y), None))
    np.testing.assert_array_equal(g1, g2)
    assert g1.sum() == y.size and not layer.backward((None, None)).any()
    with pytest.raises(TypeError, match=r"grad_output: expected G or \(G, None\).*got 3"):
        layer.backward((y, None, None))
    assert nn.MaxPool1d(2).extra_outputs == () and nn.MaxPool3d(2).extra_outputs == ()


def test_unpool_reprs_are_torch_s():
    for ours, theirs in [
        (nn.MaxUnpool1d(2), T.MaxUnpool1d(2)),
        (nn.MaxUnpool3d((1, 2, 2), padding=(0, 1, 0)), T.MaxUnpool3d((1, 2, 2), padding=(0, 1, 0))),
        (nn.MaxPool3d(2, return_indices=True), T.MaxPool3d(2, return_indices=True)),
    ]:
        assert repr(ours) == repr(theirs)


class _TorchCodec(torch.nn.Module):
    """conv, ReLU, pool with indices, conv, ReLU, unpool to the pool's input size, conv."""

    def __init__(self, rank):
        super().__init__()
        Conv = {1: torch.nn.Conv1d, 3: torch.nn.Conv3d}[rank]
        TPool, TUnpool = _TORCH[rank]
        self.enc, self.mid, self.dec = (
            Conv(2, 3, 3, padding=1),
            Conv(3, 3, 3, padding=1),
            Conv(3, 2, 1),
        )
        self.pool, self.unpool = TPool(2, return_indices=True), TUnpool(2)

    def forward(self, x):
        e = torch.relu(self.enc(x))
        y, idx = self.pool(e)
        m = torch.relu(self.mid(y))
        return self.dec(self.unpool(m, idx, output_size=e.size()))


def _codec(rank):
    Conv = {1: nn.Conv1d, 3: nn.Conv3d}[rank]
    Pool, Unpool = _LAYERS[rank]
    g = nn.Graph()
    g.add(Conv(2, 3, 3, padding=1, rng=0, dtype=np.float64), "x", name="enc")
    e = g.add(nn.ReLU(), "enc", name="enc_relu")
    y, idx = g.add(Pool(2, return_indices=True), e, name="pool")
    g.add(Conv(3, 3, 3, padding=1, rng=1, dtype=np.float64), y, name="mid")
    m = g.add(nn.ReLU(), "mid", name="mid_relu")
    g.add(Unpool(2), m, idx, e, name="unpool")
    g.add(Conv(3, 2, 1, rng=2, dtype=np.float64), "unpool", name="dec")
    g.set_output("dec")
    t = _TorchCodec(rank).double()
    t.load_state_dict({k: torch.tensor(v) for k, v in g.state_dict().items()})
    return g, t


@pytest.mark.parametrize(("rank", "shape"), [(1, (2, 2, 9)), (3, (1, 2, 5, 4, 5))])
def test_encoder_decoder_graph_matches_torch_forward_and_every_gradient(rank, shape):
    g, t = _codec(rank)
    x = np.random.default_rng(1).standard_normal(shape)  # odd sizes: output_size matters
    out = g(x)
    tx = torch.tensor(x, requires_grad=True)
    tout = t(tx)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-13)
    G = np.random.default_rng(2).standard_normal(out.shape)
    g.zero_grad()
    gx = g.backward(G)
    tout.backward(torch.tensor(G))
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-13)
    tparams = dict(t.named_parameters())
    for name, p in g.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-12, atol=1e-13)
    assert [n.extra_outputs for n in g.walk()][2] == ("pool_indices",)


@pytest.mark.parametrize(("rank", "shape"), [(1, (2, 9)), (3, (2, 5, 4, 5))])
def test_summary_lists_the_pool_s_two_outputs_and_the_unpool(rank, shape):
    g, _ = _codec(rank)
    s = summary(g, shape)
    rows = {r.name: r for r in s.rows}
    pooled = (1, 3) + tuple(n // 2 for n in shape[1:])
    assert rows["pool"].output_shape == pooled
    assert rows["pool"].output_bytes == 2 * 8 * int(np.prod(pooled))  # Y float64, I int64
    assert rows["unpool"].output_shape == (1, 3, *shape[1:])
    assert rows["unpool"].type == f"MaxUnpool{rank}d"
