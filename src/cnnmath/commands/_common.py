"""What the dispatcher (``cnnmath.cli``) and the subcommands share, in a module both import.

``cnnmath.cli`` imports every subcommand, so a subcommand importing from ``cli`` would close a
cycle; the error type and the one-line parser live here instead, below both.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import NoReturn


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
