"""Exact tiled inference on Dask: a network applied to an image larger than memory, chunk by
chunk, with the same numbers as the whole image in memory.

Output pixel i of a network depends on the input only inside its receptive field
c + i·j ± (r − 1)/2 (:mod:`cnnmath.receptive`). So a block of output rows [o₀, o₁) needs
the input rows from the start of o₀'s field to the end of o₁ − 1's — its chunk grown by a
halo — and nothing else. Along one axis, walking the network backwards from the block,
a window layer (kernel f, stride s, padding p before, dilation d) whose output rows [lo, hi)
are needed reads its input rows

    [lo·s − p, (hi − 1)·s − p + d(f − 1) + 1)  ∩  [0, n)

(the part outside [0, n) is that layer's own padding), and a pointwise layer reads [lo, hi).
Every layer then runs on its slice *as it runs on the whole image*, padding included, and
the outputs it got wrong — those whose window met padding that the tile invented at a seam,
rather than the image's true border — are cropped away. For the layer's windows to line up
with the whole image's, a slice starts on a multiple of the stride: the start is rounded
down, a few extra rows at most. Hence each layer's zero (or −∞) padding is applied only at
the true image edges: a zero padding of the *input* would be the padding of the first
layer only.

One task per output block reads the input blocks its rows and columns need and runs the
whole network (one fused overlap, not one per layer). Input chunk boundaries fall on
multiples of the total jump J, so output block k holds the pixels whose field is centred in
input chunk k (an input chunk where no field is centred, as at the end of a pooled axis,
gives no output block rather than an empty one); a chunking that does not is rechunked,
with a :class:`TiledRechunkWarning`.
"""

from __future__ import annotations

import math
import os
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import nn
from ._optional import require
from .receptive import (
    Geometry,
    NodeRef,
    is_permute,
    layer_geometry,
    model_nodes,
    output_value,
    receptive_field,
)

__all__ = ["TiledRechunkWarning", "apply", "load_any", "stream"]

_FUNC = "tiled.apply"


class TiledRechunkWarning(UserWarning):
    """The array was rechunked so its chunks suit the network (stride-aligned along H and W,
    one chunk along C)."""


@dataclass(frozen=True)
class _Program:
    """What every task runs: the network's leaf nodes in topological order, their geometry,
    the input and output value names and each value's (H, W)."""

    nodes: tuple[NodeRef, ...]
    geometry: tuple[Geometry, ...]
    input: str
    output: str
    lengths: dict[str, tuple[int, int]]
    out_channels: int
    readers: dict[str, int]  # how many nodes read each value (to free it after its last use)
    channels_last: frozenset[str] = frozenset()  # values laid out (N, H, W, C): ConvNeXt's


def _spatial(a: np.ndarray, rows: slice, columns: slice, last: bool) -> np.ndarray:
    """``a``'s rows and columns: its last two axes, or, channels-last, the two before C."""
    return a[..., rows, columns, :] if last else a[..., rows, columns]


@dataclass(frozen=True)
class _AxisPlan:
    """One output block along one axis: its output range, the input blocks it reads (block
    index, local start, local stop), each needed value's first global index, and per node
    (in_lo, in_hi, out_lo, out_hi, k0) — rows read, rows kept, and the global index of the
    layer's local output 0 — or None when the output does not need that node."""

    out: tuple[int, int]
    blocks: tuple[tuple[int, int, int], ...]
    starts: dict[str, int]
    steps: tuple[tuple[int, int, int, int, int] | None, ...]


def _run_node(module: Any, inputs: list[np.ndarray]) -> np.ndarray:
    """The layer's own forward, without keeping anything for a backward pass; of a layer of
    several outputs (``MaxPool2d(return_indices=True)``), its first, Y (``_program`` has
    checked that nothing reads the others)."""
    with nn.no_grad():  # a container lets each value go after its last reader
        if hasattr(module, "forward_ctx") and not getattr(module, "hand_written", False):
            y = module.forward_ctx(*inputs)[0]
        else:
            y = module(*inputs)
    return y[0] if getattr(module, "extra_outputs", ()) else y


def _run(
    program: _Program, x: np.ndarray, ph: _AxisPlan | None, pw: _AxisPlan | None
) -> np.ndarray:
    """Run the network on ``x``: the whole image (no plans), or the region of a tile whose
    rows and columns ``ph``/``pw`` describe, cropping each node to the rows it must keep."""
    values = {program.input: x}
    left = dict(program.readers)
    for k, node in enumerate(program.nodes):
        sh = sw = None
        if ph is not None and pw is not None:
            sh, sw = ph.steps[k], pw.steps[k]
            if sh is None or sw is None:
                continue  # the output does not need this node
        ins = []
        for v in node.inputs:
            a = values[v]
            if sh is not None and sw is not None and ph is not None and pw is not None:
                h0, w0 = ph.starts[v], pw.starts[v]
                rows, columns = slice(sh[0] - h0, sh[1] - h0), slice(sw[0] - w0, sw[1] - w0)
                a = _spatial(a, rows, columns, v in program.channels_last)
            ins.append(a)
            left[v] -= 1
            if left[v] == 0 and v != program.output:
                del values[v]  # its last reader: free it
        y = _run_node(node.module, ins)
        if sh is not None and sw is not None:
            last = node.output in program.channels_last
            want = (sh[3] - sh[4], sw[3] - sw[4])
            got = y.shape[-3:-1] if last else y.shape[-2:]
            if got[0] < want[0] or got[1] < want[1]:
                raise RuntimeError(
                    f"{_FUNC}: node {node.name!r} gave a tile of {got} where rows and "
                    f"columns up to {want} were planned; please report this"
                )
            y = _spatial(y, slice(sh[2] - sh[4], want[0]), slice(sw[2] - sw[4], want[1]), last)
        values[node.output] = y
    return values[program.output]


def _run_tile(
    program: _Program, ph: _AxisPlan, pw: _AxisPlan, rows: list[list[np.ndarray]]
) -> np.ndarray:
    """One output block: the needed parts of the input blocks, joined, through the network."""
    joined = [
        np.concatenate([b[..., h0:h1, w0:w1] for b, (_, w0, w1) in zip(row, pw.blocks)], axis=-1)
        for row, (_, h0, h1) in zip(rows, ph.blocks)
    ]
    x = np.concatenate(joined, axis=-2) if len(joined) > 1 else joined[0]
    return _run(program, x, ph, pw)


def _run_whole(block: np.ndarray, program: _Program, out: tuple[int, ...]) -> np.ndarray:
    """A block holding whole images (chunked along N only): the network as it is; ``out``,
    the output's shape per image that the receptive fields planned, is checked."""
    y = _run(program, block, None, None)
    if y.shape[y.ndim - len(out) :] != out or y.ndim != block.ndim - 3 + len(out):
        raise RuntimeError(
            f"{_FUNC}: the model gave an output of shape {y.shape} for a block of shape "
            f"{block.shape}, where {out} per image was planned; please report this"
        )
    return y


def _plan_axis(program: _Program, axis: int, out: tuple[int, int], bounds: list[int]) -> _AxisPlan:
    """The rows every value must have for output rows ``out`` (see the module docstring),
    and the input blocks (``bounds``: the chunk boundaries) that hold the input's."""
    need: dict[str, tuple[int, int]] = {program.output: out}
    steps: list[tuple[int, int, int, int, int] | None] = [None] * len(program.nodes)
    for k in reversed(range(len(program.nodes))):
        node = program.nodes[k]
        if node.output not in need:
            continue
        lo, hi = need[node.output]
        geometry = program.geometry[k]
        if geometry.kind == "window":
            assert geometry.axes is not None
            w = geometry.axes[axis]
            n_in = program.lengths[node.inputs[0]][axis]
            a = max(0, lo * w.stride - w.pad_before)
            a -= a % w.stride  # windows line up with the whole image's
            b = min(n_in, (hi - 1) * w.stride - w.pad_before + w.dilation * (w.kernel - 1) + 1)
            if b <= a:  # the windows lie wholly in the padding: give the layer one real row
                if a >= n_in:
                    a = (n_in - 1) - (n_in - 1) % w.stride
                b = min(n_in, max(b, a + 1))
            step = (a, b, lo, hi, a // w.stride)
        else:
            step = (lo, hi, lo, hi, lo)
        steps[k] = step
        for v in node.inputs:
            old = need.get(v, (step[0], step[1]))
            need[v] = (min(old[0], step[0]), max(old[1], step[1]))
    a0, b0 = need[program.input]
    blocks = tuple(
        (i, max(a0, s) - s, min(b0, e) - s)
        for i, (s, e) in enumerate(zip(bounds[:-1], bounds[1:]))
        if s < b0 and e > a0
    )
    starts = {v: r[0] for v, r in need.items()}
    return _AxisPlan(out, blocks, starts, tuple(steps))


def _node_geometry(node: Any) -> Geometry:
    """``layer_geometry`` of a node's layer, a refusal naming the node and this function."""
    try:
        return layer_geometry(node.module)
    except ValueError as exc:
        reason = str(exc).removeprefix("receptive_field: ").removeprefix("model: ")
        raise ValueError(
            f"{_FUNC}: model: node {node.name!r} ({type(node.module).__name__}): {reason}"
        ) from None


def _program(
    model: nn.Module, shape: tuple[int, ...], images: bool = False, batch: bool = False
) -> tuple[_Program, Any]:
    """The program and the output's receptive field, or a ValueError naming the node that
    makes the network untileable. ``images``: every chunk holds whole images (H and W in one
    chunk), so global layers and borders of the image's own pixels run as on the whole
    array; ``batch``: the batch too is one chunk (or there is none), so even layers that
    mix the images of a batch do."""
    nodes = model_nodes(model)
    last = _channels_last_values(nodes)
    geometry = tuple(  # (first: its refusals name the node)
        Geometry("pointwise") if n.output in last or is_permute(n.module) else _node_geometry(n)
        for n in nodes
    )
    fields = receptive_field(model, shape)  # (it checks the Permutes and what runs between)
    shapes = {nodes[0].inputs[0]: shape} | {n.output: f.shape for n, f in zip(nodes, fields[1:])}
    whole = "array.rechunk({-2: -1, -1: -1})"
    for node, geo in zip(nodes, geometry):
        what = f"{_FUNC}: model: node {node.name!r} ({type(node.module).__name__})"
        if geo.kind == "global" and not images:
            raise ValueError(
                f"{what} reads the whole image ({geo.reason}), so no tile can be computed "
                f"alone; give every chunk whole images (rechunk H and W whole, {whole}: the "
                "chunks along N then run one by one through "
                "map_blocks), or apply the spatial part of the network tiled and the rest to "
                "its (smaller) output"
            )
        rank = 1 + len(shapes[node.inputs[0]])  # (with the batch axis)
        if (
            type(node.module).__name__.startswith("BatchNorm")
            and node.module.training
            and getattr(node.module, "running_mean", None) is not None
        ):
            raise ValueError(
                f"{what} is in training mode: it would update its running statistics at every "
                "compute of the result; put the model in eval mode (model.eval())"
            )
        if geo.kind == "global" and _mixes_images(node.module, rank) and not batch:
            raise ValueError(
                f"{what} reads the whole image and every image of the batch ({geo.reason}), "
                "so a chunk of some of the images does not reproduce it; give the array one "
                "chunk along N too (array.rechunk({0: -1}))"
            )
        mode = getattr(node.module, "padding_mode", getattr(node.module, "mode", "zeros"))
        if (
            isinstance(node.module, (nn.Conv2d, nn.Pad2d))
            and mode not in ("zeros", "constant")
            and not images
        ):
            raise ValueError(
                f"{what} pads with the image's own pixels (mode {mode!r}), which tiles do not "
                "reproduce at the image's edges yet; only zero or constant borders are tiled, "
                f"or whole images (rechunk H and W whole, {whole})"
            )
        if node.extra_outputs:
            _check_extra_outputs_unread(model, nodes, node)
        if len(node.inputs) > 1 and geo.kind == "window":
            raise ValueError(
                f"{_FUNC}: model: node {node.name!r} slides a window over several inputs"
            )
    lengths = {nodes[0].inputs[0]: (shape[-2], shape[-1])}
    for node, field in zip(nodes, fields[1:]):
        hw = field.shape[:2] if node.output in last else field.shape[1:3]
        lengths[node.output] = (hw[0], hw[1]) if len(hw) == 2 else (0, 0)  # (0, 0): features
    readers: dict[str, int] = {}
    for node in nodes:
        for v in node.inputs:
            readers[v] = readers.get(v, 0) + 1
    out = output_value(nodes)
    index = [n.output for n in nodes].index(out)
    if out in last:
        raise ValueError(
            f"{_FUNC}: model: its output {out!r} is channels-last (N, H, W, C), after a "
            "Permute; tiles are assembled channels first: end the model with the Permute back"
        )
    program = _Program(
        tuple(nodes),
        geometry,
        nodes[0].inputs[0],
        out,
        lengths,
        fields[index + 1].shape[0],
        readers,
        frozenset(last),
    )
    return program, fields[index + 1]


def _mixes_images(module: Any, rank: int) -> bool:
    """Whether a global layer, on an input of ``rank`` axes (the batch's included), mixes
    the images of a batch: a BatchNorm by the batch's statistics, a softmax over the batch
    axis (dim 0, or −2 on features (N, F)), a Flatten from it. The others (adaptive
    pooling, Flatten and Linear over features, group/layer/instance norm) read each image
    alone, so a chunk of whole images gives the whole batch's numbers for its images."""
    if type(module).__name__.startswith("BatchNorm"):
        return True
    axis = getattr(module, "dim", getattr(module, "start_dim", None))
    return isinstance(axis, int) and axis % rank == 0


def _channels_last_values(nodes: list[NodeRef]) -> set[str]:
    """The values laid out (N, H, W, C): from a Permute to channels last (ConvNeXt's blocks)
    up to the Permute back. They run pointwise (LayerNorm and Linear over each pixel's
    channels); `receptive_field` refuses any other Permute or layer there."""
    last: set[str] = set()
    for node in nodes:
        after = any(v in last for v in node.inputs)
        if after != is_permute(node.module):  # a Permute to channels last, or a layer after one
            last.add(node.output)
    return last


def _check_extra_outputs_unread(model: nn.Module, nodes: list[NodeRef], node: NodeRef) -> None:
    """A layer of several outputs runs tiled for its first, Y, alone: its others (pool
    indices: positions within the tile's plane, not the image's) must be read by no node
    and be no output of the model; else a ValueError naming the node and the reader."""
    extra = set(node.extra_outputs)
    outputs = set(model.outputs) if isinstance(model, nn.Graph) else extra
    reader = next((n for n in nodes if extra & set(n.inputs)), None)
    if reader is None and not extra & outputs:
        return
    what = (
        f"node {reader.name!r} ({type(reader.module).__name__}) reads"
        if reader is not None
        else "the model returns"
    )
    raise ValueError(
        f"{_FUNC}: model: node {node.name!r} ({type(node.module).__name__}) writes "
        f"{sorted(extra)}, and {what} them; a tile's indices are positions within the tile, "
        "not the whole image, so only a model that reads none of them is tiled"
    )


def _aligned(chunks: tuple[int, ...], jump: int) -> tuple[int, ...]:
    """Chunks whose inner boundaries are the old ones rounded to the nearest multiple of
    ``jump`` (chunks that vanish are merged into their neighbours)."""
    n = sum(chunks)
    cuts = np.cumsum(chunks)[:-1]
    inner = sorted({int(round(c / jump)) * jump for c in cuts} - {0} - {n})
    inner = [c for c in inner if 0 < c < n]
    edges = [0, *inner, n]
    return tuple(int(e - s) for s, e in zip(edges[:-1], edges[1:]))


def apply(model_or_op: nn.Module, array: Any) -> Any:
    """Apply a network to a dask array chunked along H and W, exactly as to the whole image.

    ``model_or_op``: a ``cnnmath.nn`` model or layer (``Sequential``, ``Graph``, a single
    ``Conv2d`` or pooling layer) made of convolutions, poolings and pointwise layers
    (activations, ``Add``, channel ``Concat``, ``ChannelShuffle``, the channel split
    ``Narrow(1, …)``; and, between a ``Permute`` to channels last and one back, as in
    ConvNeXt's blocks, layers acting on each pixel's channels: LayerNorm, Linear); in eval
    mode when it has dropout or batch norm. ``array``: a ``dask.array.Array`` of shape
    (N, C, H, W) or (C, H, W), in the model's dtype, chunked any way along N, H and W.

    Returns a lazy dask array of the output, (N, C_out, H_out, W_out) or (C_out, H_out,
    W_out), equal to ``model(array.compute())`` to rounding: each output block is computed
    from its input region grown by the receptive field, each layer padding only at the true
    image edges (module docstring). With total jump J per axis, output block k holds the
    outputs i whose field's centre c + i·J falls in input chunk k, i.e.

        output boundaries  O_k = clip(⌈(B_k − c)/J⌉, 0, H_out)   for input boundaries B_k,

    which needs B_k on multiples of J (an input chunk with O_k = O_(k+1) gets no output
    block: the output has no empty chunks): otherwise, and when C is split, the array is
    rechunked first, with a :class:`TiledRechunkWarning`. The graph has one task per output
    block, which reads the input blocks it needs directly.

    An array chunked only along N (H and W each one chunk: every chunk holds whole images)
    goes through ``map_blocks``, one task per chunk running the network as it is. Then the
    layers that tiles cannot reproduce but that read each image alone run too: global
    layers (adaptive pooling, ``Flatten``, ``Linear``, group/layer/instance norm: a
    classifier's head, whose output (N, F) has no spatial axes) and borders of the image's
    own pixels (reflect, replicate, circular). A layer that mixes the images of the batch (a
    BatchNorm by the batch's statistics, a softmax over N) needs N in one chunk as well.
    Where H or W is split into several chunks, these layers are refused, naming the node
    and the way out: ``array.rechunk({-2: -1, -1: -1})`` (whole images per chunk), or the
    spatial part of the network tiled and the rest run on its smaller output.

    >>> import dask.array as da
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2))
    >>> x = np.random.default_rng(0).standard_normal((1, 1, 12, 12)).astype(np.float32)
    >>> y = apply(net, da.from_array(x, chunks=(1, 1, 4, 6)))
    >>> y.chunks[2:], bool(np.allclose(y.compute(), net(x), rtol=0, atol=0))
    (((2, 2, 2), (3, 3)), True)
    """
    da = require("dask.array", "dask", "tiled.apply")
    if not isinstance(model_or_op, nn.Module):
        raise TypeError(
            f"{_FUNC}: model_or_op: expected a cnnmath.nn.Module (a model or a layer), got "
            f"{type(model_or_op).__name__}"
        )
    if not isinstance(array, da.Array):
        raise TypeError(
            f"{_FUNC}: array: expected a dask.array.Array, got {type(array).__name__}; wrap a "
            "NumPy array with dask.array.from_array(x, chunks=...)"
        )
    if array.ndim not in (3, 4) or any(math.isnan(s) for s in array.shape):
        raise ValueError(
            f"{_FUNC}: array: expected shape (N, C, H, W) or (C, H, W) with known sizes, got "
            f"{array.shape}"
        )
    if array.dtype.kind == "f" and not array.dtype.isnative:  # big-endian: native order
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{_FUNC}: array: expected dtype float32 or float64, got {array.dtype}; convert "
            "with array.astype(numpy.float32)"
        )
    dtypes = _float_dtypes(model_or_op)
    if dtypes and array.dtype not in dtypes:
        raise TypeError(
            f"{_FUNC}: array: expected the model's dtype {dtypes.pop()}, got {array.dtype}"
        )
    fixed = getattr(model_or_op, "fixed_input_sizes", None)
    if fixed:  # tiles are other sizes than the ones the model's computation assumes
        (name, dims), *_ = fixed.items()
        raise ValueError(
            f"{_FUNC}: model_or_op: its input {name!r} is held to the shape {dims} (an ONNX "
            "file exported without dynamic axes, whose sizes were computed when it was "
            "loaded: Graph.fix_input_sizes); tiles have other sizes: export with dynamic axes"
        )
    shape = tuple(int(s) for s in array.shape)
    nodes = model_nodes(model_or_op)
    first = nodes[0].module
    if not is_permute(nodes[0].module):  # (checked with what follows it, in _program)
        _node_geometry(nodes[0])  # a layer tiles cannot run refused before the array's checks
    for node in nodes:
        dim = getattr(node.module, "dim", None)
        if array.ndim == 3 and isinstance(dim, int) and dim >= 0:
            # an axis counted from the front: on one (C, H, W) image dim 1 is H, where the
            # tiles' plan (made for batches) reads it as the channels (a softmax, a concat)
            raise ValueError(
                f"{_FUNC}: model: node {node.name!r} ({type(node.module).__name__}(dim={dim})) "
                f"means axis {dim} of an unbatched (C, H, W) image, "
                f"{'CHW'[dim] if dim < 3 else 'none'}, where the tiles count from a batch "
                f"axis; give the array a batch axis, or the layer dim={dim - 4} (counted from "
                "the end: the same on both)"
            )
        held = getattr(node.module, "held_rank", None)
        if array.ndim == 3 and callable(held) and held() >= 4:
            raise ValueError(
                f"{_FUNC}: model: node {node.name!r} ({type(node.module).__name__}) holds a "
                "value of 4 axes, which on one unbatched (C, H, W) image adds a batch axis; "
                "give the array a batch axis (array[None])"
            )
    if hasattr(first, "in_channels") and first.in_channels != shape[-3]:
        raise ValueError(
            f"{_FUNC}: array: expected {first.in_channels} channels (axis {array.ndim - 3}) for "
            f"{type(first).__name__}, got shape {shape}"
        )
    images = array.numblocks[-2:] == (1, 1)  # every chunk holds whole images
    batch = array.ndim == 3 or array.numblocks[0] == 1
    program, field = _program(model_or_op, shape[-3:], images, batch)
    if array.ndim == 3 and len(field.shape) != 3:
        raise ValueError(
            f"{_FUNC}: model: its output has the shape {field.shape} per image, without the "
            "spatial axes, which on one unbatched (C, H, W) image is not what it means; give "
            "the array a batch axis (array[None])"
        )

    lead = array.ndim - 3
    rechunk: dict[int, Any] = {}
    if len(array.chunks[lead]) > 1:
        rechunk[lead] = shape[lead]
    for axis in (0, 1) if not images else ():  # (whole images: any H and W will do)
        chunks = array.chunks[lead + 1 + axis]
        aligned = _aligned(chunks, field.jump[axis])
        if aligned != chunks:
            rechunk[lead + 1 + axis] = aligned
    if rechunk:
        warnings.warn(
            f"{_FUNC}: rechunked the array along axes {sorted(rechunk)} to chunks "
            f"{[array.chunks[a] if a not in rechunk else rechunk[a] for a in range(array.ndim)]}"
            f": one chunk along C, and H/W chunk boundaries on multiples of the total jump "
            f"{field.jump}; chunk it so to avoid the extra tasks",
            TiledRechunkWarning,
            stacklevel=2,
        )
        array = array.rechunk(rechunk)

    if images:  # one task per chunk of whole images, the network run as it is
        out = tuple(field.shape)  # (C, H, W), or (F,) after a Flatten
        return array.map_blocks(
            _run_whole,
            program,
            out,
            chunks=(*array.chunks[:lead], *((n,) for n in out)),
            drop_axis=list(range(lead + len(out), array.ndim)),
            dtype=array.dtype,
            meta=np.empty((0,) * (lead + len(out)), array.dtype),
        )
    return _tiled_graph(array, program, field, lead)


def _tiled_graph(array: Any, program: _Program, field: Any, lead: int) -> Any:
    """One task per output block; each reads the input blocks its plan names."""
    da = require("dask.array", "dask", "tiled.apply")
    spec = require("dask._task_spec", "dask", "tiled.apply")
    hlg = require("dask.highlevelgraph", "dask", "tiled.apply")
    plans = []
    for axis in (0, 1):
        chunks = array.chunks[lead + 1 + axis]
        bounds = [0, *np.cumsum(chunks).tolist()]
        n_out, jump, centre = field.shape[1 + axis], field.jump[axis], field.start[axis]
        outs = (
            [0]
            + [min(max(math.ceil((b - centre) / jump), 0), n_out) for b in bounds[1:-1]]
            + [n_out]
        )
        # an input chunk where no output's field is centred gets no output block: a chunk of
        # size 0 is legal in dask, but its reductions (min, max) fail on one
        plans.append(
            [
                _plan_axis(program, axis, (outs[k], outs[k + 1]), bounds)
                for k in range(len(chunks))
                if outs[k] < outs[k + 1]
            ]
        )
    name = f"cnnmath-tiled-{uuid.uuid4().hex}"
    program_key = f"{name}-program"
    graph: dict[Any, Any] = {program_key: spec.DataNode(program_key, program)}
    leads = list(np.ndindex(*array.numblocks[:lead])) if lead else [()]
    for n in leads:
        for i, ph in enumerate(plans[0]):
            for j, pw in enumerate(plans[1]):
                rows = spec.List(
                    *[
                        spec.List(
                            *[spec.TaskRef((array.name, *n, 0, bi, bj)) for bj, _, _ in pw.blocks]
                        )
                        for bi, _, _ in ph.blocks
                    ]
                )
                key = (name, *n, 0, i, j)
                graph[key] = spec.Task(key, _run_tile, spec.TaskRef(program_key), ph, pw, rows)
    chunks = (
        *array.chunks[:lead],
        (program.out_channels,),
        tuple(p.out[1] - p.out[0] for p in plans[0]),
        tuple(p.out[1] - p.out[0] for p in plans[1]),
    )
    layers = hlg.HighLevelGraph.from_collections(name, graph, dependencies=[array])
    meta = np.empty((0,) * array.ndim, array.dtype)
    return da.Array(layers, name, chunks, meta=meta)


# ---------------------------------------------------------------------------------------------
# Collections: many images, one task each


def load_any(path: str | os.PathLike[str]) -> np.ndarray:
    """One image of a collection as an array: ``.npy`` (``numpy.load`` without pickle, as
    stored), a Zarr store or TIFF (:func:`cnnmath.tiled_io.open_array`, computed: (C, H, W)
    float in [0, 1]), or any picture :func:`cnnmath.images.load_image` reads ((C, H, W)
    float64 in [0, 1])."""
    from . import tiled_io

    text = os.fspath(path)
    if text.lower().endswith(".npy"):
        return np.asarray(np.load(text, allow_pickle=False))
    if tiled_io.is_array_path(text):
        return np.asarray(tiled_io.open_array(text).compute(scheduler="synchronous"))
    from .images import load_image

    return load_image(text)[0]


def _float_dtypes(model: nn.Module) -> set[np.dtype[Any]]:
    """The float dtypes of a model's parameters and buffers (a BatchNorm2d without affine
    holds only its running statistics): what its layers take."""
    held = [p.data for p in model.parameters()] + list(model.buffers())
    return {np.asarray(a).dtype for a in held if np.asarray(a).dtype.kind == "f"}


def _predict_one(model: nn.Module, load: Callable[[str], np.ndarray], path: str) -> Any:
    """The task of :func:`stream`: load one image, cast it to the model's dtype, run the
    model on it as a batch of one, and return the one output (a tuple of them for a model
    of several outputs)."""
    x = np.asarray(load(path))
    dtypes = _float_dtypes(model)
    if dtypes:
        x = x.astype(dtypes.pop(), copy=False)
    one = x.ndim == 3
    y = _run_node(model, [x[None] if one else x])
    ys = tuple(
        np.asarray(v)[0] if one else np.asarray(v) for v in (y if isinstance(y, tuple) else (y,))
    )
    return ys if isinstance(y, tuple) else ys[0]


def stream(
    model: nn.Module,
    paths: Iterable[str | os.PathLike[str]],
    *,
    load: Callable[[str], np.ndarray] = load_any,
    scheduler: Any = None,
    window: int | None = None,
) -> Iterator[tuple[str, np.ndarray]]:
    """Run ``model`` on every image of a collection, one task per image, and yield
    ``(path, model(image))`` in the order of ``paths`` as the results arrive.

    ``paths`` may be any iterable, a generator too: it is read as the work proceeds, never
    ahead of the ``window`` images in flight (default: twice the threads that run them), so
    a collection of any length streams through bounded memory. ``load(path)`` gives the
    image, (C, H, W) — run as a batch of one, the output's batch axis dropped — or
    (N, C, H, W) as it is; default :func:`load_any`. It runs inside the task, on the
    worker: pass a module-level function (it travels by reference). The image is cast to
    the model's dtype. A model of several outputs (a Graph with ``set_output(a, b)``)
    gives a tuple of them in place of ``model(image)``.

    ``scheduler``: None — a pool of threads in this process (BLAS held to one thread each);
    an address ``tcp://HOST:PORT`` or a ``distributed.Client`` — the tasks go to that
    cluster, the model sent to every worker once. A worker lost mid-run has its task run
    again elsewhere (dask.distributed's rescheduling); a task that raises stops the stream:
    the tasks not yet done are cancelled and the error is raised with the path named.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for k in range(3):
    ...     np.save(folder / f"{k}.npy", np.full((1, 4, 4), k, np.float32))
    >>> net = nn.Sequential(nn.AvgPool2d(2))
    >>> [(pathlib.Path(p).name, y.shape, float(y.max())) for p, y in
    ...  stream(net, sorted(folder.glob("*.npy")))]
    [('0.npy', (1, 2, 2), 0.0), ('1.npy', (1, 2, 2), 1.0), ('2.npy', (1, 2, 2), 2.0)]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"tiled.stream: model: expected a cnnmath.nn.Module, got {type(model).__name__}"
        )
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or window < 1
    ):
        raise ValueError(f"tiled.stream: window: expected an int >= 1, got {window!r}")
    from .tiled_io import scheduler_client

    with scheduler_client(scheduler) as client:
        if client is None:
            yield from _stream_here(model, paths, load, window)
        else:
            yield from _stream_cluster(client, model, paths, load, window)


def _failed(path: str, exc: BaseException) -> RuntimeError:
    return RuntimeError(f"tiled.stream: image '{path}' failed: {type(exc).__name__}: {exc}")


def _stream_here(
    model: nn.Module, paths: Iterable[Any], load: Callable[[str], np.ndarray], window: int | None
) -> Iterator[tuple[str, np.ndarray]]:
    from concurrent.futures import Future, ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    threads = os.cpu_count() or 1
    pending: deque[tuple[str, Future[np.ndarray]]] = deque()
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        try:
            for path in paths:
                text = os.fspath(path)
                pending.append((text, pool.submit(_predict_one, model, load, text)))
                if len(pending) >= (window or 2 * threads):
                    yield _take(pending)
            while pending:
                yield _take(pending)
        finally:
            for _, future in pending:
                future.cancel()


def _take(pending: deque[tuple[str, Any]]) -> tuple[str, np.ndarray]:
    path, future = pending.popleft()
    try:
        return path, future.result()
    except Exception as exc:
        raise _failed(path, exc) from exc


def _stream_cluster(
    client: Any,
    model: nn.Module,
    paths: Iterable[Any],
    load: Callable[[str], np.ndarray],
    window: int | None,
) -> Iterator[tuple[str, np.ndarray]]:
    threads = sum(client.nthreads().values()) or 1
    shared = client.scatter(model, broadcast=True, hash=False)
    pending: deque[tuple[str, Any]] = deque()
    try:
        for path in paths:
            text = os.fspath(path)
            pending.append((text, client.submit(_predict_one, shared, load, text, pure=False)))
            if len(pending) >= (window or 2 * threads):
                yield _take(pending)
        while pending:
            yield _take(pending)
    finally:
        client.cancel([f for _, f in pending] + [shared])
