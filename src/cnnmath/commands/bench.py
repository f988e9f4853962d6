"""``cnnmath bench [ARGS...]``: the benchmarks of ``cnnmath.bench``, from the main CLI.

Every argument after ``bench`` — ``--help`` included — is handed unchanged to
``cnnmath.bench.main(argv)``, which owns the benchmark's options (so ``cnnmath bench --help``
shows the benchmark's own help, and ``cnnmath bench ARGS`` is ``python -m cnnmath.bench
ARGS``). PyTorch, when installed, is timed beside cnnmath in the same run.
"""

from __future__ import annotations

import argparse
import importlib

from ._common import CLIError

NAME = "bench"
HELP = "time cnnmath's ops beside PyTorch's (when installed) on this machine"
ORDER = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Take every argument as it is, for ``cnnmath.bench.main`` to parse."""
    # No option of our own: with a prefix character no argument can start with, argparse
    # reads every argument (even --help) as a plain value, and all of them go to
    # cnnmath.bench, which parses them itself.
    parser.prefix_chars = "\0"
    parser.add_argument(
        "bench_args",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help="arguments for the benchmark (see cnnmath bench --help)",
    )
    parser.set_defaults(_bench_parser=parser)


def run(args: argparse.Namespace) -> int:
    """Run ``cnnmath.bench.main`` on the forwarded arguments; its exit status."""
    forwarded = list(args.bench_args)
    if forwarded[:1] == ["--"]:
        forwarded = forwarded[1:]
    try:
        bench = importlib.import_module("cnnmath.bench")
    except ModuleNotFoundError as exc:
        if exc.name != "cnnmath.bench":
            raise  # a dependency of the benchmark is missing: its own message says which
        if forwarded in (["-h"], ["--help"]):  # help still answers, and says what is missing
            args._bench_parser.print_help()
            print("\n(cnnmath.bench, which runs the benchmarks, is not part of this installation)")
            return 0
        raise CLIError("the benchmarks (cnnmath.bench) are not part of this installation") from None
    return int(bench.main(forwarded) or 0)
