"""The generic op tests: every record in tests/records/ checked the same way (see opinfo.py).

Witnesses: the literal loops of cnnmath.reference, PyTorch (float64 and float32, when
installed), and finite differences in float64.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import cnnmath.ops
from cnnmath.gradcheck import check_gradients
from helpers import assert_close
from opinfo import as_tuple, cast, first, present
from records import RECORDS

DTYPES = [np.float64, np.float32]

CASES = [(record, sample) for record in RECORDS for sample in record.samples()]
IDS = [f"{record.name}-{sample.name}" for record, sample in CASES]
BACKWARD = [(r, s) for r, s in CASES if r.backward is not None]
BACKWARD_IDS = [f"{r.name}-{s.name}" for r, s in BACKWARD]
TORCH = [(r, s) for r, s in CASES if r.torch is not None]
TORCH_IDS = [f"{r.name}-{s.name}" for r, s in TORCH]
ERRORS = [(record, case) for record in RECORDS for case in record.errors()]
ERROR_IDS = [f"{record.name}-{case.name}" for record, case in ERRORS]


def _torch():
    return pytest.importorskip("torch")


def _tensors(torch, arrays, grad_positions=()):
    out = []
    for i, a in enumerate(arrays):
        if a is None:
            out.append(None)
            continue
        t = torch.from_numpy(np.ascontiguousarray(a))
        if i in grad_positions:
            t.requires_grad_(True)
        out.append(t)
    return out


def _outputs(result):
    return result if isinstance(result, tuple) else (result,)


def _grad_output(record, sample, dtype, seed=1):
    y = first(record.op(*cast(sample.arrays, dtype), **sample.kwargs))
    return np.random.default_rng(seed).standard_normal(np.shape(y)).astype(dtype)


def test_every_record_has_samples_and_error_inputs():
    names = [r.name for r in RECORDS]
    assert len(names) == len(set(names)), "two records share a name"
    for record in RECORDS:
        assert record.samples(), f"{record.name}: no samples"
        assert record.errors(), f"{record.name}: no error inputs"


# Public functions of cnnmath.ops that are not ops with a record, and why.
NOT_OPS = {
    "get_activation": "a registry lookup; the ops it returns have records",
    "conv_output_shape": "geometry, checked in test_conv against the reference's formula",
    "crop_or_pad": "geometry of conv_transpose2d's output_padding, checked in test_conv",
    "dispatch_plan": "the engine's plan, checked in test_dispatch",
    "select_method": "the engine's choice of kernel, checked in test_dispatch",
    "dropout_mask": "draws the mask; dropout's record runs dropout_fixed_mask on a fixed one",
    "erf": "a scalar special function, checked against math.erf in test_erf",
    "erfc": "a scalar special function, checked against math.erfc in test_erf",
    "linear_taps": "interpolate_bilinear's weights, which its record covers",
    "cubic_taps": "interpolate_bicubic's taps, which its record covers",
    "antialias_taps": "the antialiased modes' taps, which the interpolate records' aa-* samples "
    "cover",
    "antialias_kernel": "the antialiasing filters, checked against their formulas in "
    "test_interpolate",
    "resample_band": "the antialiased modes along both axes, which the aa-* samples cover",
    "antialias_taps_at": "ONNX Resize's antialiased taps, checked against onnxruntime and ONNX's "
    "reference in test_onnx_load",
    "cubic_taps_at": "interpolate_bicubic's taps at any coordinates (ONNX's Resize: checked "
    "against onnxruntime in test_onnx_load)",
    "cubic_weights": "the cubic kernel's weights, checked against its formula in test_interpolate",
    "resample_along": "both resamplers along one axis, covered by their records",
    "resample_cubic": "interpolate_bicubic along both axes, which its record covers",
    "resample_linear": "interpolate_bilinear along one axis, which its record covers",
    "sum_into_sources": "interpolate_bilinear's adjoint along one axis, covered by its record",
    "taps_at": "interpolate_bilinear's sample positions, covered by its record",
    "pad_axes": "pad2d's argument parsing, checked in test_pad",
    "pad_widths": "pad2d's argument parsing, checked in test_pad",
    "nms": "integer indices, no gradient: checked in test_roi against the reference, PyTorch's "
    "sort order and onnxruntime",
    "batched_nms": "nms per category, checked in test_roi",
    "box_iou": "no gradient in torchvision; checked in test_roi against torchvision",
}


def _public_functions():
    """Every function a public module of cnnmath.ops lists in its ``__all__``."""
    modules = [cnnmath.ops] + [
        importlib.import_module(f"cnnmath.ops.{m.name}")
        for m in pkgutil.iter_modules(cnnmath.ops.__path__)
        if not m.name.startswith("_")
    ]
    return {
        name
        for module in modules
        for name in getattr(module, "__all__", ())
        if inspect.isfunction(getattr(module, name))
    }


def test_every_public_op_has_a_record():
    """A new forward op in cnnmath.ops gets a record (reference loop, PyTorch, finite
    differences, errors) or a line in NOT_OPS saying why not."""
    recorded = {r.name for r in RECORDS}
    forwards = {n for n in _public_functions() if not n.endswith(("_backward", "_grad"))}
    assert "conv2d" in forwards and "channel_shuffle" in forwards  # the walk found the ops
    missing = sorted(forwards - recorded - set(NOT_OPS))
    assert not missing, f"public ops without an op record: {missing}"
    stale = sorted(set(NOT_OPS) - forwards)
    assert not stale, f"NOT_OPS names what cnnmath.ops no longer exports: {stale}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("record, sample", CASES, ids=IDS)
def test_forward_matches_reference(record, sample, dtype):
    if record.reference is None:
        pytest.skip(f"{record.name} has no literal reference (its record says why)")
    arrays = cast(sample.arrays, dtype)
    got = _outputs(record.op(*arrays, **sample.kwargs))
    want = _outputs(record.reference(*cast(sample.arrays, dtype), **sample.kwargs))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape
        if np.issubdtype(w.dtype, np.floating):
            assert g.dtype == dtype, f"{record.name} returned {g.dtype} for {np.dtype(dtype)}"
            assert_close(g, w, dtype, record.factor(dtype))
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("record, sample", TORCH, ids=TORCH_IDS)
def test_forward_matches_torch(record, sample, dtype):
    torch = _torch()
    arrays = cast(sample.arrays, dtype)
    got = _outputs(record.op(*arrays, **sample.kwargs))
    want = _outputs(
        record.torch(torch, *_tensors(torch, cast(sample.arrays, dtype)), **sample.kwargs)
    )
    for g, w in zip(got, want):
        w = w.detach().numpy() if hasattr(w, "detach") else np.asarray(w)
        g = np.asarray(g)
        assert g.shape == w.shape, (g.shape, w.shape)
        if np.issubdtype(w.dtype, np.floating):
            assert_close(g, w, dtype, record.factor(dtype))
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("record, sample", BACKWARD, ids=BACKWARD_IDS)
def test_backward_matches_reference(record, sample, dtype):
    if record.reference_backward is None:
        pytest.skip(f"{record.name} has no literal reference backward (its record says why)")
    arrays = cast(sample.arrays, dtype)
    g = _grad_output(record, sample, dtype)
    got = as_tuple(record.backward(g.copy(), *arrays, **sample.kwargs))
    want = as_tuple(
        record.reference_backward(g.copy(), *cast(sample.arrays, dtype), **sample.kwargs)
    )
    positions = present(record, arrays)
    assert len(got) == len(want) == len(positions)
    for grad, ref, i in zip(got, want, positions):
        assert grad.shape == arrays[i].shape and grad.dtype == arrays[i].dtype, (
            f"gradient of input {i}: {grad.shape} {grad.dtype}, input {arrays[i].shape} {arrays[i].dtype}"
        )
        assert_close(grad, ref, dtype, record.factor(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "record, sample",
    [c for c in BACKWARD if c[0].torch],
    ids=[i for c, i in zip(BACKWARD, BACKWARD_IDS) if c[0].torch],
)
def test_backward_matches_torch(record, sample, dtype):
    torch = _torch()
    arrays = cast(sample.arrays, dtype)
    positions = present(record, arrays)
    g = _grad_output(record, sample, dtype)
    got = as_tuple(record.backward(g.copy(), *arrays, **sample.kwargs))
    tensors = _tensors(torch, cast(sample.arrays, dtype), positions)
    out = record.torch(torch, *tensors, **sample.kwargs)
    out = out[0] if isinstance(out, tuple) else out
    out.backward(torch.from_numpy(g))
    for grad, i in zip(got, positions):
        assert_close(grad, tensors[i].grad.numpy(), dtype, record.factor(dtype))


@pytest.mark.parametrize("record, sample", BACKWARD, ids=BACKWARD_IDS)
def test_backward_matches_finite_differences(record, sample):
    arrays = cast(sample.arrays, np.float64)
    given = [i for i, a in enumerate(arrays) if a is not None]

    def full(args):
        it = iter(args)
        return [next(it) if a is not None else None for a in arrays]

    def func(*args):
        return first(record.op(*full(args), **sample.kwargs))

    def backward(g, *args):
        return as_tuple(record.backward(g, *full(args), **sample.kwargs))

    wrt = [given.index(i) for i in present(record, arrays)]
    check_gradients(func, backward, [arrays[i] for i in given], wrt=wrt, rtol=record.fd_rtol)


@pytest.mark.parametrize("record, sample", CASES, ids=IDS)
def test_inputs_are_not_modified(record, sample):
    arrays = cast(sample.arrays, np.float64)
    before = [None if a is None else a.copy() for a in arrays]
    y = first(record.op(*arrays, **sample.kwargs))
    if record.backward is not None:
        g = np.ones(np.shape(y))
        record.backward(g, *arrays, **sample.kwargs)
    for i, (a, b) in enumerate(zip(arrays, before)):
        if a is not None and i not in record.mutates:
            np.testing.assert_array_equal(a, b, err_msg=f"{record.name} modified input {i}")


def _views(a):
    """The same values as a non-contiguous view and as a view with negative strides."""
    wide = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), dtype=a.dtype)
    wide[..., ::2] = a
    flipped = a[..., ::-1].copy()[..., ::-1]
    assert not wide[..., ::2].flags.c_contiguous and flipped.strides[-1] < 0
    return {"strided": wide[..., ::2], "reversed": flipped}


@pytest.mark.parametrize("record, sample", CASES, ids=IDS)
def test_views_give_the_contiguous_result(record, sample):
    arrays = cast(sample.arrays, np.float64)
    want = _outputs(record.op(*cast(sample.arrays, np.float64), **sample.kwargs))
    g = np.random.default_rng(2).standard_normal(np.shape(want[0]))
    want_grads = (
        as_tuple(record.backward(g, *cast(sample.arrays, np.float64), **sample.kwargs))
        if record.backward
        else ()
    )
    for kind, view in _views(arrays[0]).items():
        args = [view, *cast(sample.arrays[1:], np.float64)]
        got = _outputs(record.op(*args, **sample.kwargs))
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13, err_msg=kind)
        if record.backward:
            grads = as_tuple(record.backward(g, *args, **sample.kwargs))
            for a, b in zip(grads, want_grads):
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13, err_msg=kind)


@pytest.mark.parametrize("record, sample", TORCH, ids=TORCH_IDS)
def test_nonfinite_values_as_in_torch(record, sample):
    """NaN and ±inf planted in the first input: forward and gradient equal PyTorch's, NaN for
    NaN and inf for inf (the values a record leaves out are listed in its op's docstring)."""
    torch = _torch()
    for value in record.nonfinite:
        arrays = cast(sample.arrays, np.float64)
        flat = arrays[0].reshape(-1)
        flat[len(flat) // 2] = value
        flat[0] = value
        got = _outputs(record.op(*arrays, **sample.kwargs))
        positions = present(record, arrays)
        tensors = _tensors(torch, cast(arrays, np.float64), positions)
        want = _outputs(record.torch(torch, *tensors, **sample.kwargs))
        y = np.asarray(got[0])
        w = want[0].detach().numpy()
        np.testing.assert_array_equal(np.isnan(y), np.isnan(w), err_msg=f"NaN pattern, {value}")
        finite = ~np.isnan(w)
        np.testing.assert_allclose(
            y[finite],
            w[finite],
            rtol=1e-12,
            atol=1e-12 * max(1, np.abs(w[np.isfinite(w)]).max(initial=0)),
            err_msg=f"forward with {value}",
        )
        if record.backward is None:
            continue
        g = np.random.default_rng(3).standard_normal(y.shape)
        grads = as_tuple(record.backward(g, *arrays, **sample.kwargs))
        want[0].backward(torch.from_numpy(g))
        for grad, i in zip(grads, positions):
            t = tensors[i].grad.numpy()
            np.testing.assert_array_equal(
                np.isnan(grad), np.isnan(t), err_msg=f"grad {i} NaN pattern, {value}"
            )
            ok = ~np.isnan(t)
            scale = max(1.0, np.abs(t[np.isfinite(t)]).max(initial=0))
            np.testing.assert_allclose(
                grad[ok], t[ok], rtol=1e-12, atol=1e-12 * scale, err_msg=f"grad {i} with {value}"
            )


@pytest.mark.parametrize("record, case", ERRORS, ids=ERROR_IDS)
def test_error_inputs(record, case):
    with pytest.raises(case.exception, match=case.match):
        case.call()
