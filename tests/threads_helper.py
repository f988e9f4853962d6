"""Run an op at one thread and at two, and check the results are the same bit for bit and
that two threads were really used (so the check cannot pass by never threading)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import cnnmath
from cnnmath.ops import _threads
from helpers import set_everywhere


def _arrays(result: Any) -> list[np.ndarray]:
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _arrays(r)]
    if isinstance(result, dict):
        return [a for k in sorted(result) for a in _arrays(result[k])]
    return []


class _AlwaysShared(_threads._Timing):
    """A region's timing that always hands the blocks to the threads, and keeps no times."""

    def share(self) -> bool:
        return True

    def record(self, shared: bool, seconds: float) -> None:
        pass


class _EveryRegion(dict):
    """A stand-in for `_threads._timings` holding every region, each handing its blocks to
    the threads before the caller takes its first one. Else a region of two blocks (the
    caller times the first, then hands off) could see the caller take the second before a
    woken worker asks, and run on one thread however the blocks are cut; or a region
    measured faster on the caller alone could run there. (Also the stand-in for
    `_threads._op_timings`: every op call whose timing is looked up runs on the threads; an
    op none of whose calls was kept runs there anyway, `_threads._measured_call`.)"""

    def get(self, key: object, default: object = None) -> _threads._Timing:
        return _AlwaysShared()


def run_at(threads: int, fn: Callable[[], Any]) -> tuple[list[np.ndarray], set[int]]:
    """fn()'s arrays at ``threads`` threads, and the threads that ran blocks of its regions."""
    seen: set[int] = set()
    original = _threads._run_block
    timings, op_timings = _threads._timings, _threads._op_timings

    def recording(body: Any, span: Any) -> None:
        seen.add(threading.get_ident())
        if threads > 1 and len(seen) < 2:
            # until a second thread has run a block, give it time to wake and take one: on
            # a loaded machine the caller could otherwise run a whole small region alone
            # (a fixed 2 ms once let a CI run's worker miss every block of a region). The
            # wait ends as soon as the second thread starts a block, or after 0.5 s.
            deadline = time.monotonic() + 0.5
            while len(seen) < 2 and time.monotonic() < deadline:
                time.sleep(0.001)
        original(body, span)

    before = cnnmath.get_num_threads()
    least = _threads._MIN_PARALLEL_SECONDS
    _threads._run_block = recording
    _threads._MIN_PARALLEL_SECONDS = 0.0  # hand every region's blocks to the threads ...
    _threads._timings = _EveryRegion()  # ... from its first block
    _threads._op_timings = _EveryRegion()  # and every op call on the threads
    try:
        cnnmath.set_num_threads(threads)
        return _arrays(fn()), seen
    finally:
        _threads._run_block = original
        _threads._MIN_PARALLEL_SECONDS = least
        _threads._timings, _threads._op_timings = timings, op_timings
        cnnmath.set_num_threads(before)


def assert_thread_invariant(fn: Callable[[], Any], *, threaded: bool = True) -> None:
    """fn() gives the same bits at 1 and 2 threads; with ``threaded``, 2 threads ran blocks."""
    one, _ = run_at(1, fn)
    two, seen = run_at(2, fn)
    assert len(one) == len(two) and one, "fn returned no arrays"
    for k, (a, b) in enumerate(zip(one, two)):
        assert a.dtype == b.dtype and a.shape == b.shape, k
        assert a.tobytes() == b.tobytes(), f"result {k} differs between 1 and 2 threads"
    if threaded:
        assert len(seen) >= 2, f"expected blocks on 2 threads, ran on {len(seen)}"


def pin_fallback_budgets(monkeypatch: Any) -> None:
    """The cache budgets of the machine the tests' shapes were sized on (``_machine``'s
    FALLBACK: a 512 KiB L2), in every module that reads them, whatever caches this machine
    has: with a larger L2 the same shapes make fewer blocks, and a check that two threads
    shared the work would have nothing to share."""
    from cnnmath.ops import _conv_engine, _machine, _windows
    from cnnmath.ops.pool import _common as pool_common

    b = _machine.budgets(_machine.FALLBACK)
    monkeypatch.setattr(_machine, "CACHES", _machine.FALLBACK)
    monkeypatch.setattr(_machine, "BUDGETS", b)  # read at call time (filters.filter_memory)
    for name, size in [  # each engine module that reads a budget binds it
        ("_CHUNK_BYTES", b.chunk_bytes),
        ("_TAPS_CHUNK_BYTES", b.taps_chunk_bytes),
        ("_SHIFTED_COLUMNS", b.shifted_columns),
        ("_SCATTER_BYTES", b.scatter_bytes),
    ]:
        set_everywhere(monkeypatch, _conv_engine, name, size)
    for module, name, size in [
        (_windows, "COPY_BLOCK_BYTES", b.copy_block_bytes),
        (pool_common, "_BLOCK_BYTES", b.pool_block_bytes),
    ]:
        monkeypatch.setattr(module, name, size)
