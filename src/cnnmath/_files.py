"""Small file-system helpers shared by the modules that write files."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read the umask is to set it and put it back
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the process's umask.

    Files written through ``tempfile.mkstemp`` (private, 0o600) and renamed into place get this
    mode first, so an atomic write looks like an ordinary one.
    """
    return 0o666 & ~_umask()


def default_dir_mode() -> int:
    """The mode ``os.mkdir`` would give a new folder: 0o777 less the umask (``mkdtemp``: 0o700)."""
    return 0o777 & ~_umask()


class UnwritableDirectory(PermissionError):
    """No temporary file could be made in the target's folder (read-only, no space, ...)."""


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".part") -> Iterator[BinaryIO]:
    """Write ``path`` whole or not at all: yield a temporary file in the same folder, then
    give it ``open()``'s mode and rename it over ``path``; on any failure remove it.

    A temporary file that cannot be created raises ``UnwritableDirectory`` naming the folder
    (not the temporary name, which means nothing to the user).
    """
    directory = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)[:40]}."  # short: a long valid name stays under 255
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    except OSError as exc:
        raise UnwritableDirectory(
            f"output directory is not writable: {directory} ({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, default_file_mode())  # mkstemp made it private
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
