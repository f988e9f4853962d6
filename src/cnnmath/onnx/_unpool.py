"""ONNX's MaxPool with its Indices output read, and MaxUnpool: SegNet-style decoders.

ONNX flattens an index over the whole tensor, not over one (n, c) plane as PyTorch's
``return_indices`` and :class:`cnnmath.nn.MaxPool2d` do: for a pool input X of shape
(N, C, H, W), the element (n, c, u, v) has index

    storage_order 0 (row major):     ((n·C + c)·H + u)·W + v  = (n·C + c)·H·W + u·W + v
    storage_order 1 (column major):  (n·C + c)·H·W + u + v·H

(padding not counted; https://onnx.ai/onnx/operators/onnx__MaxPool.html). MaxUnpool reads
such indices: Y = 0 of the output shape except Y.flat[I] = X (row major over the whole
tensor), the output shape (N, C, (h − 1)·s − (p_begin + p_end) + k, …) unless the input
``output_shape`` gives it, of at least as many elements, as onnxruntime requires (it
compares the element counts, not each axis; the reference pads the inferred shape up to
it): PyTorch's smaller sizes, within a stride of it, are written with larger pads
(:func:`cnnmath.onnx.save`). Where ONNX's reference code and onnxruntime differ — with an
``output_shape``, the reference scatters into the inferred shape and then pads it —
cnnmath follows onnxruntime and PyTorch: the indices are positions in the output itself,
which is what a MaxPool of that shape wrote.

The ops here keep ONNX's flattening, so a loaded graph returns and reads the indices as the
file means them; :func:`cnnmath.onnx.save` writes them back as the nodes they were read as.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops
from ._ops import (
    Attrs,
    Built,
    Node,
    Operand,
    Ref,
    _generic,
    _guard,
    _Op,
    _plain,
    _rank,
    refuse,
)


def _plane_offsets(N: int, C: int, plane: int, rank: int = 2) -> np.ndarray:
    """(n·C + c)·plane for each (n, c), shaped (N, C, 1, …) with ``rank`` unit axes: where
    plane (n, c) starts."""
    return (np.arange(N * C, dtype=np.int64) * plane).reshape(N, C, *(1,) * rank)


class _MaxPoolIndices(_Op):
    """MaxPool whose Indices output is read: (Y, I), Y the max pooling of the window over 1,
    2 or 3 spatial axes (``ops.max_pool2d``, of the (N, C, 1, L) view for a signal, or
    ``ops.max_pool3d``; symmetric pads ≤ k // 2), I (int64, Y's shape) the chosen element's
    index in ONNX's flattening of X (module docstring; ``storage_order`` 0 or 1: the
    position within the plane read in row- or column-major order). Backward: each G to the
    chosen element (the ops' backward by the indices); I takes no gradient."""

    roles = ("X",)
    extra_outputs = ("indices",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], geo: dict[str, Any], storage_order: int
    ) -> None:
        super().__init__(node, operands)
        self.geo, self.storage_order = geo, storage_order
        self.rank = len(geo["kernel_size"])

    def _as_op(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """x as the op reads it (a signal as the image (N, C, 1, L)) and the op's window."""
        if self.rank != 1:
            return x, self.geo
        g = self.geo
        window = {
            "kernel_size": (1, *g["kernel_size"]),
            "stride": (1, *g["stride"]),
            "padding": (0, *g["padding"]),
            "dilation": (1, *g["dilation"]),
            "ceil_mode": g["ceil_mode"],
        }
        return x[:, :, None, :], window

    def compute(self, x: Any) -> tuple[Any, Any]:
        x = np.asarray(x)
        r = self.rank
        if x.ndim != r + 2:
            layout = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[r]
            raise refuse(
                self.onnx_node,
                f"input 'X': expected {layout} for a {r}-D kernel_shape, got shape {x.shape}",
            )
        xo, window = self._as_op(x)
        pool = ops.max_pool3d if r == 3 else ops.max_pool2d
        y, plane = pool(xo, **window, return_indices=True)
        if r == 1:
            y, plane = y[:, :, 0], plane[:, :, 0]
        spatial = x.shape[2:]
        plane_onnx = plane
        if self.storage_order and r > 1:  # column major within the plane
            at = np.unravel_index(plane, spatial)
            plane_onnx = np.ravel_multi_index(at, spatial, order="F").astype(np.int64)
        N, C = x.shape[:2]
        return (y, plane_onnx + _plane_offsets(N, C, math.prod(spatial), r)), plane

    def gradients(self, ctx: Any, args: list[Any], g: Any) -> list[Any]:
        G = g[0] if isinstance(g, tuple) else g
        x = np.asarray(args[0])
        if G is None:  # only the indices were read
            return [np.zeros_like(x)]
        if self.rank == 3:
            return [ops.max_pool3d_backward(G, x, **self.geo, indices=ctx)]
        if self.rank == 1:
            xo, window = self._as_op(x)
            grad = ops.max_pool2d_backward(G[:, :, None], xo, **window, indices=ctx[:, :, None])
            return [grad[:, :, 0]]
        return [ops.max_pool2d_backward(G, x, **self.geo, indices=ctx)]

    def extra_repr(self) -> str:
        """The op type and the window."""
        return f"onnx_op={self.onnx_op!r}, {self.geo}, storage_order={self.storage_order}"


def max_pool_indices(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """MaxPool of a signal, an image or a volume (1, 2 or 3 spatial axes, as ``kernel_shape``
    has sizes) with Indices read: ``_MaxPoolIndices``. Its window must be one the pooling
    ops compute (symmetric pads at most half the window, auto_pad NOTSET or VALID);
    otherwise refused, naming the attribute."""
    x = ins[0]
    kernel = attrs.ints("kernel_shape", None)
    if not kernel or len(kernel) > 3 or min(kernel) < 1:
        raise refuse(
            node,
            f"attribute 'kernel_shape': expected 1, 2 or 3 sizes >= 1 with the Indices output "
            f"read, got {kernel}",
        )
    n = len(kernel)
    rank = _rank(info, x)
    if rank is not None and rank != n + 2:
        raise refuse(
            node, f"input 'X': expected rank {n + 2} for kernel_shape {kernel}, got rank {rank}"
        )
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise refuse(
            node,
            f"attribute 'auto_pad': expected NOTSET or VALID with the Indices output read, "
            f"got {auto_pad!r}",
        )
    values = {}
    for name, default, low in (("strides", [1] * n, 1), ("dilations", [1] * n, 1)):
        value = attrs.ints(name, default) or default
        if len(value) != n or min(value) < low:
            raise refuse(node, f"attribute {name!r}: expected {n} values >= {low}, got {value}")
        values[name] = value
    pads = attrs.ints("pads", [0] * 2 * n) or [0] * 2 * n
    if auto_pad == "VALID":
        pads = [0] * 2 * n
    if (
        len(pads) != 2 * n
        or pads[:n] != pads[n:]
        or any(not 0 <= p <= k // 2 for p, k in zip(pads, kernel))
    ):
        raise refuse(
            node,
            "attribute 'pads': expected equal pads at both ends of each axis, at most half the "
            f"window {kernel}, with the Indices output read; got {pads}",
        )
    order = attrs.get("storage_order", 0)
    if order not in (0, 1):
        raise refuse(node, f"attribute 'storage_order': expected 0 or 1, got {order}")
    ceil = attrs.get("ceil_mode", 0)
    if not isinstance(x, Ref):
        raise refuse(node, "input 'X': expected a value computed at run time, got a constant")
    window = {
        "kernel_size": tuple(kernel),
        "stride": tuple(values["strides"]),
        "padding": tuple(pads[:n]),
        "dilation": tuple(values["dilations"]),
        "ceil_mode": bool(ceil),
    }
    return _MaxPoolIndices(node, [x], window, int(order)), [x.name]


class _MaxUnpool(_Op):
    """MaxUnpool: Y = 0 except Y.flat[I] = X (ONNX's flattening over the whole tensor; the
    later of two equal indices wins, as onnxruntime's loop), Y of ``output_shape`` or else
    (N, C, (h − 1)·s − (p_begin + p_end) + k, …) per spatial axis. X float (N, C, …), I an
    integer array of X's shape with 0 ≤ I < the size of Y. Backward: ∂ℓ/∂X = G.flat[I]
    (a gather); none for I and output_shape (integers)."""

    roles = ("X", "I", "output_shape")

    def __init__(
        self, node: Node, operands: Sequence[Operand], kernel: list[int], strides: list[int],
        pads: list[int],
    ) -> None:  # fmt: skip
        super().__init__(node, operands)
        self.kernel, self.strides, self.pads = kernel, strides, pads

    def _shape(self, x: np.ndarray, output_shape: Any) -> tuple[int, ...]:
        """Y's shape: ``output_shape``, or the one the attributes infer (whose element count
        is the least ``output_shape`` may give, as onnxruntime checks); refused before allocation
        (``_guard``) where it would not fit in memory."""
        k = len(self.kernel)
        inferred = list(x.shape[:2]) + [
            (n - 1) * s - (self.pads[i] + self.pads[i + k]) + f
            for i, (n, s, f) in enumerate(zip(x.shape[2:], self.strides, self.kernel))
        ]
        if output_shape is None:
            if min(inferred[2:]) < 1:
                raise refuse(
                    self.onnx_node,
                    f"attributes: expected an output of size >= 1, got {tuple(inferred)} from "
                    f"X of shape {x.shape}",
                )
            _guard(inferred, x.dtype.itemsize)
            return tuple(inferred)
        given = np.asarray(output_shape)
        if (
            not np.issubdtype(given.dtype, np.integer)
            or given.shape != (x.ndim,)
            or tuple(int(v) for v in given[:2]) != x.shape[:2]
            or given.min() < 1
        ):
            raise refuse(
                self.onnx_node,
                f"input 'output_shape': expected {x.ndim} integers >= 1 starting with X's "
                f"(N, C) = {x.shape[:2]}, got {given.dtype} {given.tolist()}",
            )
        shape = tuple(int(v) for v in given)
        least = math.prod(inferred) if min(inferred) >= 0 else -1  # onnxruntime's Size()
        if math.prod(shape) < least:
            raise refuse(
                self.onnx_node,
                f"input 'output_shape': expected at least as many elements as the shape "
                f"{tuple(inferred)} that kernel_shape, strides and pads give X of shape "
                f"{x.shape} ({least}: onnxruntime's check), got {shape}",
            )
        _guard(shape, x.dtype.itemsize)
        return shape

    def compute(self, x: Any, indices: Any, output_shape: Any = None) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        k = len(self.kernel)
        if x.ndim != k + 2 or not np.issubdtype(x.dtype, np.floating):
            raise refuse(
                self.onnx_node,
                f"input 'X': expected a float tensor (N, C) + {k} spatial axes, got {x.dtype} "
                f"of shape {x.shape}",
            )
        indices = np.asarray(indices)
        if not np.issubdtype(indices.dtype, np.integer) or indices.shape != x.shape:
            raise refuse(
                self.onnx_node,
                f"input 'I': expected an integer tensor of X's shape {x.shape}, got "
                f"{indices.dtype} of shape {indices.shape}",
            )
        shape = self._shape(x, output_shape)
        size = math.prod(shape)
        if indices.size and (indices.min() < 0 or indices.max() >= size):
            raise refuse(
                self.onnx_node,
                f"input 'I': expected indices in [0, {size}) (the output {shape}, flattened), "
                f"got values from {indices.min()} to {indices.max()}",
            )
        flat = indices.reshape(-1).astype(np.intp, copy=False)
        y = np.zeros(size, dtype=x.dtype)
        y[flat] = x.reshape(-1)  # repeated indices: the last assignment wins
        return y.reshape(shape), flat

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x = np.asarray(args[0])
        return [np.asarray(g).reshape(-1)[ctx].reshape(x.shape), None, None]

    def extra_repr(self) -> str:
        """The op type and the window."""
        return (
            f"onnx_op={self.onnx_op!r}, kernel_shape={self.kernel}, strides={self.strides}, "
            f"pads={self.pads}"
        )


def max_unpool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """MaxUnpool (``_MaxUnpool``) over as many spatial axes as ``kernel_shape`` has sizes."""
    kernel = attrs.ints("kernel_shape", None)
    if not kernel:
        raise refuse(node, "attribute 'kernel_shape' is required")
    n = len(kernel)
    strides = attrs.ints("strides", [1] * n) or [1] * n
    pads = attrs.ints("pads", [0] * 2 * n) or [0] * 2 * n
    for name, value, size, low in (("strides", strides, n, 1), ("pads", pads, 2 * n, 0)):
        if len(value) != size or min(value) < low:
            raise refuse(node, f"attribute {name!r}: expected {size} values >= {low}, got {value}")
    operands = [ins[0], _plain(ins[1]), _plain(ins[2]) if len(ins) > 2 else None]
    return _generic(_MaxUnpool(node, operands, kernel, strides, pads), operands)
