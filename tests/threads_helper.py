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


def _arrays(result: Any) -> list[np.ndarray]:
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _arrays(r)]
    if isinstance(result, dict):
        return [a for k in sorted(result) for a in _arrays(result[k])]
    return []


def run_at(threads: int, fn: Callable[[], Any]) -> tuple[list[np.ndarray], set[int]]:
    """fn()'s arrays at ``threads`` threads, and the threads that ran blocks of its regions."""
    seen: set[int] = set()
    original = _threads._run_block

    def recording(body: Any, span: Any) -> None:
        seen.add(threading.get_ident())
        if threads > 1 and len(seen) < 2:
            # until a second thread has run a block, give it time to wake and take one: on
            # a loaded machine the caller could otherwise run a whole small region alone
            time.sleep(0.002)
        original(body, span)

    before = cnnmath.get_num_threads()
    least = _threads._MIN_PARALLEL_SECONDS
    _threads._run_block = recording
    _threads._MIN_PARALLEL_SECONDS = 0.0  # hand every region's blocks to the threads
    try:
        cnnmath.set_num_threads(threads)
        return _arrays(fn()), seen
    finally:
        _threads._run_block = original
        _threads._MIN_PARALLEL_SECONDS = least
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
