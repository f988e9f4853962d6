"""``cnnmath bench`` (or ``python -m cnnmath.bench``): cnnmath against PyTorch on the CPU.

Prints, for one thread and for all cores (the same count for cnnmath, through
``cnnmath.set_num_threads``, which sets NumPy's BLAS too, and for PyTorch, through
``torch.set_num_threads``; ``cnnmath.bench.fair`` says how each library's samples get the
same conditions):

- conv2d forward + backward (all three gradients) on the shapes of the results, LeNet and a
  ResNet-like layer, with the method the dispatch picks for each correlation, medians of
  interleaved timings, the ratio cnnmath / PyTorch against its target, and GFLOP/s beside
  NumPy's own sgemm GFLOP/s (the roofline);
- max and average pooling forward + backward on LeNet and ResNet activations;
- one training epoch (``cnnmath.bench.train``), where that module exists;
- at one thread, ResNet-18 forward (batch 1, 3×224×224), a training step (batch 8) and the
  forward with its batch norms folded into the convolutions on both sides, and
  MobileNetV2's batch-1 forward (its depthwise layers; shown without a target)
  (``cnnmath.bench.models``);
- peak memory (``ru_maxrss``) of conv2d and its backward on a (1, 1, 8192, 8192) image,
  each library in a fresh process.

Each conv, pooling and batch-norm row also counts the minor page faults a call of each library
costs; ``--torch-huge-pages`` gives PyTorch the 2 MiB pages NumPy asks for by default
(``cnnmath.bench.fair``).

The header names NumPy's BLAS (threadpoolctl's internal_api, version and architecture) and
the thread counts (cnnmath's default, ``cnnmath.get_num_threads()``), so figures from
different machines can be compared. PyTorch is used here only (PyTorch's CPU build);
without it cnnmath is timed alone.

``--only TEXT`` runs the rows and sections whose names contain TEXT, ignoring case: a
conv, pooling or batch-norm row by its name, the other sections by their titles and rows'
names (``--only epoch``: the training epoch; ``--only ResNet-18``: the whole models and
ONNX; ``--only memory``: peak memory).

Bad options (``--repeats 0``, ``--threads x``) are one line on stderr naming ``cnnmath bench``
and exit status 2, as for every other command.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import platform
import sys
from typing import Any

import numpy as np

from ..commands._args import whole_number
from ..commands._common import OneLineParser
from . import kernels

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="cnnmath bench",
        description="Time cnnmath's conv2d and pooling (forward + backward) against PyTorch.",
    )
    p.add_argument(
        "--threads",
        default="1,all",
        type=_thread_counts,
        help="comma-separated thread counts, 'all' = every core (default: 1,all)",
    )
    p.add_argument(
        "--repeats",
        type=whole_number(1),
        default=7,
        help="timed samples per case; the median is shown (default: 7)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="3 repeats, a 2048² memory image: a fast look, noisier figures",
    )
    p.add_argument(
        "--only",
        default=None,
        help="run only the rows and sections whose name contains this text, ignoring case "
        "(e.g. ResNet, epoch, memory)",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory section")
    p.add_argument("--no-train", action="store_true", help="skip the training-epoch section")
    p.add_argument("--no-models", action="store_true", help="skip the ResNet-18 rows")
    p.add_argument(
        "--no-onnx",
        action="store_true",
        help="skip ResNet-18 through ONNX (cnnmath, onnxruntime, ReferenceEvaluator, PyTorch)",
    )
    p.add_argument(
        "--torch-huge-pages",
        action="store_true",
        help="PyTorch backs its large allocations with 2 MiB huge pages, as NumPy does by "
        "default (THP_MEM_ALLOC_ENABLE=1, read by PyTorch at its first allocation; the memory "
        "section's processes inherit it), so that it pays as few page faults as NumPy",
    )
    p.add_argument(
        "--memory-size",
        type=whole_number(3),
        default=None,
        help="side of the square image for the memory section, at least 3 (the filter is "
        "3x3; default: 8192)",
    )
    return p


def _thread_counts(text: str) -> list[int]:
    """--threads: "1,all" → [1, cores]; an argparse ``type=``, so a bad list is a usage error."""
    cores = os.cpu_count() or 1
    counts: list[int] = []
    for part in text.split(","):
        part = part.strip().lower()
        try:
            n = cores if part == "all" else int(part)
        except ValueError:
            n = 0
        if n < 1:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated counts >= 1 or 'all', got {text!r}"
            )
        if n not in counts:
            counts.append(n)
    return counts


def blas_line() -> str:
    """NumPy's BLAS as threadpoolctl reports it: internal_api, version, architecture."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown (threadpoolctl not installed)"
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not blas:
        return "BLAS: none found by threadpoolctl"
    return "; ".join(
        f"BLAS: {i.get('internal_api')} {i.get('version')} ({i.get('architecture')}), "
        f"{i.get('filepath', '').rsplit('/', 1)[-1]}"
        for i in blas
    )


#: Environment variables that change BLAS speed; the header says which were set. On a small
#: VM, OpenBLAS's idle worker busy-waits after each call (OPENBLAS_THREAD_TIMEOUT unset) and
#: slows the single-threaded copies between products, so two-thread figures come out bimodal;
#: OPENBLAS_THREAD_TIMEOUT=4 makes the worker sleep at once (see docs/performance.md).
BLAS_ENV = (*kernels.CORETYPE_ENV, "OPENBLAS_THREAD_TIMEOUT", "OMP_NUM_THREADS")
#: Settings that decide how many page faults each library pays (glibc's malloc thresholds,
#: PyTorch's huge pages): ``cnnmath.bench.fair``, and docs/performance.md, "Page faults".
THP_SWITCH = "THP_MEM_ALLOC_ENABLE"  # PyTorch's: 2 MiB pages for its large allocations
PAGES_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", THP_SWITCH)
_THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled"


def _header(torch: Any, late: bool = False) -> str:
    from ..threads import get_num_threads

    names = BLAS_ENV + PAGES_ENV
    forced = kernels.forced_kernels_line()  # None where no variable forces OpenBLAS's kernels
    present = [f"{k}={os.environ[k]}" for k in names if k in os.environ]
    return "\n".join(
        [
            f"cnnmath bench: Python {platform.python_version()}, NumPy {np.__version__}, "
            f"PyTorch {torch.__version__ if torch is not None else '(not installed)'}, "
            f"{os.cpu_count()} cores ({platform.machine()}), cnnmath.get_num_threads() = "
            f"{get_num_threads()}",
            blas_line(),
            *([forced] if forced else []),
            "env: " + (", ".join(present) if present else "none of " + " / ".join(names) + " set"),
            pages_line(late),
        ]
    )


def pages_line(late: bool = False) -> str:
    """Which library asks for transparent huge pages for its large allocations: the
    system's mode, NumPy's (``numpy._core.multiarray._get_madvise_hugepage``), PyTorch's
    (``THP_MEM_ALLOC_ENABLE``; ``late``: set after PyTorch was imported, which may have read
    it already)."""
    try:
        with open(_THP_MODE) as f:
            system = f.read().strip()
    except OSError:
        system = "unknown"
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
        getter = getattr(multiarray, "_get_madvise_hugepage", None)
    except ImportError:
        getter = None
    numpy_asks = "yes" if getter is not None and getter() else "no"
    torch_asks = "yes" if os.environ.get(THP_SWITCH) == "1" else "no"
    if late:
        torch_asks += " (set after PyTorch was imported: it may keep the policy it read first)"
    return (
        f"huge pages: system {system}; asked for by NumPy {numpy_asks}, by PyTorch "
        f"{torch_asks} (--torch-huge-pages); the faults columns count each library's page "
        "faults per call"
    )


def _threads_line(n: int, torch: Any) -> str:
    """The counts in force, as each library reports them (``cnnmath.get_num_threads()``,
    NumPy's BLAS through threadpoolctl, ``torch.get_num_threads()``)."""
    from threadpoolctl import threadpool_info

    from ..threads import get_num_threads

    blas = sorted({i.get("num_threads") for i in threadpool_info() if i.get("user_api") == "blas"})
    torch_threads = torch.get_num_threads() if torch is not None else "-"
    return (
        f"== {n} thread(s): cnnmath.get_num_threads() = {get_num_threads()}, NumPy BLAS "
        f"{'/'.join(map(str, blas)) or '-'} (one thread inside cnnmath's ops), "
        f"torch.get_num_threads() = {torch_threads} =="
    )


#: What ``--only`` matches for the sections other than the conv, pooling and batch-norm
#: tables (whose rows it matches by name, ``cnnmath.bench.ops``): a section's title and its
#: rows' names, so that "--only epoch" runs the training epoch, "--only ResNet-18" the
#: whole-model and ONNX sections, "--only memory" the peak-memory one.
TRAIN_NAMES = ("one training epoch", "digits LeNet epoch")
MODELS_TITLE = "whole models, 1 thread"  # its rows: ``cnnmath.bench.models.row_names()``
ONNX_NAMES = ("ResNet-18 forward through ONNX", "onnxruntime", "onnx ReferenceEvaluator")
MEMORY_NAMES = ("peak memory",)


def _wanted(only: str | None, names: tuple[str, ...]) -> bool:
    """Whether ``--only`` (None: everything) asks for a section or row with these names: its
    text is part of one of them, ignoring case (the rows of ``cnnmath.bench.ops`` too)."""
    return only is None or any(only.lower() in name.lower() for name in names)


def _train_section(threads: int, repeats: int) -> str:
    try:
        train = importlib.import_module(".train", __name__)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.train":
            raise
        return "training epoch: skipped (cnnmath.bench.train is not there yet)"
    return _rows_table(f"one training epoch, {threads} thread(s)", train.run(threads, repeats))


def _onnx_section(torch: Any) -> str:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return 'ResNet-18 through ONNX: skipped (pip install "cnnmath[onnx]")'
    from . import runtimes

    return runtimes.format_table(runtimes.run(repeats=5, torch=torch))


def _rows_table(title: str, rows: list[dict[str, Any]]) -> str:
    """Rows of seconds and ratios; a row with a ``target`` ratio is marked ok or MISS."""
    width = max([30] + [len(r["name"]) for r in rows])
    lines = [
        title,
        f"{'case':{width}s} {'cnnmath s':>10s} {'torch s':>9s} {'ratio':>6s} {'target':>6s}",
    ]
    for r in rows:
        goal = r.get("target")
        target = f"{goal:6.2f}" if goal is not None else f"{'-':>6s}"
        mark = ""
        if goal is not None and r["ratio"] == r["ratio"]:
            mark = " ok" if r["ratio"] <= goal else " MISS"
        lines.append(
            f"{r['name']:{width}s} {r['cnnmath_s']:10.3f} {r['torch_s']:9.3f} "
            f"{r['ratio']:6.2f} {target}{mark}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables; returns 0. A bad option prints one line on
    stderr ("cnnmath bench: error: argument --repeats: ...") and raises ``SystemExit(2)``."""
    args = _parser().parse_args(argv)  # bad options: one line on stderr, SystemExit(2)
    before = os.environ.get(THP_SWITCH)
    late = args.torch_huge_pages and "torch" in sys.modules  # PyTorch may have read it already
    if args.torch_huge_pages:  # read by PyTorch at its first allocation: set before importing it
        os.environ[THP_SWITCH] = "1"
    try:
        _run(args, late)
    finally:
        if args.torch_huge_pages:  # the caller's environment as it was
            if before is None:
                os.environ.pop(THP_SWITCH, None)
            else:
                os.environ[THP_SWITCH] = before
    return 0


def _run(args: argparse.Namespace, late: bool) -> None:
    """The bench's sections, as ``main`` parsed them (``late``: --torch-huge-pages was given
    after PyTorch had been imported)."""
    counts = args.threads
    torch: Any = None
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        print(
            "PyTorch is not installed: cnnmath alone is timed (install PyTorch's CPU build "
            "to compare)"
        )
    from . import fair, memory, models, ops

    repeats = 3 if args.quick else args.repeats
    print(_header(torch, late), flush=True)
    want = functools.partial(_wanted, args.only)
    for n in counts:
        with fair.same_threads(n, torch):
            print("\n" + _threads_line(n, torch), flush=True)
            result = ops.run(n, repeats=repeats, only=args.only, torch=torch)
            tables = ops.format_tables(result, n)
            if tables:
                print(tables, flush=True)
            if not args.no_train and want(TRAIN_NAMES):
                print("\n" + _train_section(n, repeats), flush=True)
            if n == 1 and not args.no_models and want((MODELS_TITLE, *models.row_names())):
                rows = models.run(1, repeats=3, torch=torch)
                print("\n" + _rows_table(MODELS_TITLE, rows), flush=True)
            if n == 1 and not args.no_onnx and want(ONNX_NAMES):
                print("\n" + _onnx_section(torch), flush=True)
    if not args.no_memory and want(MEMORY_NAMES):
        size = args.memory_size or (2048 if args.quick else 8192)
        print("\n" + memory.report(size), flush=True)
