"""``cnnmath predict MODEL IMAGE...``: a trained classifier on image files, top-K classes each.

    cnnmath predict model.onnx cat.jpg dog.png --labels imagenet.txt --top 5
    cnnmath predict weights.safetensors *.png --arch resnet20 --size 32 32 --json
    cnnmath predict model.onnx photos/ 'scans/*.jpg' --scheduler tcp://HOST:8786

MODEL is an ONNX file (read by ``cnnmath.onnx.load``; cnnmath runs it) or a safetensors file
of a ``cnnmath.models`` network named by ``--arch`` (``--num-classes`` when not the builder's
default). Each image goes through the documented preprocessing, in this order:

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
extra; ``--quiet`` hides it). The outputs are taken as logits and turned
into probabilities by softmax, unless a row already is a distribution (non-negative, sums to 1:
a model ending in Softmax) or its exponential is (LogSoftmax). For each file the top K classes
are printed, best first, with their probabilities and label names (``--labels``: a text file,
one name per line, line i naming class i), or with ``--json`` one JSON object per line.

Everything that can be checked before the model runs is: the files exist and are regular files
(a FIFO or a device such as ``/dev/zero`` is refused before it is opened), the images' headers
are readable, the options agree with each other, and a ``--size`` whose batch (with the
model's largest layer output) needs more memory than is available is refused before any image
is resized; the number of labels and ``--top`` are checked against the model's outputs before
anything is printed. Errors are one line on stderr naming the argument (MODEL, IMAGE, an
option) and exit status 2; predict writes no file.
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._args import whole_number
from ._common import CLIError, activation_numbers, input_file, memory_limit

NAME = "predict"
HELP = "classify image files with a trained model (.onnx, or .safetensors with --arch)"
ORDER = 44

#: torchvision's ImageNet normalisation, the default for 3-channel models.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = (224, 224)
DEFAULT_BATCH = 16
#: How far a row may be from summing to 1 and still be read as probabilities.
_DISTRIBUTION_TOLERANCE = 1e-4

_EPILOG = f"""\
preprocessing, per image: decode (pixels in [0, 1]) -> the model's channels (alpha dropped;
gray repeated for a colour model; BT.601 luma for a gray one) -> resize to --size H W with
Pillow's bilinear filter (default {DEFAULT_SIZE[0]} {DEFAULT_SIZE[1]}, aspect ratio not kept)
-> (x - mean) / std per channel (default: ImageNet's mean {" ".join(map(str, IMAGENET_MEAN))},
std {" ".join(map(str, IMAGENET_STD))}; required for models of other than 3 channels).
Outputs are logits turned into probabilities by softmax (kept as they are when a row already
sums to 1).

examples:
  cnnmath predict resnet18.onnx cat.jpg --labels imagenet_classes.txt --top 5
  cnnmath predict w.safetensors a.png b.png --arch resnet20 --size 32 32 --json
  cnnmath predict digits.safetensors seven.png --arch lenet --size 8 8 --mean 0 --std 1
  cnnmath predict resnet18.onnx photos/ 'more/*.jpg' --scheduler tcp://127.0.0.1:8786

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
    """MODEL IMAGE... and --labels, --top, --json, --size, --mean, --std, --arch,
    --num-classes, --batch-size, --scheduler, --quiet."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("model", metavar="MODEL", help="a .onnx file, or .safetensors with --arch")
    parser.add_argument(
        "images",
        metavar="IMAGE",
        nargs="+",
        help="image files to classify, or collections: a directory (its image files, sorted) "
        "or a quoted glob pattern",
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
        "classes of a model with fewer); more than the model's classes is an error",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per image and line instead of text"
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
        "networks, 10 for lenet and resnet20)",
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


class _Printer:
    """Prints the top-K report of each image; the labels' number and --top are checked
    against the first outputs before anything is printed."""

    def __init__(self, args: argparse.Namespace, labels: list[str] | None) -> None:
        self.args, self.labels = args, labels
        self.k: int | None = None

    def emit(self, paths: Sequence[str], scores: np.ndarray) -> None:
        """scores (len(paths), classes, 1, ..., 1) → one report per path, in order."""
        args = self.args
        if (
            scores.ndim < 2
            or scores.shape[0] != len(paths)
            or any(n != 1 for n in scores.shape[2:])
        ):
            raise CLIError(
                f"MODEL {args.model}: expected outputs of shape (B, classes), got "
                f"{scores.shape} for a batch of {len(paths)}"
            )
        scores = scores.reshape(len(paths), -1)
        classes = scores.shape[1]
        if self.k is None:
            if self.labels is not None and len(self.labels) != classes:
                raise CLIError(
                    f"--labels {args.labels}: has {len(self.labels)} labels; the model has "
                    f"{classes} outputs (one label per line, line i naming class i)"
                )
            if args.top is not None and args.top > classes:
                raise CLIError(f"--top {args.top}: the model has only {classes} classes")
            self.k = args.top if args.top is not None else min(5, classes)
        probs = _probabilities(scores)
        for path, s, p, t in zip(paths, scores, probs, _top(probs, self.k)):
            print(_report(path, s, p, t, self.labels, args.json), flush=True)


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
    """Classify each IMAGE with MODEL; print the top-K classes per file (text or JSON lines).

    Checks first (files, collections expanded, options, the images' headers), then loads the
    model, then runs the images: in batches here, or — when an IMAGE is a collection or
    --scheduler is given — one task per image through ``cnnmath.tiled.stream``. The labels'
    number and --top are checked against the first outputs before anything is printed.
    """
    from ..images import image_shape
    from ..train import _progress_bar

    input_file("MODEL", args.model, expected="a .onnx or .safetensors file")
    paths: list[str] = []
    collection = False
    for argument in args.images:
        files, is_collection = _expand(argument)
        paths += files
        collection |= is_collection
    for path in paths:
        try:  # the header: not an image, or a bomb, is refused before any work
            image_shape(path)
        except (ValueError, OSError) as exc:
            raise _image_error(path, exc) from None
    labels = _read_labels(args.labels) if args.labels is not None else None
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
    printer = _Printer(args, labels)

    if streamed:
        load = functools.partial(
            _prepare, channels=channels, size=size, mean=mean, std=std, dtype=dtype
        )
        bar = _progress_bar(len(paths), "predict", enabled=not args.quiet)
        if bar is not None:
            bar.unit = "image"  # one task per image here, not a batch
            bar.refresh()
        try:
            for path, scores in _streamed(model, paths, load, args.scheduler):
                printer.emit([path], np.asarray(scores)[None])
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return 0

    starts = range(0, len(paths), args.batch_size)
    bar = _progress_bar(len(starts), "predict", enabled=not args.quiet)
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
            printer.emit(chunk, np.asarray(scores))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return 0
