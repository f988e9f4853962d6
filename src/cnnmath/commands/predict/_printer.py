"""predict's output stream: the checks against the model's first outputs (labels, --top,
--masks, --cams), then one report per image in input order, a segmentation model's mask or
a classifier's Grad-CAM picture written whole before its report."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .._common import CLIError
from ._reports import _area_report, _label_map, _per_pixel, _probabilities, _report, _top

#: The classes a mask can hold: a palette PNG stores one byte per pixel.
MAX_MASK_CLASSES = 256


class _Printer:
    """Prints the report of each image — a classifier's top K, a segmentation model's areas
    (and writes its masks) — after checking the labels' number, --top and --masks against the
    first outputs, before anything is printed or written."""

    def __init__(
        self,
        args: argparse.Namespace,
        labels: list[str] | None,
        sizes: dict[str, tuple[int, int]],
        masks: dict[str, Path] | None,
        cams: Callable[[str, int], Path] | None = None,
    ) -> None:
        self.args, self.labels, self.sizes, self.masks = args, labels, sizes, masks
        self.cams = cams  # (image, its first class) -> the --cams picture written
        self.k: int | None = None
        self.folder_made = False

    def _first(self, classes: int, per_pixel: bool) -> int:
        """The checks against the model's first outputs; returns the K to print."""
        args = self.args
        if per_pixel and classes < 2:
            raise CLIError(
                f"MODEL {args.model}: its per-pixel output has {classes} channel; expected the "
                "logits of K >= 2 classes per pixel (a label map or a single binary logit is "
                "not read)"
            )
        if not per_pixel and self.masks is not None:
            raise CLIError(
                f"--masks {args.masks}: MODEL {args.model} is a classifier (one score per class "
                "and image); masks need a segmentation model, whose output is per pixel, "
                "(B, classes, H, W)"
            )
        if per_pixel and self.cams is not None:
            raise CLIError(
                f"--cams {args.cams}: MODEL {args.model} is a segmentation model (its output is "
                "per pixel, (B, classes, H, W)); Grad-CAM's heat maps are of a classifier's "
                "class score, (B, classes)"
            )
        if per_pixel and self.masks is not None and classes > MAX_MASK_CLASSES:
            raise CLIError(
                f"--masks {args.masks}: the model has {classes} classes; a mask (a palette PNG, "
                f"one byte per pixel) holds at most {MAX_MASK_CLASSES}; leave out --masks to "
                "print the areas"
            )
        if self.labels is not None and len(self.labels) != classes:
            raise CLIError(
                f"--labels {args.labels}: has {len(self.labels)} labels; the model has "
                f"{classes} outputs (one label per line, line i naming class i)"
            )
        if args.top is not None and args.top > classes:
            raise CLIError(f"--top {args.top}: the model has only {classes} classes")
        if args.top is not None:
            return int(args.top)
        return classes if per_pixel else min(5, classes)

    def emit(self, paths: Sequence[str], outputs: np.ndarray) -> None:
        """outputs (len(paths), classes, ...) → one report per path, in order."""
        per_pixel = _per_pixel(self.args.model, outputs, len(paths))
        classes = outputs.shape[1]
        if self.k is None:
            self.k = self._first(classes, per_pixel)
        if per_pixel:
            for path, logits in zip(paths, outputs):
                self._segment(path, logits, self.k)
            return
        scores = outputs.reshape(len(paths), -1)
        probs = _probabilities(scores)
        for path, s, p, t in zip(paths, scores, probs, _top(probs, self.k)):
            cam = None if self.cams is None else self.cams(path, int(t[0]))
            print(_report(path, s, p, t, self.labels, self.args.json, cam), flush=True)

    def _segment(self, path: str, logits: np.ndarray, k: int) -> None:
        """One image's class per pixel at its own size; its mask written, then its areas."""
        args = self.args
        if not np.all(np.isfinite(logits)):
            raise CLIError(
                f"MODEL {args.model}: gave NaN or infinite logits for IMAGE {path}; no class "
                "can be read from them"
            )
        labels_map = _label_map(logits, self.sizes[path])
        mask = None
        if self.masks is not None:
            mask = self.masks[path]
            self._write(mask, labels_map)
        print(
            _area_report(path, labels_map, len(logits), k, self.labels, mask, args.json), flush=True
        )

    def _write(self, mask: Path, labels_map: np.ndarray) -> None:
        from ...images import save_label_map

        try:
            if not self.folder_made:  # made at the first mask: a refusal before leaves none
                os.makedirs(self.args.masks, exist_ok=True)
                self.folder_made = True
            save_label_map(labels_map, mask)
        except (OSError, ValueError) as exc:
            raise CLIError(f"--masks {self.args.masks}: {exc}") from None
