"""cnnmath.testing, the autograder: implementations written here the way a student would
(loops over kernel taps, NumPy only) pass; the same ones with a classic bug each fail, and
the report names the gradient, the case and an index where the error is."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

import cnnmath
from cnnmath import nn
from cnnmath.testing import check_module, check_op, op_names


# -- a student's convolution (stride and padding only), written independently ----------------
def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _taps(x, k1, k2, stride, padding):
    """Pad x and yield (a, c, the strided window of the padded input under tap (a, c), xp)."""
    s1, s2 = _pair(stride)
    if padding == "same":  # stride 1: the output keeps the input's size
        padding = ((k1 - 1) // 2, (k2 - 1) // 2)
    p1, p2 = _pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (p1, p1), (p2, p2)))
    h_out = (xp.shape[2] - k1) // s1 + 1
    w_out = (xp.shape[3] - k2) // s2 + 1
    for a in range(k1):
        for c in range(k2):
            rows = slice(a, a + s1 * (h_out - 1) + 1, s1)
            cols = slice(c, c + s2 * (w_out - 1) + 1, s2)
            yield a, c, (rows, cols), xp


def conv_forward(x, weight, bias=None, stride=1, padding=0):
    out = None
    for a, c, (rows, cols), xp in _taps(x, *weight.shape[2:], stride, padding):
        term = np.einsum("bchw,oc->bohw", xp[:, :, rows, cols], weight[:, :, a, c])
        out = term if out is None else out + term
    return out if bias is None else out + bias[None, :, None, None]


def conv_backward(grad_output, x, weight, stride=1, padding=0, *, bug=None):
    grad_w = np.zeros_like(weight)
    grad_xp = None
    for a, c, (rows, cols), xp in _taps(x, *weight.shape[2:], stride, padding):
        if grad_xp is None:
            grad_xp = np.zeros_like(xp)
        if bug == "stride":  # reads the input at stride 1 whatever the stride
            rows_w = slice(a, a + grad_output.shape[2])
            cols_w = slice(c, c + grad_output.shape[3])
        else:
            rows_w, cols_w = rows, cols
        grad_w[:, :, a, c] = np.einsum("bohw,bchw->oc", grad_output, xp[:, :, rows_w, cols_w])
        tap = weight[:, :, -1 - a, -1 - c] if bug == "flip" else weight[:, :, a, c]
        grad_xp[:, :, rows, cols] += np.einsum("bohw,oc->bchw", grad_output, tap)
    top = (grad_xp.shape[2] - x.shape[2]) // 2  # the padding (same on both sides here)
    left = (grad_xp.shape[3] - x.shape[3]) // 2
    grad_x = grad_xp[:, :, top : top + x.shape[2], left : left + x.shape[3]]
    grad_b = grad_output.sum(axis=(0, 2, 3))
    if bug == "bias":
        grad_b = grad_output.mean(axis=(0, 2, 3))
    return grad_x, grad_w, grad_b


CONV_OPTIONS = ("stride", "padding")


def test_student_conv_passes():
    report = check_op("conv2d", conv_forward, conv_backward, options=CONV_OPTIONS)
    assert report.passed, report.first_failure
    # default; stride 2 + padding 1; stride (2, 1) + padding (1, 0); "same" without bias
    assert len(report.cases) == 4
    assert all(set(c.errors) >= {"forward", "grad_x", "grad_w"} for c in report.cases)
    assert str(report).startswith("conv2d: all 4 cases passed")


def test_cnnmath_ops_pass_every_case():
    for name in ("conv2d", "conv_transpose2d", "max_pool2d", "batch_norm", "cross_entropy"):
        spec = cnnmath.testing.SPECS[name]
        report = check_op(name, spec.op, spec.op_backward)
        assert report.passed and len(report.cases) >= 4, (name, report.first_failure)


_FAILURE = re.compile(
    r"^(?P<what>\w+) is wrong (?P<when>.+?) \((?P<shapes>[^)]*)\): largest error "
    r"(?P<err>\S+) at \[(?P<index>[\d, ]+)\] \(yours (?P<yours>[^,]+), expected (?P<want>[^,]+),"
)


def _parse(report):
    m = _FAILURE.match(report.first_failure or "")
    assert m, report.first_failure
    return m


def test_flipped_kernel_in_grad_x_is_found():
    report = check_op(
        "conv2d",
        conv_forward,
        lambda *a, **k: conv_backward(*a, **k, bug="flip"),
        options=CONV_OPTIONS,
    )
    assert not report.passed
    m = _parse(report)
    assert m["what"] == "grad_x" and m["when"] == "with the default options"
    assert m["shapes"] == "x 2×3×6×6, weight 4×3×3×3, bias 4"
    # the index and the two values name a real disagreement of the student's gradient
    g, x, w = _first_case_arrays("conv2d")
    theirs = conv_backward(g, x, w, bug="flip")[0]
    idx = tuple(int(i) for i in m["index"].split(", "))
    want = cnnmath.conv2d_backward(g, x, w)[0]
    assert abs(float(m["yours"]) - theirs[idx]) < 1e-5 * abs(theirs[idx]) + 1e-12
    assert abs(float(m["want"]) - want[idx]) < 1e-5 * abs(want[idx]) + 1e-12
    assert float(m["err"]) == pytest.approx(np.abs(theirs - want).max(), rel=1e-2)
    assert idx == np.unravel_index(np.argmax(np.abs(theirs - want)), want.shape)


def _first_case_arrays(name):
    from cnnmath.testing import _expected

    exp = _expected(name)[0]
    return exp.grad_output, exp.sample.arrays[0], exp.sample.arrays[1]


def test_wrong_stride_in_grad_w_names_the_strided_case():
    report = check_op(
        "conv2d",
        conv_forward,
        lambda *a, **k: conv_backward(*a, **k, bug="stride"),
        options=CONV_OPTIONS,
    )
    m = _parse(report)
    assert m["what"] == "grad_w" and m["when"] == "when stride = 2 and padding = 1"
    # the stride-1 cases pass: the bug only shows where the stride is not 1
    assert [c.passed for c in report.cases] == [True, False, False, True]
    assert report.cases[0].errors["grad_w"] < 1e-12


def test_bias_gradient_averaged_instead_of_summed():
    report = check_op(
        "conv2d",
        conv_forward,
        lambda *a, **k: conv_backward(*a, **k, bug="bias"),
        options=CONV_OPTIONS,
    )
    m = _parse(report)
    assert m["what"] == "grad_b" and m["when"] == "with the default options"
    # "same" padding without bias: grad_b is not checked, so that case passes
    assert report.cases[3].passed and "without bias" in report.cases[3].description


def test_forward_bug_is_reported_before_backward():
    def forward(x, weight, bias=None, stride=1, padding=0):
        return conv_forward(x, weight[:, :, ::-1, ::-1], bias, stride, padding)  # convolution

    report = check_op("conv2d", forward, conv_backward, options=CONV_OPTIONS)
    assert report.first_failure.startswith("forward is wrong with the default options (x 2×3×6×6")
    assert "grad_x" not in report.cases[0].errors  # backward not judged on a wrong forward


def test_unsupported_option_is_reported_as_the_error_it_raised():
    report = check_op("conv2d", conv_forward, conv_backward)
    failed = [c.description for c in report.failures]
    assert any("dilation = 2" in d for d in failed) and any("groups = 2" in d for d in failed)
    assert (
        "forward raised TypeError when padding = 2 and dilation = 2" in report.failures[0].failure
    )


# -- pooling, batch norm, softmax, cross-entropy, linear: one bug each -----------------------
def _max_pool_forward(x, kernel_size, stride=None, padding=0):
    return _pool_windows(x, kernel_size, stride, padding, -np.inf)[0].max(axis=-1)


def _pool_windows(x, kernel_size, stride, padding, fill):
    """(B, C, H_out, W_out, k1·k2) windows of x padded with ``fill``, and their slices."""
    (k1, k2), (p1, p2) = _pair(kernel_size), _pair(padding)
    s1, s2 = _pair(stride or kernel_size)
    xp = np.pad(x, ((0, 0), (0, 0), (p1, p1), (p2, p2)), constant_values=fill)
    h_out = (xp.shape[2] - k1) // s1 + 1
    w_out = (xp.shape[3] - k2) // s2 + 1
    where = [
        (slice(a, a + s1 * (h_out - 1) + 1, s1), slice(c, c + s2 * (w_out - 1) + 1, s2))
        for a in range(k1)
        for c in range(k2)
    ]
    return np.stack([xp[:, :, r, c] for r, c in where], axis=-1), where, xp.shape


def _max_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, *, spread=False):
    cols, where, padded = _pool_windows(x, kernel_size, stride, padding, -np.inf)
    if spread:  # the bug: every pixel of the window gets the gradient, as in average pooling
        share = np.ones_like(cols) / cols.shape[-1]
    else:
        share = (cols == cols.max(axis=-1, keepdims=True)).astype(float)
    grad_xp = np.zeros(padded)
    for t, (rows, cols_) in enumerate(where):
        grad_xp[:, :, rows, cols_] += grad_output * share[..., t]
    p1, p2 = _pair(padding)
    return grad_xp[:, :, p1 : p1 + x.shape[2], p2 : p2 + x.shape[3]]


def test_max_pool_student_passes_and_spread_gradient_fails():
    options = ("stride", "padding")
    assert check_op("max_pool2d", _max_pool_forward, _max_pool_backward, options=options).passed
    report = check_op(
        "max_pool2d",
        _max_pool_forward,
        lambda *a, **k: _max_pool_backward(*a, **k, spread=True),
        options=options,
    )
    m = _parse(report)
    assert m["what"] == "grad_x" and m["when"] == "when kernel_size = 2"


def _square_only(function):
    """A student's pool that takes an int kernel_size only (review s45 learner f5)."""

    def square(x, kernel_size, *args, **kwargs):
        if not isinstance(kernel_size, int):
            raise TypeError(f"square kernels only, got kernel_size={kernel_size!r}")
        return function(x, kernel_size, *args, **kwargs)

    return square


def _square_only_backward(grad_output, x, kernel_size, **kwargs):
    if not isinstance(kernel_size, int):
        raise TypeError(f"square kernels only, got kernel_size={kernel_size!r}")
    return _max_pool_backward(grad_output, x, kernel_size, **kwargs)


def test_a_square_kernel_pool_leaves_out_the_rectangular_case_and_keeps_a_stride():
    forward, backward = _square_only(_max_pool_forward), _square_only_backward
    report = check_op("max_pool2d", forward, backward, options=["stride"])
    assert report.passed, report.first_failure
    # a case with a stride unequal to the kernel and nothing else (the others add padding,
    # dilation or ceil_mode): the stride is checked on its own
    assert "when kernel_size = 3 and stride = 2 (" in str(report)
    assert "(2, 3)" not in str(report)
    report = check_op("max_pool2d", forward, backward, options=["stride", "rectangular"])
    assert [c.description for c in report.failures] == [
        "when kernel_size = (2, 3) and stride = (1, 2) (x 2×1×5×7)"
    ]
    assert report.first_failure.startswith("forward raised TypeError when kernel_size = (2, 3)")
    # the student who takes pairs and lists every option still gets every case
    everything = ["stride", "padding", "dilation", "ceil_mode", "rectangular"]
    spec = cnnmath.testing.SPECS["max_pool2d"]
    all_cases = check_op("max_pool2d", spec.op, spec.op_backward, options=everything)
    assert len(all_cases.cases) == len(check_op("max_pool2d", spec.op).cases)
    with pytest.raises(ValueError, match=r"among ceil_mode, dilation, padding, rectangular, "):
        check_op("max_pool2d", forward, options=["kernel_size"])


def test_rectangular_is_a_pooling_name_only():
    with pytest.raises(ValueError, match=r"options: expected names among .*got \['rectangular'\]"):
        check_op("conv2d", cnnmath.conv2d, options=["rectangular"])


def _bn_forward(
    x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        n = x.size // x.shape[1]
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * n / (n - 1)
    else:
        mean, var = running_mean, running_var
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape) + bias.reshape(shape)
    return y


def _bn_backward(
    grad_output,
    x,
    running_mean,
    running_var,
    weight=None,
    training=False,
    eps=1e-5,
    *,
    constant_stats=False,
):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes) if training else running_mean
    var = x.var(axis=axes) if training else running_var
    inv = 1 / np.sqrt(var.reshape(shape) + eps)
    x_hat = (x - mean.reshape(shape)) * inv
    w = np.ones(x.shape[1]) if weight is None else weight
    g_hat = grad_output * w.reshape(shape)
    if training and not constant_stats:
        grad_x = inv * (
            g_hat
            - g_hat.mean(axis=axes, keepdims=True)
            - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True)
        )
    else:  # the bug, in training mode: the batch's mean and variance treated as constants
        grad_x = g_hat * inv
    return grad_x, (grad_output * x_hat).sum(axis=axes), grad_output.sum(axis=axes)


def test_batch_norm_student_passes_and_constant_statistics_fail():
    assert check_op("batch_norm", _bn_forward, _bn_backward).passed
    report = check_op(
        "batch_norm", _bn_forward, lambda *a, **k: _bn_backward(*a, **k, constant_stats=True)
    )
    m = _parse(report)
    assert m["what"] == "grad_x" and m["when"] == "when training = True"
    assert [c.passed for c in report.cases] == [False, True, False, False]  # eval mode is right


def test_batch_norm_running_variance_without_bessel_correction():
    def forward(
        x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
    ):
        n = x.size // x.shape[1]
        y = _bn_forward(x, running_mean, running_var, weight, bias, training, momentum, eps)
        if training:  # undo the n/(n−1): the biased variance in the running average
            var = x.var(axis=(0, *range(2, x.ndim)))
            running_var -= momentum * var * (n / (n - 1) - 1)
        return y

    report = check_op("batch_norm", forward, _bn_backward)
    assert report.first_failure.startswith(
        "running_var after forward is wrong when training = True"
    )


def test_softmax_backward_missing_the_subtraction():
    def forward(x, dim):
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        return e / e.sum(axis=dim, keepdims=True)

    def right(grad_output, x, dim):
        s = forward(x, dim)
        return s * (grad_output - (grad_output * s).sum(axis=dim, keepdims=True))

    assert check_op("softmax", forward, right).passed
    report = check_op("softmax", forward, lambda g, x, dim: forward(x, dim) * g)
    assert _parse(report)["when"] == "when dim = 1"


def test_linear_weight_gradient_transposed_reports_the_shape():
    def forward(x, weight, bias=None):
        y = x @ weight.T
        return y if bias is None else y + bias

    def backward(grad_output, x, weight):
        g2, x2 = grad_output.reshape(-1, weight.shape[0]), x.reshape(-1, weight.shape[1])
        return grad_output @ weight, x2.T @ g2, g2.sum(axis=0)  # grad_w transposed

    report = check_op("linear", forward, backward)
    assert report.first_failure == (
        "grad_w has shape (5, 3), expected (3, 5) with the default options "
        "(x 4×5, weight 3×5, bias 3)"
    )


def test_cross_entropy_mean_not_divided_by_batch():
    def forward(input, target, weight=None, reduction="mean"):
        z = input - input.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        losses = -np.take_along_axis(logp, target[:, None], axis=1)[:, 0]
        return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]

    def backward(grad_output, input, target, weight=None, reduction="mean", *, bug=False):
        p = np.exp(input - input.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p -= np.moveaxis(np.eye(input.shape[1])[target], -1, 1)  # one-hot of the target
        if reduction == "none":
            return p * np.expand_dims(grad_output, 1)
        if reduction == "mean" and not bug:
            p /= target.size
        return grad_output * p

    assert check_op("cross_entropy", forward, backward, options=("reduction",)).passed
    report = check_op(
        "cross_entropy",
        forward,
        lambda *a, **k: backward(*a, **k, bug=True),
        options=("reduction",),
    )
    m = _parse(report)
    assert m["what"] == "grad_input" and m["when"] == "with the default options"
    assert m["shapes"] == "input 4×5, target 4"
    # mean (N·C), sum, none, mean over (N, C, H, W): the bug shows only in the means
    assert [c.passed for c in report.cases] == [False, True, True, False]
    # a class weight is a feature of its own, named when a case uses it
    described = [c.description for c in check_op("cross_entropy", forward).cases]
    assert "when weight is given (input 4×5, target 4, weight 5)" in described


def test_relu_derivative_at_the_wrong_threshold():
    report = check_op("relu", lambda x: np.maximum(x, 0), lambda g, x: g * (x > 0.5))
    assert _parse(report)["what"] == "grad_x"
    assert check_op("relu", lambda x: np.maximum(x, 0), lambda g, x: g * (x > 0)).passed


def test_forward_only_and_dtype():
    assert check_op("tanh", np.tanh).passed
    report = check_op("tanh", lambda x: np.tanh(x).astype(np.float32))
    assert "forward is wrong" in report.first_failure or "dtype float32" in report.first_failure


def test_backward_returning_too_few_gradients():
    report = check_op("linear", cnnmath.linear, lambda g, x, w: g @ w)
    assert report.first_failure.startswith("grad_x is wrong") or "returned" in report.first_failure
    report = check_op("linear", cnnmath.linear, lambda g, x, w: (g @ w,))
    assert report.first_failure.startswith("backward returned 1 gradient(s) with the default")


# -- error inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (
            lambda: check_op("conv3d", np.sin),
            ValueError,
            r"check_op: name: expected one of avg_pool2d",
        ),
        (
            lambda: check_op("relu", 3),
            TypeError,
            r"check_op: forward: expected a function, got int",
        ),
        (
            lambda: check_op("relu", np.sin, 3),
            TypeError,
            r"check_op: backward: expected a function or None",
        ),
        (lambda: check_op("relu", np.sin, rtol=0), ValueError, r"check_op: rtol"),
        (
            lambda: check_op("conv2d", np.sin, options=("stride", "bogus")),
            ValueError,
            r"check_op: options: expected names among dilation, groups, padding, stride, got \['bogus'\]",
        ),
        (
            lambda: check_module("net", np.zeros(2)),
            TypeError,
            r"check_module: module: expected a cnnmath",
        ),
        (lambda: check_module(nn.ReLU(), np.zeros(2, int)), TypeError, r"check_module: x"),
        (lambda: check_module(nn.ReLU(), np.zeros(2), max_elements=0), ValueError, r"max_elements"),
    ],
)
def test_error_inputs(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_op_names_cover_the_main_ops():
    names = op_names()
    for name in (
        "conv2d",
        "conv_transpose2d",
        "max_pool2d",
        "avg_pool2d",
        "batch_norm",
        "linear",
        "relu",
        "gelu",
        "softmax",
        "cross_entropy",
    ):
        assert name in names


# -- check_module ----------------------------------------------------------------------------
def test_check_module_passes_a_real_network_and_leaves_it_unchanged():
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, rng=0),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(12, 2, rng=1),
    )
    before = {k: v.copy() for k, v in net.state_dict().items()}
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 4)).astype(np.float32)
    report = check_module(net, x)
    assert report.passed, report.first_failure
    assert [c.description for c in report.cases] == ["the input"] + [
        n for n, _ in net.named_parameters()
    ]
    # the convolution's bias feeds a training-mode BatchNorm, which subtracts it right away
    notes = [c.description for c in report.cases if c.note]
    assert notes == ["0.bias"] and "0.bias is zero" in str(report)
    after = net.state_dict()
    assert all(after[k].dtype == before[k].dtype for k in before)  # float32 stays float32
    assert all(np.array_equal(before[k], after[k]) for k in before)  # running stats too


class _ScaleBias(nn.Module):
    """y = a·x + c, hand-written, with a switchable bug in its backward."""

    def __init__(self, bug=None):
        super().__init__()
        self.a = nn.Parameter(np.array([1.5]))
        self.c = nn.Parameter(np.array([0.25, -0.5, 1.0]))
        self.bug = bug

    def forward(self, x):
        self._x = x
        return self.a.data[0] * x + self.c.data[None, :, None, None]

    def backward(self, grad_output):
        da = np.sum(grad_output * self._x)
        self.a.grad += 2 * da if self.bug == "a" else da
        self.c.grad += grad_output.sum(axis=(0, 2, 3))
        return self.a.data[0] * grad_output


def test_check_module_names_the_wrong_parameter():
    x = np.random.default_rng(1).standard_normal((2, 3, 2, 2))
    assert check_module(_ScaleBias(), x).passed
    report = check_module(_ScaleBias(bug="a"), x)
    assert [c.passed for c in report.cases] == [True, False, True]
    assert re.match(
        r"grad of a is wrong: largest error \S+ at \[0\] \(backward \S+, finite differences \S+\)$",
        report.first_failure,
    ), report.first_failure


class _BlindNorm(nn.Module):
    """Batch norm over (B, C, H, W) without affine parameters, whose backward returns zeros:
    right only for the all-ones upstream gradient, against which every check is blind."""

    def forward(self, x):
        return cnnmath.batch_norm(x, None, None, training=True)

    def backward(self, grad_output):
        return np.zeros_like(grad_output)


def test_check_module_uses_a_non_uniform_upstream_gradient():
    x = np.random.default_rng(2).standard_normal((3, 2, 2, 2))
    # with G = 1 the true gradient is zero: the zero backward would agree
    ones_grad = cnnmath.batch_norm_backward(np.ones_like(x), x, None, None, training=True)[0]
    assert np.abs(ones_grad).max() < 1e-12
    report = check_module(_BlindNorm(), x)
    assert report.first_failure.startswith("grad of the input is wrong: largest error")


def test_check_module_notes_a_zero_gradient_and_refuses_dropout():
    unused = nn.Sequential(nn.Linear(3, 2, rng=0), nn.ReLU())
    x = -np.ones((2, 3)) * 50  # every ReLU input negative: every gradient is zero
    unused[0].bias.data[...] = -1.0
    unused[0].weight.data[...] = np.abs(unused[0].weight.data)
    report = check_module(unused, x)
    assert report.passed and "cannot see an error" in str(report)

    with pytest.raises(
        ValueError, match=r"check_module: module: its forward gives different outputs"
    ):
        check_module(nn.Sequential(nn.Dropout(0.5)), np.ones((4, 8)))


def test_check_module_max_elements_samples_a_subset():
    net = nn.Sequential(nn.Linear(20, 10, rng=0))
    x = np.random.default_rng(3).standard_normal((2, 20))
    assert check_module(net, x, max_elements=5).passed
    report = check_module(_ScaleBias(bug="a"), np.ones((1, 3, 1, 1)), max_elements=1)
    assert not report.passed and report.failures[0].description == "a"


# -- docs/autograder.md: its examples run and print what the page shows ----------------------
DOC = Path(__file__).resolve().parent.parent / "docs" / "autograder.md"


def _run_doc(text):
    """Run the page's python blocks in one namespace; return (namespace, [(printed, shown)])
    pairing what the blocks printed since the last text block with that text block."""
    namespace, pairs, printed = {}, [], ""
    for lang, body in re.findall(r"```(python|text)\n(.*?)```", text, re.S):
        if lang == "python":
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(body, namespace)
            printed += buffer.getvalue()
        else:
            pairs.append((printed, body))
            printed = ""
    return namespace, pairs


def test_autograder_page_prints_what_it_shows():
    text = DOC.read_text(encoding="utf-8")
    namespace, pairs = _run_doc(text)
    assert len(pairs) == 5
    for printed, shown in pairs:
        assert printed == shown
    assert "grad_x is wrong with the default options" in pairs[0][1]
    assert "grad_w is wrong when stride = 2 and padding = 1" in pairs[2][1]


def test_autograder_page_claims():
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(blocks[0], namespace)  # the unflipped kernel: grad_w and grad_b agreed
    report = check_op(
        "conv2d", namespace["conv_forward"], namespace["conv_backward"], options=["padding"]
    )
    first = report.cases[0].errors
    assert first["forward"] < 1e-12 and first["grad_w"] < 1e-12 and first["grad_b"] < 1e-12
    assert first["grad_x"] > 0.5

    buggy = "xp[:, :, a : a + h, d : d + w]  # BUG: stride"
    assert buggy in blocks[2]
    fixed = blocks[2].replace(buggy, "xp[:, :, rows, cols]").replace("print(", "result = (")
    namespace = {"np": np, "check_op": check_op}
    exec(fixed, namespace)
    assert namespace["result"].passed and len(namespace["result"].cases) == 4  # "passes all four"
    # without options, dilation and groups fail with the TypeError the forward raises
    report = check_op("conv2d", namespace["conv_forward"], namespace["conv_backward"])
    for case in report.cases:
        uses = "dilation" in case.description or "groups" in case.description
        assert case.passed != uses, case.description
        if uses:
            assert case.failure.startswith("forward raised TypeError")
