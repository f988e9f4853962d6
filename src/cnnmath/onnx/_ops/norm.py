"""Normalization and its converters: BatchNormalization, LayerNormalization,
InstanceNormalization, GroupNormalization, LRN and LpNormalization.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn, ops
from ...nn import Parameter
from ...nn.graph import unbroadcast
from ._attributes import Attrs
from ._convert import Built, _as_operand, _float_param, _generic, _rank, _shape
from ._helpers import _axis, _broadcasts_to, _is_float
from ._module import _Op
from ._node import Const, Node, Operand, Ref, refuse


class _LpNormalization(_Op):
    """y = x / ‖x‖_p along ``axis``, p ∈ {1, 2}; a zero vector gives 0. Backward, with
    n = ‖x‖_p and s = Σ_axis G·y: ∂ℓ/∂x = (G − y·s)/n for p = 2 and (G − sign(x)·s)/n for
    p = 1 (0 for a zero vector)."""

    roles = ("input",)

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int, p: int) -> None:
        super().__init__(node, operands)
        self.axis, self.p = axis, p

    def compute(self, x: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        if self.p == 1:
            n = np.sum(np.abs(x), axis=a, keepdims=True)
        else:
            n = np.sqrt(np.sum(x * x, axis=a, keepdims=True))
        y = _safe_divide(x, n)
        return y.astype(x.dtype), (a, n, y)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        a, n, y = ctx
        x = np.asarray(args[0])
        s = np.sum(g * y, axis=a, keepdims=True)
        direction = y if self.p == 2 else np.sign(x)
        return [_safe_divide(g - direction * s, n)]


def _safe_divide(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """a/n, and 0 where n = 0 (a zero vector normalises to 0, as ONNX's reference and
    onnxruntime give; its gradient there is taken as 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n == 0, 0, a / np.where(n == 0, 1, n))


class _BatchNorm(_Op):
    """BatchNormalization in inference: ``ops.batch_norm`` by the given statistics."""

    roles = ("x", "scale", "B", "input_mean", "input_var")

    def __init__(self, node: Node, operands: Sequence[Operand], eps: float) -> None:
        super().__init__(node, operands)
        self.eps = eps

    def compute(self, x: Any, scale: Any, B: Any, mean: Any, var: Any) -> tuple[np.ndarray, Any]:
        return ops.batch_norm(x, mean, var, scale, B, training=False, eps=self.eps), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, scale, B, mean, var = args
        gx, gw, gb = ops.batch_norm_backward(g, x, mean, var, scale, training=False, eps=self.eps)
        return [gx, gw, gb, None, None]


class _BatchNormTraining(_BatchNorm):
    """BatchNormalization with training_mode = 1 (opset 14+): Y by the statistics of the
    batch, over the m = N·D1·D2·… values of each channel c,

        μ_c = mean(X[:, c]),   σ²_c = mean((X[:, c] − μ_c)²)   (biased),
        Y[:, c] = scale_c (X[:, c] − μ_c) / √(σ²_c + ε) + B_c

    — ``ops.batch_norm(training=True)`` keeping no running statistics, and its backward;
    input_mean and input_var do not enter Y. A pure function of its inputs, not an
    ``nn.BatchNorm`` in train mode: the node updates nothing in place (its running
    statistics are outputs, :class:`_RunningStatistic`), and ``.eval()`` on the loaded graph
    does not turn it into inference, as the file says training."""

    def compute(self, x: Any, scale: Any, B: Any, mean: Any, var: Any) -> tuple[np.ndarray, Any]:
        return ops.batch_norm(x, None, None, scale, B, training=True, eps=self.eps), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, scale = args[0], args[1]
        gx, gw, gb = ops.batch_norm_backward(g, x, None, None, scale, training=True, eps=self.eps)
        return [gx, gw, gb, None, None]

    def extra_repr(self) -> str:
        """The op type, ε and the mode."""
        return f"onnx_op={self.onnx_op!r}, eps={self.eps}, training_mode=1"


class _RunningStatistic(_Op):
    """running_mean or running_var of BatchNormalization in training mode (the spec's
    definition, which onnxruntime computes; the batch variance is the biased one, unlike
    PyTorch's running_var, which takes the unbiased):

        running_mean = input_mean·momentum + μ·(1 − momentum)
        running_var  = input_var·momentum + σ²·(1 − momentum)

    μ, σ² as in :class:`_BatchNormTraining`, computed in float64, returned in X's dtype.
    Backward, m values per channel: ∂running_mean/∂X[:, c] = (1 − momentum)/m,
    ∂running_var/∂X[:, c] = (1 − momentum)·2(X[:, c] − μ_c)/m; ∂/∂input_* = momentum."""

    roles = ("x", "statistic")
    apart = True

    def __init__(
        self, node: Node, operands: Sequence[Operand], which: str, momentum: float
    ) -> None:
        super().__init__(node, operands)
        self.which, self.momentum = which, momentum

    def compute(self, x: Any, stat: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.ndim < 2:
            raise refuse(self.onnx_node, f"input 'X': expected (N, C, …), got shape {x.shape}")
        axes = (0, *range(2, x.ndim))
        x64 = x.astype(np.float64, copy=False)
        mu = x64.mean(axis=axes)
        centred = x64 - mu.reshape(-1, *([1] * (x.ndim - 2)))
        batch = mu if self.which == "running_mean" else (centred * centred).mean(axis=axes)
        y = np.asarray(stat, dtype=np.float64) * self.momentum + batch * (1.0 - self.momentum)
        return y.astype(x.dtype), (axes, centred)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        axes, centred = ctx
        m = centred.size // centred.shape[1]
        G = np.asarray(g, dtype=np.float64).reshape(-1, *([1] * (centred.ndim - 2)))
        f = (1.0 - self.momentum) / m
        gx = np.broadcast_to(G * f, centred.shape) if self.which == "running_mean" else (
            G * (2.0 * f) * centred
        )  # fmt: skip
        return [gx, np.asarray(g) * self.momentum]

    def extra_repr(self) -> str:
        """Which statistic and the momentum."""
        return f"onnx_op={self.onnx_op!r}, output={self.which!r}, momentum={self.momentum}"


def _running_statistics(
    node: Node, operands: list[Operand], momentum: float, info: dict[str, Any]
) -> list[tuple[str, Built]]:
    """(output name, built) for each of running_mean and running_var the graph reads."""
    outputs, read = info["all_outputs"], set(info["outputs"][1:])
    x = operands[0]
    more = []
    for position, which in ((1, "running_mean"), (2, "running_var")):
        if position < len(outputs) and outputs[position] in read:
            stat = Node(node.name, node.op_type, node.opset)
            pair = [x, operands[position + 2]]
            op = _RunningStatistic(stat, pair, which, momentum)
            more.append((outputs[position], _generic(op, pair)))
    return more


class _LayerNorm(_Op):
    """LayerNormalization: each x[i_0 … i_{a−1}, :] normalised over the axes a … r−1 (a the
    ``axis`` attribute, negative counting from r) by ``ops.layer_norm``, then
    y = x̂·Scale + B with Scale and B broadcast to x. Backward: ∂ℓ/∂x̂ = G·Scale through
    ``ops.layer_norm_backward``; ∂ℓ/∂Scale = G·x̂ and ∂ℓ/∂B = G, summed over the axes the
    broadcast stretched."""

    roles = ("x", "scale", "B")

    def __init__(self, node: Node, operands: Sequence[Operand], axis: int, eps: float) -> None:
        super().__init__(node, operands)
        self.axis, self.eps = axis, eps

    def compute(self, x: np.ndarray, scale: Any, B: Any) -> tuple[np.ndarray, Any]:
        a = _axis(self.onnx_node, "attribute 'axis'", self.axis, max(x.ndim, 1))
        for name, v in (("Scale", scale), ("B", B)):
            if v is not None and not _broadcasts_to(np.shape(v), x.shape):
                raise refuse(
                    self.onnx_node,
                    f"input {name!r}: expected a shape that broadcasts to X's {x.shape}, "
                    f"got {np.shape(v)}",
                )
        shape = x.shape[a:]
        xhat = ops.layer_norm(x, shape, None, None, self.eps)
        y = xhat * scale if B is None else xhat * scale + B
        return np.asarray(y, dtype=x.dtype), (xhat, shape)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        xhat, shape = ctx
        x, scale, B = args
        g_xhat = np.asarray(g * scale, dtype=x.dtype)
        gx = ops.layer_norm_backward(g_xhat, x, shape, None, eps=self.eps)[0]
        return [
            gx,
            unbroadcast(g * xhat, np.shape(scale)),
            None if B is None else unbroadcast(g, np.shape(B)),
        ]


class _InstanceNorm(_Op):
    """InstanceNormalization on (N, C, D1, …): each (n, c) normalised over its D1·D2·…
    values, then scaled and shifted per channel — ``ops.group_norm`` with one group per
    channel, and ``ops.group_norm_backward``."""

    roles = ("x", "scale", "B")

    def __init__(self, node: Node, operands: Sequence[Operand], eps: float) -> None:
        super().__init__(node, operands)
        self.eps = eps

    def compute(self, x: np.ndarray, scale: Any, B: Any) -> tuple[np.ndarray, Any]:
        _instance_shapes(self.onnx_node, np.shape(x), np.shape(scale), np.shape(B))
        return ops.group_norm(x, x.shape[1], scale, B, self.eps), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, scale, _ = args
        return list(ops.group_norm_backward(g, x, x.shape[1], scale, eps=self.eps))


def _instance_shapes(node: Node, x: Sequence[Any], scale: Sequence[Any], B: Sequence[Any]) -> None:
    """InstanceNormalization's shapes: input (N, C, D1, …), scale and B (C,); a None (not
    known at load time) passes."""
    if len(x) < 3:
        raise refuse(
            node, f"input 'input': expected (N, C, D1, …) with at least 3 axes, got shape {x}"
        )
    for name, shape in (("scale", scale), ("B", B)):
        if len(shape) != 1 or (x[1] is not None and shape[0] != x[1]):
            C = "C" if x[1] is None else f"C = {x[1]}"
            raise refuse(
                node,
                f"input {name!r}: expected shape (C,), one value per channel ({C}), "
                f"got {tuple(shape)}",
            )


class _GroupNorm(_Op):
    """GroupNormalization on X (N, C, D1, …), G = ``num_groups`` dividing C: each sample's
    group k of C/G consecutive channels is normalised over its m = (C/G)·D1·D2·… values,

        y[n, c] = scale_c · (x[n, c] − μ_nk) / √(σ²_nk + ε) + bias_c     (c in group k),

    μ_nk the mean and σ²_nk the biased variance (``ops.group_norm``). From opset 21 scale and
    bias are (C,), one value per channel; at opset 18 they are (G,), one per group
    (scale_c = scale_k), and their gradients are the sums of their channels'. Backward by
    ``ops.group_norm_backward``."""

    roles = ("x", "scale", "bias")

    def __init__(
        self, node: Node, operands: Sequence[Operand], groups: int, eps: float, per_group: bool
    ) -> None:
        super().__init__(node, operands)
        self.groups, self.eps, self.per_group = groups, eps, per_group

    def _per_channel(self, v: Any, C: int) -> np.ndarray:
        """scale or bias as (C,): a per-group one repeated over its group's channels."""
        v = np.asarray(v)
        return np.repeat(v, C // self.groups) if self.per_group else v

    def compute(self, x: np.ndarray, scale: Any, bias: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        _group_shapes(self.onnx_node, x.shape, np.shape(scale), np.shape(bias), self.groups)
        C = x.shape[1]
        s, b = self._per_channel(scale, C), self._per_channel(bias, C)
        return ops.group_norm(x, self.groups, s, b, self.eps), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        x, scale, _ = args
        C = x.shape[1]
        gx, gs, gb = ops.group_norm_backward(
            g, x, self.groups, self._per_channel(scale, C), eps=self.eps
        )
        if self.per_group:  # one value per group: the sum over its channels
            gs, gb = (v.reshape(self.groups, -1).sum(axis=1) for v in (gs, gb))
        return [gx, gs, gb]

    def extra_repr(self) -> str:
        """The op type, the groups and what scale and bias hold."""
        per = "group" if self.per_group else "channel"
        return f"onnx_op={self.onnx_op!r}, num_groups={self.groups}, eps={self.eps}, per={per!r}"


def _group_shapes(
    node: Node, x: Sequence[Any], scale: Sequence[Any], bias: Sequence[Any], groups: int
) -> None:
    """GroupNormalization's shapes: X (N, C, …) with C a multiple of num_groups; scale and
    bias (C,) from opset 21, (num_groups,) at opset 18. A None (not known at load) passes."""
    if len(x) < 2:
        raise refuse(node, f"input 'X': expected (N, C, D1, …) with at least 2 axes, got {x}")
    C = x[1]
    if C is not None and C % groups:
        raise refuse(
            node,
            f"attribute 'num_groups': expected a divisor of the {C} channels of X, got {groups}",
        )
    per_group = node.opset < 21
    n = groups if per_group else C
    what = f"one per group, num_groups = {groups}" if per_group else f"one per channel, C = {C}"
    for name, shape in (("scale", scale), ("bias", bias)):
        if len(shape) != 1 or (n is not None and shape[0] is not None and shape[0] != n):
            raise refuse(
                node,
                f"input {name!r}: expected shape ({'G' if per_group else 'C'},) ({what}; "
                f"opset {node.opset}), got {tuple(shape)}",
            )


# ---------------------------------------------------------------------------------------------
# Converters


def _epsilon(node: Node, attrs: Attrs) -> float:
    """The ``epsilon`` attribute (default 1e-5), a finite ε > 0 as cnnmath's norms take."""
    eps = float(attrs.get("epsilon", 1e-5))
    if not (math.isfinite(eps) and eps > 0):
        raise refuse(node, f"attribute 'epsilon': expected a finite value > 0, got {eps!r}")
    return eps


def batch_norm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    eps = float(attrs.get("epsilon", 1e-5))
    momentum = float(attrs.get("momentum", 0.9))
    x, scale, B, mean, var = ins
    if attrs.get("training_mode", 0):  # opset 14+: Y by the batch's statistics
        if not (math.isfinite(momentum) and 0.0 <= momentum <= 1.0):
            raise refuse(node, f"attribute 'momentum': expected a value in [0, 1], got {momentum}")
        operands = [x, _as_operand(scale, _float_param(scale)),
                    _as_operand(B, _float_param(B)), mean, var]  # fmt: skip
        info["more"] = _running_statistics(node, operands, momentum, info)
        return _generic(_BatchNormTraining(node, operands, eps), operands)
    if len(info["outputs"]) > 1:
        raise refuse(
            node,
            "outputs running_mean/running_var are only written in training mode "
            "(attribute 'training_mode' = 1, opset 14+); only the output Y is supported",
        )
    params = [_float_param(o) for o in (scale, B)]
    consts = [o for o in (mean, var) if isinstance(o, Const) and _is_float(o.value)]
    rank = _rank(info, x)
    if isinstance(x, Ref) and None not in params and len(consts) == 2 and rank in (2, 3, 4, 5):
        w, b = params
        assert w is not None and b is not None
        C = w.size
        cls = {5: nn.BatchNorm3d, 4: nn.BatchNorm2d}.get(rank, nn.BatchNorm1d)
        layer = cls(C, eps=eps, momentum=1.0 - momentum, dtype=w.dtype)
        layer.weight, layer.bias = w, b
        layer.running_mean = consts[0].value.astype(w.dtype, copy=True)
        layer.running_var = consts[1].value.astype(w.dtype, copy=True)
        info["derived"] += [
            (consts[0].value, layer.running_mean),
            (consts[1].value, layer.running_var),
        ]
        layer.eval()
        return layer, [x.name]
    operands = [x, _as_operand(scale, params[0]), _as_operand(B, params[1]), mean, var]
    return _generic(_BatchNorm(node, operands, eps), operands)


def layer_norm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x, scale, B = ins
    axis = attrs.get("axis", -1)
    eps = _epsilon(node, attrs)
    stash = attrs.get("stash_type", 1)
    if stash not in (1, 11):  # the statistics' type: cnnmath computes them in float64 anyway
        raise refuse(
            node, f"attribute 'stash_type': expected 1 (float32) or 11 (float64), got {stash}"
        )
    if len(info["outputs"]) > 1:  # Mean, InvStdDev read: ops of their own (_outputs.py)
        from .._outputs import layer_norm_statistics

        info["more"] = layer_norm_statistics(node, x, axis, eps, stash, info)
    static = _shape(info, x)
    if static is not None:
        a = _axis(node, "attribute 'axis'", axis, max(len(static), 1))
    # an initializer is trained; a Constant node's value is fixed (a buffer)
    wp, bp = _initializer_param(scale), _initializer_param(B)
    if isinstance(x, Ref) and info["float"].get(x.name, False) and static is not None:
        tail = static[a:]
        whole = all(isinstance(n, int) and n >= 1 for n in tail)
        if whole and wp is not None and wp.shape == tail and (B is None or bp is not None):
            if bp is None or bp.shape == tail:
                layer = nn.LayerNorm(tail, eps, True, bias=B is not None, dtype=wp.dtype)
                layer.weight, layer.bias = wp, bp
                return layer, [x.name]
        if whole and _fixed(scale, 1.0, tail) and (B is None or _fixed(B, 0.0, tail)):
            assert isinstance(scale, Const)  # no parameters: LayerNorm(elementwise_affine=False)
            return nn.LayerNorm(tail, eps, False, dtype=scale.value.dtype), [x.name]
    operands = [x, scale, B]
    return _generic(_LayerNorm(node, operands, axis, eps), operands)


class _LRN(_Op):
    """ONNX's LRN with an even size: its window is ⌊(n − 1)/2⌋ channels before c and
    ⌈(n − 1)/2⌉ after, one channel further forward than PyTorch's (an odd size is the
    ``nn.LocalResponseNorm`` layer itself)."""

    roles = ("x",)

    def __init__(
        self, node: Node, operands: Sequence[Operand], size: int, coefficients: tuple
    ) -> None:
        super().__init__(node, operands)
        self.size, self.coefficients = size, coefficients
        self.window = ((size - 1) // 2, size // 2)

    def compute(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        alpha, beta, k = self.coefficients
        return ops.local_response_norm(x, self.size, alpha, beta, k, self.window), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        alpha, beta, k = self.coefficients
        return [
            ops.local_response_norm_backward(g, args[0], self.size, alpha, beta, k, self.window)
        ]


def lrn(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x = ins[0]
    size = attrs.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise refuse(node, f"attribute 'size': expected a positive int, got {size!r}")
    coefficients = []
    for name, default in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)):
        value = attrs.get(name, default)
        if not isinstance(value, float) or not math.isfinite(value):
            raise refuse(node, f"attribute {name!r}: expected a finite float, got {value!r}")
        coefficients.append(value)
    rank = _rank(info, x)
    if rank is not None and rank < 3:
        raise refuse(node, f"input 'X': expected rank >= 3 (N, C, D1, ...), got rank {rank}")
    if size % 2 == 1 and isinstance(x, Ref):
        return nn.LocalResponseNorm(size, *coefficients), [x.name]
    return _generic(_LRN(node, [x], size, tuple(coefficients)), [x])


def _initializer_param(operand: Operand) -> Parameter | None:
    """The Parameter of a float initializer (or a view of one); None for anything else —
    a Constant node's value among them, which stays a buffer."""
    if isinstance(operand, Const) and _is_float(operand.value):
        return operand.param
    return None


def _fixed(operand: Operand, value: float, shape: tuple[Any, ...]) -> bool:
    """Whether ``operand`` is a Constant node's float array of ``shape`` all ``value``."""
    return (
        isinstance(operand, Const)
        and operand.param is None
        and _is_float(operand.value)
        and operand.value.shape == shape
        and bool(np.all(operand.value == value))
    )


def instance_norm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x, scale, B = ins
    eps = _epsilon(node, attrs)
    static, s_shape, b_shape = _shape(info, x), _shape(info, scale), _shape(info, B)
    if static is not None and s_shape is not None and b_shape is not None:
        _instance_shapes(node, static, s_shape, b_shape)
    wp, bp = _initializer_param(scale), _initializer_param(B)  # a Constant's: a buffer
    C = static[1] if static is not None else None  # a layer needs a float run-time x, C known
    if isinstance(x, Ref) and info["float"].get(x.name, False) and isinstance(C, int):
        if wp is not None and bp is not None:
            layer = nn.GroupNorm(C, C, eps, affine=True, dtype=wp.dtype)
            layer.weight, layer.bias = wp, bp
            return layer, [x.name]
        if _fixed(scale, 1.0, (C,)) and _fixed(B, 0.0, (C,)):
            assert isinstance(scale, Const)  # fixed ones and zeros: no parameters
            return nn.GroupNorm(C, C, eps, affine=False, dtype=scale.value.dtype), [x.name]
    operands = [x, scale, B]
    return _generic(_InstanceNorm(node, operands, eps), operands)


def lp_normalization(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    p = int(attrs.get("p", 2))
    if p not in (1, 2):
        raise refuse(node, f"attribute 'p': expected 1 or 2, got {p}")
    return _generic(_LpNormalization(node, ins[:1], int(attrs.get("axis", -1)), p), ins[:1])


def group_norm(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """GroupNormalization: ``nn.GroupNorm`` on a float run-time X of known channels whose
    scale and bias are one initializer per channel each (opset 21, or opset 18 with one
    group per channel, where per group is per channel) — the layer trains them — or a
    Constant's ones and zeros (a GroupNorm without affine). Otherwise ``_GroupNorm``: a
    run-time scale or bias, and opset 18's per-group scale and bias with fewer groups than
    channels, which stay per group (repeating them per channel would let the channels of a
    group part ways when trained, leaving the function family the file defines)."""
    x, scale, bias = ins
    groups = attrs.get("num_groups")
    if groups is None:
        raise refuse(node, "attribute 'num_groups' is required")
    eps = _epsilon(node, attrs)
    stash = attrs.get("stash_type", 1)
    if stash not in (1, 11):  # the statistics' type: cnnmath keeps them in float64 anyway
        raise refuse(
            node, f"attribute 'stash_type': expected 1 (float32) or 11 (float64), got {stash}"
        )
    per_group = node.opset < 21
    static, s_shape, b_shape = _shape(info, x), _shape(info, scale), _shape(info, bias)
    if static is not None and s_shape is not None and b_shape is not None:
        _group_shapes(node, static, s_shape, b_shape, groups)
    C = static[1] if static is not None and len(static) >= 2 else None
    if isinstance(x, Ref) and info["float"].get(x.name, False) and isinstance(C, int):
        wp, bp = _initializer_param(scale), _initializer_param(bias)
        if wp is not None and bp is not None and (not per_group or groups == C):
            layer = nn.GroupNorm(groups, C, eps, affine=True, dtype=wp.dtype)
            layer.weight, layer.bias = wp, bp
            return layer, [x.name]
        n = groups if per_group else C
        if _fixed(scale, 1.0, (n,)) and _fixed(bias, 0.0, (n,)):
            assert isinstance(scale, Const)  # fixed ones and zeros: no parameters
            return nn.GroupNorm(groups, C, eps, affine=False, dtype=scale.value.dtype), [x.name]
    operands = [x, scale, bias]
    return _generic(_GroupNorm(node, operands, groups, eps, per_group), operands)
