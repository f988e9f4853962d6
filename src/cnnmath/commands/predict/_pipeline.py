"""predict's run: the checks, the model, then the images, in batches in this process or one
task each through ``cnnmath.tiled.stream`` (threads, or a dask cluster)."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from ... import nn
from .._common import CLIError, input_file
from ._arguments import IMAGENET_MEAN, IMAGENET_STD
from ._cams import _CamWriter, _check_layer, _check_options
from ._inputs import _expand, _mask_targets, _read_labels, _statistics
from ._model import _check_size, _fixed_batch, _load_model, _model_channels, _model_dtype
from ._preprocess import _Geometry, _image_error, _prepare
from ._printer import _Printer
from ._progress import _LateBar


def _streamed(
    model: Any, paths: list[str], load: Any, scheduler: str | None, failed: Any
) -> Iterator[tuple[str, np.ndarray]]:
    """(path, scores of one image) through ``cnnmath.tiled.stream``, in input order; a
    failing image's own error (a ``CLIError`` from the preprocessing, an ``OSError``) raised
    as it is, the model's (a ``ValueError``: its layers do not fit the size) as
    ``failed(what, exc)``, ``what`` naming the image (the first not yet yielded: the stream
    yields in input order and raises at the first that failed) with a ``{}`` for its shape."""
    from ...tiled import stream

    done = 0
    try:
        for item in stream(model, paths, load=load, scheduler=scheduler):
            yield item
            done += 1
    except RuntimeError as exc:
        cause = exc.__cause__
        if isinstance(cause, (CLIError, OSError)):
            raise cause from None
        if isinstance(cause, ValueError):
            raise failed(f"image '{paths[done]}' as {{}}", cause) from None
        raise CLIError(str(exc)) from None


def _same_shape_runs(
    paths: list[str], arrays: list[np.ndarray]
) -> Iterator[tuple[list[str], list[np.ndarray]]]:
    """(paths, arrays) split into consecutive runs of one shape, in order.

    >>> one, two = np.zeros(1), np.zeros(2)
    >>> [p for p, _ in _same_shape_runs(list("abcd"), [one, one, two, one])]
    [['a', 'b'], ['c'], ['d']]
    """
    start = 0
    for end in range(1, len(arrays) + 1):
        if end == len(arrays) or arrays[end].shape != arrays[start].shape:
            yield paths[start:end], arrays[start:end]
            start = end


def run(args: argparse.Namespace) -> int:
    """Run MODEL on each IMAGE; print a classifier's top-K classes per file, or a segmentation
    model's areas per file (and write its masks with --masks; a classifier's Grad-CAM
    pictures with --cams), as text or JSON lines.

    Checks first (files, collections expanded, options, the images' headers, the masks' or
    pictures' folder and names), then loads the model (--cam-layer checked in it, folded),
    then runs the images: in batches here, or — when an IMAGE is a collection or --scheduler
    is given — one task per image through ``cnnmath.tiled.stream``. The labels' number,
    --top, --masks and --cams are checked against the first outputs before anything is
    printed or written; with --cams each image's picture is written before its report
    (Grad-CAM in this process, on a copy of the model while threads run the original).
    """
    from ...images import image_shape
    from ...train import _main

    input_file("MODEL", args.model, expected="a .onnx or .safetensors file")
    _check_options(args)
    geometry = _Geometry.from_args(args)
    paths: list[str] = []
    collection = False
    for argument in args.images:
        files, is_collection = _expand(argument)
        paths += files
        collection |= is_collection
    # (H, W) where a segmentation's classes go: as decoded, or the crop (what the model saw)
    sizes: dict[str, tuple[int, int]] = {}
    largest = (0, 0)  # the largest input the model will see, for the memory check
    seen_sizes: set[tuple[int, int]] = set()
    for path in paths:
        try:  # the header: not an image, or a bomb, is refused before any work
            _, height, width = image_shape(path)
        except (ValueError, OSError) as exc:
            raise _image_error(path, exc) from None
        sizes[path] = geometry.crop or (height, width)
        seen = geometry.input_size((height, width))
        largest = max(largest, seen, key=lambda hw: hw[0] * hw[1])
        seen_sizes.add(seen)
    labels = _read_labels(args.labels) if args.labels is not None else None
    masks = None
    if args.masks is not None:
        inputs = [*paths, args.model, *([args.labels] if args.labels is not None else [])]
        masks = _mask_targets(args.masks, paths, inputs)
    cam_files = None
    if args.cams is not None:
        from ..._optional import require

        require("matplotlib", "plot", "predict --cams (the heat map's colours)")
        inputs = [*paths, args.model, *([args.labels] if args.labels is not None else [])]
        cam_files = _mask_targets(args.cams, paths, inputs, option="--cams")
    from ...nn import fold_batch_norm

    unfolded = _load_model(args)
    model = fold_batch_norm(unfolded)  # eval mode; the normalisation's pass saved
    if args.cam_layer is not None:  # checked before any image is read
        _check_layer(args.cam_layer, model, unfolded, args.model)
    del unfolded
    channels = _model_channels(model)
    if cam_files is not None and channels not in (1, 3):
        raise CLIError(
            f"--cams {args.cams}: MODEL {args.model} takes {channels}-channel images; the "
            "pictures under the heat maps are gray (1 channel) or RGB (3)"
        )
    batch_size = _fixed_batch(model, args, seen_sizes, geometry.option(), len(paths))
    mean = _statistics("--mean", args.mean, IMAGENET_MEAN, channels)
    std = _statistics("--std", args.std, IMAGENET_STD, channels)
    dtype = _model_dtype(model)
    streamed = collection or args.scheduler is not None
    if args.scheduler is None:  # on a cluster the workers' memory counts, not this machine's
        per_pass = 1 if streamed else min(len(paths), batch_size)
        _check_size(args, model, channels, dtype, per_pass, largest, geometry.option())
    cams = None
    if cam_files is not None:
        normalise = (mean, std, dtype)
        cams = _CamWriter(args, model, cam_files, channels, geometry, normalise, streamed)
    printer = _Printer(args, labels, sizes, masks, cams)

    def failed(what: str, exc: Exception, shape: str = "") -> CLIError:
        # e.g. the layers do not fit this size; shape: one image's, CxHxW
        if not shape:
            hw = "x".join(map(str, largest)) if len(seen_sizes) == 1 else "HxW"
            shape = f"{channels}x{hw}"
        return CLIError(
            f"MODEL {args.model}: failed on {what.format(shape)} ({geometry.option()}): {exc}"
        )

    if streamed:
        load = functools.partial(
            _prepare, channels=channels, geometry=geometry, mean=mean, std=std, dtype=dtype
        )
        bar = _LateBar(len(paths), "image", not args.quiet)  # one task per image here
        try:
            for path, scores in _streamed(model, paths, load, args.scheduler, failed):
                printer.emit([path], np.asarray(_main(scores))[None])
                bar.update()
        finally:
            bar.close()
        return 0

    starts = range(0, len(paths), batch_size)
    bar = _LateBar(len(starts), "batch", not args.quiet)
    try:
        for start in starts:
            chunk = paths[start : start + batch_size]
            prepared = [_prepare(p, channels, geometry, mean, std) for p in chunk]
            # --resize N keeps each image's aspect ratio: a run of one shape is one batch
            for run_paths, run in _same_shape_runs(chunk, prepared):
                batch = np.stack(run).astype(dtype)
                try:  # no context kept: nothing to differentiate
                    with nn.no_grad():
                        scores, _ = model.forward_ctx(batch)
                except ValueError as exc:
                    shape = "x".join(map(str, batch.shape[1:]))
                    raise failed("a batch of {} images", exc, shape) from None
                printer.emit(run_paths, np.asarray(_main(scores)))
            bar.update()
    finally:
        bar.close()
    return 0
