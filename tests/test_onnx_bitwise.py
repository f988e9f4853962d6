"""cnnmath.onnx.load on BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot and BitShift over int32
and int64: against onnxruntime (the bitwise ops) and ONNX's reference evaluator (BitShift's
signed reading of opset 28: negative shifts, shifts past the width, bits pushed past the
sign bit), with NumPy's broadcasting; and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.onnx import load
from onnx_node_case import both, node_model


def _ints(shape, dtype, seed):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max, shape, dtype=dtype)


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize(
    ("a_shape", "b_shape"), [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5))]
)
def test_bitwise_binary_ops_match_onnxruntime(op, dtype, a_shape, b_shape):
    feeds = {"a": _ints(a_shape, dtype, 0), "b": _ints(b_shape, dtype, 1)}
    got, want, _ = both(op, feeds)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype and got.shape == want.shape


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_bitwise_not_matches_onnxruntime(dtype):
    x = _ints((2, 3, 4), dtype, 2)
    got, want, _ = both("BitwiseNot", {"x": x})
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_bit_shift_of_signed_integers_is_onnx_opset_28s(direction, dtype):
    """Every x against every shift in −3 … bits + 2 (negative, zero, past the width)."""
    from onnx import load_model_from_string
    from onnx.reference import ReferenceEvaluator

    bits = np.iinfo(dtype).bits
    x = np.concatenate([_ints((6,), dtype, 3), np.array([-1, 1, 0, np.iinfo(dtype).min], dtype)])
    y = np.arange(-3, bits + 3, dtype=dtype)[:, None]
    feeds = {"x": x, "s": y}
    data = node_model("BitShift", feeds, {"direction": direction}, opset=28)
    want = ReferenceEvaluator(load_model_from_string(data)).run(None, feeds)[0]
    got = load(data)(x, y)
    assert got.dtype == want.dtype and got.shape == (bits + 6, 10)
    np.testing.assert_array_equal(got, want)
    if direction == "RIGHT":  # arithmetic: a negative x stays negative
        assert np.all(got[(x < 0) & (y >= 0) & (y < bits)] < 0)


@pytest.mark.parametrize(
    ("op", "feeds", "opset", "message"),
    [
        ("BitwiseAnd", {"a": np.ones(2, np.int32), "b": np.ones(2, np.int64)}, 18, "input 'B': expected an integer type \\(int32, int64\\), that of input 'A' \\(int32\\), got int64"),
        ("BitwiseOr", {"a": np.ones(2), "b": np.ones(2)}, 18, "input 'A': expected an integer type"),
        ("BitwiseXor", {"a": np.ones(2, np.int64), "b": np.ones(3, np.int64)}, 18, "inputs 'A', 'B': expected shapes that broadcast together"),
        ("BitwiseNot", {"x": np.ones(2, bool)}, 18, "input 'X': expected an integer type"),
        ("BitShift", {"x": np.ones(2, np.int64), "s": np.ones(2, np.int64)}, 18, "BitShift before opset 28 .* shifts only unsigned integers"),
    ],
)  # fmt: skip
def test_bitwise_ops_refuse_bad_input_naming_it(op, feeds, opset, message):
    attrs = {"direction": "LEFT"} if op == "BitShift" else {}
    with pytest.raises(ValueError, match=rf"\({op}\): " + message):
        load(node_model(op, feeds, attrs, opset=opset))(*feeds.values())


def test_bit_shift_refuses_an_unknown_direction():
    feeds = {"x": np.ones(2, np.int64), "s": np.ones(2, np.int64)}
    with pytest.raises(
        ValueError, match="attribute 'direction': expected 'LEFT' or 'RIGHT', got 'UP'"
    ):
        load(node_model("BitShift", feeds, {"direction": "UP"}, opset=28))
