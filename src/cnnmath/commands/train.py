"""``cnnmath train``: train the digits CNN (``cnnmath.recipes.train_digits``) and report its
accuracy on the 360 held-out test images, as a last line ``test accuracy 0.9xx``.

    cnnmath train                                  # the recipe: LeNet, 40 epochs, seed 0
    cnnmath train --arch resnet20                  # He et al.'s ResNet-20 (BatchNorm), 16 epochs
    cnnmath train --epochs 10 --seed 3 --save digits.safetensors
    cnnmath train --checkpoint run.ckpt            # stop it any time, then:
    cnnmath train --resume run.ckpt                # continues to the same final weights
"""

from __future__ import annotations

import argparse

from ._args import whole_number
from ._common import CLIError, input_file

NAME = "train"
HELP = (
    "train a CNN (LeNet-style, or --arch resnet20) on the handwritten digits and print its "
    "test accuracy"
)
ORDER = 40


#: The help's closing lines: what the images are, so that a drawn digit can be given to
#: ``cnnmath predict`` as the network saw its training data.
EPILOG = """\
the data: scikit-learn's handwritten digits, 1437 training and 360 test images of 1x8x8
pixels in [0, 1] (its counts 0..16 divided by 16): light ink (up to 1) on a dark background
(0), each digit filling the image's height. A digit of your own must look the same: drawn
dark on white, invert it (PIL.ImageOps.invert) before cnnmath predict.

examples:
  cnnmath train --save digits.safetensors
  cnnmath predict digits.safetensors seven.png --arch lenet --size 8 8 --mean 0 --std 1
  cnnmath train --arch resnet20 --save r20.safetensors
  cnnmath predict r20.safetensors seven.png --arch resnet20 --size 8 8 --mean 0 --std 1
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --arch, --epochs, --seed, --save, --checkpoint, --resume and --quiet."""
    from ..recipes import ARCHS, RECIPES

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG

    parser.add_argument(
        "--arch",
        choices=ARCHS,
        default="lenet",
        help="the network: lenet (default) or resnet20 (He et al.'s CIFAR ResNet-20 with "
        "BatchNorm, on the 1x8x8 images as they are); resume with the same one",
    )
    defaults = ", ".join(f"{RECIPES[a]['epochs']} for {a}" for a in ARCHS)
    parser.add_argument(
        "--epochs",
        type=whole_number(1),
        default=None,
        metavar="N",
        help=f"number of epochs (default: the recipe's, {defaults}; with --resume, the "
        "checkpoint's run's); the learning-rate schedule spans them, so a resumed run keeps "
        "its N",
    )
    parser.add_argument(
        "--seed",
        type=whole_number(0),
        default=None,
        metavar="S",
        help="seed of the initial weights, the shuffling and the augmentation "
        "(default: 0; with --resume, the checkpoint's run's); the same seed gives the same "
        "numbers",
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
    """Train ``train_digits`` with the options; print ``test accuracy 0.xxx``; exit status.

    Every path is checked before any training, each error naming its option: ``--save`` and
    ``--checkpoint`` must name files in existing, writable folders (not a folder, not the same
    file as each other, nor ``--save`` the ``--resume`` file that checkpoints go to without
    ``--checkpoint``), and ``--resume`` must be a regular file (not a FIFO or a device) and a
    checkpoint whose metadata passes the checks of ``cnnmath.checkpoint.read_checkpoint``;
    resumed without ``--epochs`` or ``--seed``, the run keeps the checkpoint's number of
    epochs and seed (a different one is refused, naming the option).
    """
    from .._checks import output_file
    from ..checkpoint import _same_file, read_checkpoint
    from ..recipes import train_digits
    from ..train import TrainingDiverged

    for option in ("save", "checkpoint"):
        path = getattr(args, option)
        if path is not None:
            output_file(f"--{option}", path, func=None)
    if args.resume is not None:
        input_file("--resume", args.resume, expected="a checkpoint written by --checkpoint")
        try:
            saved = read_checkpoint(args.resume, func="--resume")
        except (ValueError, TypeError, OSError) as exc:
            text = str(exc)
            if "not a valid safetensors" in text:  # e.g. an image given for a checkpoint
                text += "; expected a checkpoint written by --checkpoint"
            raise CLIError(text) from None
        # without --epochs train_digits keeps the checkpoint's; a conflicting one is named
        # here as the option (train_digits would say "epochs=")
        if args.epochs is not None and saved.run["epochs"] != args.epochs:
            raise CLIError(
                f"--resume: {args.resume} comes from a run of {saved.run['epochs']} epochs, "
                f"this one has --epochs {args.epochs}; the learning-rate schedule spans the "
                f"run, so resume with --epochs {saved.run['epochs']}"
            )
        if args.seed is not None and saved.run["seed"] != args.seed:
            raise CLIError(
                f"--resume: {args.resume} comes from a run with seed {saved.run['seed']}, "
                f"this one has --seed {args.seed}; resume with --seed {saved.run['seed']} (or "
                "without --seed)"
            )
        if args.seed is None:
            args.seed = saved.run["seed"]
    checkpoints_to, option = (
        (args.checkpoint, "--checkpoint") if args.checkpoint is not None else (args.resume, "")
    )
    if (
        args.save is not None
        and checkpoints_to is not None
        and _same_file(args.save, checkpoints_to)
    ):
        which = option or "--resume (where checkpoints go without --checkpoint)"
        raise CLIError(
            f"--save and {which} name the same file, {args.save}: the final weights would "
            "replace the checkpoint; give them different paths"
        )
    try:
        _, history, accuracy = train_digits(
            epochs=args.epochs,
            seed=0 if args.seed is None else args.seed,
            arch=args.arch,
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
