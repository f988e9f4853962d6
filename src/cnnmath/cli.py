"""The ``cnnmath`` command line: one dispatcher, one module per subcommand.

Each module in ``cnnmath.commands`` (not starting with ``_``) is a subcommand; it defines
``NAME``, ``HELP``, ``ORDER`` (its place in ``--help``), ``add_arguments(parser)`` and
``run(args) -> int``. Adding a command means adding a module, never editing this file.

Errors a user can cause (a missing file, an impossible option) end as one line on stderr and
exit status 2, without a traceback; an unknown option is reported by the subcommand it was
given to. With the environment variable ``CNNMATH_DEBUG`` set to a non-empty value those
errors are raised instead, with their traceback (for bug reports).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from . import __version__, commands


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


#: Set to a non-empty value, user errors are raised with their traceback instead of one line.
DEBUG_VARIABLE = "CNNMATH_DEBUG"

_EPILOG = f"""\
Run "cnnmath COMMAND --help" for a command's options. Errors print one line and exit with
status 2; set {DEBUG_VARIABLE}=1 in the environment to see the full traceback instead.
"""


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
    """The ``cnnmath`` parser: one subparser per module of ``cnnmath.commands``, in ``ORDER``.

    Each subcommand's namespace carries ``_run`` (its ``run(args)``) and ``_parser`` (its own
    parser, which reports the subcommand's usage errors); errors exit 2 in one line.
    """
    parser = _Parser(
        prog="cnnmath",
        description="The mathematics of convolutional networks, executable and verified.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"cnnmath {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p)
    return parser


def _parser_of(
    unknown: list[str], words: list[str], args: argparse.Namespace, parser: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """The parser that should report ``unknown``: the subcommand's when they came after its
    name (its usage is the one to read), the top-level parser's when they came before it."""
    sub = getattr(args, "_parser", None)
    if sub is None or args.command not in words:
        return parser
    after = words[words.index(args.command) + 1 :]
    return sub if all(word in after for word in unknown) else parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnmath`` console script; returns the exit status.

    argv : the arguments after the program name (default ``sys.argv[1:]``). Returns the
    command's status; a user error (``CLIError``, ``ValueError``, ``TypeError``, ``OSError``,
    ``ImportError``) prints one line on stderr and returns 2, unless ``CNNMATH_DEBUG`` is set
    to a non-empty value, in which case it is raised with its traceback. Usage errors exit 2
    through ``SystemExit``; Ctrl-C returns 130. Running out of memory (an impossible size, such
    as a huge ``--padding``) is one line and 2 as well. When the reader of stdout goes away
    (``cnnmath verify | head``), the command stops quietly with status 1, as Python advises.
    """
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(words)
    if unknown:
        _parser_of(unknown, words, args, parser).error(
            f"unrecognized arguments: {' '.join(unknown)}"
        )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:
        # stdout's reader closed early: silence the flush at exit, no error message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except MemoryError as exc:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(
            f"cnnmath {args.command}: error: not enough memory for this input and these "
            f"options ({exc or 'allocation failed'})",
            file=sys.stderr,
        )
        return 2
    except (CLIError, ValueError, TypeError, OSError, ImportError) as exc:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(f"cnnmath {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cnnmath {args.command}: interrupted", file=sys.stderr)
        return 130
