"""What predict makes of a model's outputs: a classifier's scores as probabilities (softmax,
unless a row already is a distribution or a log-distribution) and its top K, a segmentation
model's logits resized to the image and argmaxed into a class per pixel, and the text or
JSON report of each."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._common import CLIError

#: How far a row may be from summing to 1 and still be read as probabilities.
_DISTRIBUTION_TOLERANCE = 1e-4


#: Numbers of float64 logits resized at once to an image's size (64 MiB): a large photograph
#: takes its classes a few at a time, never K full-size planes.
_RESIZE_CHUNK = 2**23


def _probabilities(scores: np.ndarray) -> np.ndarray:
    """Each row as probabilities: kept when it already is a distribution, exponentiated when
    it is a log-distribution, else its softmax."""
    s = scores.astype(np.float64)
    out = np.empty_like(s)
    for_rows = np.abs(s.sum(axis=1) - 1) <= _DISTRIBUTION_TOLERANCE
    is_dist = for_rows & (s.min(axis=1) >= 0)
    e = np.exp(np.minimum(s, 0))
    near_one = np.abs(e.sum(axis=1) - 1) <= _DISTRIBUTION_TOLERANCE
    is_log = ~is_dist & (s.max(axis=1) <= 0) & near_one
    shifted = np.exp(s - s.max(axis=1, keepdims=True))
    soft = shifted / shifted.sum(axis=1, keepdims=True)
    out[:] = soft
    out[is_dist] = s[is_dist]
    out[is_log] = e[is_log]
    return out


def _top(p: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of each row, largest first (ties: lower index)."""
    return np.argsort(-p, axis=1, kind="stable")[:, :k]


def _report(
    path: str,
    scores: np.ndarray,
    probs: np.ndarray,
    top: np.ndarray,
    labels: list[str] | None,
    as_json: bool,
    cam: Path | None = None,
) -> str:
    """A classifier's report of one image: its top classes, best first; with ``cam`` (the
    picture ``--cams`` wrote) its path too, ``"cam"`` in JSON, " -> path" in text."""
    if as_json:
        entries = [
            {
                "class": int(c),
                "label": labels[c] if labels else None,
                "probability": float(probs[c]),
                "score": float(scores[c]),
            }
            for c in top
        ]
        record: dict[str, object] = {"file": path, "top": entries}
        if cam is not None:
            record["cam"] = str(cam)
        return json.dumps(record, ensure_ascii=False)
    width = len(str(len(top)))
    lines = [path if cam is None else f"{path} -> {cam}"]
    for rank, c in enumerate(top, start=1):
        name = labels[c] if labels else f"class {c}"
        lines.append(f"  {rank:>{width}}  {probs[c]:.4f}  {name}")
    return "\n".join(lines)


def _label_map(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """logits (K, h, w) → (H, W) = ``size`` class indices (int64): each class's plane resized
    to H × W by ``ops.interpolate_bilinear`` (half-pixel centres, torch's
    ``align_corners=False``) in float64, then the argmax over K (the lower index on a tie).

    The classes are resized a group at a time (``_RESIZE_CHUNK`` numbers) and the running
    maximum kept, so a photograph of many megapixels never holds K full-size planes."""
    from ...ops import interpolate_bilinear

    z = np.asarray(logits, dtype=np.float64)
    K = z.shape[0]
    H, W = size
    if z.shape[1:] == (H, W):
        return np.argmax(z, axis=0)
    group = max(1, _RESIZE_CHUNK // (H * W))
    planes = interpolate_bilinear(z[:group], size=(H, W))
    arg = np.argmax(planes, axis=0)
    best = np.take_along_axis(planes, arg[None], axis=0)[0]
    for k0 in range(group, K, group):  # over groups of classes, never over pixels
        planes = interpolate_bilinear(z[k0 : k0 + group], size=(H, W))
        a = np.argmax(planes, axis=0)
        m = np.take_along_axis(planes, a[None], axis=0)[0]
        better = m > best  # strictly: an earlier class keeps a tie
        best = np.where(better, m, best)
        arg = np.where(better, a + k0, arg)
    return arg


def _area_report(
    path: str,
    labels_map: np.ndarray,
    classes: int,
    k: int,
    labels: list[str] | None,
    mask: Path | None,
    as_json: bool,
) -> str:
    """The classes present in ``labels_map``, largest area first (a tie: the lower index),
    the first ``k`` of them, with the fraction of the pixels each covers."""
    counts = np.bincount(labels_map.ravel(), minlength=classes)
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0][:k]
    total = labels_map.size
    if as_json:
        entries = [
            {
                "class": int(c),
                "label": labels[c] if labels else None,
                "fraction": float(counts[c] / total),
                "pixels": int(counts[c]),
            }
            for c in order
        ]
        record = {
            "file": path,
            "size": list(labels_map.shape),
            "mask": None if mask is None else str(mask),
            "areas": entries,
        }
        return json.dumps(record, ensure_ascii=False)
    width = len(str(len(order)))
    lines = [path if mask is None else f"{path} -> {mask}"]
    for rank, c in enumerate(order, start=1):
        name = labels[c] if labels else f"class {c}"
        lines.append(f"  {rank:>{width}}  {counts[c] / total:.4f}  {name}")
    return "\n".join(lines)


def _per_pixel(model: str, outputs: np.ndarray, batch: int) -> bool:
    """Whether ``outputs`` are per-pixel, (B, K, H, W) with H·W > 1 (a segmentation model),
    rather than a classifier's (B, K) or (B, K, 1, ..., 1); anything else is an error."""
    if outputs.ndim >= 2 and outputs.shape[0] == batch:
        if all(n == 1 for n in outputs.shape[2:]):
            return False
        if outputs.ndim == 4:
            return True
    hint = ""
    if outputs.ndim >= 1 and outputs.shape[0] == 1 and batch > 1:
        hint = (
            "; one output for several images: a file exported for a batch of one (a size "
            "fixed in it, as torch.onnx.export of an upsampling head fixes it)? Give "
            "--batch-size 1, or export with a dynamic batch axis"
        )
    raise CLIError(
        f"MODEL {model}: expected outputs of shape (B, classes), or (B, classes, H, W) per "
        f"pixel (a segmentation model), got {outputs.shape} for a batch of {batch}{hint}"
    )
