"""What predict checks before any work: the IMAGE arguments expanded (a directory's image
files, a pattern's matches), the ``--labels`` file read, each image's ``--masks`` or
``--cams`` file named and checked (one file per name, none over an input), the ``--mean``
and ``--std`` against the model's channels."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._common import CLIError, input_file


def _expand(argument: str) -> tuple[list[str], bool]:
    """The files an IMAGE argument names and whether it is a collection: a directory's files
    with an image extension (sorted), a glob pattern's matching files (sorted), or itself."""
    from ...images import FORMATS

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
    from ..._files import read_regular

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


#: What each option that writes one PNG per image writes, and the verb of its advice.
_PER_IMAGE_FILES = {"--masks": ("mask", "segment"), "--cams": ("Grad-CAM picture", "run")}


def _mask_targets(
    directory: str, paths: list[str], inputs: list[str], option: str = "--masks"
) -> dict[str, Path]:
    """The file ``option`` (``--masks``, ``--cams``) writes for each image, ``DIR/STEM.png``,
    checked before any work: DIR a folder that can be written, or one that can be made (its
    nearest existing ancestor a writable folder); no two different files to one name
    (compared case-folded, as macOS and Windows compare names); none over one of ``inputs``
    (images, model, labels)."""
    from ..._checks import writable_directory

    noun, verb = _PER_IMAGE_FILES[option]

    folder = Path(directory)
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent  # the nearest ancestor there is; made into DIR later
    try:
        writable_directory(option, existing, func=None)
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
                f"{option} {directory}: IMAGE {other} and IMAGE {path} would both write the "
                f"{noun} {target} (each is named after the image's name without its "
                f"extension); rename one, or {verb} them in separate runs"
            )
        targets[path] = target
    protected = {os.path.realpath(f) for f in inputs}
    for path, target in targets.items():
        if os.path.realpath(target) in protected:
            raise CLIError(
                f"{option} {directory}: the {noun} of IMAGE {path} would replace the input "
                f"file {target}; write them to another folder"
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
