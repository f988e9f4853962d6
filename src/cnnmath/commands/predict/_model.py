"""predict's model: read from an ONNX file or a ``--arch`` network's safetensors (a builder
with ``in_channels``, resnet20, built for the channels of the file's first convolution), its
input channels and dtype read off it, and a ``--size`` whose batch would not fit in memory
refused before any image is resized."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .._common import CLIError, activation_numbers, build_for_input, memory_limit
from ._arguments import _architectures


def _load_model(args: argparse.Namespace) -> Any:
    path = args.model
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        if args.arch is not None or args.num_classes is not None:
            raise CLIError(
                "--arch and --num-classes apply to .safetensors models; an .onnx file carries "
                "its own network"
            )
        from ...onnx import load

        return load(path)
    if suffix in (".pth", ".pt"):  # torch.save's: a pickle, which cnnmath never loads
        raise CLIError(
            f"MODEL {path}: a PyTorch checkpoint (torch.save); cnnmath never unpickles: convert "
            "it once, in PyTorch, with safetensors.torch.save_file(model.state_dict(), "
            "'model.safetensors') and give that file with --arch (docs/models.md), or export "
            "the model with torch.onnx.export"
        )
    if suffix != ".safetensors":
        raise CLIError(f"MODEL {path}: expected a .onnx file, or a .safetensors file with --arch")
    if args.arch is None:
        raise CLIError(
            f"MODEL {path}: a .safetensors file holds weights only; name the network with "
            f"--arch (one of {', '.join(_architectures())})"
        )
    from ... import models, weights

    build = getattr(models, args.arch)
    kwargs = {}
    if args.num_classes is not None:
        kwargs["classes" if args.arch == "lenet" else "num_classes"] = args.num_classes
    model = build_for_input(build, weights=path, **kwargs)  # resnet20: 1 or 3 channels
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
    args: argparse.Namespace,
    model: Any,
    channels: int,
    dtype: np.dtype,
    batch: int,
    hw: tuple[int, int],
    option: str,
) -> None:
    """Refuse, before any image is resized, a size (``option``, as given: "--size H W",
    "--resize N", ...) whose batch of ``batch`` images of ``hw`` (H, W), the largest the model
    will see, and largest layer output (``_common.activation_numbers``) need more than the
    memory available (``_common.memory_limit``): a lower estimate, so what is refused could
    not have run."""
    H, W = hw
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
            f"{option}: {what} of {channels}x{H}x{W} pixels would need about "
            f"{need / 2**30:.3g} GiB in the model, and {have / 2**30:.3g} GiB are available; "
            "give the size the model was trained on (e.g. 224 224, or 32 32 for resnet20)"
            + (" or a smaller --batch-size" if batch > 1 else "")
        )


def _fixed_batch(
    model: Any, args: argparse.Namespace, seen: set[tuple[int, int]], option: str, images: int
) -> int:
    """The images per forward pass: ``--batch-size``, except for an ONNX file that declares
    its batch axis fixed (exported without a dynamic batch axis): a file of batch 1 runs one
    image at a time (the exporter may have written the batch into its computation as a
    constant, ``x.reshape(x.shape[0], -1)`` or a resize's sizes, which a larger batch breaks
    or blends); a batch of n > 1 held by the loader (``Graph.fixed_input_sizes``: sizes
    computed at load time) runs n at a time and needs a multiple of n images. A height and
    width held by the loader that the options do not give is refused before any image is
    read, naming the --size that gives it."""
    fixed = getattr(model, "fixed_input_sizes", None)
    held = next(iter(fixed.values()), None) if isinstance(fixed, dict) and fixed else None
    declared = getattr(model, "onnx_input_dims", None)
    first = next(iter(declared.values()), None) if isinstance(declared, dict) and declared else None
    if held is not None and len(held) == 4:
        n, h, w = held[0], held[2], held[3]
        if h is not None and w is not None and any(hw != (h, w) for hw in seen):
            given = sorted(f"{a}x{b}" for a, b in seen)
            raise CLIError(
                f"MODEL {args.model}: the file fixes its input at {h}x{w} pixels (exported "
                "without dynamic axes; its sizes were computed from them when it was loaded), "
                f"and {option} gives {', '.join(given[:3])}{' ...' if len(given) > 3 else ''}; "
                f"give --size {h} {w} (or a --resize and --center-crop that end at {h}x{w}), or "
                "export with dynamic axes"
            )
        if n is not None and n != 1:
            if images % n:
                raise CLIError(
                    f"MODEL {args.model}: the file fixes its batch at {n} images (exported "
                    f"without a dynamic batch axis), and {images} image(s) were given; give a "
                    f"multiple of {n} images, or export with a dynamic batch axis"
                )
            return int(n)
    if first is not None and len(first) >= 1 and first[0] == 1:
        return 1
    return int(args.batch_size)


def _model_channels(model: Any) -> int:
    """The channels of the model's input: its first layer's ``in_channels`` (3 without one)."""
    first = next(iter(model.walk()), None)
    channels = getattr(first.module, "in_channels", None) if first is not None else None
    return int(channels) if isinstance(channels, (int, np.integer)) else 3


def _model_dtype(model: Any) -> np.dtype:
    params = model.parameters()
    return params[0].dtype if params else np.dtype(np.float32)
