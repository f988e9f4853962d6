"""What the dispatcher (``cnnmath.cli``) and the subcommands share, in a module both import.

``cnnmath.cli`` imports every subcommand, so a subcommand importing from ``cli`` would close a
cycle; the error type and the one-line parser live here instead, below both.
"""

from __future__ import annotations

import argparse
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
