"""cnnmath.onnx.load on onnxruntime's com.microsoft quantized ops (QLinearAdd, QLinearMul,
QLinearGlobalAveragePool, QLinearAveragePool, QGemm, QLinearConcat, QLinearLeakyRelu,
QLinearSigmoid, QLinearSoftmax): one-node models built by hand against onnxruntime's CPU
kernels, bit for bit (uint8 and int8, broadcasting, ties, saturation), each also within one
unit of the exactly rounded value computed here in float64 from the formula (an independent
witness of what the op means); a small PyTorch ResNet-like CNN quantized by
``quantize_static`` with its default QOperator settings (and per channel, and uint8
activations), and a CNN whose quantization writes every one of these ops, every tensor equal
to onnxruntime's; and the refusals: other com.microsoft ops, other domains, a missing opset
import, missing or extra inputs.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load  # noqa: E402
from cnnmath.onnx._ops import MICROSOFT  # noqa: E402

U8, I8 = np.uint8, np.int8
MS = "com.microsoft"


def _rng(seed: object) -> np.random.Generator:
    return np.random.default_rng(seed if isinstance(seed, int) else zlib.crc32(repr(seed).encode()))


def _ints(rng, dtype, shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)


def _model(op, inputs, consts=(), attrs=None, out_dtype=U8, domain=MS, opsets=(("", 17), (MS, 1))):
    """A one-node model of ``op`` in ``domain``: ``inputs`` [(name, array)] in the node's
    order ("" for an absent one), those named in ``consts`` initializers, the others inputs."""
    node = helper.make_node(op, [n for n, _ in inputs], ["y"], domain=domain, **(attrs or {}))
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in inputs
            if n and n not in consts
        ],
        [
            helper.make_tensor_value_info(
                "y", helper.np_dtype_to_tensor_dtype(np.dtype(out_dtype)), None
            )
        ],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inputs if n in consts],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


def _run_both(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, feeds)[0]
    got = load(model.SerializeToString())(*feeds.values())
    return got, want


def _same(model, feeds):
    """cnnmath's output equals onnxruntime's exactly (values, dtype, shape); returned."""
    got, want = _run_both(model, feeds)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape)
    np.testing.assert_array_equal(got, want)
    return got


def _near(got, exact, dtype):
    """Within one unit of the exactly rounded, saturated value ``exact`` (float64)."""
    info = np.iinfo(dtype)
    ref = np.clip(np.rint(exact), info.min, info.max)
    assert np.abs(got.astype(np.float64) - ref).max() <= 1


def _scales(rng, n, low=-5.0, high=0.0):
    return [np.float32(np.exp(rng.uniform(low, high))) for _ in range(n)]


def _round32(exact):
    """The float32 nearest to the Fraction ``exact`` (ties to even), from its neighbours."""
    from fractions import Fraction

    f = np.float32(float(exact))
    candidates = [f, np.nextafter(f, np.float32(np.inf)), np.nextafter(f, np.float32(-np.inf))]
    best = min(abs(Fraction(float(c)) - exact) for c in candidates)
    ties = [c for c in candidates if abs(Fraction(float(c)) - exact) == best]
    return min(ties, key=lambda c: int(np.asarray(c).view(np.int32)) & 1)


def test_fma32_rounds_once():
    """The float32 fused multiply-add (``_fma32``, which QLinearAdd and QLinearSigmoid use)
    against exact rational arithmetic: random triples, and triples whose exact value lies
    just off a float32 midpoint, where rounding first to float64 and then to float32 would
    land on the wrong side."""
    from fractions import Fraction

    from cnnmath.onnx._ops.qcontrib import _fma32

    rng = _rng("fma")
    f = np.float32
    triples = [(f(x), f(y), f(z)) for x, y, z in rng.standard_normal((400, 3)) * [1, 1e-3, 1]]
    # exactly 1 + 2^-24 + 2^-54: a quarter of float64's step above the midpoint between
    # float32's 1 and 1 + 2^-23, which float64 rounds onto the midpoint, and that to 1
    trap = (f(1 + 2.0**-15), f(-(2.0**-24) * (1 - 2.0**-15)), f(1 + 2.0**-23))
    triples += [trap, (f(1), f(2.0**-24), f(1)), (f(3), f(2.0**-25), f(1))]
    for a, b, c in triples:
        got = _fma32(np.asarray([a]), np.asarray([b]), np.asarray([c]))[0]
        want = _round32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))
        assert got == want, (a, b, c, got, want)
    double = f(np.float64(trap[0]) * np.float64(trap[1]) + np.float64(trap[2]))
    assert double == f(1) and _fma32(*trap) == f(1 + 2.0**-23)  # the trap is real


# ---------------------------------------------------------------------------------------------
# QLinearAdd, QLinearMul

_SHAPES = [
    ((3, 40), (3, 40)),
    ((2, 3, 40), (1, 40)),
    ((3, 40), (3, 1)),
    ((3, 1), (3, 40)),
    ((1,), (5, 33)),
    ((5, 33), ()),
    ((4, 1, 6), (1, 5, 1)),
    ((2, 3, 1, 1), (3, 7, 1)),
    ((37,), (37,)),
]


def _binary(op, a, b, sa, za, sb, zb, sc, zc):
    names = ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"]
    values = [a, sa, za, b, sb, zb, sc, zc]
    inputs = [(n, np.asarray(v)) for n, v in zip(names, values)]
    return _model(op, inputs, names[1:3] + names[4:], out_dtype=a.dtype), {"a": a, "b": b}


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@pytest.mark.parametrize("dtype", [U8, I8])
@pytest.mark.parametrize("shapes", _SHAPES, ids=str)
def test_binary_ops_are_onnxruntimes_bit_for_bit(op, dtype, shapes):
    """QLinearAdd and QLinearMul on broadcast operands, random scales and zero points: the
    same 8-bit values as onnxruntime, and within one unit of the exact requantised sum or
    product (a_scale·(A − a_zp) ± … ) / c_scale + c_zp."""
    for trial in range(4):
        rng = _rng((op, dtype, shapes, trial))
        a, b = _ints(rng, dtype, shapes[0]), _ints(rng, dtype, shapes[1])
        sa, sb, sc = _scales(rng, 3, -4, 0) if op == "QLinearAdd" else _scales(rng, 3, -3, -1)
        za, zb, zc = (_ints(rng, dtype, ()) for _ in range(3))
        model, feeds = _binary(op, a, b, sa, za, sb, zb, sc, zc)
        got = _same(model, feeds)
        da = np.float64(sa) * (a.astype(np.float64) - float(za))
        db = np.float64(sb) * (b.astype(np.float64) - float(zb))
        value = da + db if op == "QLinearAdd" else da * db
        _near(got, value / np.float64(sc) + float(zc), dtype)


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@pytest.mark.parametrize("dtype", [U8, I8])
def test_binary_ops_round_ties_to_even_and_saturate(op, dtype):
    """Every pair of 8-bit values (256 × 256, broadcast) with scales whose ratio is ½, so
    that half the results are ties (rounded to even, as onnxruntime), and with a ratio of 8,
    so that most saturate to the type's range."""
    a = np.arange(np.iinfo(dtype).min, np.iinfo(dtype).max + 1).astype(dtype)
    for sc in (np.float32(0.5), np.float32(0.0078125)):  # ratios 2 and 1/... both ways
        for sa, sb in ((np.float32(0.25), np.float32(0.25)), (np.float32(0.0625), np.float32(1))):
            zc = dtype(3)
            model, feeds = _binary(op, a[:, None], a[None, :], sa, dtype(5), sb, dtype(0), sc, zc)
            got = _same(model, feeds)
            da = np.float64(sa) * (a[:, None].astype(np.float64) - 5)
            db = np.float64(sb) * a[None, :].astype(np.float64)
            value = (da + db if op == "QLinearAdd" else da * db) / np.float64(sc) + 3
            info = np.iinfo(dtype)
            exact = np.clip(value, info.min, info.max)
            ties = exact - np.floor(exact) == 0.5
            if op == "QLinearAdd" and sc == np.float32(0.5):
                assert ties.any()
            want = np.rint(exact)  # half to even, exactly: no float32 rounding at these scales
            np.testing.assert_array_equal(got.astype(np.float64), want)
            if sc == np.float32(0.0078125):
                assert (got == info.max).any() and (got == info.min).any()


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
def test_binary_ops_fuzz_follows_onnxruntimes_float32_rounding(op):
    """Every pair of 8-bit values under 12 random (scale, zero point) triples per layout, A
    broadcast along the last axis or not (onnxruntime then swaps the operands' roles):
    cnnmath equals onnxruntime everywhere, while both stay within one unit of the exactly
    rounded value; for QLinearAdd some differ from it (float32 rounding near a half), which
    shows the fuzz reaches the values where the order of onnxruntime's float32 operations
    decides; the count is printed."""
    misses = total = 0
    for shapes in [((256, 1), (1, 256)), ((1, 256), (256, 1)), ((1,), (256, 256))]:
        for trial in range(12):
            rng = _rng((op, shapes, trial))
            dtype = (U8, I8)[trial % 2]
            info = np.iinfo(dtype)
            values = np.arange(info.min, info.max + 1).astype(dtype)
            a = np.resize(values, shapes[0]).astype(dtype)
            b = np.resize(rng.permutation(values), shapes[1]).astype(dtype)
            sa, sb, sc = _scales(rng, 3, -4, 0)
            za, zb, zc = (_ints(rng, dtype, ()) for _ in range(3))
            got = _same(*_binary(op, a, b, sa, za, sb, zb, sc, zc))
            da = np.float64(sa) * (a - np.float64(za))
            db = np.float64(sb) * (b - np.float64(zb))
            value = (da + db if op == "QLinearAdd" else da * db) / np.float64(sc) + float(zc)
            ref = np.clip(np.rint(value), info.min, info.max)
            assert np.abs(got - ref).max() <= 1
            misses += int((got != ref).sum())
            total += got.size
    assert misses < total * 1e-3
    assert misses > 0 or op == "QLinearMul"  # its near-halves are rarer: the next test has one
    print(f"{op}: {misses} of {total} values one unit from exact rounding")


def test_qlinear_mul_rounds_the_integer_product_not_the_dequantized_operands():
    """A QLinearMul whose value lies next to a half: exactly −103.4999973, which onnxruntime
    (the integer product times the float32 scale ratio, plus the zero point) rounds to −103;
    dequantizing each operand to float32 first, as its portable C++ kernel does, would give
    exactly −103.5 and so −104."""
    f = np.float32
    sa, sb, sc = f(0.08387445), f(0.06247547), f(0.5048373)
    a, b = np.array([103], I8), np.array([-103], I8)
    got = _same(*_binary("QLinearMul", a, b, sa, I8(37), sb, I8(51), sc, I8(2)))
    exact = np.float64(sa) * 66 * np.float64(sb) * -154 / np.float64(sc) + 2
    assert -103.5 < exact < -103.49999
    assert (f(sa) * f(66)) * (f(sb) * f(-154)) / f(sc) + f(2) == f(-103.5)
    assert got[0] == -103


# ---------------------------------------------------------------------------------------------
# QLinearGlobalAveragePool


@pytest.mark.parametrize("dtype", [U8, I8])
@pytest.mark.parametrize(
    "shape, last",
    [((2, 3, 5, 7), 0), ((1, 4, 9), 0), ((2, 3, 2, 2, 3), 0), ((2, 5, 7, 3), 1), ((1, 6, 1), 1)],
)
def test_global_average_pool_is_onnxruntimes(dtype, shape, last):
    """The mean over the spatial axes (channels first, or channels_last), requantised: the
    same 8-bit values as onnxruntime, within one unit of the exact mean."""
    for trial in range(3):
        rng = _rng((dtype, shape, last, trial))
        x = _ints(rng, dtype, shape)
        sx = np.float32(np.exp(rng.uniform(-4, 0)))
        sy = np.float32(sx * rng.uniform(0.3, 3))
        zx, zy = _ints(rng, dtype, ()), _ints(rng, dtype, ())
        inputs = [("x", x), ("sx", sx), ("zx", zx), ("sy", sy), ("zy", zy)]
        model = _model(
            "QLinearGlobalAveragePool",
            inputs,
            ["sx", "zx", "sy", "zy"],
            {"channels_last": last},
            dtype,
        )
        got = _same(model, {"x": x})
        axes = tuple(range(1, x.ndim - 1)) if last else tuple(range(2, x.ndim))
        mean = (x.astype(np.float64) - float(zx)).mean(axis=axes, keepdims=True)
        _near(got, mean * np.float64(sx) / np.float64(sy) + float(zy), dtype)


def test_global_average_pool_refuses_a_ratio_onnxruntime_cannot_compute():
    """A scale ratio x_scale / (y_scale · positions) of 256 or more: onnxruntime fails, and
    cnnmath refuses the node, naming the ratio's range."""
    x = np.zeros((1, 2, 2, 2), U8)
    inputs = [
        ("x", x),
        ("sx", np.float32(4096)),
        ("zx", U8(0)),
        ("sy", np.float32(1)),
        ("zy", U8(0)),
    ]
    model = _model("QLinearGlobalAveragePool", inputs, ["sx", "zx", "sy", "zy"])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="out of computation range"):  # noqa: B017 (ORT's own type)
        session.run(None, {"x": x})
    with pytest.raises(ValueError, match=r"QLinearGlobalAveragePool.*\[2\^-32, 256\)"):
        load(model.SerializeToString())(x)


_POOLS = [
    ((2, 3, 9, 8), {"kernel_shape": [3, 3]}),
    ((2, 3, 9, 8), {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1]}),
    ((1, 4, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                    "count_include_pad": 1}),
    ((2, 7, 7, 3), {"kernel_shape": [2, 3], "pads": [1, 1, 0, 1], "channels_last": 1}),
    ((2, 3, 11), {"kernel_shape": [4], "strides": [3], "pads": [2, 1]}),
    ((1, 2, 5, 6, 4), {"kernel_shape": [2, 3, 2], "strides": [1, 2, 1], "pads": [1, 0, 0, 0, 1, 1]}),
    ((2, 3, 6, 5), {"kernel_shape": [6, 5]}),  # the whole image: the global average's path
    ((2, 3, 6, 5), {"kernel_shape": [3, 3], "auto_pad": "VALID", "strides": [3, 2]}),
]  # fmt: skip


@pytest.mark.parametrize("dtype", [U8, I8])
@pytest.mark.parametrize("shape, attrs", _POOLS, ids=str)
def test_qlinear_average_pool_is_onnxruntimes(dtype, shape, attrs):
    """QLinearAveragePool in 1, 2 and 3 spatial axes, strides, pads, count_include_pad,
    channels_last, auto_pad VALID, a window over the whole image: onnxruntime's values, within
    one unit of the exact requantised mean (float64 here, over the window's values inside X,
    or divided by the kernel's size with count_include_pad)."""
    import torch

    for trial in range(3):
        rng = _rng((dtype, shape, str(attrs), trial))
        x = _ints(rng, dtype, shape)
        sx = np.float32(np.exp(rng.uniform(-4, 0)))
        sy = np.float32(sx * rng.uniform(0.3, 3))
        zx, zy = _ints(rng, dtype, ()), _ints(rng, dtype, ())
        inputs = [("x", x), ("sx", sx), ("zx", zx), ("sy", sy), ("zy", zy)]
        model = _model("QLinearAveragePool", inputs, ["sx", "zx", "sy", "zy"], attrs, dtype)
        got = _same(model, {"x": x})
        v = torch.from_numpy(np.float64(sx) * (x.astype(np.float64) - float(zx)))
        last = attrs.get("channels_last", 0)
        if last:
            v = v.movedim(-1, 1)
        n = len(attrs["kernel_shape"])
        pads = attrs.get("pads", [0] * 2 * n)
        if attrs.get("auto_pad") == "VALID":
            pads = [0] * 2 * n
        pad_pairs = [p for i in reversed(range(n)) for p in (pads[i], pads[i + n])]
        ones = torch.ones_like(v)
        v, ones = torch.nn.functional.pad(v, pad_pairs), torch.nn.functional.pad(ones, pad_pairs)
        pool = getattr(torch.nn.functional, f"avg_pool{n}d")
        kw = {"kernel_size": attrs["kernel_shape"], "stride": attrs.get("strides", 1)}
        total = (
            pool(v, divisor_override=1, **kw) if n > 1 else pool(v, **kw) * attrs["kernel_shape"][0]
        )
        count = (
            pool(ones, divisor_override=1, **kw)
            if n > 1
            else pool(ones, **kw) * attrs["kernel_shape"][0]
        )
        mean = total / (
            float(np.prod(attrs["kernel_shape"])) if attrs.get("count_include_pad") else count
        )
        if last:
            mean = mean.movedim(1, -1)
        _near(got, mean.numpy() / np.float64(sy) + float(zy), dtype)


# ---------------------------------------------------------------------------------------------
# QGemm


@pytest.mark.parametrize("types", [(U8, U8), (U8, I8), (I8, I8)], ids=str)
@pytest.mark.parametrize("quantized_output", [True, False])
@pytest.mark.parametrize("trans", [(0, 0), (0, 1), (1, 0), (1, 1)], ids=str)
def test_qgemm_is_onnxruntimes(types, quantized_output, trans):
    """QGemm with and without y_scale (8-bit or float32 output), transA / transB, α, b's
    scale and zero point per tensor or per column, C of each broadcast shape: onnxruntime's
    output bit for bit (the float32 one too), within one unit (or 1e-6 relative) of exact."""
    ta, tb = types
    M, K, N = 5, 37, 6
    for trial, c_shape in enumerate([None, (N,), (1, N), (M, 1), (M, N), ()]):
        rng = _rng((types, quantized_output, trans, trial))
        a, b = _ints(rng, ta, (M, K)), _ints(rng, tb, (K, N))
        a_in = a.T.copy() if trans[0] else a
        b_in = b.T.copy() if trans[1] else b
        per = trial % 2 == 1
        sa = np.float32(np.exp(rng.uniform(-5, -2)))
        sb = np.asarray(rng.uniform(0.001, 0.02, N if per else None), np.float32)
        za = _ints(rng, ta, ())
        zb = _ints(rng, tb, (N,) if per else ())
        alpha = [1.0, 0.75][trial % 2]
        inputs = [("a", a_in), ("sa", sa), ("za", za), ("b", b_in), ("sb", sb), ("zb", zb)]
        consts = ["sa", "za", "b", "sb", "zb"]
        c = None
        if c_shape is not None:
            c = rng.integers(-5000, 5000, c_shape).astype(np.int32)
            inputs.append(("c", c))
            consts.append("c")
        else:
            inputs.append(("", None))
        sy, zy = np.float32(np.exp(rng.uniform(-3, 0))), _ints(rng, ta, ())
        if quantized_output:
            inputs += [("sy", sy), ("zy", zy)]
            consts += ["sy", "zy"]
        attrs = {"alpha": alpha, "transA": trans[0], "transB": trans[1]}
        model = _model("QGemm", inputs, consts, attrs, ta if quantized_output else np.float32)
        got = _same(model, {"a": a_in})
        acc = (a.astype(np.float64) - float(za)) @ (b.astype(np.float64) - zb.astype(np.float64))
        if c is not None:
            acc = acc + c
        value = acc * alpha * np.float64(sa) * sb.astype(np.float64)
        if quantized_output:
            _near(got, value / np.float64(sy) + float(zy), ta)
        else:
            np.testing.assert_allclose(got, value, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# QLinearConcat, QLinearLeakyRelu


@pytest.mark.parametrize("dtype", [U8, I8])
@pytest.mark.parametrize("axis", [1, -1, 0])
def test_qlinear_concat_is_onnxruntimes(dtype, axis):
    """Three inputs, one with Y's scale and zero point (copied), two requantised (one a
    constant): onnxruntime's output, within one unit of the exact requantisation."""
    rng = _rng((dtype, axis))
    shapes = {1: [(2, 3, 4), (2, 5, 4), (2, 1, 4)], -1: [(2, 3, 4), (2, 3, 2), (2, 3, 5)]}
    shapes[0] = [(1, 3, 4), (2, 3, 4), (3, 3, 4)]
    xs = [_ints(rng, dtype, s) for s in shapes[axis]]
    sy, zy = np.float32(0.05), _ints(rng, dtype, ())
    scales = [sy, np.float32(0.031), np.float32(0.2)]
    zeros = [zy, _ints(rng, dtype, ()), _ints(rng, dtype, ())]
    inputs = [("sy", sy), ("zy", zy)]
    for k, (x, s, z) in enumerate(zip(xs, scales, zeros)):
        inputs += [(f"x{k}", x), (f"s{k}", s), (f"z{k}", z)]
    consts = ["sy", "zy", "s0", "z0", "s1", "z1", "s2", "z2", "x2"]
    model = _model("QLinearConcat", inputs, consts, {"axis": axis}, dtype)
    got = _same(model, {"x0": xs[0], "x1": xs[1]})
    exact = np.concatenate(
        [
            np.float64(s) * (x - np.float64(z)) / np.float64(sy) + float(zy)
            for x, s, z in zip(xs, scales, zeros)
        ],
        axis=axis,
    )
    _near(got, exact, dtype)
    np.testing.assert_array_equal(np.take(got, range(xs[0].shape[axis]), axis=axis), xs[0])


@pytest.mark.parametrize("dtype", [U8, I8])
@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.3333])
def test_qlinear_leaky_relu_is_onnxruntimes(dtype, alpha):
    """Every 8-bit value through LeakyRelu, requantised: onnxruntime's table, value for
    value, within one unit of exact."""
    rng = _rng((dtype, alpha))
    x = np.arange(np.iinfo(dtype).min, np.iinfo(dtype).max + 1).astype(dtype).reshape(4, 64)
    sx, sy = np.float32(0.07), np.float32(0.05)
    zx, zy = _ints(rng, dtype, ()), _ints(rng, dtype, ())
    inputs = [("x", x), ("sx", sx), ("zx", zx), ("sy", sy), ("zy", zy)]
    model = _model("QLinearLeakyRelu", inputs, ["sx", "zx", "sy", "zy"], {"alpha": alpha}, dtype)
    got = _same(model, {"x": x})
    v = np.float64(sx) * (x - np.float64(zx))
    _near(got, np.where(v >= 0, v, alpha * v) / np.float64(sy) + float(zy), dtype)


@pytest.mark.parametrize("dtype", [U8, I8])
def test_qlinear_sigmoid_is_onnxruntimes(dtype):
    """Every 8-bit value through QLinearSigmoid under 20 random quantizations: onnxruntime's
    values (MLAS's float32 rational approximation of the logistic, reproduced with its fused
    multiply-adds), within one unit of the exactly rounded 1/(1 + e^−v)."""
    info = np.iinfo(dtype)
    x = np.arange(info.min, info.max + 1).astype(dtype).reshape(4, 64)
    for trial in range(20):
        rng = _rng((dtype, "sigmoid", trial))
        sx = np.float32(np.exp(rng.uniform(-5, 0)))
        sy = np.float32(np.exp(rng.uniform(-6.5, -4.5)))
        zx, zy = _ints(rng, dtype, ()), _ints(rng, dtype, ())
        inputs = [("x", x), ("sx", sx), ("zx", zx), ("sy", sy), ("zy", zy)]
        got = _same(
            _model("QLinearSigmoid", inputs, ["sx", "zx", "sy", "zy"], None, dtype), {"x": x}
        )
        v = np.float64(sx) * (x - np.float64(zx))
        _near(got, 1 / (1 + np.exp(-v)) / np.float64(sy) + float(zy), dtype)


@pytest.mark.parametrize("dtype", [U8, I8])
@pytest.mark.parametrize(
    "shape, axis, opset",
    [((6, 10), -1, 13), ((2, 5, 7), 1, 13), ((3, 300), 1, 13), ((2, 3, 4), 1, 12), ((4, 9), 1, 11)],
    ids=str,
)
def test_qlinear_softmax_is_onnxruntimes(dtype, shape, axis, opset):
    """QLinearSoftmax along an axis (opset 13 on) or over the flattened axes from it (before
    13), under 6 random quantizations: onnxruntime's values, within one unit of the exact
    softmax of the dequantized values requantised to its ⌊1/y_scale⌋ levels (PyTorch's
    softmax, float64)."""
    import torch

    for trial in range(6):
        rng = _rng((dtype, shape, axis, opset, trial))
        x = _ints(rng, dtype, shape)
        if trial % 2:
            x = (x // 8).astype(dtype)  # a narrower spread: larger probabilities
        sx = np.float32(np.exp(rng.uniform(-5, -1)))
        sy = np.float32(np.exp(rng.uniform(-8, -4))) if trial % 3 else np.float32(1 / 256)
        zy = _ints(rng, dtype, ())
        inputs = [("x", x), ("sx", sx), ("zx", _ints(rng, dtype, ())), ("sy", sy), ("zy", zy)]
        attrs = {"axis": axis, "opset": opset}
        model = _model("QLinearSoftmax", inputs, ["sx", "zx", "sy", "zy"], attrs, dtype)
        got = _same(model, {"x": x})
        v = torch.from_numpy(np.float64(sx) * x.astype(np.float64))
        if opset < 13:
            p = torch.softmax(v.reshape(int(np.prod(shape[:axis])), -1), -1).reshape(shape)
        else:
            p = torch.softmax(v, axis)
        _near(got, p.numpy() * np.floor(np.float32(1) / sy) + float(zy), dtype)


def test_qlinear_softmax_takes_its_table_shift_in_float32():
    """The table's shift ln(F/D) is a float32 log in onnxruntime's kernel: on this case (found
    by search) the float64 log moves four of the 1 000 values one unit (65 instead of 66)."""
    x = ((np.arange(1000) * 37) % 256).astype(U8)[None]
    sx, sy = np.float32(3.4e-05), np.float32(2.0**-16)
    inputs = [("x", x), ("sx", sx), ("zx", U8(0)), ("sy", sy), ("zy", U8(0))]
    attrs = {"axis": -1, "opset": 13}
    got = _same(_model("QLinearSoftmax", inputs, ["sx", "zx", "sy", "zy"], attrs), {"x": x})
    assert (got[0, [3, 259, 515, 771]] == 66).all()


@pytest.mark.parametrize("opset", [11, 12, 13])
def test_qlinear_softmax_axis_defaults_to_the_last_at_every_opset(opset):
    """Without ``axis`` onnxruntime reduces the last axis, before opset 13 too (where ONNX's
    own Softmax would flatten from axis 1): on (2, 3, 4) each run of 4 sums to the levels."""
    rng = _rng(("softmax default", opset))
    x = _ints(rng, U8, (2, 3, 4))
    sy = np.float32(1 / 256)
    inputs = [("x", x), ("sx", np.float32(0.05)), ("zx", U8(3)), ("sy", sy), ("zy", U8(0))]
    model = _model("QLinearSoftmax", inputs, ["sx", "zx", "sy", "zy"], {"opset": opset})
    got = _same(model, {"x": x})
    assert np.abs(got.astype(np.int64).sum(-1) - 256).max() <= 4  # one unit a value at most


def test_qlinear_softmax_checks_the_zero_points_type():
    """X_zero_point of another type than X is refused by name (onnxruntime refuses it too),
    though the softmax does not read it."""
    x = np.zeros((2, 4), U8)
    inputs = [("x", x), ("sx", np.float32(0.1)), ("zx", I8(0)), ("sy", np.float32(1 / 256))]
    inputs.append(("zy", U8(0)))
    model = _model("QLinearSoftmax", inputs, ["sx", "zx", "sy", "zy"], {"opset": 13})
    with pytest.raises(ValueError, match="X_zero_point.*uint8.*int8"):
        load(model.SerializeToString())(x)


def _huge(dtype):
    """An 8-bit x whose requantised value passes 2³¹ (x_scale 1 000, y_scale 10⁻⁶: 1e11 per
    unit), both signs where the type has them."""
    return np.array([[[[100, 1] if dtype == U8 else [100, -100]]]], dtype)


@pytest.mark.parametrize("dtype", [U8, I8])
def test_table_ops_and_qgemm_clamp_values_past_int32(dtype):
    """LeakyRelu, Concat, Sigmoid and QGemm's 8-bit output clamp before converting, as MLAS's
    QuantizeLinear: a value past 2³¹ gives the type's end on its side, not the minimum that
    the x86 conversion of Add, Mul and the pools gives. Equal to onnxruntime."""
    info = np.iinfo(dtype)
    x = _huge(dtype)
    big, tiny, z = np.float32(1000.0), np.float32(1e-6), dtype(0)
    table = [("x", x), ("sx", big), ("zx", z), ("sy", tiny), ("zy", z)]
    consts = ["sx", "zx", "sy", "zy"]
    ends = np.where(x > 0, info.max, info.min if dtype == I8 else 0)
    got = _same(_model("QLinearLeakyRelu", table, consts, {"alpha": 0.5}, dtype), {"x": x})
    np.testing.assert_array_equal(got, ends)
    concat = [("sy", tiny), ("zy", z), ("x", x), ("sx", big), ("zx", z)]
    got = _same(_model("QLinearConcat", concat, consts, {"axis": 1}, dtype), {"x": x})
    np.testing.assert_array_equal(got, ends)
    sigmoid = [("x", x), ("sx", np.float32(1.0)), ("zx", z), ("sy", np.float32(1e-12)), ("zy", z)]
    got = _same(_model("QLinearSigmoid", sigmoid, consts, None, dtype), {"x": x})
    assert got.max() == info.max  # the logistic of 100 is 1: 10¹² units
    a = x.reshape(1, 2)
    w = np.eye(2, dtype=dtype)  # A·W = A: each value to its own end
    gemm = [("a", a), ("sa", big), ("za", z), ("b", w), ("sb", np.float32(1.0)), ("zb", z)]
    gemm += [("c", np.zeros(2, np.int32)), ("sy", tiny), ("zy", z)]
    got = _same(
        _model("QGemm", gemm, ["sa", "za", "b", "sb", "zb", "c", "sy", "zy"], None, dtype), {"a": a}
    )
    np.testing.assert_array_equal(got, ends.reshape(1, 2))


# ---------------------------------------------------------------------------------------------
# Refusals


def _add_inputs():
    """QLinearAdd's inputs, A a float graph input (refused ops are refused before any type)."""
    a = np.zeros((2, 3), U8)
    return [("a", a.astype(np.float32)), ("sa", np.float32(0.1)), ("za", U8(1)), ("b", a),
            ("sb", np.float32(0.1)), ("zb", U8(1)), ("sc", np.float32(0.2)), ("zc", U8(2))]  # fmt: skip


@pytest.mark.parametrize(
    "op, domain, pattern",
    [
        ("QLinearFancy", MS, r"QLinearFancy.*domain 'com.microsoft' is not supported"),
        ("QLinearWhere", MS, r"QLinearWhere.*domain 'com.microsoft' is not supported"),
        ("QLinearAdd", "org.example", r"QLinearAdd.*domain 'org.example' is not supported"),
        ("QLinearAdd", "", r"op type 'QLinearAdd' is not supported"),
    ],
)
def test_other_ops_and_domains_are_refused_by_name(op, domain, pattern):
    """An op of com.microsoft cnnmath does not read, an op of another domain, and a contrib
    op written in ONNX's own domain: refused, naming the node's op type and the domain."""
    inputs = _add_inputs()
    opsets = (("", 17), (MS, 1), ("org.example", 1))
    model = _model(op, inputs, [n for n, _ in inputs[1:]], domain=domain, opsets=opsets)
    with pytest.raises(ValueError, match=pattern):
        load(model.SerializeToString())


@pytest.mark.parametrize(
    "names, pattern",
    [
        (["a", "sa", "za", "", "sb", "zb", "sc", "zc"], r"input 'B': expected a value"),
        (["a", "sa", "za", "b", "sb", "zb", ""], r"input 'C_scale': expected a value"),
        (["a", "sa", "za", "b", "sb", "zb", "sc", "zc", "zc"], r"inputs: expected at most 8"),
    ],
)
def test_a_contrib_node_with_a_missing_or_extra_input_is_refused(names, pattern):
    """QLinearAdd without B, without C_scale, or with a ninth input: refused at load time,
    naming the input (onnxruntime refuses these files too)."""
    inputs = dict(_add_inputs())
    node = helper.make_node("QLinearAdd", names, ["y"], domain=MS, name="n")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("a", 1, (2, 3))],
        [helper.make_tensor_value_info("y", 2, None)],
        [numpy_helper.from_array(np.asarray(inputs[n]), n) for n in set(names) - {"a", ""}],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    with pytest.raises(Exception):  # noqa: B017 (onnxruntime's own error type)
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    with pytest.raises(ValueError, match=rf"node 'n' \(QLinearAdd\): {pattern}"):
        load(model.SerializeToString())


def test_a_contrib_op_without_its_opset_import_is_refused():
    """A com.microsoft node in a model that imports no com.microsoft opset (onnxruntime
    refuses the file too)."""
    inputs = _add_inputs()
    model = _model("QLinearAdd", inputs, [n for n, _ in inputs[1:]], opsets=(("", 17),))
    with pytest.raises(ValueError, match=r"QLinearAdd.*expected opset 1 imported, got None"):
        load(model.SerializeToString())


def test_qlinear_add_of_mixed_types_is_refused():
    """A uint8 A with an int8 B: refused when the node runs, naming the input."""
    inputs = _add_inputs()
    inputs[0] = ("a", np.zeros((2, 3), U8))
    inputs[3] = ("b", np.zeros((2, 3), I8))
    inputs[5] = ("zb", I8(0))
    model = _model("QLinearAdd", inputs, ["sa", "za", "sb", "zb", "sc", "zc"])
    graph = load(model.SerializeToString())
    with pytest.raises(ValueError, match=r"input 'B': expected A's type uint8, got int8"):
        graph(np.zeros((2, 3), U8), np.zeros((2, 3), I8))


# ---------------------------------------------------------------------------------------------
# End to end: a ResNet-like CNN quantized by quantize_static's defaults


def _resnet_like():
    import torch

    class Block(torch.nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.b1 = torch.nn.BatchNorm2d(c)
            self.c2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.b2 = torch.nn.BatchNorm2d(c)

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            return torch.relu(x + self.b2(self.c2(y)))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.pool = torch.nn.MaxPool2d(2)
            self.block = Block(8)
            self.fc = torch.nn.Linear(8, 5)

        def forward(self, x):
            x = self.block(self.pool(torch.relu(self.bn(self.stem(x)))))
            return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # distinct statistics, so that no two folded biases coincide
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def quantized_static(net, tmp_path, seed, settings, quant_format="QOperator"):
    """``net`` exported by torch.onnx.export (batch axis dynamic) and quantized by
    ``quantize_static`` in the ``quant_format`` format (QuantFormat's name) with ``settings`` (``activation_type`` by
    QuantType's name) on 4 random calibration batches: (x, a (3, 3, 16, 16) input, the
    quantized ModelProto)."""
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from helpers import torch_onnx_export

    rng = _rng(seed)
    x = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    (tmp_path / "f.onnx").write_bytes(
        torch_onnx_export(net, torch.from_numpy(x), dynamic_axes={"x": {0: "n"}})
    )

    class Images(CalibrationDataReader):
        def __init__(self) -> None:
            batches = rng.standard_normal((4, 2, 3, 16, 16)).astype(np.float32)
            self.batches = iter([{"x": b} for b in batches])

        def get_next(self):
            return next(self.batches, None)

    kw = dict(settings)
    if "activation_type" in kw:
        kw["activation_type"] = getattr(QuantType, kw["activation_type"])
    quantize_static(
        tmp_path / "f.onnx",
        tmp_path / "q.onnx",
        Images(),
        quant_format=getattr(QuantFormat, quant_format),
        **kw,
    )
    return x, onnx.load(tmp_path / "q.onnx")


@pytest.mark.parametrize(
    "settings", [{}, {"per_channel": True}, {"activation_type": "QUInt8"}], ids=str
)
def test_resnet_like_cnn_quantized_by_default_runs_as_in_onnxruntime(tmp_path, settings):
    """A PyTorch CNN (conv–bn–relu, maxpool, a residual block, global average pool, flatten,
    linear) exported by torch.onnx.export, quantized by ``quantize_static`` with its default
    QOperator settings (int8 activations and weights; and per channel, and uint8 activations)
    on random calibration images:
    it holds QLinearAdd, QLinearGlobalAveragePool and QGemm; cnnmath gives every 8-bit tensor
    bit for bit and the float output exactly as onnxruntime (both dequantize the same int8
    values with one float32 multiply), close to the float network."""
    torch = pytest.importorskip("torch")
    net = _resnet_like()
    x, q = quantized_static(net, tmp_path, ("resnet", str(settings)), settings)
    contrib = {n.op_type for n in q.graph.node if n.domain == MS}
    assert {"QLinearAdd", "QLinearGlobalAveragePool", "QGemm"} <= contrib
    eight_bit = [
        n.output[0]
        for n in q.graph.node
        if n.op_type in ("QuantizeLinear", "QLinearConv", "MaxPool", "Flatten") or n.domain == MS
    ]
    q.graph.output.extend(helper.make_empty_tensor_value_info(v) for v in eight_bit)
    session = ort.InferenceSession(q.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x})
    got = load(q.SerializeToString())(x)
    assert len(got) == len(want) == 1 + len(eight_bit)
    dtype = U8 if settings.get("activation_type") == "QUInt8" else I8  # int8 by default
    for g, w in zip(got[1:], want[1:]):
        assert g.dtype == w.dtype == dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    assert got[0].dtype == np.float32
    np.testing.assert_array_equal(got[0], want[0])
    float_y = net(torch.from_numpy(x)).detach().numpy()
    assert 0 < np.abs(want[0] - float_y).max() < 0.5


def test_contrib_ops_take_no_gradient():
    """Inference only: a QGemm with a float output, from an 8-bit graph input, gives a zero
    gradient to that input (integers take none), as the other 8-bit ops."""
    rng = _rng("grad")
    a = _ints(rng, U8, (3, 4))
    inputs = [("a", a), ("sa", np.float32(0.1)), ("za", U8(3)), ("b", _ints(rng, I8, (4, 2))),
              ("sb", np.float32(0.02)), ("zb", I8(0))]  # fmt: skip
    model = _model("QGemm", inputs, ["sa", "za", "b", "sb", "zb"], out_dtype=np.float32)
    graph = load(model.SerializeToString())
    graph.train()
    y = graph(a)
    assert y.dtype == np.float32 and np.abs(y).max() > 0
    ga = graph.backward(np.ones(y.shape, np.float32))
    assert np.asarray(ga).shape == a.shape and not np.asarray(ga).any()


def _every_contrib_op_net():
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c0 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.c1 = torch.nn.Conv2d(8, 8, 3, padding=1)
            self.c2 = torch.nn.Conv2d(8, 8, 1)
            self.c3 = torch.nn.Conv2d(16, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            x = torch.nn.functional.leaky_relu(self.c0(x), 0.1)
            y = torch.nn.functional.max_pool2d(x + self.c1(x), 2)
            w = torch.cat([y, torch.sigmoid(self.c2(y)) * y], 1)
            w = torch.nn.functional.avg_pool2d(self.c3(w), 3, stride=1, padding=1)
            w = torch.nn.functional.adaptive_avg_pool2d(w, 1).flatten(1)
            return torch.softmax(self.fc(w), -1)

    torch.manual_seed(1)
    return Net().eval()


@pytest.mark.parametrize(
    "settings", [{}, {"activation_type": "QUInt8", "per_channel": True}], ids=str
)
def test_a_cnn_using_every_contrib_op_runs_as_in_onnxruntime(tmp_path, settings):
    """A CNN whose quantization by ``quantize_static`` (QOperator) writes every com.microsoft
    op read here (LeakyRelu, a residual Add, MaxPool between them, Sigmoid gating by Mul,
    Concat, AveragePool, global average pool, Gemm, Softmax): every tensor of the quantized
    graph, 8-bit or float, equals onnxruntime's."""
    pytest.importorskip("torch")
    x, q = quantized_static(_every_contrib_op_net(), tmp_path, ("every", str(settings)), settings)
    contrib = {n.op_type for n in q.graph.node if n.domain == MS}
    assert contrib == set(MICROSOFT)
    values = [n.output[0] for n in q.graph.node if n.op_type != "DequantizeLinear"]
    q.graph.output.extend(helper.make_empty_tensor_value_info(v) for v in values)
    session = ort.InferenceSession(q.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x})
    got = load(q.SerializeToString())(x)
    assert len(got) == len(want) == 1 + len(values)
    for name, g, w in zip(["y", *values], got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, name
        np.testing.assert_array_equal(g, w, err_msg=name)
    assert np.allclose(got[0].sum(-1), 1, atol=0.05)  # a softmax's rows, dequantized
