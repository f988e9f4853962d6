"""Fractional max pooling (ops.fractional_max_pool2d/3d, nn.FractionalMaxPool2d/3d) against
PyTorch given the same samples, and the layer's own draws against the interval rule and
PyTorch's distribution. (The op records in tests/records/fractional_pool.py add the literal
reference, finite differences, views, non-finite values and the error table.)"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import cnnmath
from cnnmath import nn, ops, optim, summary
from cnnmath.receptive import receptive_field

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _config(rng, rank):
    """A random window, output and input size that PyTorch takes (n + k − 1 <= m in 2-D,
    n + k <= m in 3-D), the input up to twice as long again."""
    k = tuple(int(v) for v in rng.integers(1, 4, rank))
    n = tuple(int(v) for v in rng.integers(1, 6, rank))
    m = tuple(a + b - (rank == 2) + int(rng.integers(0, 2 * a + 1)) for a, b in zip(n, k))
    return k, n, m


def _data(rng, shape, kind, dtype):
    x = rng.standard_normal(shape)
    if kind == "ties":
        x = np.round(x)  # many equal values in a window (0.0 and -0.0 too): the first wins
    elif kind == "nan":
        x.reshape(-1)[rng.integers(0, x.size, 1 + x.size // 6)] = np.nan
    elif kind == "inf":
        x = np.round(x)
        x[x < 0] = -np.inf  # windows of -inf only: the window's first element, as torch
        x.reshape(-1)[rng.integers(0, x.size, 2)] = np.inf
    return x.astype(dtype)


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("kind", ["normal", "ties", "nan", "inf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_indices_and_gradient_equal_torch(rank, kind, dtype):
    """Many random windows, outputs and inputs (batched and unbatched): Y and I equal
    PyTorch's exactly, the gradient too (float64; float32 to rounding), both from the samples
    and from the forward's indices."""
    rng = np.random.default_rng([rank, len(kind), np.dtype(dtype).itemsize])
    op = getattr(ops, f"fractional_max_pool{rank}d")
    backward = getattr(ops, f"fractional_max_pool{rank}d_backward")
    torch_op = getattr(F, f"fractional_max_pool{rank}d")
    for trial in range(40):
        k, n, m = _config(rng, rank)
        N, C = int(rng.integers(1, 3)), int(rng.integers(1, 4))
        unbatched = trial % 4 == 3
        shape = (C, *m) if unbatched else (N, C, *m)
        x = _data(rng, shape, kind, dtype)
        u = rng.random((1 if unbatched else N, C, rank)).astype(dtype)
        ratio = tuple(float(v) for v in (np.array(n) + 0.5) / np.array(m))
        if trial % 2 and max(ratio) < 1:  # output_ratio instead: the size ⌊m·r⌋ per axis
            kw = {"output_ratio": ratio}
        else:
            kw = {"output_size": n}
        tx = torch.tensor(x, requires_grad=True)
        ty, ti = torch_op(tx, k, **kw, return_indices=True, _random_samples=torch.tensor(u))
        y, i = op(x, k, **kw, return_indices=True, _random_samples=u)
        assert y.dtype == dtype and i.dtype == np.int64
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_array_equal(np.signbit(y), np.signbit(ty.detach().numpy()))  # ±0
        np.testing.assert_array_equal(i, ti.numpy())
        g = rng.standard_normal(y.shape).astype(dtype)
        ty.backward(torch.tensor(g))
        want = tx.grad.numpy()
        got = backward(g, x, k, **kw, _random_samples=u)
        got_by_indices = backward(g, x, k, **kw, indices=i)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_array_equal(got, got_by_indices)
        if dtype == np.float64:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_sample_order_is_width_then_height():
    """PyTorch's samples (N, C, 2) hold (width, height): u = (0.5, 0.3) on a 7×9 input
    gives row starts from 0.3 and column starts from 0.5 (worked by hand from the rule), and
    the swapped samples give other windows."""
    x = np.arange(63.0).reshape(1, 1, 7, 9)
    u = np.array([[[0.5, 0.3]]])
    # rows: α = 5/2, u = 0.3: starts 0, ⌊3.25⌋ − ⌊0.75⌋ = 3, 5; columns: α = 7/3, u = 0.5:
    # 0, ⌊3.5⌋ − ⌊1.17⌋ = 2, ⌊5.83⌋ − 1 = 4, 7. A window's maximum is its last element.
    rows, cols = np.array([0, 3, 5]) + 1, np.array([0, 2, 4, 7]) + 1
    want = (rows[:, None] * 9 + cols)[None, None]
    _, i = ops.fractional_max_pool2d(x, 2, (3, 4), return_indices=True, _random_samples=u)
    np.testing.assert_array_equal(i, want)
    _, ti = F.fractional_max_pool2d(
        torch.tensor(x), 2, (3, 4), return_indices=True, _random_samples=torch.tensor(u)
    )
    np.testing.assert_array_equal(i, ti.numpy())
    swapped = ops.fractional_max_pool2d(
        x, 2, (3, 4), return_indices=True, _random_samples=u[..., ::-1].copy()
    )
    assert not np.array_equal(swapped[1], i)


def test_sample_order_of_volumes_is_depth_height_width():
    """(N, C, 3) holds (depth, height, width): one sample moved at a time moves only the
    windows along its own axis, as PyTorch's."""
    x = np.random.default_rng(0).standard_normal((1, 1, 9, 10, 11))
    base = np.full((1, 1, 3), 0.1)
    for axis in range(3):
        u = base.copy()
        u[0, 0, axis] = 0.6
        _, i = ops.fractional_max_pool3d(x, 2, (3, 4, 5), return_indices=True, _random_samples=u)
        _, ti = F.fractional_max_pool3d(
            torch.tensor(x), 2, (3, 4, 5), return_indices=True, _random_samples=torch.tensor(u)
        )
        np.testing.assert_array_equal(i, ti.numpy())
        _, i0 = ops.fractional_max_pool3d(
            x, 2, (3, 4, 5), return_indices=True, _random_samples=base
        )
        moved = np.unravel_index(i, x.shape[2:])
        still = np.unravel_index(i0, x.shape[2:])
        for other in range(3):
            if other != axis:  # the maximum may move along other axes only within a window
                assert (np.abs(moved[other] - still[other]) <= 1).all()


@pytest.mark.parametrize("m, u", [(5, 0.49999997), (6, 0.19999999), (7, 0.6666666)])
def test_float32_windows_use_float32_arithmetic_as_torch(m, u):
    """PyTorch computes the starts in the input's dtype: in float32, 1 + u rounds to 1.5 for
    u = 0.49999997 (α = 2), so a start moves by one from the float64 rule's. The float32 op
    follows torch's float32 windows, the float64 op torch's float64 ones."""
    x = np.random.default_rng(1).standard_normal((1, 1, m, m))
    found = {}
    for dtype in (np.float32, np.float64):
        xd, ud = x.astype(dtype), np.full((1, 1, 2), u, dtype=np.float32).astype(dtype)
        _, i = ops.fractional_max_pool2d(xd, 1, 3, return_indices=True, _random_samples=ud)
        _, ti = F.fractional_max_pool2d(
            torch.tensor(xd), 1, 3, return_indices=True, _random_samples=torch.tensor(ud)
        )
        np.testing.assert_array_equal(i, ti.numpy())
        found[dtype] = i
    assert not np.array_equal(found[np.float32], found[np.float64])


def test_one_output_starts_at_m_minus_k_as_torch():
    """n = 1: the one window is the last k elements, whatever the sample."""
    x = np.random.default_rng(1).standard_normal((1, 2, 6, 7))
    for v in (0.0, 0.4, 0.99):
        u = np.full((1, 2, 2), v)
        y, i = ops.fractional_max_pool2d(x, (2, 3), 1, return_indices=True, _random_samples=u)
        np.testing.assert_array_equal(y[..., 0, 0], x[:, :, 4:, 4:].max(axis=(2, 3)))
        ti = F.fractional_max_pool2d(
            torch.tensor(x), (2, 3), 1, return_indices=True, _random_samples=torch.tensor(u)
        )[1]
        np.testing.assert_array_equal(i, ti.numpy())


def test_extra_sample_rows_are_ignored_as_torch():
    """Samples for more images than x has: the first rows are used (PyTorch's check is
    N' >= N)."""
    rng = np.random.default_rng(2)
    x, u = rng.standard_normal((2, 3, 8, 8)), rng.random((5, 3, 2))
    y = ops.fractional_max_pool2d(x, 2, 4, _random_samples=u)
    np.testing.assert_array_equal(y, ops.fractional_max_pool2d(x, 2, 4, _random_samples=u[:2]))
    ty = F.fractional_max_pool2d(torch.tensor(x), 2, 4, _random_samples=torch.tensor(u))
    np.testing.assert_array_equal(y, ty.numpy())


@pytest.mark.parametrize(
    "rank, m, k, n",
    [(2, 5, 2, 4), (2, 5, 2, 5), (3, 5, 2, 3), (3, 5, 2, 4), (3, 5, 1, 4), (3, 5, 1, 5)],
)
def test_size_limits_are_torch_s(rank, m, k, n):
    """The windows fit where PyTorch says so: n + k − 1 <= m in 2-D, n + k <= m in 3-D."""
    x = np.zeros((1, 1) + (m,) * rank)
    u = np.zeros((1, 1, rank))
    try:
        getattr(F, f"fractional_max_pool{rank}d")(
            torch.tensor(x), k, n, _random_samples=torch.tensor(u)
        )
        torch_ok = True
    except RuntimeError:
        torch_ok = False
    op = getattr(ops, f"fractional_max_pool{rank}d")
    if torch_ok:
        op(x, k, n, _random_samples=u)
    else:
        with pytest.raises(ValueError, match="kernel_size, output_size: expected output"):
            op(x, k, n, _random_samples=u)


def test_indices_feed_max_unpool2d_as_torch():
    """I indexes x's planes as max_pool2d's does: max_unpool2d (window 3, stride 1, output
    the input's size) puts Y back where torch's puts it, and its gradient reads G there."""
    rng = np.random.default_rng(3)
    x, u = rng.standard_normal((2, 3, 7, 8)), rng.random((2, 3, 2))
    y, i = ops.fractional_max_pool2d(x, 3, (5, 6), return_indices=True, _random_samples=u)
    unpooled = nn.MaxUnpool2d(3, stride=1)(y, i, output_size=(7, 8))
    tu = F.max_unpool2d(torch.tensor(y), torch.tensor(i), 3, stride=1, output_size=(7, 8))
    np.testing.assert_array_equal(unpooled, tu.numpy())
    assert np.isin(unpooled[unpooled != 0], x).all()


# --- the layers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((3,), {"output_ratio": 0.5}),
        ((2,), {"output_size": (13, 12), "return_indices": True}),
        (((2, 3),), {"output_size": 4}),
    ],
)
def test_layer_repr_and_attributes_as_torch(args, kwargs):
    for rank in (2, 3):
        if rank == 3 and isinstance(args[0], tuple):
            args = ((2, 3, 1),)
        kw = dict(kwargs)
        if rank == 3 and isinstance(kw.get("output_size"), tuple):
            kw["output_size"] = (3, 4, 5)
        ours = getattr(nn, f"FractionalMaxPool{rank}d")(*args, **kw)
        theirs = getattr(torch.nn, f"FractionalMaxPool{rank}d")(*args, **kw)
        assert repr(ours) == repr(theirs)
        for name in ("kernel_size", "output_size", "output_ratio", "return_indices"):
            assert getattr(ours, name) == getattr(theirs, name), name


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "expected exactly one of them, got neither"),
        ({"output_size": 3, "output_ratio": 0.5}, "expected exactly one of them, got both"),
        ({"output_ratio": 1.0}, r"output_ratio: expected a finite number > 0 and < 1"),
        ({"output_ratio": (0.5, 0.0)}, r"output_ratio: expected a finite number > 0 and < 1"),
    ],
)
def test_layer_refuses_what_torch_refuses(kwargs, match):
    with pytest.raises(ValueError):
        torch.nn.FractionalMaxPool2d(2, **kwargs)
    with pytest.raises(ValueError, match=match):
        nn.FractionalMaxPool2d(2, **kwargs)


def test_layer_with_fixed_samples_equals_torch_forward_and_backward():
    rng = np.random.default_rng(4)
    x, u = rng.standard_normal((2, 3, 9, 10)), rng.random((2, 3, 2))
    ours = nn.FractionalMaxPool2d((2, 3), output_ratio=(0.6, 0.5), _random_samples=u)
    theirs = torch.nn.FractionalMaxPool2d(
        (2, 3), output_ratio=(0.6, 0.5), _random_samples=torch.tensor(u)
    )
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    y = ours(x)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(ours(x), y)  # the same samples every call
    g = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(ours.backward(g), tx.grad.numpy())


def test_layer_return_indices_and_its_backward():
    rng = np.random.default_rng(5)
    x, u = rng.standard_normal((1, 2, 8, 8, 9)), rng.random((1, 2, 3))
    pool = nn.FractionalMaxPool3d(2, (3, 3, 4), return_indices=True, _random_samples=u)
    y, i = pool(x)
    ty, ti = F.fractional_max_pool3d(
        torch.tensor(x), 2, (3, 3, 4), return_indices=True, _random_samples=torch.tensor(u)
    )
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    g = rng.standard_normal(y.shape)
    want = ops.fractional_max_pool3d_backward(g, x, 2, (3, 3, 4), _random_samples=u)
    np.testing.assert_array_equal(pool.backward(g), want)
    np.testing.assert_array_equal(pool.backward((g, None)), want)
    np.testing.assert_array_equal(pool.backward((None, None)), np.zeros_like(x))


class _TorchNet(torch.nn.Module):
    def __init__(self, u):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)
        self.pool = torch.nn.FractionalMaxPool2d(2, output_ratio=0.7, _random_samples=u)
        self.fc = torch.nn.Linear(3 * 7 * 7, 4)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.pool(self.conv(x))), 1))


def test_training_in_a_sequential_equals_torch():
    """Conv → FractionalMaxPool2d (fixed samples) → ReLU → Flatten → Linear: output, input
    gradient and every parameter gradient equal PyTorch's, and an SGD step lands on its
    weights."""
    rng = np.random.default_rng(6)
    x, u = rng.standard_normal((3, 2, 10, 10)), rng.random((3, 3, 2))
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=np.float64),
        nn.FractionalMaxPool2d(2, output_ratio=0.7, _random_samples=u),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 7 * 7, 4, rng=1, dtype=np.float64),
    )
    t = _TorchNet(torch.tensor(u)).double()
    names = {"0.weight": "conv.weight", "0.bias": "conv.bias", "4.weight": "fc.weight"}
    names["4.bias"] = "fc.bias"
    state = {names[k]: torch.tensor(v) for k, v in model.state_dict().items()}
    t.load_state_dict({**state, "pool._random_samples": torch.tensor(u)})  # (not ours: below)
    tx = torch.tensor(x, requires_grad=True)
    out, tout = model(x), t(tx)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-13)
    g = rng.standard_normal(out.shape)
    model.zero_grad()
    gx = model.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-13)
    tparams = dict(t.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(
            p.grad, tparams[names[name]].grad.numpy(), rtol=1e-12, atol=1e-13
        )
    optim.SGD(model.parameters(), lr=0.1).step()
    torch.optim.SGD(t.parameters(), lr=0.1).step()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.data, tparams[names[name]].detach().numpy(), rtol=1e-12)


def _starts_seen(indices, k):
    """For x increasing along the axis, each window's maximum is its last element: the starts
    are the chosen positions less k − 1."""
    return indices - (k - 1)


def _possible_sequences(m, k, n):
    """Every start sequence the rule gives for some u in [0, 1): the sequence changes only
    where (i + u)·α or u·α crosses an integer, so u on a grid finer than those breakpoints
    (and every breakpoint) reaches them all."""
    alpha = (m - k) / (n - 1)
    points = {0.0}
    for i in range(n):
        for j in range(int((i + 1) * alpha) + 2):
            if 0 <= j / alpha - i < 1:  # (i + u)·α crosses j here
                points.add(j / alpha - i)
    grid = sorted(points | set(np.linspace(0, 1, 2001)[:-1]))
    out = set()
    for u in grid:
        s = [int(np.floor((i + u) * alpha) - np.floor(u * alpha)) for i in range(n - 1)]
        out.add((*s, m - k))
    return out


def test_layer_draws_fresh_valid_windows_each_forward():
    """Without samples the layer draws new ones every forward (training or eval, as
    PyTorch's): the windows differ between calls, and each plane's start sequence along each
    axis is one the rule gives for some u (first start 0, last m − k, steps ⌊α⌋ or
    ⌊α⌋ + 1)."""
    m, k, n = 15, 2, 6  # α = 13/5: steps of 2 and 3
    pool = nn.FractionalMaxPool2d(k, n, return_indices=True, rng=0)
    x = np.arange(float(m))[:, None] * m + np.arange(float(m))  # increasing along both axes
    x = np.broadcast_to(x, (8, 5, m, m)).copy()
    possible = _possible_sequences(m, k, n)
    seen = []
    for mode in ("train", "eval"):
        getattr(pool, mode)()
        _, i = pool(x)
        rows = _starts_seen(i[..., :, 0] // m, k)
        cols = _starts_seen(i[..., 0, :] % m, k)
        for seq in itertools.chain(rows.reshape(-1, n), cols.reshape(-1, n)):
            assert tuple(int(v) for v in seq) in possible
        seen.append(i)
    assert not np.array_equal(seen[0], seen[1])
    assert len({tuple(s) for s in rows.reshape(-1, n)}) > 1  # planes draw their own samples


def test_draws_follow_torch_s_distribution():
    """The layer's start sequences, over many planes, are distributed as PyTorch's own
    draws (total variation distance small). The sequence is periodic in u with period 1/α:
    α = 4/3 here, so u must cover all of [0, 1) to reach every sequence as often as torch."""
    m, k, n = 10, 2, 7  # α = 8/6
    x = np.broadcast_to(np.arange(float(m))[:, None] * m + np.arange(float(m)), (40, 50, m, m))
    _, i = nn.FractionalMaxPool2d(k, n, return_indices=True, rng=7)(x.copy())
    torch.manual_seed(7)
    _, ti = torch.nn.FractionalMaxPool2d(k, n, return_indices=True)(torch.tensor(x.copy()))

    def frequencies(idx):
        seqs = [tuple(s) for s in (idx[..., :, 0] // m).reshape(-1, n)]
        counts = {s: seqs.count(s) / len(seqs) for s in set(seqs)}
        return counts

    ours, theirs = frequencies(i), frequencies(ti.numpy())
    assert len(ours) >= 3
    tv = 0.5 * sum(abs(ours.get(s, 0) - theirs.get(s, 0)) for s in set(ours) | set(theirs))
    assert tv < 0.06, (tv, ours, theirs)


def test_manual_seed_governs_the_default_generator():
    x = np.random.default_rng(8).standard_normal((2, 3, 11, 11))
    cnnmath.manual_seed(3)
    pool = nn.FractionalMaxPool2d(2, output_ratio=0.5)
    a, b = pool(x), pool(x)
    assert not np.array_equal(a, b)
    cnnmath.manual_seed(3)
    np.testing.assert_array_equal(nn.FractionalMaxPool2d(2, output_ratio=0.5)(x), a)
    np.testing.assert_array_equal(
        nn.FractionalMaxPool2d(2, 5, rng=4)(x), nn.FractionalMaxPool2d(2, 5, rng=4)(x)
    )
    assert [name for name, _ in pool.named_generators()] == ["rng"]


def test_float32_draws_are_float32_and_unbatched_works():
    pool = nn.FractionalMaxPool3d(2, output_ratio=0.5, rng=0)
    x = np.random.default_rng(9).standard_normal((3, 6, 7, 8)).astype(np.float32)
    y = pool(x)
    assert y.shape == (3, 3, 3, 4) and y.dtype == np.float32
    assert pool.backward(np.ones_like(y)).dtype == np.float32


def test_refused_forward_draws_nothing():
    pool = nn.FractionalMaxPool2d(3, output_size=6, rng=0)
    state = pool.rng.bit_generator.state
    with pytest.raises(ValueError, match="kernel_size, output_size"):
        pool(np.zeros((1, 1, 7, 7)))
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64"):
        pool(np.zeros((1, 1, 9, 9), dtype=int))
    assert pool.rng.bit_generator.state == state


def test_layer_refuses_bad_fixed_samples():
    with pytest.raises(ValueError, match=r"_random_samples: expected shape \(N, C, 2\)"):
        nn.FractionalMaxPool2d(2, 3, _random_samples=np.zeros((1, 1, 3)))
    with pytest.raises(TypeError, match="_random_samples: expected a numpy.ndarray"):
        nn.FractionalMaxPool2d(2, 3, _random_samples=[[[0.1, 0.2]]])
    pool = nn.FractionalMaxPool2d(2, 3, _random_samples=np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match=r"_random_samples: expected shape \(N', 3, 2\)"):
        pool(np.zeros((1, 3, 6, 6)))


@pytest.mark.parametrize("rank", [2, 3])
def test_receptive_fields_tiles_and_onnx_refuse_the_layer(rank, tmp_path):
    """No fixed window: receptive fields, tiled execution and the summary's field column
    say why (a 3-D layer alone: volumes' other layers are refused first); ONNX has no such
    op."""
    layer = getattr(nn, f"FractionalMaxPool{rank}d")(2, output_size=3)
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), layer) if rank == 2 else layer
    shape = (1,) + (8,) * rank
    with pytest.raises(ValueError, match="FractionalMaxPool.d draws pseudo-random windows"):
        receptive_field(model, shape)
    if rank == 2:
        da = pytest.importorskip("dask.array")
        from cnnmath import tiled

        big = da.zeros((1, 1, 64, 64), chunks=(1, 1, 32, 32), dtype=np.float32)
        with pytest.raises(ValueError, match="FractionalMaxPool2d.*pseudo-random windows"):
            tiled.apply(model, big)
        assert "pseudo-random windows" in summary(model, shape).field_note
    pytest.importorskip("onnx")
    from cnnmath import onnx as cnnmath_onnx

    with pytest.raises(ValueError, match="FractionalMaxPool.d.*no ONNX export"):
        cnnmath_onnx.save(model.eval(), tmp_path / "m.onnx", np.zeros((1, *shape), np.float32))
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("rank", [2, 3])
def test_signatures_take_torch_s_arguments_in_torch_s_order(rank):
    """The layer takes torch.nn's arguments at their positions (then ``rng=``, keyword only);
    the op takes torch.nn.functional's."""
    import inspect

    for ours, theirs in (
        (getattr(nn, f"FractionalMaxPool{rank}d"), getattr(torch.nn, f"FractionalMaxPool{rank}d")),
        (
            getattr(ops, f"fractional_max_pool{rank}d"),
            getattr(F, f"fractional_max_pool{rank}d_with_indices"),
        ),
    ):
        names = list(inspect.signature(theirs).parameters)
        got = list(inspect.signature(ours).parameters)
        assert got[: len(names)] == ["x" if n == "input" else n for n in names]


def test_graph_pool_then_unpool_equals_torch():
    """In a Graph the layer's (Y, I) feed a MaxUnpool2d (window 3, stride 1, the input's
    size): output and input gradient equal PyTorch's with the same samples; a Sequential
    refuses the two-output layer."""
    rng = np.random.default_rng(10)
    x, u = rng.standard_normal((2, 3, 7, 8)), rng.random((2, 3, 2))
    g = nn.Graph()
    y, idx = g.add(
        nn.FractionalMaxPool2d(3, (5, 6), return_indices=True, _random_samples=u), "x", name="p"
    )
    g.add(nn.MaxUnpool2d(3, stride=1), y, idx, "x", name="unpool")
    g.set_output("unpool")
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = F.fractional_max_pool2d(
        tx, 3, (5, 6), return_indices=True, _random_samples=torch.tensor(u)
    )
    tout = F.max_unpool2d(ty, ti, 3, stride=1, output_size=(7, 8))
    out = g(x)
    np.testing.assert_array_equal(out, tout.detach().numpy())
    G = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(G))
    np.testing.assert_array_equal(g.backward(G), tx.grad.numpy())
    with pytest.raises(TypeError, match="returns 2 outputs"):
        nn.Sequential(nn.FractionalMaxPool2d(2, 3, return_indices=True))(np.zeros((1, 1, 6, 6)))


def test_summary_shows_no_stride_for_windows_drawn_at_each_forward():
    """Fractional max pooling's windows step by a drawn amount (here 10 rows into 3: about
    3 apart), not by the kernel size: summary's stride column is empty, its kernel given."""
    from cnnmath import summary

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.FractionalMaxPool2d(2, output_size=3))
    rows = summary(model, (1, 1, 12, 12)).rows
    assert (rows[1].kernel, rows[1].stride) == ((2, 2), None)
    assert rows[0].stride == (1, 1)
