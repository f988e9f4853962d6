"""Fair timings: every library's samples start from the same conditions.

After a multi-threaded product OpenBLAS's idle worker busy-waits for about 0.1 s (measured
here: one core fully busy for 100–110 ms after a two-thread sgemm; PyTorch's OpenMP threads
for under 10 ms). A library timed right after another one shares the cores with those
spinning threads and looks slower than it is. So before each library's timed samples the
bench

1. waits until no thread of this process is busy any more (`settle`: idle slices of 10 ms
   until one in which the process used less than a tenth of a core, at most 1 s), so the
   previous library's spinning has ended whatever its timeout; then
2. calls the library once, untimed, so that its own threads are awake and its buffers and
   caches warm, as they are for every sample after the first.

Before its first sample each library is also run `PRIME_CALLS` times in a row, untimed
(`interleaved_samples`): the steady state is what is timed. A cnnmath op's first calls at a
new shape, on more than one thread, probe and then alternate the thread counts it might run
on (the op and each of its parallel regions: one probe run, then `_threads._EXPLORE` runs
taken in turns on the threads and on the caller alone) before it keeps the faster; without
the priming those runs were samples. At two threads ResNet-like stride 2 measured 50.6 ms
in a bench run and 34 ms once settled; a training loop makes thousands of such calls.
PyTorch gets the same priming (its first calls at a shape set up its own kernels).

Page faults are the one condition left as each library meets it by default, unless asked
otherwise: a block of memory freed and allocated again may come back as fresh pages that
fault on their first write (glibc hands large freed blocks back to the system). NumPy asks
for 2 MiB transparent huge pages for its large arrays (one fault per 2 MiB), PyTorch does not
by default (one per 4 KiB where the system gives huge pages only to those who ask, its
"madvise" mode) and allocates its outputs and gradients afresh on every call, so
on a VM, where a fault is expensive, some PyTorch rows are mostly faults. The bench counts
them (`page_faults_per_call`, columns of the conv, pooling and batch-norm rows); ``cnnmath
bench --torch-huge-pages`` gives PyTorch NumPy's policy through its own switch
(``THP_MEM_ALLOC_ENABLE=1``). Figures in docs/performance.md, "Page faults".

`same_threads` gives cnnmath (``cnnmath.set_num_threads``, which sets NumPy's BLAS too) and
PyTorch (``torch.set_num_threads``) the same thread count for a block and restores both.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = [
    "PRIME_CALLS",
    "interleaved",
    "interleaved_samples",
    "page_faults_per_call",
    "paired_ratio",
    "same_threads",
    "settle",
    "timed_samples",
]

#: Untimed calls of each function before its first sample (`interleaved_samples`): more than
#: a cnnmath op's probe and exploration of its thread counts (1 + `_threads._EXPLORE`).
PRIME_CALLS = 6
#: A slice in which the process used less CPU than this (in cores) is idle.
IDLE_CORES = 0.1
SLICE_S = 0.01
MAX_SETTLE_S = 1.0
_clock = time.perf_counter  # the timer of the samples


def settle(
    max_s: float = MAX_SETTLE_S,
    *,
    clock: Callable[[], float] = time.perf_counter,
    cpu: Callable[[], float] = time.process_time,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Sleep in slices of 10 ms until one in which this process used less than
    ``IDLE_CORES`` of a core (no thread of it spins any more), or ``max_s`` passed;
    returns the seconds waited."""
    start = clock()
    while True:
        c0, t0 = cpu(), clock()
        sleep(SLICE_S)
        c1, t1 = cpu(), clock()
        if (c1 - c0) < IDLE_CORES * max(t1 - t0, 1e-9) or t1 - start >= max_s:
            return t1 - start


def timed_samples(
    funcs: Sequence[Callable[[], Any]],
    repeats: int,
    *,
    counts: Sequence[int] | None = None,
    idle: Callable[[], Any] | None = None,
    clock: Callable[[], float] | None = None,
) -> list[list[float]]:
    """Samples of each function's seconds per call, taken in turns (f₀, f₁, …, f₀, f₁, …).

    Each turn: ``idle()`` (default `settle`), one untimed call of the function (its
    warm-up), then ``counts[k]`` timed calls in a row (default 1), the sample being their
    mean by ``clock`` (default ``time.perf_counter``). Returns one list of ``repeats``
    samples per function.
    """
    idle = idle or settle
    clock = clock or _clock
    counts = [1] * len(funcs) if counts is None else list(counts)
    samples: list[list[float]] = [[] for _ in funcs]
    for _ in range(max(1, repeats)):
        for f, count, times in zip(funcs, counts, samples, strict=True):
            idle()
            f()  # warm-up: this library's threads awake, nothing of the other one running
            t0 = clock()
            for _ in range(count):
                f()
            times.append((clock() - t0) / count)
    return samples


def interleaved_samples(
    funcs: Sequence[Callable[[], Any]],
    repeats: int,
    min_time: float = 0.02,
    *,
    prime: int = PRIME_CALLS,
    idle: Callable[[], Any] | None = None,
    clock: Callable[[], float] | None = None,
) -> list[list[float]]:
    """`timed_samples` where each sample runs its function enough times in a row to last
    about ``min_time`` (counted from one call after ``prime`` untimed ones, each function
    after an idle wait), so the timer's resolution does not matter and the first calls'
    set-up is not timed: one list of ``repeats`` samples (seconds per call) per function."""
    idle = idle or settle
    clock = clock or _clock
    counts = []
    for f in funcs:
        idle()
        for _ in range(prime):
            f()
        t0 = clock()
        f()
        counts.append(max(1, int(min_time / max(clock() - t0, 1e-7))))
    return timed_samples(funcs, repeats, counts=counts, idle=idle, clock=clock)


def interleaved(
    funcs: Sequence[Callable[[], Any]],
    repeats: int,
    min_time: float = 0.02,
    *,
    prime: int = PRIME_CALLS,
    idle: Callable[[], Any] | None = None,
    clock: Callable[[], float] | None = None,
) -> list[float]:
    """Median seconds per call of each function, from `interleaved_samples`."""
    samples = interleaved_samples(funcs, repeats, min_time, prime=prime, idle=idle, clock=clock)
    return [statistics.median(times) for times in samples]


def paired_ratio(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """The median over turns of ours[k] / theirs[k]: the ratio of two functions' samples
    taken in the same turns (`timed_samples`), each pair back to back.

    The machine's speed drifts between turns (a shared VM's by 10-30 % within a minute);
    a ratio taken inside a turn divides the drift out, where the ratio of two medians can
    pair a fast turn of one with a slow turn of the other (docs/performance.md, "How the
    bench is fair"). NaN without samples."""
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return statistics.median(ratios) if ratios else float("nan")


@contextlib.contextmanager
def same_threads(n: int, torch: Any = None) -> Iterator[None]:
    """cnnmath (its ops and NumPy's BLAS, ``cnnmath.set_num_threads``) and PyTorch (when
    given) on ``n`` threads inside the block; their counts as they were afterwards."""
    from ..train import num_threads

    before = torch.get_num_threads() if torch is not None else None
    with num_threads(n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


def page_faults_per_call(f: Callable[[], Any], calls: int = 3) -> float:
    """Minor page faults of the whole process (every thread: ``getrusage``'s ru_minflt) per
    call of f, over ``calls`` calls (at least one) after an uncounted first one; NaN where
    ``resource`` (Unix only) is missing."""
    try:
        import resource
    except ImportError:
        return float("nan")
    calls = max(1, calls)
    f()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        f()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls
