"""Threads: how many the ops use, and how work is cut so that the count never changes a bit.

The ops run on every core by default, as PyTorch's do: the window copies, the elementwise
passes and the matrix products. Their results are the same bit for bit at one thread and at
all cores, for two reasons kept everywhere in ``cnnmath.ops``:

1. Work is cut into blocks that depend on the shapes only (`spans`), never on the thread
   count; threads take whole blocks, and each output element is computed inside one block,
   by the same arithmetic in the same order whichever thread runs it. A reduction across
   blocks adds the blocks' partial results in block order. (One exception is safe: work
   whose every output element gets the same operations in the same order however it is
   cut — elementwise adds split over disjoint outputs, as scatter's — may be cut by the
   thread count, into as few slices as there are threads.)
2. NumPy's BLAS runs on one thread inside an op (`one_blas_thread`). A multi-threaded
   OpenBLAS product is not bit-for-bit the product of one thread (it splits the work by the
   count), so the ops do not let it choose: they thread the products themselves, one block
   per thread, each block a one-thread BLAS call.

How many threads: ``set_num_threads(n)`` (``cnnmath.set_num_threads`` also sets NumPy's BLAS);
by default ``OMP_NUM_THREADS`` when set, else the cores this process may run on. A limit put
on NumPy's BLAS from outside — ``threadpoolctl.threadpool_limits(1)``, as dask's workers and
scikit-learn do, or ``OPENBLAS_NUM_THREADS`` — is honoured: an op uses at most as many threads
as the BLAS was allowed when the op began. (The BLAS is reached through two functions that
``cnnmath.threads`` installs with `install_blas`: the ops import nothing but NumPy.)
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar, overload

import numpy as np

Span = tuple[int, int]
F = TypeVar("F", bound=Callable[..., Any])

_requested: int | None = None  # set_num_threads' value; None: the default
_blas_get: Callable[[], int] | None = None  # NumPy's BLAS thread count now
_blas_set: Callable[[int], None] | None = None

_lock = threading.Lock()
_depth = 0  # ops running now (in any thread) that hold the BLAS at one thread
_saved_blas = 0  # the BLAS count to restore when the last of them ends
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_local = threading.local()  # .inside: this thread runs a block of a parallel region


def default_num_threads() -> int:
    """``OMP_NUM_THREADS`` when it is a positive integer, else the cores this process may use
    (read once, when first needed)."""
    global _default
    if _default is None:
        value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            _default = int(value)
        else:
            try:
                _default = len(os.sched_getaffinity(0))
            except (AttributeError, OSError):  # not Linux
                _default = os.cpu_count() or 1
    return _default


_default: int | None = None


def set_num_threads(n: int) -> None:
    """Use n threads in the ops from now on (n >= 1). See ``cnnmath.set_num_threads``."""
    global _requested
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n: expected a positive integer, got {n!r}")
    _requested = n


def get_num_threads() -> int:
    """The thread count the ops are set to use (before any outside BLAS limit)."""
    return _requested if _requested is not None else default_num_threads()


def install_blas(get: Callable[[], int] | None, set_: Callable[[int], None] | None) -> None:
    """Give the ops the functions that read and set NumPy's BLAS thread count."""
    global _blas_get, _blas_set
    _blas_get, _blas_set = get, set_


def threads() -> int:
    """The threads an op started now uses: the setting, capped by an outside BLAS limit.

    Inside a block of a parallel region it is 1 (blocks never start regions of their own).
    While other ops hold the BLAS at one thread, the limit is the count they found.
    """
    if getattr(_local, "inside", False):
        return 1
    n = get_num_threads()
    limit = _saved_blas if _depth else (_blas_get() if _blas_get is not None else n)
    return min(n, max(1, limit))


def _hold_blas() -> int:
    """Hold NumPy's BLAS at one thread (counted across threads); return the count found."""
    global _depth, _saved_blas
    with _lock:
        if _depth == 0:
            _saved_blas = _blas_get() if _blas_get is not None else 1
            if _saved_blas != 1 and _blas_set is not None:
                _blas_set(1)
        _depth += 1
        return _saved_blas


def _release_blas() -> None:
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0 and _saved_blas != 1 and _blas_set is not None:
            _blas_set(_saved_blas)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """NumPy's BLAS on one thread while the block runs; the previous count afterwards.

    Counted across threads, so that ops running at once in several threads of the caller
    restore the count once, when the last of them ends.
    """
    _hold_blas()
    try:
        yield
    finally:
        _release_blas()


@overload
def op(func: F, *, unkeyed: Iterable[str] = ()) -> F: ...
@overload
def op(func: None = None, *, unkeyed: Iterable[str] = ()) -> Callable[[F], F]: ...


def op(func: F | None = None, *, unkeyed: Iterable[str] = ()) -> F | Callable[[F], F]:
    """Decorate a public op (``@op``, or ``@op(unkeyed=names)``): it decides its thread count
    first, then runs with NumPy's BLAS on one thread (module docstring, reason 2). Nested ops
    add nothing. (One read of the BLAS count and, when it is not 1, two writes: a few
    microseconds per call.) At two threads or more a call with an array of _MIN_OP_ELEMENTS
    values or more is measured against one thread (`_measured_call`); ``unkeyed`` names
    keyword arguments that do not change what a call costs (a step count), left out of the
    call's key so that each new value is not a new call to measure."""
    if func is None:
        return functools.partial(op, unkeyed=unkeyed)
    skip = frozenset(unkeyed)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        local = _local
        if getattr(local, "count", None) is not None:  # already inside an op
            return func(*args, **kwargs)
        limit = _hold_blas()
        try:
            inside = getattr(local, "inside", False)  # a block of another op's region
            n = 1 if inside else min(get_num_threads(), max(1, limit))
            if n == 1:
                local.count = 1
                return func(*args, **kwargs)
            return _measured_call(func, n, args, kwargs, skip)
        finally:
            local.count = None
            _release_blas()

    return wrapper


# A whole op may also run slower on n threads than on one, where a region's own measure
# cannot see it: a backward's two passes side by side (`side_by_side`), or many regions each
# too close to call. So a call of an op is measured as a region is (`_Timing`), keyed by the
# op and its arguments' shapes, dtypes and values (`_call_key`): its first run on the
# threads is the probe, and a call that took _MIN_OP_SECONDS to _MAX_OP_SECONDS is
# remembered (in `_op_timings`); later calls alternate between n threads and one, then run
# the faster way (docs/performance.md, "Ops that lose"). Below the bound there is nothing to
# gain; above it the op's regions are long enough to be measured on their own, and a run on
# one thread to compare would cost more than the threads could lose.
_MIN_OP_SECONDS = 4e-4
_MAX_OP_SECONDS = 0.05
_MIN_OP_ELEMENTS = 1 << 15  # a call whose arrays are all smaller is not measured


_PLAIN = {int, float, bool, str, tuple, type(None), np.float32, np.float64, np.int64, np.intp}


def _call_key(
    func: Callable[..., Any],
    n: int,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    skip: frozenset[str] = frozenset(),
) -> Any:
    """What tells a call of ``func`` at n threads apart: each array argument's shape and
    dtype, each plain one's value (a tuple's too: one holding an array cannot be hashed,
    and `_measured_call` takes it for no key), keyword arguments by name, but for those in
    ``skip``; None for any other argument, or a NaN (never equal to itself): never
    remembered. Written out flat: it runs on every measured call."""
    key: list[Any] = [func, n]
    names = [name for name in kwargs if name not in skip] if kwargs else []
    for value in (*args, *[kwargs[name] for name in names]):
        kind = type(value)
        if kind is np.ndarray:
            key.append((value.shape, value.dtype.char))
        elif kind in _PLAIN and value == value:
            key.append(value)
        else:
            return None
    if names:
        key.append(tuple(names))
    return tuple(key)


def _measured_call(
    func: Callable[..., Any], n: int, args: Any, kwargs: Any, skip: frozenset[str]
) -> Any:
    """func(*args, **kwargs) on n threads, or on one where its call measured faster there.

    An op none of whose calls was ever remembered (`_remembered_ops`: most calls of most
    ops are quicker than _MIN_OP_SECONDS) is run and timed before its key is made: the key
    is needed only to remember this call, and costs a small op as much again (a batch
    norm's five arrays, a few microseconds). The arguments' shapes, dtypes and values are
    the same after the call as before, so the key is too."""
    for a in (*args, *kwargs.values()):
        if isinstance(a, np.ndarray) and a.size >= _MIN_OP_ELEMENTS:
            break
    else:  # small arrays only: too quick to measure, and the key would cost a tiny op 20 %
        _local.count = n
        return func(*args, **kwargs)
    if func not in _remembered_ops:  # nothing to look up: the probe, keyed if it is kept
        _local.count = n
        start = time.perf_counter()
        result = func(*args, **kwargs)
        seconds = time.perf_counter() - start
        if _MIN_OP_SECONDS <= seconds <= _MAX_OP_SECONDS:
            _remember(_call_key(func, n, args, kwargs, skip))
        return result
    key = _call_key(func, n, args, kwargs, skip)
    try:
        timing = _op_timings.get(key)  # (None is never stored)
    except TypeError:  # a tuple holding an array
        key = timing = None
    shared = timing.share() if timing is not None else True
    _local.count = n if shared else 1
    start = time.perf_counter()
    result = func(*args, **kwargs)
    seconds = time.perf_counter() - start
    if timing is not None:
        if seconds < _MIN_OP_SECONDS or (shared and seconds > _MAX_OP_SECONDS):
            _op_timings.pop(key, None)  # out of the bounds now: probed again
        else:
            timing.record(shared, seconds)
    elif _MIN_OP_SECONDS <= seconds <= _MAX_OP_SECONDS:
        _remember(key)
    return result


def _remember(key: Any) -> None:
    """Keep a probed op call's key (`_call_key`'s; None, or one holding an array, is not
    kept) with a fresh `_Timing`: the probe's run is not recorded, a first call pays for
    buffers and regions' probes."""
    if key is None:
        return
    try:
        hash(key)
    except TypeError:  # a tuple holding an array
        return
    if len(_op_timings) >= _TIMINGS_SIZE:  # the oldest goes (a dict keeps its order)
        _op_timings.pop(next(iter(_op_timings)), None)
    _op_timings[key] = _Timing()
    _remembered_ops.add(key[0])


def current() -> int:
    """The thread count of the op running in this thread (1 outside an op or inside a block)."""
    if getattr(_local, "inside", False):
        return 1
    count = getattr(_local, "count", None)
    return threads() if count is None else count


def spans(total: int, block: int) -> list[Span]:
    """[0, total) cut into consecutive blocks of ``block`` (the last may be shorter).

    The cut depends on its arguments only; callers derive ``block`` from shapes and cache
    sizes, never from the thread count (module docstring, reason 1).
    """
    block = max(1, block)
    return [(i, min(total, i + block)) for i in range(0, total, block)]


def even_spans(total: int, pieces: int) -> list[Span]:
    """[0, total) cut into ``pieces`` blocks of nearly equal length (none empty)."""
    pieces = max(1, min(pieces, total))
    bounds = [total * k // pieces for k in range(pieces + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(pieces)]


#: Values per thread below which one pass over an array (a clamp, a bias add) stays whole
#: on the calling thread: about 0.4 ms of such a pass on the project's machine, the least a
#: hand-off must save (`_MIN_PARALLEL_SECONDS`); a shorter piece is never handed off, and
#: cutting it would only add a region's cost.
_PASS_VALUES = 1 << 21


def pass_spans(count: int, values: int) -> list[Span]:
    """``count`` units (values, images) of a single elementwise pass over ``values`` values,
    as one contiguous piece per thread (`current`), each of about _PASS_VALUES values or
    more (pieces of whole units), or one piece. For passes whose every element gets the
    same operation however they are cut (module docstring, the exception to reason 1): one
    call per thread, where cache-sized blocks would pay a NumPy call's own cost per block
    (docs/performance.md, "Fewer, longer passes")."""
    return even_spans(count, min(current(), max(1, values // _PASS_VALUES)))


_SCRATCH_BYTES = 1 << 22  # work buffers up to this size are kept for the next call


def scratch(name: str, shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
    """This thread's work buffer ``name``, reused from block to block and call to call
    (uninitialised). A fresh array of a few MiB costs more in page faults on its first touch
    than the arithmetic of a LeNet-sized op on it; kept per thread, the buffers of blocks
    running at once never meet. Only for temporaries that do not outlive the block using
    them, one use of a name at a time in a thread; buffers larger than _SCRATCH_BYTES are
    not kept (a huge plane does not pin its memory). A caller may also fill one before a
    parallel region for the region's blocks to read, under a name no block uses."""
    shape = (shape,) if isinstance(shape, int) else shape
    dtype = np.dtype(dtype)
    size = math.prod(shape)  # (np.prod costs more than the rest of the call)
    if size * dtype.itemsize > _SCRATCH_BYTES:
        return np.empty(shape, dtype=dtype)
    buffers = _local.__dict__.setdefault("buffers", {})
    buffer = buffers.get((name, dtype))
    if buffer is None or buffer.size < size:
        buffer = buffers[(name, dtype)] = np.empty(max(size, 1 << 12), dtype=dtype)
    return buffer[:size].reshape(shape)


def _executor(n: int) -> ThreadPoolExecutor:
    """The pool, with at least n workers. A smaller one is replaced, not shut down: another
    thread may hold it and be about to submit (its workers end when it is collected)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="cnnmath")
            _pool_size = n
        return _pool


def _forget_pool() -> None:
    """After fork: the child has none of the parent's worker threads (nor its timings)."""
    global _pool, _pool_size, _depth
    _pool, _pool_size, _depth = None, 0, 0
    _timings.clear()
    _op_timings.clear()
    _remembered_ops.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _run_block(body: Callable[[int, int], None], span: Span) -> None:
    _local.inside = True
    try:
        body(*span)
    finally:
        _local.inside = False


# Handing blocks to the pool costs about 0.1 ms a region on the project's 2-core machine
# (a future per worker and a thread wake-up): a region whose blocks hold less work than a
# few of those runs on the calling thread, the same blocks in the same order.
_MIN_PARALLEL_SECONDS = 4e-4

# A region worth handing off by that measure may still run slower on the threads than on
# the caller alone: blocks running at once contend for the GIL between their NumPy calls
# (each call takes it back when it ends), and on a virtual machine a contended take waits
# for a sleeping thread to be woken; with the other core busy elsewhere, a block handed to
# it waits for that core. What that costs depends on the machine, its load and the length
# of the region's calls, so it is measured, region by region (`_Timing`; docs/performance.md,
# "Threads that lose").
_EXPLORE = 4  # a remembered region's first runs alternate: threads, caller, threads, caller
_RECHECK = 32  # then it runs the faster way, but the other one once in this many runs,
_RECHECK_FAR = 128  # or in this many when one way takes _FAR times the other's time or more:
_FAR = 1.5  # each recheck costs a run the slower way, and a wide gap is no noise
_ALONE_BY = 0.9  # the caller alone is the faster way below this share of the threads' time


class _Timing:
    """A remembered region's seconds per run on the threads (``shared``) and on the calling
    thread alone (``alone``), each a running mean weighing its newest run a third (the
    machine's speed drifts), and its ``runs`` so far.

    A way's first run is a warm-up, replaced by its second rather than weighed in: a
    region's first hand-off pays for what the workers had not done yet (their work buffers'
    first pages), and weighed in, that cost decided against the threads for many runs
    (docs/performance.md, "Warm-ups counted as samples", has the timings)."""

    __slots__ = ("alone", "runs", "sampled", "shared")

    def __init__(self) -> None:
        self.alone: float | None = None
        self.shared: float | None = None
        self.runs = 0
        self.sampled = [0, 0]  # runs recorded: alone, shared

    def share(self) -> bool:
        """Whether this run hands the blocks to the threads: the two ways in turn for the
        first `_EXPLORE` runs, then the faster one (the threads unless the caller alone
        took under `_ALONE_BY` of their time: a small lead is noise), and the other every
        `_RECHECK`-th run (`_RECHECK_FAR`-th, the two _FAR apart), so that a change in the
        machine's load is seen (the way that runs is timed every run); a way with no
        time yet first. (Unlocked: two threads running the region at once may lose a count
        or a sample, which shifts the schedule only.)"""
        self.runs += 1
        if self.runs <= _EXPLORE:
            return self.runs % 2 == 1
        if self.shared is None or self.alone is None:  # (a run that raised recorded nothing)
            return self.shared is None
        threads = self.alone >= _ALONE_BY * self.shared
        slow, fast = (self.alone, self.shared) if threads else (self.shared, self.alone)
        every = _RECHECK_FAR if slow >= _FAR * fast else _RECHECK
        return (not threads) if self.runs % every == 0 else threads

    def record(self, shared: bool, seconds: float) -> None:
        """Weigh in one run's seconds for the way it ran (its first two: the second
        replaces the first, the warm-up)."""
        old = self.shared if shared else self.alone
        self.sampled[shared] += 1
        new = seconds if old is None or self.sampled[shared] == 2 else old + (seconds - old) / 3
        if shared:
            self.shared = new
        else:
            self.alone = new


# Regions found worth handing off, by the code of their body and their blocks (the same op
# at the same shapes: a training loop, a model's layers), with what they measured. Kept
# small; emptied when full.
_timings: dict[Any, _Timing] = {}
# Op calls found worth measuring (`_measured_call`), kept apart: a flood of new calls (a
# model fed ever new shapes) pushes out the oldest calls only, never the regions.
_op_timings: dict[Any, _Timing] = {}
# The ops some call of which was ever kept in `_op_timings` (a call key's first item): only
# their calls need a key before they run (`_measured_call`). Never pruned (an op whose kept
# calls were all pushed out just keeps paying for its keys): the ops are a few dozen.
_remembered_ops: set[Callable[..., Any]] = set()
_TIMINGS_SIZE = 4096


def _region_key(body: Callable[[int, int], None], blocks: Sequence[Span]) -> Any:
    """What tells a region apart from call to call: the code of its body, and of the
    functions the body closes over (a generic runner — pooling's per-block wrapper, a
    product's column blocks — runs many ops' bodies), and the span of its blocks. None for a
    body without code (a partial): never remembered."""
    code = getattr(body, "__code__", None)
    if code is None:
        return None
    inner = []
    for cell in getattr(body, "__closure__", None) or ():
        try:
            inner.append(getattr(cell.cell_contents, "__code__", None))
        except ValueError:  # an empty cell
            continue
    return (code, tuple(inner), len(blocks), blocks[0], blocks[-1])


def parallel(body: Callable[[int, int], None], blocks: Sequence[Span]) -> None:
    """Run ``body(start, stop)`` for every block, on up to `current` threads at once.

    The blocks must write disjoint outputs (or per-block partial results); ``body`` runs
    NumPy calls that release the GIL (copies, ufuncs, products), so the threads overlap.
    The first run of a region (`_region_key`: the same code, the same blocks) is a probe:
    the calling thread runs the first block and times it; when the remaining blocks would
    take less than ``_MIN_PARALLEL_SECONDS`` it runs them too (a hand-off would cost more
    than it saves), else the threads take the remaining blocks one at a time, the caller
    among them, and the region is remembered, per thread count. A remembered region runs
    either way, each timed (`_Timing`): handed to the threads from its first block, or all
    on the calling thread where that measured faster — and forgotten (probed again next
    time) when such a run took less than the probe's bound. Every block runs whole, once,
    whichever thread runs it, so the result is the same; an exception in any block is
    raised here. A worker that has not started when the blocks run out is cancelled, not
    waited for (another caller's region may hold it).
    """
    n = min(current(), len(blocks))
    if n <= 1:
        for span in blocks:
            body(*span)
        return
    code = _region_key(body, blocks)
    key = None if code is None else (code, n)  # times at one thread count say nothing of another
    timing = _timings.get(key)  # (None is never stored)
    shared = timing.share() if timing is not None else False
    _hold_blas()  # (as `one_blas_thread`, without a generator's cost on every region)
    try:
        start = time.perf_counter()
        if timing is not None and shared:
            _hand_off(body, blocks, 0, n)  # raises what a block raised: then nothing recorded
            timing.record(True, time.perf_counter() - start)
        elif timing is not None:  # measured faster on the caller alone
            _run_blocks(body, blocks, 0)
            seconds = time.perf_counter() - start
            if seconds < _MIN_PARALLEL_SECONDS:  # no longer worth a hand-off: probe it again
                _timings.pop(key, None)
            else:
                timing.record(False, seconds)
        else:  # the probe: block 0 on the caller; is the rest worth handing off?
            _run_block(body, blocks[0])
            if (time.perf_counter() - start) * (len(blocks) - 1) < _MIN_PARALLEL_SECONDS:
                _run_blocks(body, blocks, 1)
                return
            if key is not None:
                if len(_timings) >= _TIMINGS_SIZE:
                    _timings.clear()
                _timings[key] = _Timing()
            _hand_off(body, blocks, 1, n)
    finally:
        _release_blas()


def _run_blocks(body: Callable[[int, int], None], blocks: Sequence[Span], first: int) -> None:
    """Blocks [first, ...) one after another on the calling thread, as blocks of a region."""
    _local.inside = True
    try:
        for span in blocks[first:]:
            body(*span)
    finally:
        _local.inside = False


def _hand_off(body: Callable[[int, int], None], blocks: Sequence[Span], first: int, n: int) -> None:
    """Blocks [first, ...) on n threads, the caller among them, each taking the next block
    not yet taken; an exception in any block is raised here once all have stopped. A worker
    that has not started when the blocks run out is cancelled, not waited for (another
    caller's region may hold it; its thread wakes 0.1-0.2 ms after an idle spell, spikes
    past 1 ms)."""
    taken = itertools.count(first)  # next() on a count is atomic under the GIL

    def take() -> None:
        for k in iter(taken.__next__, None):
            if k >= len(blocks):
                return
            _run_block(body, blocks[k])

    futures = [_executor(n - 1).submit(take) for _ in range(n - 1)]
    try:
        take()
    finally:
        errors = [None if f.cancel() else f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error


_A = TypeVar("_A")
_B = TypeVar("_B")


def side_by_side(first: Callable[[], _A], second: Callable[[], _B]) -> tuple[_A, _B]:
    """(first(), second()): two independent computations at once, ``second`` on a worker
    thread and ``first`` on the caller, when the op runs on two threads or more; one after
    the other otherwise.

    Each runs as a block of a parallel region (its own regions run serially, on its one
    thread), so each result has the bits it has at one thread. When the worker has not
    started ``second`` by the time ``first`` is done (it is busy with another caller's
    work), the caller runs ``second`` itself. Both always run to the end, unless ``first``
    raises before the worker took ``second``; an exception of either is raised here,
    ``first``'s before ``second``'s.
    """
    n = current()
    if n < 2:
        return first(), second()
    tasks: tuple[Callable[[], Any], ...] = (first, second)
    results: list[Any] = [None, None]

    def run(k: int, _: int) -> None:  # task k, as block [k, k + 1)
        results[k] = tasks[k]()

    with one_blas_thread():
        future = _executor(n - 1).submit(_run_block, run, (1, 2))
        try:
            _run_block(run, (0, 1))
        finally:
            # a worker still busy elsewhere (another caller's region) has not started it:
            # the caller runs it, rather than wait for that worker
            error = None if future.cancel() else future.exception()
        if future.cancelled():
            _run_block(run, (1, 2))
        if error is not None:
            raise error
    return results[0], results[1]


_CUT_WIDTH = 512  # a product is cut into blocks at least this wide (narrower: below BLAS speed)
_CUT_ROWS = 256  # or, cut along its rows (M > N), this tall: each block re-reads only the
# narrow right factor (docs/performance.md, "Products of one image")
_CUT_FLOPS = 1 << 25  # and of at least this many flops each (~0.3 ms on one core)
_CUT_PIECES = 16  # and into at most this many: enough for 16 cores


def product_spans(M: int, N: int, flops: int) -> list[Span]:
    """The blocks a product (..., M, K) @ (..., K, N) of ``flops`` flops is cut into, along
    the longer of M and N: as many as the shapes allow with each at least _CUT_WIDTH long
    (_CUT_ROWS when the rows are cut) and of _CUT_FLOPS, at most _CUT_PIECES (one block: not
    cut). The shapes alone decide.

    Coarse on purpose: a one-thread product cut into narrow slabs re-reads the other factor
    once per slab and runs below BLAS speed (docs/performance.md, "Threads")."""
    length, width = (M, _CUT_ROWS) if M > N else (N, _CUT_WIDTH)
    pieces = min(_CUT_PIECES, length // width, flops // _CUT_FLOPS)
    return even_spans(length, pieces) if pieces > 1 else [(0, length)]


def matmul(a: Any, b: Any, out: Any) -> None:
    """out = a @ b for a (..., M, K), b (..., K, N), out (..., M, N), threaded by blocks.

    The longer of M and N is cut by `product_spans` (the shapes alone decide the cut) and
    each block is one one-thread BLAS call, so out is the same at any thread count.
    """
    M, K = a.shape[-2:]
    N = b.shape[-1]
    lead = max(1, out.size // max(1, M * N))  # the stack of products (groups), if any
    blocks = product_spans(M, N, 2 * lead * M * N * K)
    if len(blocks) == 1:
        np.matmul(a, b, out=out)
    elif N >= M:

        def columns(j0: int, j1: int) -> None:
            np.matmul(a, b[..., j0:j1], out=out[..., j0:j1])

        parallel(columns, blocks)
    else:

        def rows(i0: int, i1: int) -> None:
            np.matmul(a[..., i0:i1, :], b, out=out[..., i0:i1, :])

        parallel(rows, blocks)


@op
def product(a: Any, b: Any) -> Any:
    """a @ b by NumPy's matmul rules, the same bits at any thread count: 2-D products are
    threaded by blocks (`matmul`), stacked ones run on one BLAS thread.

    For code outside the ops that multiplies matrices (the ONNX runtime's MatMul and Gemm).
    """
    if a.ndim == 2 and b.ndim == 2:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
        matmul(a, b, out)
        return out
    return np.matmul(a, b)
