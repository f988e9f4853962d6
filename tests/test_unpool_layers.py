"""MaxPool2d(return_indices=True) and MaxUnpool2d as layers and graph nodes (SegNet-style
encoder–decoders), against PyTorch's layers and autograd in float64."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, optim, summary
from cnnmath.train import fit
from helpers import unpool_sized

torch = pytest.importorskip("torch")

# (input shape, pool kwargs, unpool output_size: None, "input" (the pool's input tensor), or
# a tuple of ints)
SAMPLES = [
    ((2, 3, 8, 8), {"kernel_size": 2}, None),
    ((2, 2, 9, 7), {"kernel_size": 3, "stride": 2, "padding": 1}, "input"),  # overlapping
    ((1, 2, 7, 7), {"kernel_size": 2}, (7, 7)),  # the pool dropped a row and a column
    ((2, 1, 7, 6), {"kernel_size": 3, "stride": 2, "ceil_mode": True}, "input"),
    ((1, 2, 6, 5), {"kernel_size": (2, 3), "stride": (2, 1), "padding": (1, 1)}, "input"),
    ((3, 5, 4), {"kernel_size": 2}, None),  # unbatched
]

ERRORS = [
    (lambda: nn.MaxPool2d(2, return_indices="yes"), TypeError, "return_indices.*bool"),
    (lambda: nn.MaxUnpool2d(0), ValueError, "kernel_size"),
    (
        lambda: nn.MaxUnpool2d(2)(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2))),
        TypeError,
        r"indices: expected an integer array of x's shape \(1, 1, 2, 2\).*float64",
    ),
    (
        lambda: nn.MaxUnpool2d(2)(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), np.int64)),
        TypeError,
        r"indices: expected .*shape \(1, 1, 2, 2\).*shape \(1, 1, 2, 3\)",
    ),
    (
        lambda: nn.MaxUnpool2d(2)(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16)),
        ValueError,
        r"indices: expected positions in \[0, 16\).*got values from 16 to 16",
    ),
    (
        lambda: nn.MaxUnpool2d(2)(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), int), (9, 9)),
        ValueError,
        r"output_size: expected sizes >= 1 strictly between \(2, 2\) and \(6, 6\)",
    ),
    (
        lambda: nn.MaxUnpool2d(2)(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), int), "big"),
        TypeError,
        "output_size",
    ),
    (
        lambda: nn.Sequential(nn.MaxPool2d(2, return_indices=True), nn.ReLU())(
            np.ones((1, 1, 4, 4))
        ),
        TypeError,
        r"returns 2 outputs; a Sequential .*MaxUnpool2d need a Graph",
    ),
]


@pytest.mark.parametrize(("call", "exc", "pattern"), ERRORS)
def test_bad_input_names_the_argument(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def _ties(shape, rng):
    """Few distinct values: windows hold ties, which both must break alike (first maximum)."""
    return rng.integers(0, 3, size=shape).astype(np.float64)


@pytest.mark.parametrize(("shape", "kw", "size"), SAMPLES)
@pytest.mark.parametrize("data", ["normal", "ties"])
def test_pool_and_unpool_match_torch_forward_and_gradients(shape, kw, size, data):
    rng = np.random.default_rng(len(shape) + sum(shape))
    x = rng.standard_normal(shape) if data == "normal" else _ties(shape, rng)
    geometry = {k: v for k, v in kw.items() if k in ("kernel_size", "stride", "padding")}
    g = nn.Graph()
    y, i = g.add(nn.MaxPool2d(**kw, return_indices=True), "x", name="pool")
    assert (y, i) == ("pool", "pool_indices")
    readers = (y, i) + (("x",) if size == "input" else ())
    g.add(nn.MaxUnpool2d(**geometry), *readers, name="unpool")
    g.set_output("unpool", y, i)
    if isinstance(size, tuple):
        unpool = nn.MaxUnpool2d(**geometry)
        g.unpool = unpool_sized(unpool, size)  # the layer called with output_size=(H, W)
    out, pooled, idx = g(x)

    tx = torch.tensor(x, requires_grad=True)
    ty, ti = torch.nn.MaxPool2d(**kw, return_indices=True)(tx)
    t_size = x.shape if size == "input" else size
    tout = torch.nn.MaxUnpool2d(**geometry)(ty, ti, output_size=t_size)
    np.testing.assert_array_equal(idx, ti.numpy())
    assert idx.dtype == np.int64
    np.testing.assert_allclose(pooled, ty.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=0, atol=0)

    G_out, G_y = rng.standard_normal(out.shape), rng.standard_normal(pooled.shape)
    ((tout * torch.tensor(G_out)).sum() + (ty * torch.tensor(G_y)).sum()).backward()
    grad = g.backward((G_out, G_y, None))
    scale = np.abs(tx.grad.numpy()).max()
    assert np.abs(grad - tx.grad.numpy()).max() <= 1e-12 * scale


def test_unpool_backward_gathers_and_gives_none_for_the_integers():
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    indices = np.array([[[[0, 3], [9, 15]]]])
    layer = nn.MaxUnpool2d(2)
    y = layer(x, indices, np.zeros((1, 1, 4, 4)))
    assert y.shape == (1, 1, 4, 4) and y[0, 0, 2, 1] == 3.0 and y.sum() == 10.0
    G = np.arange(16.0).reshape(1, 1, 4, 4)
    gx, gi, gs = layer.backward(G)
    np.testing.assert_array_equal(gx, [[[[0.0, 3.0], [9.0, 15.0]]]])
    assert gi is None and gs is None


def test_pool_layer_alone_returns_the_pair_and_takes_g_or_a_pair():
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4))
    pool = nn.MaxPool2d(2, return_indices=True)
    pool.eval()  # the indices are returned in either mode
    y, i = pool(x)
    g1 = pool.backward(np.ones_like(y))
    g2 = pool.backward((np.ones_like(y), None))
    np.testing.assert_array_equal(g1, g2)
    assert g1.sum() == y.size
    with pytest.raises(TypeError, match=r"grad_output: expected G or \(G, None\).*got 3"):
        pool.backward((y, None, None))


class _TorchSegNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2, return_indices=True)
        self.mid = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.unpool = torch.nn.MaxUnpool2d(2)
        self.dec = torch.nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, x):
        e = torch.relu(self.enc(x))
        y, idx = self.pool(e)
        m = torch.relu(self.mid(y))
        return self.dec(self.unpool(m, idx, output_size=e.size()))


def _segnet():
    g = nn.Graph()
    g.add(nn.Conv2d(2, 4, 3, padding=1, rng=0, dtype=np.float64), "x", name="enc")
    e = g.add(nn.ReLU(), "enc", name="enc_relu")
    y, idx = g.add(nn.MaxPool2d(2, return_indices=True), e, name="pool")
    g.add(nn.Conv2d(4, 4, 3, padding=1, rng=1, dtype=np.float64), y, name="mid")
    m = g.add(nn.ReLU(), "mid", name="mid_relu")
    g.add(nn.MaxUnpool2d(2), m, idx, e, name="unpool")
    g.add(nn.Conv2d(4, 3, 3, padding=1, rng=2, dtype=np.float64), "unpool", name="dec")
    g.set_output("dec")
    t = _TorchSegNet().double()
    t.load_state_dict({k: torch.tensor(v) for k, v in g.state_dict().items()})
    return g, t


def test_segnet_graph_matches_torch_forward_and_every_parameter_gradient():
    g, t = _segnet()
    x = np.random.default_rng(1).standard_normal((2, 2, 7, 6))  # odd: output_size matters
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
    names = [(n.name, n.inputs, n.output, n.extra_outputs) for n in g.walk()]
    assert names[2] == ("pool", ("enc_relu",), "pool", ("pool_indices",))
    assert names[5] == ("unpool", ("mid_relu", "pool_indices", "enc_relu"), "unpool", ())


def test_one_fit_step_equals_torch_sgd():
    g, t = _segnet()
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((4, 2, 6, 6)), rng.standard_normal((4, 3, 6, 6))

    def mse(out, target):
        d = out - target
        return float(np.mean(d * d)), 2 * d / d.size

    fit(g, optim.SGD(g.parameters(), lr=0.1), (X, Y), epochs=1, batch_size=4, loss=mse,
        progress=False)  # fmt: skip
    opt = torch.optim.SGD(t.parameters(), lr=0.1)
    opt.zero_grad()
    torch.nn.functional.mse_loss(t(torch.tensor(X)), torch.tensor(Y)).backward()
    opt.step()
    tparams = dict(t.named_parameters())
    for name, p in g.named_parameters():
        np.testing.assert_allclose(p.data, tparams[name].detach().numpy(), rtol=1e-12, atol=1e-13)


def test_summary_lists_the_encoder_decoder():
    g, _ = _segnet()
    s = summary(g, (2, 8, 8))
    rows = {r.name: r for r in s.rows}
    assert rows["pool"].output_shape == (1, 4, 4, 4)
    assert rows["pool"].output_bytes == 4 * 16 * 8 * 2  # Y float64 and I int64
    assert rows["unpool"].output_shape == (1, 4, 8, 8)
    assert "MaxUnpool2d upsamples" in s.field_note
    assert s.total_parameters == sum(p.size for p in g.parameters())


def test_indices_read_by_two_unpools_and_returned():
    """Integer values take no gradient: two readers' None terms add to nothing, and a graph
    output of them takes None in backward."""
    x = np.random.default_rng(4).standard_normal((1, 2, 4, 4))
    g = nn.Graph()
    y, i = g.add(nn.MaxPool2d(2, return_indices=True), "x", name="pool")
    g.add(nn.MaxUnpool2d(2), y, i, name="a")
    g.add(nn.MaxUnpool2d(2), y, i, name="b")
    g.add(nn.Add(), "a", "b", name="sum")
    g.set_output("sum", i)
    out, _ = g(x)
    grad = g.backward((np.ones_like(out), None))
    alone = nn.MaxPool2d(2)
    alone(x)
    np.testing.assert_array_equal(grad, 2 * alone.backward(np.ones((1, 2, 2, 2))))


def _torch_pool_unpool(x, conv, bn, **pool):
    """PyTorch's eval-mode Conv2d → BatchNorm2d → max_pool2d(return_indices) → max_unpool2d
    with the cnnmath layers' weights: the witness of the folded graph."""
    F = torch.nn.functional
    t = F.conv2d(torch.tensor(x), torch.tensor(conv.weight.data), torch.tensor(conv.bias.data))
    t = F.batch_norm(t, torch.tensor(bn.running_mean), torch.tensor(bn.running_var),
                     torch.tensor(bn.weight.data), torch.tensor(bn.bias.data), eps=bn.eps)  # fmt: skip
    y, i = F.max_pool2d(t, return_indices=True, **pool)
    return F.max_unpool2d(y, i, pool["kernel_size"]).numpy(), i.numpy()


@pytest.mark.parametrize("outputs", [("un",), ("pool_indices",)])
def test_fold_batch_norm_folds_before_a_pool_whose_indices_are_read(outputs):
    """Bug: the indices, read by the unpool (or the graph's output), looked written by no
    node, so nothing was folded."""
    from cnnmath.nn import fold_batch_norm

    rng = np.random.default_rng(5)
    g = nn.Graph()
    conv = g.add(nn.Conv2d(2, 3, 3, rng=0, dtype=np.float64), "x", name="conv")
    bn = nn.BatchNorm2d(3, dtype=np.float64)
    bn.running_mean[:] = rng.standard_normal(3)
    bn.running_var[:] = rng.uniform(0.5, 2, 3)
    g.add(bn, conv, name="bn")
    y, i = g.add(nn.MaxPool2d(2, return_indices=True), "bn", name="pool")
    g.add(nn.MaxUnpool2d(2), y, i, name="un")
    g.set_output(*outputs)
    folded = fold_batch_norm(g)
    assert type(folded.bn) is nn.Identity
    x = rng.standard_normal((2, 2, 8, 8))
    want = _torch_pool_unpool(x, g.conv, bn, kernel_size=2)
    got = folded(x)
    if outputs == ("un",):
        np.testing.assert_allclose(got, want[0], rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, want[1])


def _pool_then_conv():
    g = nn.Graph()
    y, _ = g.add(nn.MaxPool2d(2, return_indices=True), "x", name="pool")
    g.add(nn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=np.float64), y, name="conv")
    g.set_output("conv")
    F = torch.nn.functional
    w, b = (torch.tensor(p.data) for p in (g.conv.weight, g.conv.bias))
    return g.eval(), lambda x: F.conv2d(F.max_pool2d(torch.tensor(x), 2), w, b, padding=1)


def test_tiled_runs_a_pool_whose_indices_nobody_reads():
    da = pytest.importorskip("dask.array")
    from cnnmath import tiled

    g, witness = _pool_then_conv()
    x = np.random.default_rng(6).standard_normal((1, 2, 16, 16))
    out = tiled.apply(g, da.from_array(x, chunks=(1, 2, 8, 8))).compute()
    np.testing.assert_allclose(out, witness(x).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", ["graph", "lone"])
def test_tiled_refuses_a_pool_whose_indices_are_returned_naming_it(model):
    da = pytest.importorskip("dask.array")
    from cnnmath import tiled

    if model == "graph":
        g = nn.Graph()
        g.add(nn.MaxPool2d(2, return_indices=True), "x", name="pool")
        g.set_output("pool_indices")
    else:
        g = nn.MaxPool2d(2, return_indices=True)
    x = da.from_array(np.ones((1, 2, 8, 8)), chunks=(1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"tiled.apply: model: node '(pool|maxpool2d)'.*returns"):
        tiled.apply(g, x)


def test_explore_records_the_pool_output_per_input():
    """Bug: the (Y, I) pair was stacked into one array: wrong shapes, or a conv after the
    pool refused the user's inputs."""
    from cnnmath.explore import explore_data

    g, witness = _pool_then_conv()
    x = np.random.default_rng(7).standard_normal((3, 2, 8, 8))
    nodes = explore_data(g, x)["nodes"]
    assert [n["name"] for n in nodes] == ["(input)", "pool", "conv"]
    assert nodes[1]["shape"] == [2, 4, 4] and len(nodes[1]["values"]) == 3
    pooled = torch.nn.functional.max_pool2d(torch.tensor(x), 2).numpy()
    np.testing.assert_allclose(np.array(nodes[1]["values"]), pooled.reshape(3, -1), rtol=1e-5)
    assert nodes[2]["shape"] == [3, 4, 4] and nodes[2]["reads"] == [1]
    np.testing.assert_allclose(
        np.array(nodes[2]["values"]), witness(x).numpy().reshape(3, -1), rtol=1e-5, atol=1e-5
    )


def test_default_name_moves_past_a_taken_indices_name():
    """Bug: a default-named pool whose "<name>_indices" was taken was refused."""
    g = nn.Graph()
    g.add(nn.ReLU(), "x", name="maxpool2d_indices")
    assert g.add(nn.MaxPool2d(2, return_indices=True), "x") == (
        "maxpool2d_1",
        "maxpool2d_1_indices",
    )
    assert g.add(nn.MaxPool2d(2, return_indices=True), "x") == (
        "maxpool2d_2",
        "maxpool2d_2_indices",
    )
    g.set_output("maxpool2d_2", "maxpool2d_2_indices")
    x = np.random.default_rng(10).standard_normal((1, 2, 4, 4))
    ty, ti = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    for mine, theirs in zip(g(x), (ty, ti), strict=True):
        np.testing.assert_array_equal(mine, theirs.numpy())


def test_unpool_output_size_from_an_unbatched_float_array_as_torch():
    x = np.random.default_rng(8).standard_normal((3, 7, 7))
    y, i = nn.MaxPool2d(2, return_indices=True)(x)
    got = nn.MaxUnpool2d(2)(y, i, x)  # (C, H, W): its last two sizes
    ty, ti = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    want = torch.nn.functional.max_unpool2d(ty, ti, 2, output_size=x.shape[-2:]).numpy()
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"output_size.*\(9, 9\).*float64 and shape \(3, 9, 9\)"):
        nn.MaxUnpool2d(2)(y, i, np.ones((3, 9, 9)))
    with pytest.raises(TypeError, match=r"output_size: .*2 or more axes.*shape \(7,\)"):
        nn.MaxUnpool2d(2)(y, i, np.ones(7))


def test_check_module_of_a_graph_returning_the_indices_passes_none_for_them():
    """Bug: a random G for the integer output, which Graph.backward refuses."""
    from cnnmath.testing import check_module

    g = nn.Graph()
    g.add(nn.Conv2d(2, 3, 3, padding=1, rng=0), "x", name="c")
    y, i = g.add(nn.MaxPool2d(2, return_indices=True), "c", name="pool")
    g.add(nn.MaxUnpool2d(2), y, i, "c", name="un")
    g.set_output("un", i)
    report = check_module(g, np.random.default_rng(9).standard_normal((2, 2, 6, 6)))
    assert report.passed, report
    assert [c.description for c in report.cases] == ["the input", "c.weight", "c.bias"]
