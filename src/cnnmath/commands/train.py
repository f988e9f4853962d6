"""``cnnmath train``: train the digits CNN (``cnnmath.train.train_digits``) and report its
accuracy on the 360 held-out test images, as a last line ``test accuracy 0.9xx``.

    cnnmath train                                  # the recipe: 40 epochs, seed 0
    cnnmath train --epochs 10 --seed 3 --save digits.safetensors
    cnnmath train --checkpoint run.ckpt            # stop it any time, then:
    cnnmath train --resume run.ckpt                # continues to the same final weights
"""

from __future__ import annotations

import argparse
import os

from ._common import CLIError
from ._args import whole_number

NAME = "train"
HELP = "train the LeNet-style CNN on the handwritten digits and print its test accuracy"
ORDER = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --epochs, --seed, --save, --checkpoint, --resume and --quiet."""
    from ..train import RECIPE

    parser.add_argument(
        "--epochs",
        type=whole_number(1),
        default=RECIPE["epochs"],
        metavar="N",
        help=f"number of epochs (default: {RECIPE['epochs']}); the learning-rate "
        "schedule spans them, so resume with the same N",
    )
    parser.add_argument(
        "--seed",
        type=whole_number(0),
        default=0,
        metavar="S",
        help="seed of the initial weights, the shuffling and the augmentation "
        "(default: 0); the same seed gives the same numbers",
    )
    parser.add_argument(
        "--save",
        metavar="PATH",
        default=None,
        help="write the final weights to PATH (safetensors with PyTorch's state_dict names)",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        default=None,
        help="write a checkpoint (weights, optimiser, epoch, RNG state) to PATH "
        "after every epoch (default with --resume: the resumed file)",
    )
    parser.add_argument(
        "--resume",
        metavar="PATH",
        default=None,
        help="continue from a checkpoint written by --checkpoint",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or per-epoch lines, only the final line",
    )
    # for quick runs in tests: train on the first N training images only
    parser.add_argument("--limit", type=whole_number(1), default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Train ``train_digits`` with the options; print ``test accuracy 0.xxx``; exit status."""
    from ..train import TrainingDiverged, train_digits

    for option in ("save", "checkpoint"):
        path = getattr(args, option)
        if path is not None:
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise CLIError(f"--{option} {path}: directory {directory} does not exist")
    if args.resume is not None and not os.path.isfile(args.resume):
        raise CLIError(f"--resume {args.resume}: no such file")
    try:
        _, history, accuracy = train_digits(
            epochs=args.epochs,
            seed=args.seed,
            progress=not args.quiet,
            save=args.save,
            checkpoint=args.checkpoint,
            resume=args.resume,
            limit=args.limit,
        )
    except TrainingDiverged as exc:
        raise CLIError(str(exc)) from exc
    if args.save is not None and not args.quiet:
        print(f"weights saved to {args.save}")
    print(f"test accuracy {accuracy:.3f}")
    return 0
