"""The ``cnnmath`` command line: one dispatcher, one module per subcommand.

Each module in ``cnnmath.commands`` (not starting with ``_``) is a subcommand; it defines
``NAME``, ``HELP``, ``ORDER`` (its place in ``--help``), ``add_arguments(parser)`` and
``run(args) -> int``. Adding a command means adding a module, never editing this file.

Errors a user can cause (a missing file, an impossible option) end as one line on stderr and
exit status 2, without a traceback; an unknown option is reported by the subcommand it was
given to. With the environment variable ``CNNMATH_DEBUG`` set to a non-empty value those
errors are raised instead, with their traceback (for bug reports).

The error type, ``CLIError``, lives in ``cnnmath.commands._common`` (re-exported here), so the
subcommands import it without importing this dispatcher, which imports them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from . import __version__, commands
from .commands._common import CLIError, OneLineParser

__all__ = ["CLIError", "DEBUG_VARIABLE", "build_parser", "main"]


#: Set to a non-empty value, user errors are raised with their traceback instead of one line.
DEBUG_VARIABLE = "CNNMATH_DEBUG"

_EPILOG = f"""\
Run "cnnmath COMMAND --help" for a command's options. Errors print one line and exit with
status 2; set {DEBUG_VARIABLE}=1 in the environment to see the full traceback instead.
"""


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
    parser = OneLineParser(
        prog="cnnmath",
        description="The mathematics of convolutional networks, executable and verified.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"cnnmath {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
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


#: The exit status after SIGTERM: 128 + the signal's number, as a shell reports a process it
#: terminated.
TERMINATED_STATUS = 128 + int(signal.SIGTERM)


class _Terminated(BaseException):
    """SIGTERM, raised where the main thread is, so that ``finally``/``except BaseException``
    clean-ups (the atomic writers' temporary files) run as they do for Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise _Terminated


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the command runs, SIGTERM raises ``_Terminated`` instead of ending the process
    on the spot. Only where SIGTERM has its default action and we are the main thread (an
    application that embeds ``main`` and handles SIGTERM itself keeps its handler)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so that the interpreter's last flush at exit
    (of what the closed pipe refused) succeeds instead of printing "Exception ignored"."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnmath`` console script; returns the exit status.

    argv : the arguments after the program name (default ``sys.argv[1:]``). Returns the
    command's status; a user error (``CLIError``, ``ValueError``, ``TypeError``, ``OSError``,
    ``ImportError``) prints one line on stderr and returns 2, unless ``CNNMATH_DEBUG`` is set
    to a non-empty value, in which case it is raised with its traceback. Usage errors exit 2
    through ``SystemExit``; Ctrl-C returns 130, SIGTERM 143 (both after the clean-ups that
    remove half-written files). Running out of memory (an impossible size, such as a huge
    ``--padding``) is one line and 2 as well. When the reader of stdout goes away (``cnnmath
    verify | head``, also during ``--help`` or ``--version``), the command stops quietly with
    status 1, as Python's documentation of SIGPIPE advises: stdout is flushed here, inside
    the handler, not at interpreter exit where the error could only be printed.
    """
    try:
        try:
            with _sigterm_raises():
                status = _dispatch(argv)
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except _Terminated:  # before a command started (while the parser was being built)
        return TERMINATED_STATUS
    return status


def _dispatch(argv: Sequence[str] | None) -> int:
    """Parse ``argv``, run the command, turn user errors into one line and status 2."""
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
        raise  # stdout's reader went away: main stops quietly
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
    except _Terminated:
        print(f"cnnmath {args.command}: terminated", file=sys.stderr)
        return TERMINATED_STATUS
