"""A model's summary: one row per layer — shape, parameters, mult-adds, window, receptive field.

For a batch of B inputs, a node whose output has shape (B, C, H, W) and whose layer owns the
parameter arrays θ_1, …, θ_m (its ``weight`` and ``bias``) is counted as

    parameters = Σ_k |θ_k|
    mult-adds  = Σ_k |θ_k| · B · H · W      (convolutions: each weight is used once per output
                                              pixel of its output channel, each bias too)
    mult-adds  = Σ_k |θ_k| · B              (every other layer with parameters: Linear, the
                                              affine part of a norm, PReLU)

and layers without parameters (activations, pooling, Add, …) count no mult-adds. These are
torchinfo's rules, kept so that the totals compare with it number for number; for a
convolution they are the true count of multiply-adds, C_out·(C_in/G)·f1·f2·H·W per sample
plus the bias, for a Linear layer too. A transposed convolution is counted by the same rule
over its (larger) output, H_out·W_out / (H·W) (about s1·s2) times its true count
C_in·(C_out/G)·f1·f2 per *input* pixel;
a norm's "mult-adds" are only its two affine parameters per sample (its statistics are not
counted) — read these as a size, not a cost.

The receptive field of each node (size r, jump j and start c per axis: output pixel i reads
input pixels c + i·j ± (r − 1)/2) comes from :func:`cnnmath.receptive_field`, in evaluation
mode (a summary describes the function a trained model computes). Output shapes come from
running the real layers once on zeros, node by node, so they cannot disagree with the code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import nn
from ._checks import positive_int
from .receptive import SIGNAL_LAYERS, VOLUME_LAYERS, Field, receptive_field

__all__ = ["LayerRow", "Summary", "summary"]


@dataclass(frozen=True)
class LayerRow:
    """One node of the model's walk.

    ``name`` and ``type`` (the layer's class); ``output_shape`` with the batch axis first;
    ``parameters`` and ``trainable`` (scalars in the layer's own parameters, counted at its
    first use only — a layer used by several nodes shares one set); ``mult_adds`` (torchinfo's
    rules, see the module docstring; counted at every use); ``kernel``, ``stride`` and
    ``groups`` (None for a layer without a window); ``field``, the receptive field of the
    node's output (None when it is unknown for this model); ``output_bytes``, the size of the
    output array (and of the indices, for ``MaxPool2d(return_indices=True)``).
    """

    name: str
    type: str
    inputs: tuple[str, ...]
    output_shape: tuple[int, ...]
    parameters: int
    trainable: int
    mult_adds: int
    kernel: tuple[int, ...] | None
    stride: tuple[int, ...] | None
    groups: int | None
    field: Field | None
    output_bytes: int


@dataclass(frozen=True)
class Summary:
    """What :func:`summary` found: ``rows`` (one :class:`LayerRow` per node, in walk order)
    and the totals. ``print(summary)`` (or the REPL, which shows its repr) gives the table.

    ``total_parameters`` and ``trainable_parameters`` count each parameter array once;
    ``total_mult_adds`` sums the rows; ``input_bytes``, ``activation_bytes`` (every node's
    output: what one forward pass produces, and about what a training step keeps for its
    backward pass) and ``parameter_bytes`` are the memory of the arrays involved.
    ``field_note`` says why the receptive-field columns are empty, when they are.
    """

    rows: tuple[LayerRow, ...]
    input_shape: tuple[int, ...]
    total_parameters: int
    trainable_parameters: int
    total_mult_adds: int
    input_bytes: int
    activation_bytes: int
    parameter_bytes: int
    field_note: str = ""

    def __str__(self) -> str:
        head = (
            "layer",
            "type",
            "output shape",
            "params",
            "mult-adds",
            "kernel",
            "stride",
            "groups",
            "train",
            "RF size",
            "jump",
            "start",
        )
        table = [head]
        for r in self.rows:
            f = r.field
            size = "-" if f is None else f"{f.size[0]}×{f.size[1]}" + (" (whole)" * f.whole)
            table.append(
                (
                    r.name,
                    r.type,
                    "×".join(map(str, r.output_shape)),
                    _count(r.parameters),
                    _count(r.mult_adds),
                    _pair_text(r.kernel),
                    _pair_text(r.stride),
                    "-" if r.groups is None else str(r.groups),
                    ("yes" if r.trainable == r.parameters else "part") if r.parameters else "-",
                    size,
                    "-" if f is None else f"{f.jump[0]}×{f.jump[1]}",
                    "-" if f is None else f"{_start(f.start[0])}, {_start(f.start[1])}",
                )
            )
        right = {3, 4, 7}  # the counts are right-aligned
        widths = [max(len(row[k]) for row in table) for k in range(len(head))]
        lines = [
            "  ".join(
                cell.rjust(w) if k in right else cell.ljust(w)
                for k, (cell, w) in enumerate(zip(row, widths))
            ).rstrip()
            for row in table
        ]
        rule = "─" * max(len(line) for line in lines)
        lines[1:1] = [rule]
        lines += [
            rule,
            f"input {'×'.join(map(str, self.input_shape))}",
            f"total parameters:     {_count(self.total_parameters)}",
            f"trainable parameters: {_count(self.trainable_parameters)}",
            f"total mult-adds:      {_count(self.total_mult_adds)}",
            f"input memory:         {_bytes(self.input_bytes)}",
            f"activation memory:    {_bytes(self.activation_bytes)} (every node's output)",
            f"parameter memory:     {_bytes(self.parameter_bytes)}",
        ]
        if self.field_note:
            lines.append(f"receptive field: {self.field_note}")
        return "\n".join(lines)

    def __repr__(self) -> str:  # the table, not the dataclass's field dump
        return str(self)

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as plain dicts (field → size, jump, start, whole), e.g. for a DataFrame."""
        out = []
        for r in self.rows:
            d: dict[str, Any] = {
                k: getattr(r, k) for k in LayerRow.__dataclass_fields__ if k != "field"
            }
            f = r.field
            d["field_size"] = None if f is None else f.size
            d["field_jump"] = None if f is None else f.jump
            d["field_start"] = None if f is None else f.start
            d["field_whole"] = None if f is None else f.whole
            out.append(d)
        return out


def _count(n: int) -> str:
    return f"{n:,}" if n else "-"


def _bytes(n: int) -> str:
    """Decimal units, as torchinfo: 1 MB = 10⁶ bytes."""
    if n < 1e6:
        return f"{n / 1e3:.2f} kB"
    return f"{n / 1e6:.2f} MB"


def _pair_text(p: tuple[int, ...] | None) -> str:
    """The text of a window: 3 for (3, 3) or (3, 3, 3), 3×7×7 where its sides differ."""
    if p is None:
        return "-"
    return str(p[0]) if len(set(p)) == 1 else "×".join(map(str, p))


def _start(c: float) -> str:
    return str(int(c)) if float(c).is_integer() else f"{c:g}"


def _pair(value: Any) -> tuple[int, ...]:
    """A window's sides: a pair for an int, every axis of a tuple (a 3-D window keeps its
    depth: (3, 7, 7), not (3, 7))."""
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return int(value), int(value)


def _batched(
    input_shape: Sequence[int], func: str, signal: bool = False, volume: bool = False
) -> tuple[int, ...]:
    """(B, …): 1 or 3 axes are one sample (B = 1 is put in front); 2 or 4 include B. For a
    model of signals (its first layer 1-D), (C, L) is one sample and (B, C, L) includes B;
    for a model of volumes (its first layer 3-D), (C, D, H, W) is one sample and
    (B, C, D, H, W) includes B."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(
            f"{func}: input_shape: expected a sequence of ints, got {input_shape!r}"
        ) from None
    if volume and len(shape) in (4, 5):
        shape = tuple(positive_int(f"input_shape[{i}]", s, func=func) for i, s in enumerate(shape))
        return (1, *shape) if len(shape) == 4 else shape
    if len(shape) not in (1, 2, 3, 4):
        raise ValueError(
            f"{func}: input_shape: expected (C, H, W) or (B, C, H, W) (or (F,) / (B, F) for a "
            f"model of flat inputs), got {input_shape!r}"
        )
    shape = tuple(positive_int(f"input_shape[{i}]", s, func=func) for i, s in enumerate(shape))
    if signal and len(shape) in (2, 3):
        return (1, *shape) if len(shape) == 2 else shape
    return (1, *shape) if len(shape) in (1, 3) else shape


def _mult_adds(module: nn.Module, out_shape: tuple[int, ...]) -> int:
    """torchinfo's count for one call (see the module docstring)."""
    total = 0
    conv = "Conv" in type(module).__name__
    per_param = math.prod(out_shape[:1] + out_shape[2:]) if conv else out_shape[0]
    for _, p in module.named_parameters():
        total += p.size * per_param
    return total


def summary(model: nn.Module, input_shape: Sequence[int]) -> Summary:
    """The per-layer table of ``model`` on inputs of ``input_shape``.

    ``input_shape`` is (C, H, W) or (B, C, H, W) — or (F,) / (B, F) for a model that starts
    with a Linear layer, (C, L) / (B, C, L) for one that starts with a 1-D layer (Conv1d, …);
    B = 1 when omitted. The model runs once on zeros of that shape (of
    its parameters' dtype, float32 without parameters), node by node along ``model.walk()``,
    in evaluation mode; every module's ``training`` flag is restored afterwards and nothing
    else of the model changes (no running statistics are updated) — but a lazy module not
    yet run (``LazyConv2d``, …) takes its input size from that run and stays eager, as
    d2l's ``layer_summary`` dry run does.

    Each row gives the node's output shape, its parameters and mult-adds (torchinfo's
    counting rules, module docstring), kernel, stride and groups of a window layer, whether
    its parameters are trainable, and the receptive field of its output (size, jump, start
    per axis, from :func:`cnnmath.receptive_field`; empty when the model has a layer whose
    field is unknown, such as a transposed convolution — ``field_note`` says which).

    >>> from cnnmath import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    ...                     nn.Flatten(), nn.Linear(64, 10))
    >>> s = summary(net, (1, 8, 8))
    >>> s.total_parameters, s.total_mult_adds    # (36+4)·64 + (640+10)·1
    (690, 3210)
    >>> [r.output_shape for r in s.rows]
    [(1, 4, 8, 8), (1, 4, 8, 8), (1, 4, 4, 4), (1, 64), (1, 10)]
    """
    func = "summary"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{func}: model: expected a cnnmath.nn.Module, got {type(model).__name__}")
    nodes = list(model.walk())
    if not nodes:
        raise ValueError(f"{func}: model: expected at least one layer, got none")
    first = nodes[0].module
    shape = _batched(
        input_shape,
        func,
        signal=isinstance(first, SIGNAL_LAYERS),
        volume=isinstance(first, VOLUME_LAYERS),
    )
    params = model.parameters()
    dtype = params[0].dtype if params else np.dtype(np.float32)

    modes = {id(m): (m, m.training) for m in model.modules()}
    for m, _ in modes.values():
        m.training = False
    for node in nodes:  # hand-written leaves may not be reachable through modules()
        modes.setdefault(id(node.module), (node.module, node.module.training))
        node.module.training = False
    try:
        fields, note = _fields(model, shape)
        x = np.zeros(shape, dtype)
        values: dict[str, np.ndarray] = {name: x for name in model.input_names}
        seen: set[int] = set()
        rows = []
        for node in nodes:
            missing = [v for v in node.inputs if v not in values]
            if missing:
                raise ValueError(
                    f"{func}: model: node {node.name!r} reads unknown values {missing}"
                )
            try:
                y, _ = node.module.forward_ctx(*(values[v] for v in node.inputs))
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"{func}: input_shape: node {node.name!r} ({type(node.module).__name__}) "
                    f"cannot run on an input of shape {shape}: {exc}"
                ) from exc
            if node.extra_outputs:  # (Y, I) of MaxPool2d(return_indices=True): a row for Y
                values.update(zip((node.output, *node.extra_outputs), y))
                extra = sum(np.asarray(v).nbytes for v in y[1:])
                rows.append(_row(node, np.asarray(y[0]), seen, fields, extra))
                continue
            values[node.output] = y
            rows.append(_row(node, np.asarray(y), seen, fields))
    finally:
        for m, mode in modes.values():
            m.training = mode

    return Summary(
        rows=tuple(rows),
        input_shape=shape,
        total_parameters=sum(p.size for p in params),
        trainable_parameters=sum(p.size for p in params if getattr(p, "requires_grad", True)),
        total_mult_adds=sum(r.mult_adds for r in rows),
        input_bytes=x.nbytes,
        activation_bytes=sum(r.output_bytes for r in rows),
        parameter_bytes=sum(p.data.nbytes for p in params),
        field_note=note,
    )


def _fields(model: nn.Module, shape: tuple[int, ...]) -> tuple[dict[str, Field], str]:
    """The receptive field of each node by name, or ({}, why not)."""
    if len(shape) == 5:
        return {}, "receptive fields are computed for images (N, C, H, W), not volumes"
    if len(shape) != 4:
        return {}, "the input has no spatial axes"
    try:
        found = receptive_field(model, shape)
    except ValueError as exc:
        return {}, str(exc).removeprefix("receptive_field: ")
    return {f.name: f for f in list(found)[1:]}, ""


def _random_windows(module: Any) -> bool:
    """Whether a window layer places its windows with no fixed stride (fractional max
    pooling's, drawn at each forward: it states no ``spatial_window``)."""
    window = getattr(module, "spatial_window", None)
    return callable(window) and window()[0] is None


def _row(
    node: nn.Node, y: np.ndarray, seen: set[int], fields: dict[str, Field], extra_bytes: int = 0
) -> LayerRow:
    """The node's row; ``y`` its (first) output, ``extra_bytes`` its other outputs' size."""
    module: Any = node.module
    own = [p for _, p in module.named_parameters()]
    first_use = id(module) not in seen
    seen.add(id(module))
    window = hasattr(module, "kernel_size")
    kernel = _pair(module.kernel_size) if window else None
    stepped = window and not _random_windows(module)
    stride = _pair(getattr(module, "stride", None) or module.kernel_size) if stepped else None
    groups = int(module.groups) if hasattr(module, "groups") else None
    return LayerRow(
        name=node.name,
        type=type(module).__name__,
        inputs=tuple(node.inputs),
        output_shape=tuple(y.shape),
        parameters=sum(p.size for p in own) if first_use else 0,
        trainable=sum(p.size for p in own if getattr(p, "requires_grad", True)) if first_use else 0,
        mult_adds=_mult_adds(module, y.shape),
        kernel=kernel,
        stride=stride,
        groups=groups,
        field=fields.get(node.name),
        output_bytes=y.nbytes + extra_bytes,
    )
