"""Small file-system helpers shared by the modules that read and write files."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


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
    (not the temporary name, which means nothing to the user). A SIGTERM while it is written
    removes it too (``sigterm_cleans_up``), as Ctrl-C does.
    """
    directory = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)[:40]}."  # short: a long valid name stays under 255
    with sigterm_cleans_up():
        try:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
        except OSError as exc:
            raise UnwritableDirectory(
                f"output directory is not writable: {directory} "
                f"({exc.strerror or type(exc).__name__})"
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


# ---------------------------------------------------------------------------------------------
# Input files: untrusted paths, checked before anything opens them.

#: What a path that is not a regular file is, in words: (stat test, name).
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def regular_file(
    name: str, path: str | os.PathLike, *, func: str | None = None, expected: str = "a file"
) -> Path:
    """Check that ``path`` names a regular file, after following symlinks; return it as a Path.

    Only ``os.stat`` looks at it, nothing opens it, so a FIFO (whose ``open`` blocks until a
    writer comes), a device (``/dev/zero`` reads without end) or a socket is refused before
    anything could hang. Errors name ``func`` (when given) and ``name``, say what was
    expected (``expected``, e.g. ``"an image file"``) and what ``path`` is:
    ``FileNotFoundError`` (missing, or a parent is no folder), ``IsADirectoryError``,
    ``ValueError`` (a FIFO, device or socket; a symlink loop), ``PermissionError`` and other
    ``OSError`` (its reason); ``TypeError`` when ``path`` is not a path.
    """
    where = f"{func}: {name}: " if func else f"{name}: "
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{where}expected a file path (str or os.PathLike), got {type(path).__name__}"
        )
    text = os.fspath(path)
    try:
        info = os.stat(text)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"{where}no such file: '{text}'") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(
                f"{where}'{text}' is a symlink loop (its links never reach a file); expected "
                f"{expected}"
            ) from None
        reason = exc.strerror or type(exc).__name__
        raise type(exc)(f"{where}cannot read '{text}' ({reason})") from None
    except ValueError as exc:  # an embedded NUL byte
        raise ValueError(f"{where}expected {expected}, got the path {text!r} ({exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(f"{where}'{text}' is a directory, not {expected}")
    if not stat.S_ISREG(info.st_mode):
        kind = next((words for test, words in _SPECIAL_KINDS if test(info.st_mode)), "no file")
        real = os.path.realpath(text)
        via = f" (a link to {real})" if os.path.islink(text) else ""
        raise ValueError(
            f"{where}'{text}'{via} is {kind}, not a regular file; expected {expected} "
            "(reading it could block or never end)"
        )
    return Path(text)


def read_regular(
    name: str, path: str | os.PathLike, *, func: str | None = None, expected: str = "a file"
) -> bytes:
    """The bytes of ``path``, a regular file (``regular_file``'s checks and errors).

    Opened without blocking and checked again on the open descriptor, so a path swapped for a
    FIFO or a device between the check and the ``open`` is refused as well.
    """
    with open_regular(name, path, func=func, expected=expected) as handle:
        return handle.read()


@contextlib.contextmanager
def open_regular(
    name: str, path: str | os.PathLike, *, func: str | None = None, expected: str = "a file"
) -> Iterator[BinaryIO]:
    """``path`` opened for reading in binary, a regular file (``regular_file``'s checks and
    errors), for a reader that must not take the whole file at once (an image's header is
    judged before its pixels).

    Opened without blocking and checked again on the open descriptor, so a path swapped for a
    FIFO or a device between the check and the ``open`` is refused as well.
    """
    checked = regular_file(name, path, func=func, expected=expected)
    fd = os.open(checked, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            where = f"{func}: {name}: " if func else f"{name}: "
            raise ValueError(f"{where}'{os.fspath(path)}' is not a regular file")
        yield handle


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is while :func:`sigterm_cleans_up` holds it, so
    that a writer's clean-up (``except BaseException``, ``finally``) runs, as for Ctrl-C."""


@contextlib.contextmanager
def sigterm_cleans_up() -> Iterator[None]:
    """While the block runs (a writer with a temporary file beside its target), SIGTERM —
    what ``timeout``, Slurm and Kubernetes send — raises :class:`Terminated` in the main
    thread instead of ending the process on the spot, so the block's clean-up removes the
    temporary file; then SIGTERM's default action is restored and the signal raised again:
    the process ends as it would have (killed by SIGTERM, status 143 in a shell), only
    without the half-written file. A second SIGTERM during the clean-up ends it at once.

    Installed only where SIGTERM has its default action and this is the main thread (the
    only one that may set handlers): a program that handles SIGTERM itself (``cnnmath``'s
    command line, an application's own handler) keeps its handler, whose exception the
    writer's clean-up sees just the same. The previous handler is restored on leaving.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL
    ):
        yield
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        raise Terminated

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)  # the default action: the process ends here
        raise  # (only where raising it did not end the process)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
