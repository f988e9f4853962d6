"""Receptive fields as claims: :func:`cnnmath.receptive_field` against the empirical field
of every layer of ``lenet`` and ``resnet20`` (the recurrences of :mod:`cnnmath.receptive`).

The empirical field of output pixel (i, j) of a node is the support of the gradient
∂y[:, i, j]/∂x — the input pixels with a non-zero derivative — computed by the layers' own
backward passes. The weights are made positive (scaled by 1/fan-in) and the inputs positive
and heavy-tailed (lognormal, σ = 3), so no sum cancels, no ReLU is dead and every position of
a max-pooling window wins for some input (the union over several inputs is taken where a
max pooling is on the path). Pixels checked per node: the two corners and the one whose field
is centred nearest the image's centre.

A claim per node, id ``rf.<model>.<node>`` (the node's name as ``Module.walk`` gives it).
It holds when, for every pixel checked, the bounding box of the support equals the field
c + i·j ± (r − 1)/2 exactly where the field lies inside the image, and lies within it where
the field reaches past the border (padding or a stride's gap can straddle the border, so
the support may be smaller there); a node whose every output reads the whole image
(global pooling, ``Flatten``, ``Linear``) must have a support covering every pixel. The
error is the number of box edges that disagree (0 when the claim holds).

These ids do not follow ``r<result>.…``: receptive fields are none of the numbered
results. :class:`FieldClaim` carries them; ``result`` is 0.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .claim import Claim, ClaimOutcome

__all__ = ["MODELS", "FieldClaim", "claims", "model_claims", "verdict"]

#: The models checked, with the input (C, H, W) each is run on (small: the check is fast).
MODELS = {"lenet": (1, 8, 8), "resnet20": (3, 16, 16)}

_ID = re.compile(r"rf(\.[a-z0-9_]+)+")


@dataclass(frozen=True)
class FieldClaim(Claim):
    """A :class:`~cnnmath.results.claim.Claim` whose id is ``rf.<model>.<node>``."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise ValueError(
                f"FieldClaim: id: expected 'rf.<model>.<node>' (words of a-z, 0-9, _), "
                f"got {self.id!r}"
            )
        if not callable(self.check):
            raise TypeError(f"FieldClaim: check: expected a callable, got {self.check!r}")


def _positive(model: Any, rng: np.random.Generator) -> None:
    for p in model.parameters():
        fan_in = int(np.prod(p.data.shape[1:])) if p.data.ndim > 1 else 1
        p.data[...] = rng.uniform(0.5, 1.0, p.data.shape) / fan_in


def _pixels(field: Any, shape: tuple[int, int, int]) -> list[tuple[int, int]]:
    """The corners and the pixel whose field is centred nearest the image's centre."""
    if len(field.shape) != 3 or field.whole:
        return [(0, 0)]
    h, w = field.shape[1:]
    centre = tuple(
        int(np.clip(round(((shape[a + 1] - 1) / 2 - field.start[a]) / field.jump[a]), 0, n - 1))
        for a, n in enumerate((h, w))
    )
    return sorted({(0, 0), (h - 1, w - 1), centre})


@functools.cache
def _empirical(model_name: str) -> dict[str, tuple[Any, list[tuple[Any, Any]]]]:
    """For every node of the model: its field, and per checked pixel (the pixel, the
    support's bounding box or None). One forward pass of the whole batch keeps every
    layer's context; a backward pass from each node in turn gives its supports."""

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # tiny products: threads only cost
        return _supports(model_name)


def _supports(model_name: str) -> dict[str, tuple[Any, list[tuple[Any, Any]]]]:
    from .. import models
    from ..receptive import model_nodes, receptive_field

    shape = MODELS[model_name]
    model = getattr(models, model_name)(dtype=np.float64)
    model.eval()
    rng = np.random.default_rng(14)
    _positive(model, rng)
    nodes = model_nodes(model)
    fields = receptive_field(model, shape)
    pooled = any(type(n.module).__name__ == "MaxPool2d" for n in nodes)
    trials = 8 if pooled else 1
    per_node = [_pixels(f, shape) for f in fields[1:]]
    slots = max(len(p) for p in per_node)
    x = rng.lognormal(0.0, 3.0, (slots * trials, *shape))
    values: dict[str, np.ndarray] = {nodes[0].inputs[0]: x}
    contexts = []
    for node in nodes:
        y, ctx = node.module.forward_ctx(*(values[v] for v in node.inputs))
        values[node.output] = y
        contexts.append(ctx)
    found: dict[str, tuple[Any, list[tuple[Any, Any]]]] = {}
    for k, (node, field, pixels) in enumerate(zip(nodes, fields[1:], per_node)):
        y = values[node.output]
        g = np.zeros_like(y)
        for b in range(len(pixels) * trials):
            i, j = pixels[b // trials]
            if y.ndim == 4:
                g[b, :, i, j] = 1.0
            else:
                g[b] = 1.0
        grads = {node.output: g}
        for m in reversed(range(k + 1)):
            out = nodes[m].output
            if out not in grads:
                continue
            back = nodes[m].module.backward_ctx(contexts[m], grads.pop(out))
            back = back if isinstance(back, tuple) else (back,)
            for v, gv in zip(nodes[m].inputs, back):
                grads[v] = grads[v] + gv if v in grads else gv
        gx = grads.get(nodes[0].inputs[0], np.zeros_like(x))
        hits = (gx[: len(pixels) * trials] != 0).any(axis=1)
        hits = hits.reshape(len(pixels), trials, *shape[1:]).any(axis=1)
        boxes = []
        for pixel, hit in zip(pixels, hits):
            rows, cols = np.nonzero(hit.any(axis=1))[0], np.nonzero(hit.any(axis=0))[0]
            box = (
                ((int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max())))
                if rows.size
                else None
            )
            boxes.append((pixel, box))
        found[node.name] = (field, boxes)
    return found


def verdict(field: Any, boxes: list[tuple[Any, Any]], shape: tuple[int, int, int]) -> ClaimOutcome:
    """The claim's outcome for one node: its ``field`` (a :class:`cnnmath.receptive.Field`)
    against ``boxes``, (pixel, support bounding box ((row lo, hi), (col lo, hi)) or None)
    per pixel checked, on an input of ``shape`` (C, H, W)."""
    wrong, exact, lines = 0, 0, []
    for pixel, got in boxes:
        if len(field.shape) != 3 or field.whole:
            want = ((0, shape[1] - 1), (0, shape[2] - 1))  # every pixel counts
            inside = True
        else:
            want = tuple(field.interval(pixel[a], a) for a in range(2))
            inside = all(0 <= lo and hi < shape[a + 1] for a, (lo, hi) in enumerate(want))
        if got is None:
            bad = 4 if inside else 0  # None: a field wholly in the padding has no support
        elif inside:
            bad = sum(int(g != w) for gw, ww in zip(got, want) for g, w in zip(gw, ww))
            exact += 1
        else:
            bad = sum(
                int(not lo <= g_lo) + int(not g_hi <= hi)
                for (g_lo, g_hi), (lo, hi) in zip(got, want)
            )
        if bad:
            lines.append(f"pixel {pixel}: support {got}, field {want}")
        wrong += bad
    where = (
        "whole image"
        if field.whole or len(field.shape) != 3
        else f"size {field.size[0]}×{field.size[1]}, jump {field.jump[0]}×{field.jump[1]}"
    )
    detail = (
        f"{len(boxes)} pixel(s) on {shape[0]}×{shape[1]}×{shape[2]}, {exact} compared exactly "
        f"({where})" + ("; " + "; ".join(lines) if lines else "")
    )
    return ClaimOutcome(float(wrong), wrong == 0, None, detail, 0.0)


def _node_id(name: str) -> str:
    return re.sub(r"[^a-z0-9_.]", "_", name.lower())


def claims() -> list[Claim]:
    """One claim per node of each model of :data:`MODELS`, in walk order."""
    from .. import models
    from ..receptive import model_nodes

    out: list[Claim] = []
    for model_name in MODELS:
        for node in model_nodes(getattr(models, model_name)()):
            out.append(
                FieldClaim(
                    f"rf.{model_name}.{_node_id(node.name)}",
                    0,
                    f"receptive field of {model_name} {node.name} equals its gradient support",
                    functools.partial(_check, model_name, node.name),
                )
            )
    return out


def _check(model_name: str, node: str, photo: np.ndarray | None = None) -> ClaimOutcome:
    field, boxes = _empirical(model_name)[node]
    return verdict(field, boxes, MODELS[model_name])


def model_claims() -> list[Claim]:
    """One claim per model of :data:`MODELS`, id ``rf.<model>.every_layer``: every node's
    claim of :func:`claims` at once (the rows ``cnnmath verify`` shows; the per-node claims
    stay available for a closer look). Its error is the total number of disagreeing box
    edges, and its detail names the first nodes that disagree."""
    return [
        FieldClaim(
            f"rf.{model_name}.every_layer",
            0,
            f"the receptive field of every layer of {model_name} equals its gradient support",
            functools.partial(_check_model, model_name),
        )
        for model_name in MODELS
    ]


def _check_model(model_name: str, photo: np.ndarray | None = None) -> ClaimOutcome:
    shape = MODELS[model_name]
    outcomes = {
        node: verdict(field, boxes, shape)
        for node, (field, boxes) in _empirical(model_name).items()
    }
    wrong = sum(o.max_abs_error for o in outcomes.values())
    failed = [f"node {node}: {o.detail}" for node, o in outcomes.items() if not o.passed]
    detail = f"{len(outcomes)} layers on {shape[0]}×{shape[1]}×{shape[2]}, " + (
        "every field equal to its support" if not failed else "; ".join(failed[:3])
    )
    return ClaimOutcome(float(wrong), not failed, None, detail, 0.0)
