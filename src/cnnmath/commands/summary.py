"""``cnnmath summary MODEL --input C H W``: the per-layer table of a model (``cnnmath.summary``).

    cnnmath summary resnet18 --input 3 224 224
    cnnmath summary r3d_18 --input 3 16 112 112          # a clip: C T H W
    cnnmath summary weights.safetensors --arch resnet20 --input 3 32 32
    cnnmath summary model.onnx --input 1 28 28          # when cnnmath.onnx can load it
    cnnmath summary resnet20 --input 1 8 8              # the digits ResNet-20

A builder with an ``in_channels`` argument (resnet20) is built for the C of ``--input``, or,
with a .safetensors file, for the channels of the file's first convolution (1 for the net
that ``cnnmath train --arch resnet20`` saves); the other networks take the channels they have.

One row per layer: output shape, parameters, mult-adds (torchinfo's counting rules), kernel,
stride, groups, trainable, and the receptive field (size, jump, start); then the totals.

A MODEL file must be a regular file (a FIFO or a device is refused before it is opened), and
an ``--input`` and ``--batch`` whose input and layer outputs need more memory than is
available are refused, naming both, before the model runs.
"""

from __future__ import annotations

import argparse
import importlib
import math
from typing import Any

import numpy as np

from ._args import whole_number
from ._common import CLIError, activation_numbers, build_for_input, input_file, memory_limit

NAME = "summary"
HELP = "print a model's layers: shapes, parameters, mult-adds, receptive fields"
ORDER = 45


def _architectures() -> dict[str, Any]:
    from .. import models

    return {name: getattr(models, name) for name in models.__all__}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add MODEL, --input, --batch and --arch."""
    names = ", ".join(sorted(_architectures()))
    parser.add_argument(
        "model",
        metavar="MODEL",
        help=f"a cnnmath.models name ({names}), a .safetensors file with --arch, or an .onnx "
        "file (when cnnmath.onnx is available)",
    )
    parser.add_argument(
        "--input",
        type=whole_number(1),
        nargs="+",
        required=True,
        metavar="N",
        help="the shape of one input: C H W for images, C T H W for video clips (F for flat "
        "inputs); resnet20 is built for its C (a .safetensors file: for the file's)",
    )
    parser.add_argument(
        "--batch", type=whole_number(1), default=1, metavar="B", help="batch size (default 1)"
    )
    parser.add_argument(
        "--arch",
        metavar="NAME",
        help="the cnnmath.models architecture of a .safetensors file's weights",
    )


def _load_model(args: argparse.Namespace) -> Any:
    """The model MODEL names; each error names the option at fault."""
    archs = _architectures()
    path = args.model
    lower = path.lower()
    if lower.endswith(".safetensors"):
        if args.arch is None:
            raise CLIError(
                f"MODEL {path}: a .safetensors file holds weights only; name its architecture "
                f"with --arch ({', '.join(sorted(archs))})"
            )
        if args.arch not in archs:
            raise CLIError(f"--arch: expected one of {', '.join(sorted(archs))}, got {args.arch!r}")
        input_file("MODEL", path, expected="a .safetensors file")
        from ..weights import load

        model = build_for_input(archs[args.arch], weights=path)
        load(model, path)
        return model
    if args.arch is not None:
        raise CLIError("--arch: only for a .safetensors MODEL (a models name is its own arch)")
    if lower.endswith(".onnx"):
        try:
            onnx = importlib.import_module("cnnmath.onnx")
        except ImportError:
            onnx = None
        if onnx is None or not callable(getattr(onnx, "load", None)):
            raise CLIError(f"MODEL {path}: reading .onnx files needs cnnmath.onnx, not available")
        input_file("MODEL", path, expected="an .onnx file")
        return onnx.load(path)
    if path not in archs:
        raise CLIError(
            f"MODEL: expected one of {', '.join(sorted(archs))}, a .safetensors file or an "
            f".onnx file, got {path!r}"
        )
    channels = args.input[0] if len(args.input) in (3, 4) else None
    return build_for_input(archs[path], channels=channels)


def run(args: argparse.Namespace) -> int:
    """Print the summary of MODEL on a batch of ``--batch`` inputs of shape ``--input``."""
    from ..summary import summary

    if len(args.input) not in (1, 3, 4):
        raise CLIError(
            "--input: expected C H W (C T H W for video clips, F for flat inputs), got "
            f"{len(args.input)} numbers"
        )
    model = _load_model(args)
    _check_clip_input(args, model)
    _check_memory(args, model)
    try:
        table = summary(model, (args.batch, *args.input))
    except ValueError as exc:
        text = str(exc)
        if not text.startswith("summary: input_shape"):
            raise
        raise CLIError(f"--input: {text.split(': ', 2)[2]}") from None
    print(table)
    return 0


def _check_clip_input(args: argparse.Namespace, model: Any) -> None:
    """A model of clips (its first layer 3-D: r3d_18, …) needs C T H W: with C H W the batch
    B put in front would be read as the channels of one clip."""
    from ..receptive import VOLUME_LAYERS

    first = next(iter(model.walk()), None)
    if len(args.input) == 3 and first is not None and isinstance(first.module, VOLUME_LAYERS):
        raise CLIError(
            f"--input: {type(first.module).__name__} {first.name!r} takes video clips or "
            f"volumes: expected C T H W, got {' '.join(map(str, args.input))}"
        )


def _check_memory(args: argparse.Namespace, model: Any) -> None:
    """Refuse, before the model runs, a ``--batch`` and ``--input`` whose input and layer
    outputs (all kept for the table; their shapes from ``cnnmath.receptive_field`` where it
    can follow the model, else the input alone) need more than the memory available."""
    params = model.parameters()
    itemsize = (params[0].dtype if params else np.dtype(np.float32)).itemsize
    per_input = math.prod(args.input)
    acts = activation_numbers(model, tuple(args.input)) if len(args.input) == 3 else None
    need = args.batch * (per_input + (acts[0] if acts is not None else 0)) * itemsize
    have = memory_limit()
    if need > have:
        shape = " ".join(map(str, args.input))
        raise CLIError(
            f"--input {shape} with --batch {args.batch}: the input and the layers' outputs "
            f"would take about {need / 2**30:.3g} GiB, and {have / 2**30:.3g} GiB are "
            "available; give a smaller --input or --batch"
        )
