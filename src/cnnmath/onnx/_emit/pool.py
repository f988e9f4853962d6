"""Pooling and unpooling: MaxPool (with its Indices for ``return_indices``), AveragePool,
LpPool (or the power-average pooling's composition), the global poolings and the adaptive ones
as tiling windows, over one, two or three spatial axes; MaxUnpool reading a MaxPool's Indices,
rebased to its own output plane."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import nn
from ...ops.pool.unpool import _ints
from ._writer import _INT64_MAX, _pair, _Writer
from .pad import _pads


def _max_pool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """MaxPool; with ``return_indices`` its two outputs, Y and Indices. ONNX flattens the
    indices over the whole (N, C, H, W) input, (n·C + c)·H·W + p, PyTorch and cnnmath over
    each (H, W) plane, p: the file's Indices value ("<indices>/whole") holds ONNX's, which
    the MaxUnpool nodes written for ``MaxUnpool2d`` read (rebased to their own plane), and
    the indices as cnnmath has them, Mod(I, H·W), are written under their own name where a
    graph output or another node reads them (``_Writer.plane_value``)."""
    m = node.module
    assert isinstance(m, nn.MaxPool2d)
    window = {
        "kernel_shape": _pair(m.kernel_size),
        "strides": _pair(m.stride),
        "pads": _pads(m.padding),
        "dilations": _pair(m.dilation),
        "ceil_mode": int(m.ceil_mode),
    }
    _max_pool_outputs(w, node, window)


def _max_pool_outputs(w: _Writer, node: nn.Node, window: dict[str, Any]) -> None:
    """MaxPool with ``window``'s attributes, and its Indices ("<indices>/whole", ONNX's
    whole-tensor flattening) where the layer returns them (``return_indices`` of any rank,
    an adaptive max pooling's too): registered for ``_Writer.plane_value`` and the
    MaxUnpool nodes, with the pool's number of spatial axes."""
    wholes = [f"{indices}/whole" for indices in node.extra_outputs]
    made = w.onnx.helper.make_node(
        "MaxPool", [node.inputs[0]], [node.output, *wholes], name=node.name, **window
    )
    w.nodes.append(made)
    for indices, whole in zip(node.extra_outputs, wholes):
        w.plane_indices[indices] = (whole, node.inputs[0])
        w.plane_ranks[indices] = len(window["kernel_shape"])


_UNPOOLS = (nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d)


def _unpool_pads(node: nn.Node, m: Any, h: tuple, out: tuple) -> list[int]:
    """MaxUnpool's pads [top, left, bottom, right]: the layer's, except where ``output_size``
    is below the default size n_d = (h − 1)·s − 2p + k by d (PyTorch takes any size within
    a stride of it). onnxruntime reads pads only to check that output_shape holds at least
    as many elements as (h − 1)·s − (p_begin + p_end) + k gives, each pad < k: the d rows
    go to the end pad (past k − 1, to the begin pad); refused, naming the node, when pads of
    at most k − 1 cannot pass that check."""
    begin, end, inferred = [], [], []
    r = len(m.kernel_size)
    for n, s, k, p, size in zip(h, m.stride, m.kernel_size, m.padding, out[-r:]):
        total = min(2 * (k - 1), 2 * p + max(0, (n - 1) * s - 2 * p + k - size))
        after = min(k - 1, max(p, total - p))
        begin.append(total - after)
        end.append(after)
        inferred.append((n - 1) * s - total + k)
    if min(inferred) >= 0 and math.prod(inferred) > math.prod(out[-r:]):
        raise ValueError(
            f"save: model: node {node.name!r} ({type(m).__name__}): output_size "
            f"{tuple(out[-r:])} has "
            f"no ONNX form: ONNX's MaxUnpool reaches sizes below the default (kernel "
            f"{m.kernel_size}, stride {m.stride} on input {tuple(h)}) only through pads, each "
            f"smaller than the kernel, and onnxruntime wants at least as many elements as "
            f"those give, {tuple(inferred)}"
        )
    return begin + end


def _unpool_plane(w: _Writer, node: nn.Node, out: tuple, size_hw: str | None) -> str:
    """H·W of the MaxUnpool's output plane as an int64 scalar: a constant where the sizes are
    fixed, else the product of ``size_hw`` (output_size's (H, W)) or of
    (h − 1)·s − 2p + k per axis from X's run-time shape."""
    m = node.module
    assert isinstance(m, _UNPOOLS)
    base, r = node.name, len(m.kernel_size)
    if w.fixed_planes:
        return w.const(f"{base}/plane_size", math.prod(out[-r:]), np.int64)
    if size_hw is None:
        x_shape = w.node("Shape", [node.inputs[0]], f"{base}/x_shape", f"{base}/x_shape")
        start = w.const(f"{base}/x_start", [-r], np.int64)
        stop = w.const(f"{base}/x_end", [_INT64_MAX], np.int64)
        hw = w.node("Slice", [x_shape, start, stop], f"{base}/x_hw", f"{base}/x_hw")
        one = w.const(f"{base}/one", [1] * r, np.int64)
        stride = w.const(f"{base}/stride", list(m.stride), np.int64)
        extra = [k - 2 * p for k, p in zip(m.kernel_size, m.padding)]
        tail = w.const(f"{base}/kernel_less_pads", extra, np.int64)
        less = w.node("Sub", [hw, one], f"{base}/x_hw_less_one", f"{base}/sub")
        times = w.node("Mul", [less, stride], f"{base}/strided", f"{base}/mul_stride")
        size_hw = w.node("Add", [times, tail], f"{base}/out_hw", f"{base}/add_kernel")
    return w.node("ReduceProd", [size_hw], f"{base}/plane_size", f"{base}/prod", keepdims=0)


def _max_unpool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """MaxUnpool(X, I', output_shape) with the layer's kernel_shape and strides. I is the
    Indices of a MaxPool written for ``MaxPool2d(return_indices=True)`` (ONNX's flattening
    over the pool's input, (n·C + c)·HW_in + p), and MaxUnpool writes Y.flat[I'] over its own
    output, so the index is rebased to the output's plane where the two planes differ:
    I' = (I mod HW_in) + (I div HW_in)·HW_out. output_shape, for a third input, is
    Concat(Shape(X)[:2], its (H, W)): of Shape of a float tensor (whose last two sizes the
    layer takes) or of the integer sizes; ``_unpool_pads`` gives the pads."""
    m = node.module
    assert isinstance(m, _UNPOOLS)
    indices, kind, r = node.inputs[1], type(m).__name__, len(m.kernel_size)
    if w.plane_ranks.get(indices) != r:
        raise ValueError(
            f"save: model: node {node.name!r} ({kind}) reads indices {indices!r} that no "
            f"max pooling of {r} spatial axes (return_indices=True) of the model writes; ONNX's "
            "MaxUnpool reads a MaxPool's Indices (flattened over the whole tensor), which only "
            "those give"
        )
    if any(p >= k for p, k in zip(m.padding, m.kernel_size)):
        raise ValueError(
            f"save: model: node {node.name!r} ({kind}): padding {m.padding} has no ONNX "
            f"form; expected each pad smaller than the kernel {m.kernel_size} (onnxruntime's "
            "MaxUnpool refuses larger pads)"
        )
    whole, pooled = w.plane_indices[indices]
    base = node.name
    size_hw = None  # the output's (H, W) as a 1-D int64 value, when output_size is given
    if len(node.inputs) > 2:
        size = node.inputs[2]
        given = shapes[2]
        if len(given) == 1 and given[0] in (r, r + 2):  # integer (H, W) or (N, C, H, W)
            start = w.const(f"{base}/size_start", [given[0] - r], np.int64)
            stop = w.const(f"{base}/size_end", [given[0]], np.int64)
            size_hw = w.node("Slice", [size, start, stop], f"{base}/size_hw", f"{base}/size_hw")
        elif len(given) >= max(r, 2) and w.dtypes.get(size, np.dtype(np.int64)).kind == "f":
            shape = w.node("Shape", [size], f"{base}/size_shape", f"{base}/size_shape")
            start = w.const(f"{base}/size_start", [-r], np.int64)
            stop = w.const(f"{base}/size_end", [_INT64_MAX], np.int64)
            size_hw = w.node("Slice", [shape, start, stop], f"{base}/size_hw", f"{base}/size_hw")
        else:
            raise ValueError(
                f"save: model: node {node.name!r} ({kind}): output_size {size!r} of shape "
                f"{given} has no ONNX form; expected a float tensor whose shape ends in the "
                f"{r} output sizes or the integer sizes, {r} or {r + 2} of them"
            )
    inputs = [node.inputs[0], whole]
    if w.shapes[pooled][-r:] != tuple(out[-r:]) or not w.fixed_planes:  # rebase the index
        hw_in = w.plane_size(pooled, f"{base}/pool_plane", r)
        hw_out = _unpool_plane(w, node, out, size_hw)
        plane = w.node("Div", [whole, hw_in], f"{base}/index_plane", f"{base}/div")
        at = w.node("Mod", [whole, hw_in], f"{base}/index_in_plane", f"{base}/mod")
        start_of = w.node("Mul", [plane, hw_out], f"{base}/plane_start", f"{base}/mul")
        inputs[1] = w.node("Add", [start_of, at], f"{base}/indices", f"{base}/add")
    pads = list(m.padding) * 2
    if size_hw is not None:
        nc_start = w.const(f"{base}/nc_start", [0], np.int64)
        nc_end = w.const(f"{base}/nc_end", [2], np.int64)
        x_shape = w.node("Shape", [node.inputs[0]], f"{base}/input_shape", f"{base}/input_shape")
        nc = w.node("Slice", [x_shape, nc_start, nc_end], f"{base}/nc", f"{base}/nc")
        inputs.append(
            w.node("Concat", [nc, size_hw], f"{base}/output_shape", f"{base}/output_shape", axis=0)
        )
        pads = _unpool_pads(node, m, shapes[0][-r:], out)
    w.node(
        "MaxUnpool",
        inputs,
        node.output,
        node.name,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=pads,
    )


def _avg_pool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.AvgPool2d)
    k1, k2 = _pair(m.kernel_size)
    divisor = m.divisor_override
    if divisor is not None and m.ceil_mode:
        raise ValueError(
            f"save: model: node {node.name!r} (AvgPool2d): divisor_override with ceil_mode has "
            "no ONNX form (AveragePool divides a clipped last window by its own size)"
        )
    attrs = {
        "kernel_shape": [k1, k2],
        "strides": _pair(m.stride),
        "pads": _pads(m.padding),
        "ceil_mode": int(m.ceil_mode),
        # a divisor override replaces the count: the plain k1·k2 mean rescaled below
        "count_include_pad": int(m.count_include_pad or divisor is not None),
    }
    if divisor is None:
        w.node("AveragePool", [node.inputs[0]], node.output, node.name, **attrs)
        return
    mean = w.node(
        "AveragePool", [node.inputs[0]], f"{node.name}/mean", f"{node.name}/pool", **attrs
    )
    factor = w.const(f"{node.name}/rescale", (k1 * k2) / divisor)
    w.node("Mul", [mean, factor], node.output, node.name)


def _adaptive_pool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))
    is_max = isinstance(m, nn.AdaptiveMaxPool2d)
    H, W = shapes[0][-2:]
    h, w_out = out[-2:]
    if (h, w_out) == (1, 1) and not m.return_indices:
        op = "GlobalMaxPool" if is_max else "GlobalAveragePool"
        w.node(op, [node.inputs[0]], node.output, node.name)
        return
    if H % h or W % w_out:
        raise ValueError(
            f"save: model: node {node.name!r} ({type(m).__name__}({m.output_size!r})) on a "
            f"{H}×{W} input has cells of unequal sizes, which no ONNX pooling window gives; "
            "export with an input whose size the output size divides"
        )
    window = [H // h, W // w_out]
    if m.return_indices:  # its Indices: a MaxPool's over the tiling windows
        _max_pool_outputs(w, node, {"kernel_shape": window, "strides": window})
        return
    op = "MaxPool" if is_max else "AveragePool"
    w.node(op, [node.inputs[0]], node.output, node.name, kernel_shape=window, strides=window)


def _pool1d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, (nn.MaxPool1d, nn.AvgPool1d))
    attrs: dict[str, Any] = {
        "kernel_shape": [m.kernel_size],
        "strides": [m.stride],
        "pads": [m.padding, m.padding],
        "ceil_mode": int(m.ceil_mode),
    }
    if isinstance(m, nn.MaxPool1d):
        _max_pool_outputs(w, node, {**attrs, "dilations": [m.dilation]})
        return
    attrs["count_include_pad"] = int(m.count_include_pad)
    w.node("AveragePool", [node.inputs[0]], node.output, node.name, **attrs)


def _triple(v: Any) -> list[int]:
    return list(v) if isinstance(v, tuple) else [int(v)] * 3


def _pool3d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """MaxPool3d / AvgPool3d: MaxPool / AveragePool with three spatial axes (a divisor
    override as the plain mean rescaled, as for AvgPool2d)."""
    m = node.module
    assert isinstance(m, (nn.MaxPool3d, nn.AvgPool3d))
    kernel = _triple(m.kernel_size)
    attrs: dict[str, Any] = {
        "kernel_shape": kernel,
        "strides": _triple(m.stride),
        "pads": _triple(m.padding) * 2,
        "ceil_mode": int(m.ceil_mode),
    }
    if isinstance(m, nn.MaxPool3d):
        attrs["dilations"] = _triple(m.dilation)
        _max_pool_outputs(w, node, attrs)
        return
    divisor = m.divisor_override
    if divisor is not None and m.ceil_mode:
        raise ValueError(
            f"save: model: node {node.name!r} (AvgPool3d): divisor_override with ceil_mode has "
            "no ONNX form (AveragePool divides a clipped last window by its own size)"
        )
    attrs["count_include_pad"] = int(m.count_include_pad or divisor is not None)
    if divisor is None:
        w.node("AveragePool", [node.inputs[0]], node.output, node.name, **attrs)
        return
    mean = w.node(
        "AveragePool", [node.inputs[0]], f"{node.name}/mean", f"{node.name}/pool", **attrs
    )
    factor = w.const(f"{node.name}/rescale", float(np.prod(kernel)) / divisor)
    w.node("Mul", [mean, factor], node.output, node.name)


def _adaptive_pool3d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """AdaptiveAvgPool3d / AdaptiveMaxPool3d: a global pooling to 1×1×1, else a pooling
    whose windows tile the volume (the output sizes dividing the input's)."""
    m = node.module
    assert isinstance(m, (nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d))
    is_max = isinstance(m, nn.AdaptiveMaxPool3d)
    size, cells = shapes[0][-3:], out[-3:]
    if tuple(cells) == (1, 1, 1) and not m.return_indices:
        op = "GlobalMaxPool" if is_max else "GlobalAveragePool"
        w.node(op, [node.inputs[0]], node.output, node.name)
        return
    if any(n % c for n, c in zip(size, cells)):
        raise ValueError(
            f"save: model: node {node.name!r} ({type(m).__name__}({m.output_size!r})) on a "
            f"{'×'.join(map(str, size))} input has cells of unequal sizes, which no ONNX "
            "pooling window gives; export with an input whose size the output size divides"
        )
    window = [n // c for n, c in zip(size, cells)]
    if m.return_indices:  # its Indices: a MaxPool's over the tiling windows
        _max_pool_outputs(w, node, {"kernel_shape": window, "strides": window})
        return
    op = "MaxPool" if is_max else "AveragePool"
    w.node(op, [node.inputs[0]], node.output, node.name, kernel_shape=window, strides=window)


def _adaptive_pool1d(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d))
    is_max = isinstance(m, nn.AdaptiveMaxPool1d)
    L, n = shapes[0][-1], out[-1]
    if n == 1 and not m.return_indices:
        w.node(
            "GlobalMaxPool" if is_max else "GlobalAveragePool",
            [node.inputs[0]],
            node.output,
            node.name,
        )
        return
    if L % n:
        raise ValueError(
            f"save: model: node {node.name!r} ({type(m).__name__}({m.output_size})) on a "
            f"signal of length {L} has cells of unequal sizes, which no ONNX pooling window "
            "gives; export with an input whose length the output size divides"
        )
    if m.return_indices:  # its Indices: a MaxPool's over the tiling windows
        _max_pool_outputs(w, node, {"kernel_shape": [L // n], "strides": [L // n]})
        return
    op = "MaxPool" if is_max else "AveragePool"
    w.node(op, [node.inputs[0]], node.output, node.name, kernel_shape=[L // n], strides=[L // n])


def _lp_pool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """LPPool1d/2d/3d. LpPool sums |x|^p for an integer p, the layer x^p over the taps in x
    scaled by K/(its taps in x) (K = the window size: PyTorch's avg_pool of x^p times K), so
    LpPool is written where the two agree for every x: an even integer norm_type and no
    window that runs past x (``ceil_mode``). p = inf: Abs, then MaxPool. Otherwise PyTorch's
    own composition (what its exporter writes, less the sign(·)·relu(|·|) that only shapes
    its gradient): Pow(x, p), AveragePool without padding, Mul by K, Pow(·, 1/p) — any p > 0."""
    m = node.module
    assert isinstance(m, (nn.LPPool1d, nn.LPPool2d, nn.LPPool3d))
    func = f"save: model: node {node.name!r} ({type(m).__name__})"
    kernel = list(_ints("kernel_size", m.kernel_size, m._rank, minimum=1, func=func))
    strides = (
        kernel
        if m.stride is None
        else list(_ints("stride", m.stride, m._rank, minimum=1, func=func))
    )
    attrs: dict[str, Any] = {
        "kernel_shape": kernel,
        "strides": strides,
        "pads": [0] * 2 * len(kernel),
    }
    p = float(m.norm_type)
    x, name = node.inputs[0], node.name
    if p == math.inf:
        absolute = w.node("Abs", [x], f"{name}/abs", f"{name}/abs")
        w.node("MaxPool", [absolute], node.output, name, ceil_mode=int(m.ceil_mode), **attrs)
        return
    overhang = any(
        (o - 1) * s + k > size for o, s, k, size in zip(out[2:], strides, kernel, shapes[0][2:])
    )
    if p.is_integer() and p % 2 == 0 and not overhang:  # the same windows as floor mode
        w.node("LpPool", [x], node.output, name, p=int(p), **attrs)
        return
    powered = w.node("Pow", [x, w.constant(f"{name}/p", p)], f"{name}/pow", f"{name}/pow")
    mean = w.node(
        "AveragePool",
        [powered],
        f"{name}/mean",
        f"{name}/pool",
        ceil_mode=int(m.ceil_mode),
        count_include_pad=1,
        **attrs,
    )
    total = w.node(
        "Mul", [mean, w.constant(f"{name}/size", math.prod(kernel))], f"{name}/sum", f"{name}/sum"
    )
    w.node("Pow", [total, w.constant(f"{name}/root", 1 / p)], node.output, name)
