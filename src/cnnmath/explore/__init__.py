"""An offline, interactive page of a network's feature maps: ``cnnmath explore``.

:func:`explore_data` runs a model node by node (:meth:`cnnmath.nn.Module.walk`) on a few
inputs and records, for every node, its output, its receptive field
(:func:`cnnmath.receptive_field`) and what it computes (a convolution's weights, geometry and
groups; a pooling window; a dense layer's weights). :func:`page_html` embeds that record as
JSON in one self-contained HTML file with the page's script and style inlined — no network,
no build step, it opens from the file system. On the page:

- one panel per node, showing the node's feature maps (one small map per channel, a strip
  for a vector) for the input chosen at the top;
- hovering a unit highlights its receptive field in the input — output cell i of a node
  with field size r, jump j and start c reads input rows c + i·j ± (r − 1)/2 (clipped to
  the image; a node after a global layer reads all of it) — and shows its value;
- clicking a unit of a convolution shows its kernel, the input patch under it and the
  weighted sum Σ_c Σ_a Σ_b w[o,c,a,b] · X̃[c, s·i + d·a, s·j + d·b] + bias[o], recomputed
  by the page from the embedded numbers and shown beside the value cnnmath computed; for a
  pooling its window, for a dense layer its sum, for an activation its input.

:func:`build_explorer` writes ``DIR/index.html`` atomically. The default model is the digits
network (``cnnmath.models.lenet``) trained briefly: :data:`EPOCHS` epochs of the digits
recipe with seed 0 (about a second or two), so the maps show learned features and the same
command always draws the same page.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from .._checks import writable_directory
from .._files import atomic_output, regular_file

__all__ = [
    "DEFAULT_DIR",
    "EPOCHS",
    "GENERATOR",
    "MAX_NUMBERS",
    "build_explorer",
    "explore_data",
    "load_model",
    "page_html",
]

DEFAULT_DIR = "cnnmath-explore"
#: Epochs of the digits recipe (seed 0) for the default model.
EPOCHS = 8
#: The generator tag of the page: an existing index.html without it is never overwritten.
GENERATOR = "cnnmath explore"
#: The most numbers the page embeds (values of every node for every input, and weights).
MAX_NUMBERS = 4_000_000
#: The most weights it embeds, layers in walk order: a layer whose weights would pass it
#: (ResNet-18's deep convolutions hold 2.4 million each) is drawn and its units explained
#: from its geometry, without its weighted sum.
MAX_WEIGHTS = 1_000_000

_FUNC = "explore"


def _numbers(a: np.ndarray) -> list[float]:
    """A flat list with 6 significant digits (enough to draw, and to check a sum to ~1e-5)."""
    flat = np.asarray(a, dtype=np.float64).ravel()
    return [float(v) for v in np.char.mod("%.6g", flat)]


def _weight_count(module: Any) -> int:
    """How many numbers the page would embed for the layer: a convolution's or linear
    layer's weight and bias (the ones a click recomputes a sum from), else none."""
    if type(module).__name__ not in ("Conv2d", "Linear"):
        return 0
    bias = getattr(module, "bias", None)
    return int(module.weight.data.size + (0 if bias is None else bias.data.size))


def _weights(module: Any, budget: int) -> dict[str, Any]:
    """The layer's weight and bias as flat lists if both fit in ``budget`` numbers, else
    None and how many they are (``omitted``): the page then says they were left out."""
    bias = getattr(module, "bias", None)
    size = _weight_count(module)
    if size > budget:
        return {"weight": None, "bias": None, "omitted": size}
    return {
        "weight": _numbers(module.weight.data),
        "bias": None if bias is None else _numbers(bias.data),
    }


def _op(module: Any, budget: int) -> dict[str, Any]:
    """What a node computes, for the page's click: geometry and weights where it has them
    (at most ``budget`` numbers of weights, see :data:`MAX_WEIGHTS`)."""
    from ..receptive import layer_geometry

    kind = type(module).__name__
    geometry = layer_geometry(module)
    if geometry.kind == "window" and geometry.axes is not None:
        axes = geometry.axes
        window = {
            "kernel": [a.kernel for a in axes],
            "stride": [a.stride for a in axes],
            "pad": [a.pad_before for a in axes],
            "dilation": [a.dilation for a in axes],
        }
        if kind == "Conv2d":
            return {
                "kind": "conv",
                **window,
                "groups": int(getattr(module, "groups", 1)),
                "weight_shape": list(module.weight.data.shape),
                **_weights(module, budget),
            }
        if kind in ("MaxPool2d", "AvgPool2d"):
            return {"kind": "maxpool" if kind == "MaxPool2d" else "avgpool", **window}
        return {"kind": "window", **window}
    if kind == "Linear":
        return {
            "kind": "linear",
            "weight_shape": list(module.weight.data.shape),
            **_weights(module, budget),
        }
    if geometry.kind == "pointwise":
        return {"kind": "pointwise"}
    return {"kind": "other"}


def explore_data(
    model: nn.Module,
    inputs: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    title: str = "model",
) -> dict[str, Any]:
    """Run ``model`` node by node on ``inputs`` and return the page's record (JSON-ready).

    Parameters
    ----------
    model : a :class:`cnnmath.nn.Module` (Sequential or Graph); run in eval mode.
    inputs : (N, C, H, W) float array, N ≥ 1: the inputs the page lets one choose from.
    labels : N names for the inputs (default "input 1", ...).
    title : a line naming the model.

    Returns
    -------
    ``{"title", "labels", "nodes"}``; ``nodes[0]`` is the input, then one per node of
    ``model.walk()`` (of a layer of several outputs, ``MaxPool2d(return_indices=True)``,
    its first, Y; a node reading its indices "reads" that node), each ``{"name", "layer",
    "reads" (indices of the nodes it reads), "shape" (C, H, W) or (F,), "field" {"size",
    "jump", "start", "whole"}, "values" (one flat list per input), "op"}``.
    The fields are :func:`cnnmath.receptive_field`'s rows.

    A convolution's or linear layer's ``op`` holds its weights while they fit in
    :data:`MAX_WEIGHTS` (layers in walk order); past it ``"weight"`` and ``"bias"`` are None
    and ``"omitted"`` counts them.

    Raises ``ValueError`` when the record would hold more than :data:`MAX_NUMBERS` numbers
    (fewer inputs or a smaller input size make it fit), and when a weight, an input or a
    node's output is NaN or infinite (naming it): the page's sums and colours need finite
    numbers, and JSON has none for NaN.
    """
    from .._checks import check_float_array
    from ..receptive import model_nodes, receptive_field

    if not isinstance(model, nn.Module):
        raise TypeError(f"{_FUNC}: model: expected a cnnmath.nn.Module, got {type(model).__name__}")
    x = check_float_array("inputs", inputs, func=_FUNC)
    if x.ndim != 4 or x.shape[0] < 1:
        raise ValueError(f"{_FUNC}: inputs: expected shape (N, C, H, W), got {x.shape}")
    names = list(labels) if labels is not None else [f"input {k + 1}" for k in range(len(x))]
    if len(names) != len(x):
        raise ValueError(f"{_FUNC}: labels: expected {len(x)} names, got {len(names)}")
    _check_finite(model, "model")
    bad_inputs = [names[k] for k in range(len(x)) if not np.isfinite(x[k]).all()]
    if bad_inputs:
        raise ValueError(
            f"{_FUNC}: inputs: expected finite numbers, got NaN or inf in {bad_inputs[:3]}"
        )
    model.eval()
    nodes = model_nodes(model)
    fields = receptive_field(model, x.shape[1:])
    values: dict[str, np.ndarray] = {nodes[0].inputs[0]: x}
    index = {nodes[0].inputs[0]: 0}
    count = x.size
    weights_left = MAX_WEIGHTS

    def field(k: int) -> dict[str, Any]:
        f = fields[k]
        return {
            "size": list(f.size),
            "jump": list(f.jump),
            "start": list(f.start),
            "whole": bool(f.whole),
        }

    record = [
        {
            "name": "(input)",
            "layer": "input",
            "reads": [],
            "shape": list(x.shape[1:]),
            "field": field(0),
            "values": [_numbers(v) for v in x],
            "op": {"kind": "input"},
        }
    ]
    for k, node in enumerate(nodes, start=1):
        try:
            result = node.module(*[values[v] for v in node.inputs])
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"{_FUNC}: inputs: node {node.name!r} ({type(node.module).__name__}) cannot "
                f"read inputs of shape {x.shape[1:]}: {exc}"
            ) from None
        if node.extra_outputs:  # (Y, I, …): the page shows Y; later readers get the rest
            y = np.asarray(result[0])
            for name, extra in zip(node.extra_outputs, result[1:], strict=True):
                values[name] = np.asarray(extra)
                index[name] = k
        else:
            y = np.asarray(result)
        finite = np.isfinite(y).reshape(len(y), -1).all(axis=1) if y.dtype.kind in "fc" else None
        if finite is not None and not finite.all():
            first = names[int(np.flatnonzero(~finite)[0])]
            raise ValueError(
                f"{_FUNC}: model: node {node.name!r} ({type(node.module).__name__}) computes "
                f"NaN or inf for {first!r} (the values overflow {y.dtype}); the page shows "
                "finite numbers only"
            )
        values[node.output] = y
        index[node.output] = k
        op = _op(node.module, weights_left)
        embedded = len(op.get("weight") or ()) + len(op.get("bias") or ())
        weights_left -= embedded
        count += y.size + embedded
        if count > MAX_NUMBERS:
            raise ValueError(
                f"{_FUNC}: inputs: the page would hold more than {MAX_NUMBERS:,} numbers "
                f"(reached at node {node.name!r}); choose fewer inputs or a smaller input size"
            )
        record.append(
            {
                "name": node.name,
                "layer": type(node.module).__name__,
                "reads": [index[v] for v in node.inputs],
                "shape": list(y.shape[1:]),
                "field": field(k),
                "values": [_numbers(v) for v in y],
                "op": op,
            }
        )
    return {"title": title, "labels": names, "nodes": record}


def _fitting_images(model: nn.Module, shape: tuple[int, ...]) -> int:
    """How many inputs of ``shape`` the page holds: every node's values for each input
    (shapes from ``receptive_field``, nothing run) beside the weights it embeds."""
    from ..receptive import model_nodes, receptive_field

    per_input = sum(math.prod(row.shape) for row in receptive_field(model, shape))
    weights_left = MAX_WEIGHTS
    for node in model_nodes(model):  # as explore_data embeds them: in walk order, to the budget
        size = _weight_count(node.module)
        weights_left -= size if size <= weights_left else 0
    return (MAX_NUMBERS - (MAX_WEIGHTS - weights_left)) // per_input


def _check_finite(model: nn.Module, what: str) -> None:
    """Refuse a model whose weights or buffers hold NaN or inf, naming ``what`` and the first
    such tensor: a diverged training run or a damaged file, which the page cannot show."""
    for key, value in model.state_dict().items():
        array = np.asarray(value)
        if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
            count = int(array.size - np.count_nonzero(np.isfinite(array)))
            raise ValueError(
                f"{_FUNC}: {what}: tensor {key!r} holds {count} NaN or infinite value(s) of "
                f"{array.size}; expected finite weights (NaN or inf come from a training run "
                "that diverged, or a damaged file): the page shows finite numbers only"
            )


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def page_html(data: dict[str, Any]) -> str:
    """The self-contained page: the assets' HTML with the style, the script and ``data`` (as
    JSON in a ``<script type="application/json">``, "</" escaped) inlined."""
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    page = _asset("explore.html")
    return (
        page.replace("/*STYLE*/", _asset("explore.css"))
        .replace("/*SCRIPT*/", _asset("explore.js"))
        .replace("{{TITLE}}", html.escape(data["title"]))
        .replace("{{GENERATOR}}", GENERATOR)
        .replace("{{DATA}}", payload)
    )


# ---------------------------------------------------------------------------------------------
# Models and inputs for the command


def _digit_inputs(count: int) -> tuple[np.ndarray, list[str]]:
    """The first test image of each class 0, 1, 2, ... (``count`` of them)."""
    from ..data import load_digits

    images, labels = load_digits("test")
    picks = [int(np.flatnonzero(labels == c)[0]) for c in range(min(count, 10))]
    return images[picks].astype(np.float64), [f"digit {int(labels[p])}" for p in picks]


def _photo_inputs(shape: tuple[int, int, int], count: int) -> tuple[np.ndarray, list[str]]:
    """The bundled photograph at (H, W) (luma when C = 1), its mirror image, then noise."""
    from .._optional import require
    from ..filters import to_grayscale
    from ..images import sample_image

    Image = require("PIL.Image", "image", "explore's inputs")
    C, H, W = shape
    photo = sample_image()
    if C == 1:
        photo = to_grayscale(photo)
    elif C != 3:
        rng = np.random.default_rng(0)
        return rng.standard_normal((count, *shape)), [f"noise {k + 1}" for k in range(count)]
    planes = [
        np.asarray(Image.fromarray(p.astype(np.float32), mode="F").resize((W, H), Image.BILINEAR))
        for p in photo
    ]
    small = np.stack(planes).astype(np.float64)
    rng = np.random.default_rng(0)
    candidates = [
        (small, "photograph"),
        (small[:, :, ::-1].copy(), "photograph, mirrored"),
        *((rng.uniform(0, 1, shape), f"noise {k + 1}") for k in range(max(0, count - 2))),
    ]
    chosen = candidates[:count]
    return np.stack([c[0] for c in chosen]), [c[1] for c in chosen]


def load_model(
    model: str | None = None,
    *,
    arch: str | None = None,
    progress: bool = False,
) -> tuple[nn.Module, str, tuple[int, int, int]]:
    """The model to explore, a line naming it, and its default input shape (C, H, W).

    ``model`` None: the digits network trained for :data:`EPOCHS` epochs (seed 0).
    A name of :mod:`cnnmath.models` (``lenet``, ``resnet20``, ...): that network with its
    default arguments and seed 0, untrained. A path ending in ``.safetensors``: weights for
    ``arch`` (a digits recipe, ``lenet`` or ``resnet20``, or a name of ``cnnmath.models``),
    loaded by :func:`cnnmath.weights.load` (never pickle; keys and shapes checked). The file
    must be a regular file (a FIFO or a device is refused before anything opens it), and
    weights holding NaN or inf are refused (``ValueError`` naming MODEL and the tensor).
    """
    from .. import models, recipes
    from ..weights import load

    names = tuple(models.__all__)
    if model is None:
        if arch is not None:
            raise ValueError(f"{_FUNC}: --arch: only with a .safetensors MODEL, got {arch!r}")
        import contextlib
        import sys

        with contextlib.redirect_stdout(sys.stderr):
            net, _, accuracy = recipes.train_digits(epochs=EPOCHS, seed=0, progress=progress)
        title = (
            f"the digits CNN (lenet), trained {EPOCHS} epochs with seed 0 — held-out "
            f"accuracy {100 * accuracy:.1f}%"
        )
        return net, title, (1, 8, 8)
    if str(model).endswith(".safetensors"):
        if arch is None:
            raise ValueError(
                f"{_FUNC}: --arch: a .safetensors MODEL needs --arch NAME "
                f"(one of {', '.join(sorted(set(recipes.ARCHS) | set(names)))})"
            )
        if arch in recipes.ARCHS:
            net, shape = recipes.digits_model(arch, seed=0), (1, 8, 8)
        elif arch in names:
            net, shape = getattr(models, arch)(), _default_shape(arch)
        else:
            raise ValueError(
                f"{_FUNC}: --arch: expected one of "
                f"{', '.join(sorted(set(recipes.ARCHS) | set(names)))}, got {arch!r}"
            )
        regular_file("MODEL", model, func=_FUNC, expected="a .safetensors file")
        load(net, model)
        _check_finite(net, f"MODEL '{model}'")
        return net, f"{arch} with the weights of {os.path.basename(model)}", shape
    if model in names:
        if arch is not None:
            raise ValueError(f"{_FUNC}: --arch: only with a .safetensors MODEL, got {arch!r}")
        return getattr(models, model)(), f"{model} (untrained, seed 0)", _default_shape(model)
    raise ValueError(
        f"{_FUNC}: MODEL: expected a name of cnnmath.models ({', '.join(names)}) or a "
        f".safetensors file, got {model!r}"
    )


def _default_shape(name: str) -> tuple[int, int, int]:
    return {"lenet": (1, 8, 8), "resnet20": (3, 32, 32)}.get(name, (3, 64, 64))


def build_explorer(
    out_dir: str | os.PathLike[str] = DEFAULT_DIR,
    model: str | None = None,
    *,
    arch: str | None = None,
    input_shape: Sequence[int] | None = None,
    images: int | None = None,
    progress: bool = False,
) -> Path:
    """Write the explorer of ``model`` (see :func:`load_model`) to ``out_dir/index.html``.

    Inputs: the digits of classes 0..images−1 for a (1, 8, 8) input, otherwise the bundled
    photograph resized to ``input_shape`` (its luma for one channel), mirrored, then noise.
    By default as many of 6 inputs as the page's :data:`MAX_NUMBERS` holds (at least one),
    at the model's default input size halved (not below 32) while not even one fits: so
    every model of ``cnnmath.models`` draws a page, ResNet-50 at 32×32. An ``images`` or
    ``input_shape`` given is kept, and refused when the page cannot hold it.
    ``out_dir`` is created if missing; an ``index.html`` there that this command did not
    write is refused (``ValueError``), as is one that is no regular file (a directory:
    ``IsADirectoryError``; a FIFO or a device: ``ValueError``), and the page is written
    whole or not at all.
    Returns the path of index.html.
    """
    out = Path(os.path.abspath(out_dir))
    if out.exists() and not out.is_dir():
        raise ValueError(f"{_FUNC}: out_dir: '{out}' exists and is not a folder")
    index = out / "index.html"
    if index.exists():
        regular_file("out_dir", index, func=_FUNC, expected=f"a page written by {GENERATOR}")
        with open(index, "rb") as existing_page:  # its head only: the generator tag is there
            head = existing_page.read(8000).decode("utf-8", errors="replace")
        if f'content="{GENERATOR}' not in head:
            raise ValueError(
                f"{_FUNC}: out_dir: '{index}' exists and was not written by {GENERATOR}; "
                "choose another folder"
            )
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    writable_directory("out_dir", existing, func=_FUNC)
    if images is not None and not 1 <= images <= 10:
        raise ValueError(f"{_FUNC}: images: expected 1 to 10, got {images}")
    net, title, default_shape = load_model(model, arch=arch, progress=progress)
    net.eval()  # as explore_data runs it (and receptive_field reads it)
    from .._checks import positive_int

    shape = tuple(
        positive_int(f"input_shape[{i}]", n, func=_FUNC)
        for i, n in enumerate(input_shape if input_shape is not None else default_shape)
    )
    if len(shape) != 3:
        raise ValueError(f"{_FUNC}: input_shape: expected (C, H, W), got {tuple(shape)}")
    while input_shape is None and min(shape[1:]) > 32 and _fitting_images(net, shape) < 1:
        shape = (shape[0], shape[1] // 2, shape[2] // 2)  # a deep network's default, halved
    if images is None:
        images = max(1, min(6, _fitting_images(net, shape)))
    C, H, W = shape
    if (C, H, W) == (1, 8, 8):
        inputs, labels = _digit_inputs(images)
    else:
        inputs, labels = _photo_inputs((C, H, W), images)
    dtype = next((p.data.dtype for p in net.parameters()), np.dtype(np.float64))
    data = explore_data(net, inputs.astype(dtype), labels=labels, title=title)
    page = page_html(data)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(index) as handle:
        handle.write(page.encode("utf-8"))
    return index
