"""What the dispatcher (``cnnmath.cli``) and the subcommands share, in a module both import.

``cnnmath.cli`` imports every subcommand, so a subcommand importing from ``cli`` would close a
cycle; the error type and the one-line parser live here instead, below both.
"""

from __future__ import annotations

import argparse
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit status 2.

    ``PROG: error: MESSAGE (see PROG --help)`` instead of argparse's usage block + message.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line on stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def input_file(name: str, path: str | os.PathLike, *, expected: str = "a file") -> Path:
    """``path`` as a Path when it is a regular file (symlinks followed), else a ``CLIError``
    naming the argument ``name`` (``"MODEL"``, ``"--labels"``, ...), what was expected and
    what ``path`` is: missing, a directory, a FIFO, a device (see ``_files.regular_file``).

    Every file a command reads goes through here first: only ``os.stat`` looks at the path,
    so a FIFO or ``/dev/zero`` is refused before anything opens it (and blocks, or reads
    without end).
    """
    from .._files import regular_file

    try:
        return regular_file(name, path, expected=expected)
    except (OSError, ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None


def memory_limit() -> int:
    """Bytes a command may plan to take: the memory available now
    (``cnnmath.images.available_memory``), else this machine's physical memory, else the
    largest array index (then only sizes no array can have are refused)."""
    import sys

    from ..images import available_memory

    have = available_memory()
    if have is not None:
        return have
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return sys.maxsize


def activation_numbers(model: object, shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(all, largest): the numbers in the outputs of ``model``'s nodes, summed and the largest
    one, for one input of ``shape`` (C, H, W), from ``cnnmath.receptive_field``'s output
    shapes (arithmetic only, no forward pass); None when that cannot tell (a layer it does
    not know how to follow)."""
    from math import prod

    from ..receptive import receptive_field

    try:
        rows = list(receptive_field(model, shape))[1:]  # type: ignore[arg-type]
    except Exception:  # an estimate only: a model it cannot follow is checked by running it
        return None
    sizes = [prod(row.shape) for row in rows]
    return (sum(sizes), max(sizes)) if sizes else None


def build_for_input(
    build: Callable[..., Any],
    *,
    weights: str | os.PathLike | None = None,
    channels: int | None = None,
    **kwargs: Any,
) -> Any:
    """``build(**kwargs)``, with the input channels C a file of weights or an input needs, for
    a builder that takes ``in_channels`` (``resnet20``: 3 for CIFAR, 1 for the digits net that
    ``cnnmath train --arch resnet20`` writes).

    C is read from ``weights`` — dimension 1 of the first layer's weight, (C_out, C, k, k) for
    a convolution with ``groups=1`` — or given as ``channels`` (``summary --input C H W``).
    A builder without ``in_channels``, a file that lacks that key or cannot be read, or a
    first layer that is no ungrouped convolution gives the builder's default network, and the
    loading or the forward pass then refuses what does not fit with its own message.
    """
    model = build(**kwargs)
    if "in_channels" not in inspect.signature(build).parameters or "in_channels" in kwargs:
        return model
    first = next(iter(model.walk()), None)
    have = getattr(getattr(first, "module", None), "in_channels", None)
    if first is None or not isinstance(have, int) or getattr(first.module, "groups", 1) != 1:
        return model
    if weights is not None:
        channels = _weight_channels(weights, f"{first.name}.weight")
    if channels is None or channels == have:
        return model
    return build(**kwargs, in_channels=channels)


def _weight_channels(path: str | os.PathLike, key: str) -> int | None:
    """Dimension 1 of the array ``key`` of the safetensors file ``path``; None when the file
    cannot be read or has no such array of at least two axes (``weights.load`` then says why)."""
    from ..weights import load_state_dict

    try:
        value = load_state_dict(path).get(key)
    except (OSError, ValueError, TypeError, ImportError):
        return None
    return int(value.shape[1]) if value is not None and value.ndim >= 2 else None
