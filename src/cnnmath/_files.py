"""Small file-system helpers shared by the modules that write files."""

from __future__ import annotations

import os


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
