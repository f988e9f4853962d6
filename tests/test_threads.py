"""cnnmath.set_num_threads / get_num_threads, the limits they honour, and the block runner."""

from __future__ import annotations

import functools
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest

import cnnmath
from cnnmath.ops import _threads
from cnnmath.ops.linear import linear, linear_backward
from threads_helper import assert_thread_invariant, pin_fallback_budgets

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> int:
    """NumPy's BLAS thread count (not another library's BLAS: SciPy's, once imported, keeps
    its own count, 1 where the process is pinned to one core)."""
    return min(
        lib["num_threads"]
        for lib in threadpoolctl.threadpool_info()
        if lib["user_api"] == "blas" and "numpy" in lib["filepath"]
    )


@pytest.fixture(autouse=True)
def _restore_count():
    before = cnnmath.get_num_threads()
    yield
    cnnmath.set_num_threads(before)


def test_set_get_and_the_blas_follows():
    cnnmath.set_num_threads(1)
    assert cnnmath.get_num_threads() == 1
    assert _threads._blas_get() == 1
    cnnmath.set_num_threads(2)
    assert cnnmath.get_num_threads() == 2
    assert _threads._blas_get() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_set_num_threads_rejects(bad):
    with pytest.raises(ValueError, match=r"set_num_threads: n: expected a positive integer"):
        cnnmath.set_num_threads(bad)


def _in_child(code: str, env: dict[str, str]) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}
    full.update(env)
    done = subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_omp_num_threads_is_the_default():
    code = "import cnnmath; print(cnnmath.get_num_threads())"
    assert _in_child(code, {"OMP_NUM_THREADS": "3"}) == "3"
    assert _in_child(code, {}) == str(len(os.sched_getaffinity(0)))


def test_a_blas_limit_from_outside_caps_an_op():
    """threadpoolctl.threadpool_limits(1) (as dask's workers use): one thread in the op."""
    cnnmath.set_num_threads(2)
    seen: set[int] = set()

    def body(i0: int, i1: int) -> None:
        seen.add(threading.get_ident())
        time.sleep(0.005)  # worth handing off, and time for a loaded machine's worker to wake

    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        _threads.op(lambda: _threads.parallel(body, _threads.spans(8, 1)))()
    assert len(seen) == 1
    _threads.op(lambda: _threads.parallel(body, _threads.spans(8, 1)))()
    assert len(seen) == 2


def test_an_op_leaves_the_blas_count_as_it_found_it():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 512), dtype=np.float32)
    w = rng.standard_normal((512, 512), dtype=np.float32)
    cnnmath.set_num_threads(2)
    linear(x, w)
    assert _blas_threads() == 2
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        linear(x, w)
        assert _blas_threads() == 1
    assert _blas_threads() == 2


def test_parallel_runs_every_block_once_and_raises_a_blocks_error():
    cnnmath.set_num_threads(2)
    hits = np.zeros(50, dtype=int)

    def body(i0: int, i1: int) -> None:
        hits[i0:i1] += 1

    _threads.parallel(body, _threads.spans(50, 7))
    assert (hits == 1).all()

    def failing(i0: int, i1: int) -> None:
        if i0 == 14:
            raise KeyError("block 14")

    with pytest.raises(KeyError, match="block 14"):
        _threads.parallel(failing, _threads.spans(50, 7))


def test_side_by_side_runs_both_at_once_and_returns_them_in_order():
    cnnmath.set_num_threads(2)
    meet = threading.Barrier(2, timeout=10)  # passes only if both run at the same time
    where = {}

    def task(name: str):
        def run():
            where[name] = threading.get_ident()
            meet.wait()
            assert _threads.current() == 1  # each runs as a block: its regions serially
            return name

        return run

    assert _threads.side_by_side(task("first"), task("second")) == ("first", "second")
    assert where["first"] == threading.get_ident() != where["second"]


def test_side_by_side_at_one_thread_runs_them_in_turn_on_the_caller():
    cnnmath.set_num_threads(1)
    order = []

    def task(name: str):
        def run():
            order.append((name, threading.get_ident()))
            return name

        return run

    assert _threads.side_by_side(task("a"), task("b")) == ("a", "b")
    assert order == [("a", threading.get_ident()), ("b", threading.get_ident())]


@pytest.mark.parametrize("failing", ["first", "second"])
def test_side_by_side_raises_an_error_after_both_ran(failing):
    """The other computation, once started, runs to its end before the error is raised."""
    cnnmath.set_num_threads(2)
    finished = []
    second_started = threading.Event()

    def task(name: str):
        def run():
            if name == "second":
                second_started.set()
            if name == failing:
                if name == "first":  # raise only once the worker has taken the second
                    assert second_started.wait(10)
                raise KeyError(name)
            time.sleep(0.05)  # still running when the other one fails
            finished.append(name)

        return run

    with pytest.raises(KeyError, match=failing):
        _threads.side_by_side(task("first"), task("second"))
    assert finished == [{"first": "second", "second": "first"}[failing]]


def test_side_by_side_runs_the_second_itself_when_the_worker_is_busy():
    """The pool's worker held by another caller's work: the caller does not wait for it."""
    cnnmath.set_num_threads(2)
    release = threading.Event()
    busy = _threads._executor(1).submit(release.wait, 10)  # the one worker, taken
    try:
        start = time.perf_counter()
        got = _threads.side_by_side(lambda: threading.get_ident(), lambda: threading.get_ident())
        waited = time.perf_counter() - start
    finally:
        release.set()
        busy.result()
    assert got == (threading.get_ident(), threading.get_ident())
    assert waited < 5, f"side_by_side waited {waited:.1f} s for a busy worker"


def test_parallel_does_not_wait_for_a_worker_that_never_started(monkeypatch):
    """A region whose caller took every block returns without waiting for a worker still
    busy elsewhere (another caller's work, or a thread not yet awake): that worker would
    find no block left."""
    cnnmath.set_num_threads(2)
    monkeypatch.setattr(_threads, "_MIN_PARALLEL_SECONDS", 0.0)  # the blocks are handed off
    release = threading.Event()
    busy = _threads._executor(1).submit(release.wait, 10)  # the one worker, taken
    try:
        hits = np.zeros(6, dtype=int)

        def body(i0: int, i1: int) -> None:
            hits[i0:i1] += 1

        start = time.perf_counter()
        _threads.parallel(body, _threads.spans(6, 1))
        waited = time.perf_counter() - start
    finally:
        release.set()
        busy.result()
    assert (hits == 1).all()
    assert waited < 5, f"parallel waited {waited:.1f} s for a worker with nothing to do"


def test_a_pool_replaced_by_a_larger_one_still_takes_work(monkeypatch):
    """A thread that got the pool just before another asked for more workers can still
    submit to it."""
    monkeypatch.setattr(_threads, "_pool", None)
    monkeypatch.setattr(_threads, "_pool_size", 0)
    held = _threads._executor(1)
    larger = _threads._executor(3)
    assert larger is not held
    assert held.submit(lambda: 7).result(timeout=10) == 7
    assert _threads._executor(2) is larger  # large enough: kept


def test_spans_and_even_spans_cover_the_range():
    assert _threads.spans(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert _threads.even_spans(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert _threads.even_spans(2, 5) == [(0, 1), (1, 2)]


def _child_linear(queue) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((512, 1024), dtype=np.float32)
    w = rng.standard_normal((1024, 1024), dtype=np.float32)
    queue.put(float(linear(x, w).sum()))


def test_a_forked_child_can_run_threaded_ops():
    """After fork the pool's threads are gone in the child; the child must build its own."""
    cnnmath.set_num_threads(2)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((512, 1024), dtype=np.float32)
    w = rng.standard_normal((1024, 1024), dtype=np.float32)
    expected = float(linear(x, w).sum())  # the parent's pool exists now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_linear, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == expected


@pytest.fixture
def fine_cuts(monkeypatch):
    """Products cut into blocks 64 wide and up, so these modest shapes are cut."""
    monkeypatch.setattr(_threads, "_CUT_WIDTH", 64)
    monkeypatch.setattr(_threads, "_CUT_ROWS", 64)
    monkeypatch.setattr(_threads, "_CUT_FLOPS", 1 << 20)


def test_real_cuts_are_coarse_and_depend_on_the_shapes_only():
    assert _threads.product_spans(64, 32768, 2 * 64 * 576 * 32768) == _threads.even_spans(32768, 16)
    assert _threads.product_spans(300, 900, 2 * 300 * 700 * 900) == [(0, 900)]  # < 2·512 long
    assert _threads.product_spans(4096, 8, 2 * 4096 * 8 * 8) == [(0, 4096)]  # too few flops
    assert _threads.product_spans(2048, 64, 2 * 2048 * 64 * 256) == [(0, 1024), (1024, 2048)]
    # rows (M > N) are cut 256 tall and up: ResNet-18's last layer on one image
    assert _threads.product_spans(512, 49, 2 * 512 * 49 * 4608) == [(0, 256), (256, 512)]
    assert _threads.product_spans(511, 49, 2 * 511 * 49 * 4608) == [(0, 511)]
    assert _threads.product_spans(49, 512, 2 * 512 * 49 * 4608) == [(0, 512)]  # columns: 512


def test_linear_is_thread_invariant(fine_cuts):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 700), dtype=np.float32)
    w = rng.standard_normal((900, 700), dtype=np.float32)
    g = rng.standard_normal((300, 900), dtype=np.float32)
    assert_thread_invariant(lambda: (linear(x, w), linear_backward(g, x, w)))


def test_product_is_thread_invariant_2d_and_stacked(fine_cuts):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((640, 300), dtype=np.float32)
    b = rng.standard_normal((300, 500), dtype=np.float32)
    stacked = rng.standard_normal((3, 64, 300), dtype=np.float32)
    assert_thread_invariant(lambda: (_threads.product(a, b), _threads.product(stacked, b)))
    np.testing.assert_allclose(_threads.product(a, b), a.astype(float) @ b, rtol=1e-4, atol=1e-3)


def test_an_onnx_gemm_and_matmul_run_threaded_with_the_same_bits(fine_cuts):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from cnnmath.onnx import load

    rng = np.random.default_rng(4)
    w = rng.standard_normal((700, 600), dtype=np.float32)
    v = rng.standard_normal((600, 400), dtype=np.float32)
    c = rng.standard_normal(600, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w", "c"], ["h"], transB=1),
            helper.make_node("MatMul", ["h", "v"], ["y"]),
        ],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [256, 700])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(w.T.copy(), "w"),
            numpy_helper.from_array(c, "c"),
            numpy_helper.from_array(v, "v"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    net = load(model.SerializeToString())
    x = rng.standard_normal((256, 700), dtype=np.float32)
    assert_thread_invariant(lambda: net(x))
    expected = (x.astype(float) @ w + c) @ v
    np.testing.assert_allclose(net(x), expected, rtol=1e-3, atol=1e-2 * np.abs(expected).max())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_a_whole_training_step_is_thread_invariant(name, monkeypatch):
    """A forward and backward of a real network in training mode (conv, depthwise conv,
    batch norm, ReLU/ReLU6, pooling, linear): every gradient and running statistic the same
    bits at 1 and 2 threads (the 64² images cut into blocks under the fallback's budgets)."""
    pin_fallback_budgets(monkeypatch)
    from cnnmath import models

    x = np.random.default_rng(5).standard_normal((2, 3, 64, 64), dtype=np.float32)

    def step():
        model = getattr(models, name)(num_classes=10, seed=0)
        model.train()
        y = model(x)
        model.backward(np.ones_like(y) / y.size)
        grads = [p.grad for _, p in model.named_parameters()]
        state = [np.asarray(v) for v in model.state_dict().values()]
        return y, grads, state

    assert_thread_invariant(step)


def _threads_that_ran(first_block_seconds: float, blocks: int, monkeypatch) -> set[int]:
    """The threads that ran a region's blocks when its first block is measured to take
    ``first_block_seconds`` (a fake clock: the test does not depend on the machine's load)."""
    seen: set[int] = set()
    ticks = iter([0.0, first_block_seconds])
    clock = types.SimpleNamespace(perf_counter=lambda: next(ticks))
    monkeypatch.setattr(_threads, "time", clock)
    monkeypatch.setattr(_threads, "_timings", {})  # a region never run before

    def body(i0: int, i1: int) -> None:
        seen.add(threading.get_ident())
        time.sleep(0.02)  # releases the GIL, as NumPy's loops do: time for a second thread to join

    _threads.op(lambda: _threads.parallel(body, _threads.spans(blocks, 1)))()
    return seen


def test_a_region_too_small_to_hand_off_stays_on_the_calling_thread(monkeypatch):
    cnnmath.set_num_threads(2)
    assert _threads_that_ran(1e-6, 4, monkeypatch) == {threading.get_ident()}
    assert len(_threads_that_ran(0.002, 4, monkeypatch)) == 2


def test_a_probe_remembers_a_region_worth_handing_off_and_no_other(monkeypatch):
    cnnmath.set_num_threads(2)
    blocks = _threads.spans(4, 1)

    def body(i0: int, i1: int) -> None:
        pass

    key = (_threads._region_key(body, blocks), 2)  # remembered per thread count
    for first_block_seconds, remembered in ((1e-6, False), (0.002, True)):
        ticks = iter([0.0, first_block_seconds])
        clock = types.SimpleNamespace(perf_counter=functools.partial(next, ticks))
        monkeypatch.setattr(_threads, "time", clock)
        monkeypatch.setattr(_threads, "_timings", {})
        _threads.op(lambda: _threads.parallel(body, blocks))()
        assert (key in _threads._timings) == remembered


def _ways(timing: _threads._Timing, runs: int, alone: float, shared: float) -> list[bool]:
    """Whether each of ``runs`` runs was handed to the threads, each run taking ``alone`` or
    ``shared`` seconds as it went."""
    ways = []
    for _ in range(runs):
        way = timing.share()
        timing.record(way, shared if way else alone)
        ways.append(way)
    return ways


def test_a_remembered_region_alternates_then_runs_the_faster_way_and_rechecks_the_other():
    explore, near, far = _threads._EXPLORE, _threads._RECHECK, _threads._RECHECK_FAR
    assert explore % 2 == 0 < explore < near < far and _threads._FAR == 1.5
    # (alone, shared, the threads run, rechecks every): the caller alone far faster; the
    # threads far faster; the threads exactly _FAR faster; the threads a little less; the
    # caller alone 5 % faster (noise: the threads) and 15 % faster (the caller alone)
    cases = (
        (0.004, 0.010, False, far),
        (0.010, 0.004, True, far),
        (0.015, 0.010, True, far),
        (0.0149, 0.010, True, near),
        (95, 100, True, near),
        (85, 100, False, near),
    )
    for alone, shared, threads, every in cases:
        timing = _threads._Timing()
        ways = _ways(timing, 3 * far, alone, shared)
        assert ways[:explore] == [True, False] * (explore // 2)  # threads first
        for run, way in enumerate(ways[explore:], start=explore + 1):
            assert way == (threads != (run % every == 0)), (alone, shared, run)
        assert timing.alone == pytest.approx(alone) and timing.shared == pytest.approx(shared)


def test_a_timing_replaces_each_ways_warm_up_then_weighs_its_newest_run_a_third():
    """A way's first run (a first hand-off paying for the workers' buffers) is replaced by its
    second, not weighed in; from then on the newest run weighs a third."""
    timing = _threads._Timing()
    timing.record(True, 30.0)  # the threads' warm-up
    timing.record(False, 9.0)  # the caller's
    assert (timing.shared, timing.alone) == (30.0, 9.0)
    timing.record(True, 3.0)
    timing.record(False, 6.0)
    assert (timing.shared, timing.alone) == (3.0, 6.0)
    timing.record(True, 0.0)
    assert (timing.shared, timing.alone) == (2.0, 6.0)


def test_a_slow_first_hand_off_does_not_keep_a_region_off_the_threads():
    """The threads' first run slow (their buffers' first pages), every later one twice as
    fast as the caller alone: after the exploration the threads run."""
    timing = _threads._Timing()
    ways = []
    first = [True]
    for _ in range(_threads._EXPLORE + 4):
        way = timing.share()
        slow = way and first[0]
        first[0] = first[0] and not way
        timing.record(way, 0.010 if slow else (0.001 if way else 0.002))
        ways.append(way)
    assert ways[_threads._EXPLORE :] == [True] * 4


def test_a_remembered_region_follows_a_change_in_which_way_is_faster():
    """The caller alone measured faster; then the threads get faster (the other core came
    free): the rechecks move the threads' time, and the region changes its way."""
    far = _threads._RECHECK_FAR
    timing = _threads._Timing()
    _ways(timing, far, alone=0.004, shared=0.010)
    later = _ways(timing, 4 * far, alone=0.004, shared=0.001)
    assert not later[0]  # at first still the caller alone ...
    assert sum(later[-far:]) == far - 1  # ... at last the threads, far faster


def test_a_remembered_region_runs_the_way_its_timing_says(monkeypatch):
    """Measured faster on the caller alone: every block on the calling thread. Measured
    faster on the threads: handed off before the caller's first block ends. Each run's time
    is recorded for its way. (Real time orders the blocks; the timing is set by hand.)"""
    cnnmath.set_num_threads(2)
    caller = threading.get_ident()
    blocks = _threads.spans(4, 1)
    events: list[tuple[int, float, float]] = []  # (thread, start, end) of each block

    def body(i0: int, i1: int) -> None:
        start = time.monotonic()
        time.sleep(0.2)  # releases the GIL: time for a second thread to join, even on busy cores
        events.append((threading.get_ident(), start, time.monotonic()))

    timing = _threads._Timing()
    timing.runs = _threads._EXPLORE  # past its first runs
    key = (_threads._region_key(body, blocks), 2)
    monkeypatch.setattr(_threads, "_timings", {key: timing})

    timing.alone, timing.shared = 0.001, 0.002
    _threads.op(lambda: _threads.parallel(body, blocks))()
    assert {thread for thread, _, _ in events} == {caller}
    assert timing.alone > 0.001 and timing.shared == 0.002  # this run's 0.8 s, weighed in
    assert _threads._timings[key] is timing  # still worth a hand-off: kept

    events.clear()
    timing.alone, timing.shared = 0.002, 0.001
    _threads.op(lambda: _threads.parallel(body, blocks))()
    first_end = min(end for thread, _, end in events if thread == caller)
    others = [start for thread, start, _ in events if thread != caller]
    assert others and min(others) < first_end
    assert timing.alone == 0.002 and timing.shared > 0.001


def test_a_remembered_region_runs_its_blocks_as_blocks_and_records_no_run_that_raised(
    monkeypatch,
):
    """Either way the blocks run as blocks (an op inside one runs on one thread), an
    exception in a block is raised, and a run that raised records no time."""
    cnnmath.set_num_threads(2)
    blocks = _threads.spans(4, 1)
    inside: list[bool] = []

    def body(i0: int, i1: int) -> None:
        inside.append(_threads.current() == 1)
        time.sleep(0.01)
        if i0 == 3:
            raise ZeroDivisionError("block 3")

    for shared in (False, True):
        timing = _threads._Timing()
        timing.runs = _threads._EXPLORE
        timing.alone, timing.shared = (0.002, 0.001) if shared else (0.001, 0.002)
        monkeypatch.setattr(_threads, "_timings", {(_threads._region_key(body, blocks), 2): timing})
        inside.clear()
        with pytest.raises(ZeroDivisionError, match="block 3"):
            _threads.op(lambda: _threads.parallel(body, blocks))()
        assert inside and all(inside)
        assert (timing.alone, timing.shared) == ((0.002, 0.001) if shared else (0.001, 0.002))


def test_a_remembered_region_found_too_small_on_the_caller_alone_is_probed_again(monkeypatch):
    cnnmath.set_num_threads(2)
    blocks = _threads.spans(4, 1)

    def body(i0: int, i1: int) -> None:
        pass

    timing = _threads._Timing()
    timing.runs = _threads._EXPLORE
    timing.alone, timing.shared = 0.001, 0.002  # the caller alone: it runs there ...
    key = (_threads._region_key(body, blocks), 2)
    monkeypatch.setattr(_threads, "_timings", {key: timing})
    _threads.op(lambda: _threads.parallel(body, blocks))()
    assert key not in _threads._timings  # ... in far less than the probe's bound: forgotten


def _fake_op(monkeypatch, seconds_at):
    """An op (`_threads.op`) that records the thread count it ran at, on a fake clock that
    each call moves on by ``seconds_at[count]``."""
    now = [0.0]
    counts: list[int] = []
    monkeypatch.setattr(_threads, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    @_threads.op
    def fake(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        counts.append(_threads.current())
        now[0] += seconds_at[_threads.current()]
        return x

    return fake, counts


@pytest.mark.parametrize(
    ("alone", "threads", "far"),
    [(0.001, 0.002, True), (0.002, 0.001, True), (0.0012, 0.001, False)],
)
def test_an_op_call_alternates_then_runs_on_the_thread_count_measured_faster(
    alone, threads, far, monkeypatch
):
    """The first call on the threads is the probe; then the two ways alternate, and the
    faster one runs, with the other on every `_RECHECK`-th run (`_RECHECK_FAR`-th when
    one way takes _FAR times the other's time)."""
    cnnmath.set_num_threads(2)
    fake, counts = _fake_op(monkeypatch, {1: alone, 2: threads})
    x = np.zeros(_threads._MIN_OP_ELEMENTS, dtype=np.float32)
    every = _threads._RECHECK_FAR if far else _threads._RECHECK
    calls = 1 + 2 * every
    for _ in range(calls):
        assert fake(x) is x
    faster = 2 if threads < alone else 1
    expected = [2] + [2, 1] * (_threads._EXPLORE // 2)
    for run in range(_threads._EXPLORE + 1, calls):
        expected.append(faster if run % every else 3 - faster)
    assert counts == expected
    (timing,) = _threads._op_timings.values()
    assert (timing.alone, timing.shared) == pytest.approx((alone, threads))


def test_an_op_call_is_measured_per_shape_dtype_and_value(monkeypatch):
    cnnmath.set_num_threads(2)
    fake, counts = _fake_op(monkeypatch, {1: 0.001, 2: 0.002})
    x = np.zeros((2, _threads._MIN_OP_ELEMENTS), dtype=np.float32)
    for call in (
        lambda: fake(x),
        lambda: fake(x.T),  # another shape
        lambda: fake(x.astype(np.float64)),  # another dtype
        lambda: fake(x, 2.0),  # another value
        lambda: fake(x, scale=2.0),  # passed by name
    ):
        for _ in range(3):  # the probe, then the threads and the caller alone in turn
            call()
    assert counts == [2, 2, 1] * 5
    assert len(_threads._op_timings) == 5


def test_an_op_call_is_not_measured_when_small_quick_slow_or_without_a_key(monkeypatch):
    """Arrays all under _MIN_OP_ELEMENTS; a probe under _MIN_OP_SECONDS or over
    _MAX_OP_SECONDS; an argument that is not an array or a plain value (a list, an
    object), or a tuple holding an array: every call runs on the threads, nothing kept."""
    cnnmath.set_num_threads(2)
    big = np.zeros(_threads._MIN_OP_ELEMENTS, dtype=np.float32)
    small = big[:-1]
    cases = [
        ({1: 0.001, 2: 0.002}, (small,)),
        ({1: 0.0001, 2: 0.0001}, (big,)),
        ({1: 0.06, 2: 0.06}, (big,)),
        ({1: 0.001, 2: 0.002}, (big, [1, 2])),
        ({1: 0.001, 2: 0.002}, (big, object())),
        ({1: 0.001, 2: 0.002}, (big, (big,))),
    ]
    for seconds_at, args in cases:
        fake, counts = _fake_op(monkeypatch, seconds_at)
        for _ in range(4):
            fake(*args)
        assert counts == [2] * 4, args
        assert not _threads._op_timings, args


def test_an_op_call_too_quick_on_its_way_is_forgotten_and_probed_again(monkeypatch):
    cnnmath.set_num_threads(2)
    seconds_at = {1: 0.001, 2: 0.002}
    fake, counts = _fake_op(monkeypatch, seconds_at)
    x = np.zeros(_threads._MIN_OP_ELEMENTS, dtype=np.float32)
    fake(x)  # the probe: remembered
    assert len(_threads._op_timings) == 1
    seconds_at[2] = 0.0001
    fake(x)  # on the threads, under _MIN_OP_SECONDS: forgotten
    assert not _threads._op_timings
    seconds_at[2] = 0.002
    fake(x)  # probed again
    fake(x)
    assert counts == [2, 2, 2, 2] and len(_threads._op_timings) == 1


def test_an_op_call_that_raised_records_nothing(monkeypatch):
    cnnmath.set_num_threads(2)
    now = [0.0]
    failing = [True]
    monkeypatch.setattr(_threads, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    @_threads.op
    def fake(x: np.ndarray) -> None:
        now[0] += 0.002
        if failing[0]:
            raise KeyError("inside")

    x = np.zeros(_threads._MIN_OP_ELEMENTS, dtype=np.float32)
    with pytest.raises(KeyError, match="inside"):
        fake(x)  # a probe that raised: nothing kept
    assert not _threads._op_timings
    failing[0] = False
    fake(x)
    (timing,) = _threads._op_timings.values()
    failing[0] = True
    for _ in range(2):  # one run each way
        with pytest.raises(KeyError, match="inside"):
            fake(x)
    assert timing.runs == 2 and timing.shared is None and timing.alone is None


def test_an_op_call_is_keyed_without_its_unkeyed_arguments_nor_a_nan(monkeypatch):
    """A keyword argument the op names ``unkeyed`` (a step count) is left out of the key:
    one timing for every value. A NaN is never equal to itself: such a call is not kept."""
    cnnmath.set_num_threads(2)
    now = [0.0]
    monkeypatch.setattr(_threads, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    @_threads.op(unkeyed=("step",))
    def fake(x: np.ndarray, scale: float = 1.0, *, step: int = 0) -> None:
        now[0] += 0.002

    x = np.zeros(_threads._MIN_OP_ELEMENTS, dtype=np.float32)
    for step in range(5):
        fake(x, step=step)
    (timing,) = _threads._op_timings.values()
    assert timing.runs == 4
    for _ in range(3):
        fake(x, float("nan"))
    assert len(_threads._op_timings) == 1


def test_batch_norm_steps_with_a_cumulative_average_are_one_call_to_measure(monkeypatch):
    """``momentum=None`` passes a step count that grows every training step: left out of
    the key, the steps share one timing (a fake clock: every reading 2 ms later)."""
    from cnnmath.ops import batch_norm

    cnnmath.set_num_threads(2)
    now = [0.0]

    def tick() -> float:
        now[0] += 0.002
        return now[0]

    monkeypatch.setattr(_threads, "time", types.SimpleNamespace(perf_counter=tick))
    x = np.random.default_rng(0).standard_normal((4, 8, 32, 32), dtype=np.float32)
    mean, var = np.zeros(8, np.float32), np.ones(8, np.float32)
    for step in range(1, 6):
        batch_norm(x, mean, var, None, None, True, None, num_batches_tracked=step)
    (timing,) = _threads._op_timings.values()
    assert timing.runs == 4


def test_an_op_call_over_the_ceiling_on_the_threads_is_forgotten(monkeypatch):
    cnnmath.set_num_threads(2)
    seconds_at = {1: 0.04, 2: 0.03}
    fake, counts = _fake_op(monkeypatch, seconds_at)
    x = np.zeros(_threads._MIN_OP_ELEMENTS, dtype=np.float32)
    fake(x)
    assert len(_threads._op_timings) == 1
    seconds_at[1] = 0.08  # one thread may take longer: it is compared, not forgotten ...
    fake(x)
    fake(x)
    assert len(_threads._op_timings) == 1
    seconds_at[2] = 0.06  # ... but the threads past the ceiling: their regions decide
    fake(x)
    assert not _threads._op_timings and counts == [2, 2, 1, 2]


def test_an_op_call_counts_arrays_passed_by_name(monkeypatch):
    cnnmath.set_num_threads(2)
    fake, counts = _fake_op(monkeypatch, {1: 0.001, 2: 0.002})
    for _ in range(3):
        fake(x=np.zeros(_threads._MIN_OP_ELEMENTS, dtype=np.float32))
    assert counts == [2, 2, 1] and len(_threads._op_timings) == 1


def test_new_op_calls_push_out_the_oldest_call_and_no_region(monkeypatch):
    cnnmath.set_num_threads(2)
    monkeypatch.setattr(_threads, "_TIMINGS_SIZE", 3)
    region = object()
    _threads._timings[region] = _threads._Timing()
    fake, _ = _fake_op(monkeypatch, {1: 0.001, 2: 0.002})
    for k in range(1, 6):
        fake(np.zeros(_threads._MIN_OP_ELEMENTS + k, dtype=np.float32))
    assert [key[2][0] for key in _threads._op_timings] == [
        (_threads._MIN_OP_ELEMENTS + k,) for k in (3, 4, 5)
    ]
    assert region in _threads._timings


def test_the_thread_invariance_helper_forces_the_threads_for_op_calls_too(monkeypatch):
    """`run_at` runs every op call on the threads, however its timing reads."""
    from threads_helper import run_at

    fake, counts = _fake_op(monkeypatch, {1: 0.001, 2: 0.002})
    x = np.zeros(_threads._MIN_OP_ELEMENTS, dtype=np.float32)
    run_at(2, lambda: [fake(x) for _ in range(6)])
    assert counts == [2] * 6


def test_scratch_buffers_are_per_thread_and_reused():
    from cnnmath.ops._conv_engine import _blocks as engine_blocks

    a = _threads.scratch("test", (8, 8), np.float32)
    assert np.shares_memory(a, _threads.scratch("test", (4,), np.float32))  # kept, reused
    assert not np.shares_memory(a, _threads.scratch("test", (8, 8), np.float64))  # per dtype
    other: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: other.append(_threads.scratch("test", 64, "f4")))
    worker.start()
    worker.join()
    assert not np.shares_memory(a, other[0])  # per thread
    big = (_threads._SCRATCH_BYTES // 4 + 1,)
    assert not np.shares_memory(
        _threads.scratch("test big", big, np.float32), _threads.scratch("test big", big, "f4")
    )  # too large to keep between calls ...
    get = engine_blocks._scratch("test big", big, np.dtype(np.float32))
    assert np.shares_memory(get(), get())  # ... but one per thread for all of a call's blocks


def test_an_op_never_remembered_makes_no_key_until_a_call_is_kept(monkeypatch):
    """An op none of whose calls was kept runs and is timed first; its key is made only for
    a call to keep (`_measured_call`), and from then on before each call, to look it up."""
    cnnmath.set_num_threads(2)
    keys = []
    call_key = _threads._call_key

    def counting(*args):
        keys.append(args[0])
        return call_key(*args)

    monkeypatch.setattr(_threads, "_call_key", counting)
    seconds_at = {1: 0.0001, 2: 0.0001}  # under _MIN_OP_SECONDS: never kept
    fake, counts = _fake_op(monkeypatch, seconds_at)
    x = np.zeros(_threads._MIN_OP_ELEMENTS, dtype=np.float32)
    for _ in range(3):
        fake(x)
    assert keys == [] and counts == [2, 2, 2] and not _threads._op_timings
    seconds_at.update({1: 0.001, 2: 0.002})  # now worth measuring: the probe is kept ...
    fake(x)
    assert keys == [fake.__wrapped__] and len(_threads._op_timings) == 1
    fake(x)  # ... and looked up before each next call, which alternate: threads, alone
    fake(x)
    assert len(keys) == 3 and counts == [2, 2, 2, 2, 2, 1]
