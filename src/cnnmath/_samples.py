"""The sample table of :mod:`cnnmath.testing`: for each op a few small float64 cases, each
varying one or two options from PyTorch's defaults, and what answers them — cnnmath's op and
backward, the literal reference (:mod:`cnnmath.reference`), and the forward that finite
differences differentiate.

An op's record (:class:`OpSpec`) says how a user's functions are called:

    forward(*arrays, **options)                 the arrays positionally (x, weight, bias, …),
                                                the options by keyword, torch's names
    backward(grad_output, *arrays', **options') the arrays and options cnnmath's
                                                ``*_backward`` takes

Options are passed only when a case sets them (plus the ones an op needs, such as
``kernel_size`` or ``dim``), so an implementation without, say, ``dilation`` fails only the
cases that use it. Inputs are drawn from a seeded generator; pooling inputs are distinct
values 1/n apart, so no window has a tie that finite differences would straddle, and
activation inputs stay 0.05 or more from every kink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import losses, ops, reference

Array = np.ndarray


@dataclass(frozen=True)
class Sample:
    """One case: the arrays (``None`` for an absent bias or weight) and the options."""

    arrays: tuple[Array | None, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpSpec:
    """How to run, answer and describe one op (see the module docstring).

    ``arrays`` names the forward's positional arrays; ``grads`` pairs each gradient the
    backward returns, in order, with the index of its array (``None``: the array is not
    differentiated, e.g. class targets); ``backward_arrays`` are the indices of the arrays
    the backward takes after ``grad_output``; ``backward_options`` the option names it takes;
    ``mutated`` the arrays a forward updates in place (batch norm's running statistics);
    ``required`` the options passed even when a case leaves them at their default;
    ``optional`` the arrays whose absence is the default (None), so a case that gives one
    says so (cross_entropy's class ``weight``), rather than a case that leaves one out.
    """

    name: str
    arrays: tuple[str, ...]
    grads: tuple[tuple[str, int], ...]
    backward_arrays: tuple[int, ...]
    backward_options: tuple[str, ...]
    op: Callable[..., Any]
    op_backward: Callable[..., Any]
    literal: Callable[..., Any]
    samples: Callable[[], list[Sample]]
    mutated: tuple[int, ...] = ()
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Values k/n in a random order: no two within 1/n, so no ties inside a pooling window."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n / 2) / n * 4.0


# -- convolutions --------------------------------------------------------------------------
_CONV_OPTIONS = ("stride", "padding", "dilation", "groups")


def _conv_samples() -> list[Sample]:
    rng = _rng("conv2d")
    table: list[tuple[tuple[int, ...], tuple[int, ...], bool, dict[str, Any]]] = [
        # x shape, weight shape (C_out, C_in/G, f1, f2), bias, options
        ((2, 3, 6, 6), (4, 3, 3, 3), True, {}),
        ((2, 3, 7, 7), (4, 3, 3, 3), True, {"stride": 2, "padding": 1}),
        ((1, 2, 7, 7), (3, 2, 3, 3), True, {"padding": 2, "dilation": 2}),
        ((2, 4, 5, 5), (6, 2, 3, 3), True, {"groups": 2}),
        ((2, 3, 6, 5), (2, 3, 2, 3), True, {"stride": (2, 1), "padding": (1, 0)}),
        ((1, 3, 5, 5), (2, 3, 3, 3), False, {"padding": "same"}),
        ((2, 4, 6, 6), (4, 1, 3, 3), True, {"stride": 2, "groups": 4}),
    ]
    return [
        Sample(
            (
                rng.standard_normal(xs),
                rng.standard_normal(ws),
                rng.standard_normal(ws[0]) if bias else None,
            ),
            options,
        )
        for xs, ws, bias, options in table
    ]


def _conv_transpose_samples() -> list[Sample]:
    rng = _rng("conv_transpose2d")
    table: list[tuple[tuple[int, ...], tuple[int, ...], bool, dict[str, Any]]] = [
        # x shape, weight shape (C_in, C_out/G, f1, f2), bias, options
        ((2, 3, 4, 4), (3, 2, 3, 3), True, {}),
        ((2, 3, 4, 4), (3, 2, 3, 3), True, {"stride": 2}),
        ((1, 3, 4, 4), (3, 2, 3, 3), True, {"stride": 2, "padding": 1, "output_padding": 1}),
        ((2, 4, 3, 3), (4, 2, 3, 3), True, {"groups": 2}),
        ((1, 2, 4, 4), (2, 3, 2, 2), False, {"dilation": 2}),
    ]
    return [
        Sample(
            (
                rng.standard_normal(xs),
                rng.standard_normal(ws),
                rng.standard_normal(ws[1] * options.get("groups", 1)) if bias else None,
            ),
            options,
        )
        for xs, ws, bias, options in table
    ]


# -- pooling -------------------------------------------------------------------------------
def _max_pool_samples() -> list[Sample]:
    rng = _rng("max_pool2d")
    table: list[tuple[tuple[int, ...], dict[str, Any]]] = [
        ((2, 2, 6, 6), {"kernel_size": 2}),
        ((2, 2, 7, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
        ((1, 2, 7, 7), {"kernel_size": 3, "stride": 1, "dilation": 2}),
        ((1, 2, 6, 6), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
        ((2, 1, 5, 7), {"kernel_size": (2, 3), "stride": (1, 2)}),
        ((1, 2, 7, 7), {"kernel_size": 3, "stride": 2}),  # a stride alone, ≠ kernel_size
    ]
    return [Sample((_distinct(rng, xs),), options) for xs, options in table]


def _avg_pool_samples() -> list[Sample]:
    rng = _rng("avg_pool2d")
    table: list[tuple[tuple[int, ...], dict[str, Any]]] = [
        ((2, 2, 6, 6), {"kernel_size": 2}),
        ((2, 2, 7, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
        ((1, 2, 7, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
        ((1, 2, 6, 6), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
        ((2, 1, 5, 7), {"kernel_size": (2, 3), "stride": (1, 2), "divisor_override": 4}),
    ]
    return [Sample((rng.standard_normal(xs),), options) for xs, options in table]


# -- batch norm, linear --------------------------------------------------------------------
def _batch_norm_samples() -> list[Sample]:
    rng = _rng("batch_norm")

    def arrays(shape: tuple[int, ...], affine: bool = True) -> tuple[Array | None, ...]:
        c = shape[1]
        return (
            rng.standard_normal(shape) * 2 + 1,
            rng.standard_normal(c) * 0.1,
            rng.uniform(0.5, 2.0, c),
            rng.uniform(0.5, 1.5, c) if affine else None,
            rng.standard_normal(c) if affine else None,
        )

    return [
        Sample(arrays((4, 3, 3, 3)), {"training": True}),
        Sample(arrays((4, 3, 3, 3)), {"training": False}),
        Sample(arrays((5, 2, 2, 3), affine=False), {"training": True}),
        Sample(arrays((6, 4)), {"training": True, "momentum": 0.3, "eps": 1e-3}),
    ]


def _linear_samples() -> list[Sample]:
    rng = _rng("linear")
    table = [((4, 5), 3, True), ((4, 5), 3, False), ((2, 3, 5), 2, True)]
    return [
        Sample(
            (
                rng.standard_normal(xs),
                rng.standard_normal((out, xs[-1])),
                rng.standard_normal(out) if bias else None,
            )
        )
        for xs, out, bias in table
    ]


# -- softmax and cross-entropy ---------------------------------------------------------------
def _softmax_samples() -> list[Sample]:
    rng = _rng("softmax")
    return [
        Sample((rng.standard_normal((3, 5)) * 2,), {"dim": 1}),
        Sample((rng.standard_normal((3, 5)) * 2,), {"dim": 0}),
        Sample((rng.standard_normal((2, 3, 4)) * 2,), {"dim": -1}),
    ]


def _cross_entropy_samples() -> list[Sample]:
    rng = _rng("cross_entropy")

    def case(shape: tuple[int, ...], **options: Any) -> Sample:
        c = shape[1]
        target = rng.integers(0, c, (shape[0], *shape[2:]))
        if "ignore_index" in options:
            target.flat[0] = options["ignore_index"]
        weight = options.pop("weight", None)
        return Sample((rng.standard_normal(shape) * 2, target, weight), options)

    return [
        case((4, 5)),
        case((4, 5), reduction="sum"),
        case((4, 5), reduction="none"),
        case((4, 5), weight=rng.uniform(0.5, 2.0, 5)),
        case((4, 5), label_smoothing=0.1),
        case((4, 5), ignore_index=2),
        case((2, 3, 2, 2)),
    ]


def _cross_entropy_loss(logits: Array, target: Array, weight: Array | None = None, **kw: Any):
    return losses.cross_entropy(logits, target, weight, **kw)[0]


def _cross_entropy_backward(
    grad_output: Any, logits: Array, target: Array, weight: Array | None = None, **kw: Any
) -> Array:
    """G·∂loss/∂logits; for reduction="none", each position's G times its loss's gradient
    (cnnmath's gradient of the summed losses, row by row)."""
    _, grad = losses.cross_entropy(logits, target, weight, **kw)
    g = np.asarray(grad_output, dtype=grad.dtype)
    if kw.get("reduction", "mean") == "none":
        return grad * np.expand_dims(g, 1 if logits.ndim > 1 else 0)
    return grad * g


def _literal_cross_entropy(logits: Array, target: Array, weight: Array | None = None, **kw: Any):
    return reference.cross_entropy(logits, target, weight, **kw)[0]


# -- activations ---------------------------------------------------------------------------
def _activation_samples() -> list[Sample]:
    """Values −7.05 + 0.3k (k = 0 … 47), a little noise, shuffled: every value is 0.04 or
    more from the kinks at 0, ±1, ±3 and 6 (relu, hardtanh, hardsigmoid, hardswish, relu6)."""
    rng = _rng("activations")
    base = -7.05 + 0.3 * np.arange(48) + rng.uniform(-0.01, 0.01, 48)
    return [
        Sample((rng.permutation(base).reshape(2, 3, 4, 2),)),
        Sample((rng.permutation(base)[:7],)),
    ]


def _activation_spec(name: str) -> OpSpec:
    act = ops.get_activation(name)
    literal_f = getattr(reference.activations, name)
    return OpSpec(
        name=name,
        arrays=("x",),
        grads=(("grad_x", 0),),
        backward_arrays=(0,),
        backward_options=(),
        op=act.f,
        op_backward=lambda g, x: g * act.df(x),
        literal=literal_f,
        samples=_activation_samples,
    )


# -- the table -----------------------------------------------------------------------------
SPECS: dict[str, OpSpec] = {
    "conv2d": OpSpec(
        name="conv2d",
        arrays=("x", "weight", "bias"),
        grads=(("grad_x", 0), ("grad_w", 1), ("grad_b", 2)),
        backward_arrays=(0, 1),
        backward_options=_CONV_OPTIONS,
        op=ops.conv2d,
        op_backward=ops.conv2d_backward,
        literal=reference.conv2d,
        samples=_conv_samples,
    ),
    "conv_transpose2d": OpSpec(
        name="conv_transpose2d",
        arrays=("x", "weight", "bias"),
        grads=(("grad_x", 0), ("grad_w", 1), ("grad_b", 2)),
        backward_arrays=(0, 1),
        backward_options=(*_CONV_OPTIONS, "output_padding"),
        op=ops.conv_transpose2d,
        op_backward=ops.conv_transpose2d_backward,
        literal=reference.conv_transpose2d,
        samples=_conv_transpose_samples,
    ),
    "max_pool2d": OpSpec(
        name="max_pool2d",
        arrays=("x",),
        grads=(("grad_x", 0),),
        backward_arrays=(0,),
        backward_options=("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
        op=ops.max_pool2d,
        op_backward=ops.max_pool2d_backward,
        literal=reference.max_pool2d,
        samples=_max_pool_samples,
        required=("kernel_size",),
    ),
    "avg_pool2d": OpSpec(
        name="avg_pool2d",
        arrays=("x",),
        grads=(("grad_x", 0),),
        backward_arrays=(0,),
        backward_options=(
            "kernel_size",
            "stride",
            "padding",
            "ceil_mode",
            "count_include_pad",
            "divisor_override",
        ),
        op=ops.avg_pool2d,
        op_backward=ops.avg_pool2d_backward,
        literal=reference.avg_pool2d,
        samples=_avg_pool_samples,
        required=("kernel_size",),
    ),
    "batch_norm": OpSpec(
        name="batch_norm",
        arrays=("x", "running_mean", "running_var", "weight", "bias"),
        grads=(("grad_x", 0), ("grad_w", 3), ("grad_b", 4)),
        backward_arrays=(0, 1, 2, 3),
        backward_options=("training", "eps"),
        op=ops.batch_norm,
        op_backward=ops.batch_norm_backward,
        literal=reference.batch_norm,
        samples=_batch_norm_samples,
        mutated=(1, 2),
        required=("training",),
    ),
    "linear": OpSpec(
        name="linear",
        arrays=("x", "weight", "bias"),
        grads=(("grad_x", 0), ("grad_w", 1), ("grad_b", 2)),
        backward_arrays=(0, 1),
        backward_options=(),
        op=ops.linear,
        op_backward=ops.linear_backward,
        literal=reference.linear,
        samples=_linear_samples,
    ),
    "softmax": OpSpec(
        name="softmax",
        arrays=("x",),
        grads=(("grad_x", 0),),
        backward_arrays=(0,),
        backward_options=("dim",),
        op=ops.softmax,
        op_backward=ops.softmax_backward,
        literal=reference.softmax,
        samples=_softmax_samples,
        required=("dim",),
    ),
    "log_softmax": OpSpec(
        name="log_softmax",
        arrays=("x",),
        grads=(("grad_x", 0),),
        backward_arrays=(0,),
        backward_options=("dim",),
        op=ops.log_softmax,
        op_backward=ops.log_softmax_backward,
        literal=reference.log_softmax,
        samples=_softmax_samples,
        required=("dim",),
    ),
    "cross_entropy": OpSpec(
        name="cross_entropy",
        arrays=("input", "target", "weight"),
        grads=(("grad_input", 0),),
        backward_arrays=(0, 1, 2),
        backward_options=("ignore_index", "reduction", "label_smoothing"),
        op=_cross_entropy_loss,
        op_backward=_cross_entropy_backward,
        literal=_literal_cross_entropy,
        samples=_cross_entropy_samples,
        optional=("weight",),
    ),
}
for _name, _act in sorted(ops.ACTIVATIONS.items()):
    if _act.differentiable:
        SPECS[_name] = _activation_spec(_name)
