"""The ``cnnmath`` command line: one dispatcher, one module per subcommand.

Each module in ``cnnmath.commands`` (not starting with ``_``) is a subcommand; it defines
``NAME``, ``HELP``, ``ORDER`` (its place in ``--help``), ``add_arguments(parser)`` and
``run(args) -> int``. Adding a command means adding a module, never editing this file.

Errors a user can cause (a missing file, an impossible option) end as one line on stderr and
exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from . import __version__, commands


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command_modules():
    found = []
    for info in pkgutil.iter_modules(commands.__path__):
        if not info.name.startswith("_"):
            found.append(importlib.import_module(f"{commands.__name__}.{info.name}"))
    return sorted(found, key=lambda m: (m.ORDER, m.NAME))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cnnmath",
        description="The mathematics of convolutional networks, executable and verified.",
    )
    parser.add_argument("--version", action="version", version=f"cnnmath {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnmath`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except (CLIError, ValueError, TypeError, OSError, ImportError) as exc:
        print(f"cnnmath {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cnnmath {args.command}: interrupted", file=sys.stderr)
        return 130
