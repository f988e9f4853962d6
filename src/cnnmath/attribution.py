"""What a CNN looks at: its feature maps, the saliency of each input pixel, Grad-CAM's class
activation maps, and heat maps laid over the picture.

Built on the module hooks (``register_forward_hook``, ``register_full_backward_pre_hook``)
and ``model.backward``, as PyTorch's users write these with tensor hooks and autograd:

    feature_maps(model, x, ["layer1", "layer4"])   {path: that layer's output}
    saliency(model, x, target)                     |∂s/∂x|, s = the target class's score
    input_times_gradient(model, x, target)         x ⊙ ∂s/∂x
    grad_cam(model, x, "layer4", target)           (heatmap (B, H, W) in [0, 1], raw (B, h, w))
    grad_cam_plus_plus(model, x, "layer4", target) the same with Grad-CAM++'s weights
    overlay(image, heatmap, alpha)                 (H, W, 3) uint8: the picture under a colour map
    save_overlay(path, image, heatmap, alpha)      the same written by ``images.save_image``

The score s is the model's output (B, K) at each image's target class, before any softmax
(Simonyan et al. 2014; Selvaraju et al. 2017); ``target`` is one class index for every
image, one per image, or None for each image's top class (the argmax of its scores). Every
function runs the model in evaluation mode, with every parameter frozen for the call, and
leaves it as it was: each module's ``training`` flag, each parameter's ``requires_grad`` and
``grad`` (frozen parameters' gradients are not touched by a backward pass, so nothing
accumulates into the user's gradients), the hooks (each registered here is removed, an
error included), and the context ``model.backward`` would use next.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import nn
from ._checks import check_float_array, check_ndim, check_shape, real_number
from ._optional import require
from .images import save_image
from .ops import interpolate_bilinear

__all__ = [
    "Cam",
    "feature_maps",
    "grad_cam",
    "grad_cam_plus_plus",
    "input_times_gradient",
    "overlay",
    "saliency",
    "save_overlay",
]


class Cam(NamedTuple):
    """A class activation map: ``heatmap`` (B, H, W), the map resized bilinearly to the
    input's H × W and scaled to [0, 1] per image, and ``raw`` (B, h, w), the map at the
    layer's own resolution, unscaled."""

    heatmap: np.ndarray
    raw: np.ndarray


def _model(model: Any, func: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{func}: model: expected a cnnmath.nn.Module, got {type(model).__name__}")
    return model


@contextlib.contextmanager
def _inspecting(model: nn.Module) -> Iterator[None]:
    """``model`` in evaluation mode with every parameter frozen and gradients enabled
    (``nn.enable_grad``: a caller inside ``nn.no_grad`` still gets them), restored afterwards:
    each module's mode, each parameter's flag and each module's kept context (what the
    user's next ``model.backward`` would use) as they were. A hand-written module keeps its
    last call's state on itself, out of reach: its next backward is for the call made here."""
    modules = model.modules()
    modes = [(m, m.training) for m in modules]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    kept = [(m, vars(m)["_last_ctx"]) for m in modules if "_last_ctx" in vars(m)]
    model.eval().requires_grad_(False)
    try:
        with nn.enable_grad():
            yield
    finally:
        for p, flag in reversed(flags):  # a tied parameter ends with its first flag
            p.requires_grad = flag
        for m, training in modes:
            m.training = training
        for m, ctx in kept:
            m._last_ctx = ctx


def _images(x: Any, func: str) -> np.ndarray:
    check_float_array("x", x, func=func)
    check_ndim("x", x, (4,), func=func, layout="(B, C, H, W)", hint=_one_image_hint(x))
    return np.asarray(x)


def _one_image_hint(x: np.ndarray) -> str:
    return "for one image add the batch axis with x[None]" if x.ndim == 3 else ""


def _layer(model: Any, path: Any, func: str, name: str = "layer") -> nn.Module:
    _model(model, func)
    if not isinstance(path, str):
        raise TypeError(
            f"{func}: {name}: expected a dotted path such as 'layer4', got {type(path).__name__}"
        )
    try:
        return model.get_submodule(path)
    except AttributeError as exc:
        raise AttributeError(f"{func}: {name} {path!r} is not in the model: {exc}") from None


def _once(path: str, outputs: list[Any], func: str, *, maps: bool = False) -> Any:
    """The one output a hooked layer gave, refusing a layer that ran several times or, with
    ``maps``, one whose output is not feature maps (B, K, h, w)."""
    if not outputs:
        raise ValueError(
            f"{func}: layer {path!r}: expected a module that runs once per forward, got one "
            "that did not run (the model's output does not depend on it)"
        )
    if len(outputs) > 1:
        parent = path.rpartition(".")[0]
        instead = f", e.g. its parent {parent!r}" if parent else ""
        raise ValueError(
            f"{func}: layer {path!r}: expected a module that runs once per forward, got one "
            f"that ran {len(outputs)} times (a module used at several places, such as a "
            f"block's shared ReLU); ask for one that runs once{instead}"
        )
    (y,) = outputs
    if maps and (not isinstance(y, np.ndarray) or y.ndim != 4):
        got = f"shape {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
        raise ValueError(
            f"{func}: layer {path!r}: expected a layer whose output is feature maps "
            f"(B, K, h, w), got {got}"
        )
    return y


def feature_maps(
    model: nn.Module, x: np.ndarray, layers: str | Sequence[str]
) -> dict[str, np.ndarray]:
    """{path: A} for each dotted path of ``layers`` ("layer1", "layer4.1.conv2"; one path or
    several): A is the output of ``model.get_submodule(path)`` in one forward pass of x
    (B, C, H, W), run in evaluation mode under ``nn.no_grad()`` — a copy, (B, K, h, w) for
    a convolution's maps, (B, K) for a classifier's scores (a tuple for a layer of several
    outputs). The hooks that record them are removed afterwards, even when the
    forward raises; a path not in the model is an AttributeError naming it, a module that
    runs several times in one forward (a shared ReLU) a ValueError.

    >>> import numpy as np
    >>> from cnnmath import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten())
    >>> maps = feature_maps(model, np.ones((2, 1, 5, 5), np.float32), ["0", "1"])
    >>> maps["1"].shape, bool((maps["1"] == np.maximum(maps["0"], 0)).all())
    ((2, 4, 3, 3), True)
    """
    func = "feature_maps"
    x = _images(x, func)
    paths = [layers] if isinstance(layers, str) else layers
    if not isinstance(paths, Sequence) or not paths:
        raise TypeError(
            f"{func}: layers: expected a dotted path or a non-empty list of them, got {layers!r}"
        )
    modules = {path: _layer(model, path, func, "layers") for path in paths}
    outputs: dict[str, list[Any]] = {path: [] for path in modules}
    with _inspecting(model), contextlib.ExitStack() as handles:
        for path, module in modules.items():
            record = outputs[path].append
            handles.enter_context(
                module.register_forward_hook(lambda m, args, y, record=record: record(_copy(y)))
            )
        with nn.no_grad():
            model(x)
    return {path: _once(path, outputs[path], func) for path in modules}


def _copy(y: Any) -> Any:
    """A layer's output (an array, or a tuple of them) copied: a later layer may not change it."""
    return tuple(map(_copy, y)) if isinstance(y, tuple) else np.array(y, copy=True)


def _targets(target: Any, scores: Any, func: str) -> np.ndarray:
    """``target`` as one class index per image, checked against the scores (B, K)."""
    if not isinstance(scores, np.ndarray) or scores.ndim != 2:
        got = f"shape {scores.shape}" if isinstance(scores, np.ndarray) else type(scores).__name__
        raise ValueError(
            f"{func}: model: expected a classifier whose output is scores (B, K), got {got}"
        )
    B, K = scores.shape
    if target is None:
        return np.asarray(scores.argmax(axis=1))
    wanted = f"a class index in [0, {K}), one per image ({B} of them) or None"
    t = np.asarray(target)
    if t.dtype == bool or not np.issubdtype(t.dtype, np.integer) or t.ndim > 1:
        raise TypeError(f"{func}: target: expected {wanted}, got {target!r:.80}")
    if t.ndim == 1 and t.shape != (B,):
        raise ValueError(f"{func}: target: expected {wanted}, got {t.size} indices")
    if t.size and (t.min() < 0 or t.max() >= K):
        raise ValueError(f"{func}: target: expected {wanted}, got {target!r:.80}")
    return np.broadcast_to(t, (B,))


def _score_gradient(model: nn.Module, scores: np.ndarray, target: Any, func: str) -> np.ndarray:
    """Run ``model.backward`` with G = ∂s/∂scores: one at each image's target class."""
    t = _targets(target, scores, func)
    G = np.zeros_like(scores)
    G[np.arange(len(t)), t] = 1
    return np.asarray(model.backward(G))


def _input_gradient(model: nn.Module, x: Any, target: Any, func: str) -> tuple[np.ndarray, Any]:
    _model(model, func)
    x = _images(x, func)
    with _inspecting(model):
        grad = _score_gradient(model, model(x), target, func)
    return x, grad


def saliency(model: nn.Module, x: np.ndarray, target: int | Sequence[int] | None) -> np.ndarray:
    """Simonyan et al.'s saliency, S = |∂s_b/∂x_b| with s_b = model(x)[b, target_b], the
    target class's score before any softmax: (B, C, H, W), x's shape and dtype. ``target``
    is one class index for every image, one per image, or None for each image's top class.
    ``S.max(axis=1)`` is the paper's one map per image.

    The gradient comes from one ``model.backward`` in evaluation mode with every parameter
    frozen for the call, so the parameters' ``grad`` are left untouched; the model's modes,
    flags and hooks are as they were."""
    _, grad = _input_gradient(model, x, target, "saliency")
    return np.abs(grad)


def input_times_gradient(
    model: nn.Module, x: np.ndarray, target: int | Sequence[int] | None
) -> np.ndarray:
    """x ⊙ ∂s_b/∂x_b (B, C, H, W): the saliency's gradient, signed, times the input —
    for a linear model exactly each pixel's contribution to the score. As :func:`saliency`."""
    x, grad = _input_gradient(model, x, target, "input_times_gradient")
    return np.asarray(x * grad)


def _activations_and_gradients(
    model: nn.Module, x: Any, layer: Any, target: Any, func: str
) -> tuple[np.ndarray, np.ndarray]:
    """A (B, K, h, w), the layer's output, and ∂s/∂A from one forward and backward."""
    x = _images(x, func)
    module = _layer(model, layer, func)
    maps: list[Any] = []
    grads: list[Any] = []
    with _inspecting(model), contextlib.ExitStack() as handles:
        handles.enter_context(
            module.register_forward_hook(lambda m, args, y: maps.append(y.copy()))
        )
        handles.enter_context(
            module.register_full_backward_pre_hook(lambda m, g: grads.append(g[0]))
        )
        scores = model(x)
        A = _once(layer, maps, func, maps=True)
        _score_gradient(model, scores, target, func)
    if len(grads) != 1:  # the score does not depend on the layer's output
        raise ValueError(f"{func}: layer {layer!r}: the target's score does not depend on it")
    return A, grads[0]


def _heatmap(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """raw (B, h, w) ≥ 0 resized to ``size`` (bilinear, half-pixel centres) and scaled per
    image to (m − min)/(max − min); a constant map gives zeros."""
    m = interpolate_bilinear(raw[:, None], size=size, align_corners=False)[:, 0]
    low = m.min(axis=(1, 2), keepdims=True)
    span = m.max(axis=(1, 2), keepdims=True) - low
    return np.divide(m - low, span, out=np.zeros_like(m), where=span > 0)


def _cam(
    model: nn.Module,
    x: Any,
    layer: Any,
    target: Any,
    func: str,
    weights: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Cam:
    A, dA = _activations_and_gradients(model, x, layer, target, func)
    raw = np.maximum((weights(A, dA)[:, :, None, None] * A).sum(axis=1), 0)
    return Cam(_heatmap(raw, x.shape[2:]), raw)


def grad_cam(
    model: nn.Module, x: np.ndarray, layer: str, target: int | Sequence[int] | None
) -> Cam:
    """Selvaraju et al.'s Grad-CAM at the module ``layer`` (a dotted path, e.g. "layer4"):

        α_bk = (1/hw) Σ_ij ∂s_b/∂A_bkij,    raw_b = ReLU(Σ_k α_bk A_bk)

    with A (B, K, h, w) the layer's output and s_b = model(x)[b, target_b], the target
    class's score. Returns :class:`Cam`: ``heatmap`` (B, H, W), raw resized bilinearly to
    x's H × W (``interpolate_bilinear``, align_corners=False, as the usual Grad-CAM code)
    then scaled to [0, 1] per image, (m − min)/(max − min), zeros for a constant map; and
    ``raw`` (B, h, w). The model is run and left as by :func:`saliency`.

    >>> import numpy as np
    >>> from cnnmath import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
    ...                       nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    >>> cam = grad_cam(model, np.ones((1, 1, 8, 8), np.float32), "1", target=2)
    >>> cam.heatmap.shape, cam.raw.shape, bool(0 <= cam.heatmap.min() <= cam.heatmap.max() <= 1)
    ((1, 8, 8), (1, 8, 8), True)
    """
    return _cam(model, x, layer, target, "grad_cam", lambda A, dA: dA.mean(axis=(2, 3)))


def _plus_plus_weights(A: np.ndarray, dA: np.ndarray) -> np.ndarray:
    g2 = dA * dA
    denominator = 2 * g2 + A.sum(axis=(2, 3), keepdims=True) * g2 * dA
    a = np.divide(g2, denominator, out=np.zeros_like(g2), where=denominator != 0)
    return np.asarray((a * np.maximum(dA, 0)).sum(axis=(2, 3)))


def grad_cam_plus_plus(
    model: nn.Module, x: np.ndarray, layer: str, target: int | Sequence[int] | None
) -> Cam:
    """Chattopadhay et al.'s Grad-CAM++: :func:`grad_cam` with each map's weight

        w_bk = Σ_ij a_bkij · ReLU(g_bkij),   a_bkij = g² / (2 g² + (Σ_ab A_bkab) g³)

    where g = ∂s_b/∂A_bkij (the paper's closed form for an exponential of the score, in
    which the higher derivatives are powers of g; a = 0 where the denominator is 0), so
    that the places of a class's several instances count alike. Same shapes and scaling."""
    return _cam(model, x, layer, target, "grad_cam_plus_plus", _plus_plus_weights)


def overlay(
    image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5, cmap: str = "jet"
) -> np.ndarray:
    """The picture under a coloured heat map, (H, W, 3) uint8 RGB:

        q[i, j] = round(255 · ((1 − α) · image[:, i, j] + α · cmap(heatmap[i, j])))

    image: (C, H, W) in [0, 1] with C = 3 (RGB) or 1 (gray, repeated), as
    ``images.load_image`` gives; heatmap: (H, W) in [0, 1] (``grad_cam(...).heatmap[b]``);
    cmap: a matplotlib colour map's name ("jet", "inferno", "viridis"), its alpha dropped.
    Needs matplotlib (``pip install "cnnmath[plot]"``)."""
    func = "overlay"
    check_float_array("image", image, func=func)
    check_ndim("image", image, (3,), func=func, layout="(C, H, W)")
    if image.shape[0] not in (1, 3):
        raise ValueError(f"{func}: image: expected 1 or 3 channels, got shape {image.shape}")
    check_float_array("heatmap", heatmap, func=func)
    check_shape("heatmap", heatmap, image.shape[1:], func=func)
    alpha = real_number("alpha", alpha, func=func, low=0.0, high=1.0)
    for name, values in (("image", image), ("heatmap", heatmap)):
        if values.size and not (values.min() >= 0 and values.max() <= 1):
            raise ValueError(
                f"{func}: {name}: expected values in [0, 1], got "
                f"[{values.min():.6g}, {values.max():.6g}]"
            )
    colormaps = require("matplotlib", "plot", "attribution.overlay's colours").colormaps
    if not isinstance(cmap, str) or cmap not in colormaps:
        raise ValueError(
            f"{func}: cmap: expected a matplotlib colour map's name such as 'jet' or "
            f"'inferno', got {cmap!r}"
        )
    colours = colormaps[cmap](heatmap)[..., :3]
    picture = np.moveaxis(image, 0, -1)
    return np.rint(255 * ((1 - alpha) * picture + alpha * colours)).astype(np.uint8)


def save_overlay(
    path: str | os.PathLike,
    image: np.ndarray,
    heatmap: np.ndarray,
    alpha: float = 0.5,
    cmap: str = "jet",
) -> Path:
    """Write :func:`overlay`'s picture to ``path`` with ``images.save_image`` (format from
    the extension; 8 bits per channel, so a PNG holds q exactly); returns the path."""
    q = overlay(image, heatmap, alpha, cmap)
    return save_image(np.moveaxis(q, -1, 0) / 255.0, path)
