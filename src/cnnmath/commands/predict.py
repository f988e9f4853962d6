"""``cnnmath predict MODEL IMAGE...``: a trained model on image files — a classifier's top-K
classes per image, or a segmentation model's class per pixel (the areas, and masks as PNG).

    cnnmath predict model.onnx cat.jpg dog.png --labels imagenet.txt --top 5
    cnnmath predict weights.safetensors *.png --arch resnet20 --size 32 32 --json
    cnnmath predict model.onnx photos/ 'scans/*.jpg' --scheduler tcp://HOST:8786
    cnnmath predict fcn.safetensors street.jpg --arch fcn_resnet50 --size 520 520 --masks out/

MODEL is an ONNX file (read by ``cnnmath.onnx.load``; cnnmath runs it) or a safetensors file
of a ``cnnmath.models`` network named by ``--arch`` (``--num-classes`` when not the builder's
default: 1000 for the ImageNet classifiers, 21 for the segmentation networks, 10 for lenet
and resnet20). Each image goes through the documented preprocessing, in this order:

1. decoded by ``cnnmath.images.load_image`` (pixels in [0, 1]; an animated file's first
   frame, an EXIF orientation applied);
2. brought to the model's channels (read from its first layer's ``in_channels``; 3 when it
   has none): alpha dropped, gray repeated into R, G, B for a colour model, colour turned
   into BT.601 luma (result 3) for a gray one;
3. resized to ``--size H W`` (default 224 224; the aspect ratio is not kept) with Pillow's
   bilinear filter, which averages over the shrunk pixels when it shrinks (as
   torchvision's ``Resize`` does on PIL images);
4. normalised per channel, x ← (x − mean_c)/std_c, by default with ImageNet's statistics
   mean = (0.485, 0.456, 0.406), std = (0.229, 0.224, 0.225) (the torchvision models'); a
   model of other than 3 channels needs ``--mean`` and ``--std``.

An IMAGE may also name a collection: a directory (its files with an image extension,
.png .jpg .jpeg .tif .tiff .bmp, sorted by name; not its subdirectories) or a glob pattern
(quoted, so that cnnmath expands it: the matching files, sorted). A directory without image
files, or a pattern that matches no file, is an error. The model runs in eval mode, each
batch norm that follows a convolution folded into it first (``cnnmath.nn.fold_batch_norm``:
the same outputs to rounding, one pass over the activations fewer). Plain files run in
batches of ``--batch-size`` in this process. When any IMAGE is a collection, or
``--scheduler ADDRESS`` is given, every image is instead its own task of
``cnnmath.tiled.stream`` — on a pool of threads here, or on the ``dask.distributed`` cluster
at ADDRESS (the model sent to each worker once; the preprocessing, the module-level
``_prepare``, runs on the worker) — and the results are printed in input order as they
arrive. The numbers are the same either way (the same preprocessing and model; a batch of
one instead of ``--batch-size``). A progress bar goes to stderr (tqdm, the ``progress``
extra; ``--quiet`` hides it).

What the model's output is decides what is printed (a model of several outputs — an ONNX
file with several, a segmentation network with its auxiliary head — is read by its first,
the main one):

- (B, K), or (B, K, 1, ..., 1): a classifier. The outputs are taken as logits and turned
  into probabilities by softmax, unless a row already is a distribution (non-negative, sums
  to 1: a model ending in Softmax) or its exponential is (LogSoftmax). For each file the top
  K classes are printed, best first, with their probabilities and label names (``--labels``:
  a text file, one name per line, line i naming class i), or with ``--json`` one JSON object
  per line: ``{"file", "top": [{"class", "label", "probability", "score"}]}``.
- (B, K, H, W) with H·W > 1: a segmentation model (torchvision's ``out``: K ≥ 2 class
  logits per pixel, at any resolution). Each image's logits are resized to the image's own
  size as decoded (before ``--size``; read from its header, ``cnnmath.images.image_shape``)
  by bilinear interpolation on the logits — ``cnnmath.ops.interpolate_bilinear``, half-pixel
  centres, torch's ``F.interpolate(..., mode="bilinear", align_corners=False)`` — in
  float64, and each pixel's class is the argmax over K (softmax is monotone, so the argmax of
  the probabilities too; on a tie the lower index). For each file the classes present are
  printed, largest area first (a tie: the lower index), with the fraction of the image's
  pixels each covers and its label name (all of them; the first K with ``--top K``); with
  ``--json``: ``{"file", "size": [H, W], "mask", "areas": [{"class", "label", "fraction",
  "pixels"}]}``, ``"mask"`` the PNG written or null.

``--masks DIR`` (segmentation models only: with a classifier it is an error) writes each
image's classes to ``DIR/STEM.png``, STEM the image's file name without its extension: a
palette PNG (``cnnmath.images.save_label_map``) whose stored pixel values are the class
indices (so K ≤ 256), with PASCAL VOC's colour map as its palette (class 0 black, 1 dark
red, 2 green, …; ``cnnmath.images.voc_palette``). DIR is created if missing. Two different
input files whose stems are the same, or differ only by case (one file on macOS and Windows),
would write one mask: that is refused before any work, naming both — rename one, or run
them separately; so is a mask that would replace an input file. Each mask is written to a
temporary file in DIR and renamed once whole, before its image's report is printed: an
error stops the run with no partial file, the masks of the images already reported kept.

Everything that can be checked before the model runs is: the files exist and are regular files
(a FIFO or a device such as ``/dev/zero`` is refused before it is opened), the images' headers
are readable, the options agree with each other, ``--masks``' folder can be written (or
made) and its masks' names are distinct, and a ``--size`` whose batch (with the model's
largest layer output) needs more memory than is available is refused before any image is
resized; the number of labels and ``--top`` (and, for ``--masks``, that the model is a
segmentation model with at most 256 classes) are checked against the model's first
outputs before anything is printed or written. Errors are one line on stderr naming the
argument (MODEL, IMAGE, an option) and exit status 2; predict writes no file but the masks.
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._args import whole_number
from ._common import CLIError, activation_numbers, input_file, memory_limit

NAME = "predict"
HELP = "classify image files, or segment them per pixel (.onnx, or .safetensors with --arch)"
ORDER = 44

#: torchvision's ImageNet normalisation, the default for 3-channel models.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = (224, 224)
DEFAULT_BATCH = 16
#: How far a row may be from summing to 1 and still be read as probabilities.
_DISTRIBUTION_TOLERANCE = 1e-4
#: The classes a mask can hold: a palette PNG stores one byte per pixel.
MAX_MASK_CLASSES = 256
#: Numbers of float64 logits resized at once to an image's size (64 MiB): a large photograph
#: takes its classes a few at a time, never K full-size planes.
_RESIZE_CHUNK = 2**23

_EPILOG = f"""\
preprocessing, per image: decode (pixels in [0, 1]) -> the model's channels (alpha dropped;
gray repeated for a colour model; BT.601 luma for a gray one) -> resize to --size H W with
Pillow's bilinear filter (default {DEFAULT_SIZE[0]} {DEFAULT_SIZE[1]}, aspect ratio not kept)
-> (x - mean) / std per channel (default: ImageNet's mean {" ".join(map(str, IMAGENET_MEAN))},
std {" ".join(map(str, IMAGENET_STD))}; required for models of other than 3 channels).
Outputs (B, K) are logits turned into probabilities by softmax (kept as they are when a row
already sums to 1); the top K classes are printed.

segmentation: an output (B, K, H, W) with H*W > 1 (per-pixel class logits, torchvision's
"out") is resized to each image's own size (bilinear on the logits, half-pixel centres, as
torch's F.interpolate with align_corners=False); each pixel's class is the argmax over K.
Printed: the classes present, largest area first, with their fraction of the pixels (--top
K: the K largest). --masks DIR writes DIR/STEM.png per image, STEM the image's name without
its extension (DIR made if missing): a palette PNG whose pixel values are the class indices
(K <= 256), its palette PASCAL VOC's colour map. Two inputs with the same stem are refused
(rename one); each mask is written whole (a temporary file renamed) or not at all.

examples:
  cnnmath predict resnet18.onnx cat.jpg --labels imagenet_classes.txt --top 5
  cnnmath predict w.safetensors a.png b.png --arch resnet20 --size 32 32 --json
  cnnmath predict digits.safetensors seven.png --arch lenet --size 8 8 --mean 0 --std 1
  cnnmath predict resnet18.onnx photos/ 'more/*.jpg' --scheduler tcp://127.0.0.1:8786
  cnnmath predict fcn.safetensors street.jpg --arch fcn_resnet50 --size 520 520 --masks m/
  cnnmath predict deeplabv3.onnx photos/ --size 520 520 --labels voc.txt --masks m/ --json

An IMAGE that is a directory (its image files, sorted) or a quoted glob pattern is a
collection: its images stream through cnnmath.tiled.stream one task each (threads here, or
the cluster at --scheduler), results printed in input order as they arrive.
"""


def _architectures() -> list[str]:
    from .. import models

    return list(models.__all__)


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """MODEL IMAGE... and --labels, --top, --json, --masks, --size, --mean, --std, --arch,
    --num-classes, --batch-size, --scheduler, --quiet."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("model", metavar="MODEL", help="a .onnx file, or .safetensors with --arch")
    parser.add_argument(
        "images",
        metavar="IMAGE",
        nargs="+",
        help="image files to classify or segment, or collections: a directory (its image "
        "files, sorted) or a quoted glob pattern",
    )
    parser.add_argument(
        "--labels",
        metavar="FILE",
        default=None,
        help="class names, one per line (line i names class i); their number must equal the "
        "model's outputs",
    )
    parser.add_argument(
        "--top",
        type=whole_number(1),
        default=None,
        metavar="K",
        help="how many classes to print per image, best first (default: 5, or all the "
        "classes of a model with fewer; for a segmentation model, the K largest areas, "
        "default all the classes present); more than the model's classes is an error",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per image and line instead of text"
    )
    parser.add_argument(
        "--masks",
        metavar="DIR",
        default=None,
        help="segmentation models only: write each image's class per pixel to DIR/STEM.png "
        "(created if missing), a palette PNG of class indices in PASCAL VOC's colours",
    )
    parser.add_argument(
        "--size",
        type=whole_number(1),
        nargs=2,
        default=list(DEFAULT_SIZE),
        metavar=("H", "W"),
        help=f"resize every image to H x W pixels (default: {DEFAULT_SIZE[0]} "
        f"{DEFAULT_SIZE[1]}); the aspect ratio is not kept; a size whose batch would not fit "
        "in the memory available is refused before any image is resized",
    )
    parser.add_argument(
        "--mean",
        type=_real,
        nargs="+",
        default=None,
        metavar="M",
        help="per-channel mean subtracted from pixels in [0, 1]: one value or one per channel "
        f"(default: ImageNet's {' '.join(map(str, IMAGENET_MEAN))} for RGB models)",
    )
    parser.add_argument(
        "--std",
        type=_real,
        nargs="+",
        default=None,
        metavar="S",
        help="per-channel standard deviation divided by, > 0: one value or one per channel "
        f"(default: ImageNet's {' '.join(map(str, IMAGENET_STD))} for RGB models)",
    )
    parser.add_argument(
        "--arch",
        choices=_architectures(),
        default=None,
        metavar="NAME",
        help="the network of a .safetensors MODEL: " + ", ".join(_architectures()),
    )
    parser.add_argument(
        "--num-classes",
        type=whole_number(1),
        default=None,
        metavar="N",
        help="outputs of the --arch network (default: the builder's, 1000 for the ImageNet "
        "networks, 21 for the segmentation networks, 10 for lenet and resnet20)",
    )
    parser.add_argument(
        "--batch-size",
        type=whole_number(1),
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"images per forward pass (default: {DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="send the images, one task each, to the dask.distributed cluster at ADDRESS "
        "(tcp://HOST:PORT); collections run on threads in this process by default",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# -- checks before any work ---------------------------------------------------------------


def _expand(argument: str) -> tuple[list[str], bool]:
    """The files an IMAGE argument names and whether it is a collection: a directory's files
    with an image extension (sorted), a glob pattern's matching files (sorted), or itself."""
    from ..images import FORMATS

    p = Path(argument)
    if p.is_dir():
        files = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in FORMATS and f.is_file())
        if not files:
            raise CLIError(
                f"IMAGE {argument}: the directory has no image files ({' '.join(sorted(FORMATS))})"
            )
        return files, True
    if not p.exists() and glob.has_magic(argument):
        files = sorted(f for f in glob.glob(argument) if Path(f).is_file())
        if not files:
            raise CLIError(f"IMAGE {argument}: no file matches the pattern")
        return files, True
    return [str(input_file("IMAGE", argument, expected="an image file"))], False


def _read_labels(path: str) -> list[str]:
    from .._files import read_regular

    try:  # checked as a regular file before it is opened (a FIFO would block, /dev/zero never end)
        raw = read_regular("--labels", path, expected="a text file of class names")
    except (OSError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CLIError(f"--labels {path}: not UTF-8 text ({exc.reason})") from None
    labels = [line.rstrip("\r") for line in text.split("\n")]
    while labels and not labels[-1].strip():  # the file's last newline and blank tail
        labels.pop()
    if not labels:
        raise CLIError(f"--labels {path}: the file has no labels (one name per line)")
    return labels


def _mask_targets(directory: str, paths: list[str], inputs: list[str]) -> dict[str, Path]:
    """The mask file of each image, ``DIR/STEM.png``, checked before any work: DIR a folder
    that can be written, or one that can be made (its nearest existing ancestor a writable
    folder); no two different files to one mask name (compared case-folded, as macOS and
    Windows compare names); no mask over one of ``inputs`` (images, model, labels)."""
    from .._checks import writable_directory

    folder = Path(directory)
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent  # the nearest ancestor there is; made into DIR later
    try:
        writable_directory("--masks", existing, func=None)
    except (OSError, ValueError) as exc:
        made = "" if existing == folder else f" (to make {directory} in it)"
        raise CLIError(f"{exc}{made}") from None
    targets: dict[str, Path] = {}
    first: dict[str, str] = {}  # a mask name, case-folded → the first image that takes it
    for path in paths:
        other = first.setdefault((Path(path).stem + ".png").casefold(), path)
        target = folder / (Path(other).stem + ".png")  # one file, one name
        if other != path and os.path.realpath(other) != os.path.realpath(path):
            raise CLIError(
                f"--masks {directory}: IMAGE {other} and IMAGE {path} would both write the "
                f"mask {target} (masks are named after the image's name without its "
                "extension); rename one, or segment them in separate runs"
            )
        targets[path] = target
    protected = {os.path.realpath(f) for f in inputs}
    for path, target in targets.items():
        if os.path.realpath(target) in protected:
            raise CLIError(
                f"--masks {directory}: the mask of IMAGE {path} would replace the input file "
                f"{target}; write the masks to another folder"
            )
    return targets


def _statistics(
    option: str, given: Sequence[float] | None, default: tuple[float, ...], channels: int
) -> np.ndarray:
    """The per-channel mean or std: one value for every channel, or one per channel."""
    if given is None:
        if channels != len(default):
            raise CLIError(
                f"{option}: the model takes {channels}-channel images; ImageNet's default "
                f"{option} is for RGB, so give {option} (one value, or {channels})"
            )
        values = np.asarray(default)
    elif len(given) in (1, channels):
        values = np.resize(np.asarray(given, dtype=np.float64), channels)
    else:
        wanted = "1 value" if channels == 1 else f"1 or {channels} values"
        raise CLIError(
            f"{option}: expected {wanted} (the model takes {channels}-channel images), got "
            f"{len(given)}: {' '.join(map(str, given))}"
        )
    if option == "--std" and np.any(values <= 0):
        raise CLIError(f"--std: expected values > 0, got {' '.join(map(str, values))}")
    return values.reshape(channels, 1, 1)


def _load_model(args: argparse.Namespace) -> Any:
    path = args.model
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        if args.arch is not None or args.num_classes is not None:
            raise CLIError(
                "--arch and --num-classes apply to .safetensors models; an .onnx file carries "
                "its own network"
            )
        from ..onnx import load

        return load(path)
    if suffix != ".safetensors":
        raise CLIError(f"MODEL {path}: expected a .onnx file, or a .safetensors file with --arch")
    if args.arch is None:
        raise CLIError(
            f"MODEL {path}: a .safetensors file holds weights only; name the network with "
            f"--arch (one of {', '.join(_architectures())})"
        )
    from .. import models, weights

    build = getattr(models, args.arch)
    kwargs = {}
    if args.num_classes is not None:
        kwargs["classes" if args.arch == "lenet" else "num_classes"] = args.num_classes
    model = build(**kwargs)
    try:
        weights.load(model, path)
    except (KeyError, ValueError, TypeError) as exc:
        if "does not match the model" not in str(exc) and "expected shape" not in str(exc):
            raise  # an unreadable file: the reader's own message
        raise CLIError(
            f"MODEL: {exc}; is it the weights of --arch {args.arch}"
            + (f" with --num-classes {args.num_classes}" if args.num_classes else "")
            + "?"
        ) from None
    return model


def _check_size(
    args: argparse.Namespace, model: Any, channels: int, dtype: np.dtype, batch: int
) -> None:
    """Refuse, before any image is resized, a ``--size`` whose batch of ``batch`` images and
    largest layer output (``_common.activation_numbers``) need more than the memory available
    (``_common.memory_limit``): a lower estimate, so what is refused could not have run."""
    H, W = args.size
    itemsize = np.dtype(dtype).itemsize
    numbers = batch * channels * H * W
    need = numbers * (8 + itemsize)  # the float64 preprocessing and its copy in the model's dtype
    acts = activation_numbers(model, (channels, H, W))
    if acts is not None:
        need += batch * acts[1] * itemsize  # the largest output of a layer
    have = memory_limit()
    if need > have:
        what = f"{batch} images" if batch > 1 else "one image"
        raise CLIError(
            f"--size {H} {W}: {what} of {channels}x{H}x{W} pixels would need about "
            f"{need / 2**30:.3g} GiB in the model, and {have / 2**30:.3g} GiB are available; "
            "give the size the model was trained on (e.g. 224 224, or 32 32 for resnet20)"
            + (" or a smaller --batch-size" if batch > 1 else "")
        )


def _model_channels(model: Any) -> int:
    """The channels of the model's input: its first layer's ``in_channels`` (3 without one)."""
    first = next(iter(model.walk()), None)
    channels = getattr(first.module, "in_channels", None) if first is not None else None
    return int(channels) if isinstance(channels, (int, np.integer)) else 3


def _model_dtype(model: Any) -> np.dtype:
    params = model.parameters()
    return params[0].dtype if params else np.dtype(np.float32)


# -- preprocessing ----------------------------------------------------------------------------


def _image_error(path: str, exc: Exception) -> CLIError:
    """``cnnmath.images``' message, naming the argument (IMAGE) rather than the function."""
    text = str(exc)
    for prefix in ("load_image: path: ", "image_shape: path: "):
        if text.startswith(prefix):
            return CLIError(f"IMAGE: {text[len(prefix) :]}")
    return CLIError(f"IMAGE {path}: {text}")


def _to_channels(x: np.ndarray, has_alpha: bool, channels: int, path: str) -> np.ndarray:
    """x (C, H, W) in [0, 1] with the model's channel count (``images.to_channels``)."""
    from ..images import to_channels

    try:
        return to_channels(x, has_alpha, channels)
    except ValueError as exc:
        raise CLIError(f"IMAGE {path}: {exc} (the model's)") from None


def _prepare(
    path: str,
    channels: int,
    size: tuple[int, int],
    mean: np.ndarray,
    std: np.ndarray,
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """One image, (channels, H, W) float64 (or ``dtype``), through the documented
    preprocessing. Module-level so that ``functools.partial(_prepare, ...)`` pickles (by
    reference) to dask workers."""
    from ..images import load_image, resize

    try:
        x, info = load_image(path)
    except (ValueError, OSError) as exc:
        raise _image_error(path, exc) from None
    x = _to_channels(x, info.has_alpha, channels, path)
    x = (resize(x, size) - mean) / std
    return x if dtype is None else x.astype(dtype)


# -- the outputs --------------------------------------------------------------------------------


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
) -> str:
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
        return json.dumps({"file": path, "top": entries}, ensure_ascii=False)
    width = len(str(len(top)))
    lines = [path]
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
    from ..ops import interpolate_bilinear

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
    ) -> None:
        self.args, self.labels, self.sizes, self.masks = args, labels, sizes, masks
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
            print(_report(path, s, p, t, self.labels, self.args.json), flush=True)

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
        from ..images import save_label_map

        try:
            if not self.folder_made:  # made at the first mask: a refusal before leaves none
                os.makedirs(self.args.masks, exist_ok=True)
                self.folder_made = True
            save_label_map(labels_map, mask)
        except (OSError, ValueError) as exc:
            raise CLIError(f"--masks {self.args.masks}: {exc}") from None


class _LateBar:
    """predict's progress bar on stderr (``train._progress_bar``), shown from the first
    outputs printed on: the checks against them (--labels, --top, --masks) and a model that
    does not fit the images stop a run before any bar, so such a run prints its error
    alone."""

    def __init__(self, total: int, unit: str, enabled: bool) -> None:
        self.total, self.unit, self.enabled = total, unit, enabled
        self.bar: Any = None

    def update(self) -> None:
        """One more batch (or image) done: the bar started at the first."""
        if self.bar is None and self.enabled:
            from ..train import _progress_bar

            self.enabled = False  # asked once: tqdm may be missing
            self.bar = _progress_bar(self.total, "predict", enabled=True, unit=self.unit)
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _streamed(
    model: Any, paths: list[str], load: Any, scheduler: str | None
) -> Iterator[tuple[str, np.ndarray]]:
    """(path, scores of one image) through ``cnnmath.tiled.stream``, in input order; a
    failing image's own error (a ``CLIError`` from the preprocessing) raised as it is."""
    from ..tiled import stream

    try:
        yield from stream(model, paths, load=load, scheduler=scheduler)
    except RuntimeError as exc:
        if isinstance(exc.__cause__, (CLIError, ValueError, OSError)):
            raise exc.__cause__ from None
        raise CLIError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Run MODEL on each IMAGE; print a classifier's top-K classes per file, or a segmentation
    model's areas per file (and write its masks with --masks), as text or JSON lines.

    Checks first (files, collections expanded, options, the images' headers, the masks'
    folder and names), then loads the model, then runs the images: in batches here, or —
    when an IMAGE is a collection or --scheduler is given — one task per image through
    ``cnnmath.tiled.stream``. The labels' number, --top and --masks are checked against the
    first outputs before anything is printed or written.
    """
    from ..images import image_shape
    from ..train import _main

    input_file("MODEL", args.model, expected="a .onnx or .safetensors file")
    paths: list[str] = []
    collection = False
    for argument in args.images:
        files, is_collection = _expand(argument)
        paths += files
        collection |= is_collection
    sizes: dict[str, tuple[int, int]] = {}  # (H, W) as decoded: where a mask's pixels go
    for path in paths:
        try:  # the header: not an image, or a bomb, is refused before any work
            _, height, width = image_shape(path)
        except (ValueError, OSError) as exc:
            raise _image_error(path, exc) from None
        sizes[path] = (height, width)
    labels = _read_labels(args.labels) if args.labels is not None else None
    masks = None
    if args.masks is not None:
        inputs = [*paths, args.model, *([args.labels] if args.labels is not None else [])]
        masks = _mask_targets(args.masks, paths, inputs)
    from ..nn import fold_batch_norm

    model = fold_batch_norm(_load_model(args))  # eval mode; the normalisation's pass saved
    channels = _model_channels(model)
    mean = _statistics("--mean", args.mean, IMAGENET_MEAN, channels)
    std = _statistics("--std", args.std, IMAGENET_STD, channels)
    dtype = _model_dtype(model)
    size = (args.size[0], args.size[1])
    streamed = collection or args.scheduler is not None
    if args.scheduler is None:  # on a cluster the workers' memory counts, not this machine's
        _check_size(
            args, model, channels, dtype, 1 if streamed else min(len(paths), args.batch_size)
        )
    printer = _Printer(args, labels, sizes, masks)

    if streamed:
        load = functools.partial(
            _prepare, channels=channels, size=size, mean=mean, std=std, dtype=dtype
        )
        bar = _LateBar(len(paths), "image", not args.quiet)  # one task per image here
        try:
            for path, scores in _streamed(model, paths, load, args.scheduler):
                printer.emit([path], np.asarray(_main(scores))[None])
                bar.update()
        finally:
            bar.close()
        return 0

    starts = range(0, len(paths), args.batch_size)
    bar = _LateBar(len(starts), "batch", not args.quiet)
    try:
        for start in starts:
            chunk = paths[start : start + args.batch_size]
            batch = np.stack([_prepare(p, channels, size, mean, std) for p in chunk]).astype(dtype)
            try:  # no context kept: nothing to differentiate
                scores, _ = model.forward_ctx(batch)
            except ValueError as exc:  # e.g. the network's layers do not fit this size
                raise CLIError(
                    f"MODEL {args.model}: failed on a batch of {channels}x{size[0]}x{size[1]} "
                    f"images (--size {size[0]} {size[1]}): {exc}"
                ) from None
            printer.emit(chunk, np.asarray(_main(scores)))
            bar.update()
    finally:
        bar.close()
    return 0
