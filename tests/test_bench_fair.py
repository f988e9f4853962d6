"""The bench's fairness (cnnmath.bench.fair): each library's timed samples come after an idle
wait and an untimed warm-up call of that same library, never straight after the other
library; the thread counts are the same for both and restored afterwards. Checked with fake
timed callables and a fake clock, so nothing here depends on the machine's speed."""

import numpy as np
import pytest

import cnnmath
from cnnmath.bench import fair


class FakeMachine:
    """A clock that advances only when a fake library runs, and a log of what ran."""

    def __init__(self):
        self.now = 0.0
        self.log = []

    def clock(self):
        return self.now

    def settle(self):
        self.log.append("settle")

    def library(self, name, first_cost, cost):
        """A callable whose first call after a settle costs ``first_cost`` (cold threads)
        and every further one ``cost``."""

        def call():
            cold = self.log and self.log[-1] == "settle"
            self.now += first_cost if cold else cost
            self.log.append(name)

        return call


def test_each_sample_follows_a_settle_and_a_warm_up_of_the_same_library():
    m = FakeMachine()
    f, g = m.library("f", 100.0, 2.0), m.library("g", 50.0, 3.0)
    samples = fair.timed_samples([f, g], 3, counts=[2, 1], idle=m.settle, clock=m.clock)
    turn_f, turn_g = ["settle", "f", "f", "f"], ["settle", "g", "g"]
    assert m.log == (turn_f + turn_g) * 3
    # the cold first call of each turn is the untimed one: samples are the warm cost
    assert samples == [[2.0, 2.0, 2.0], [3.0, 3.0, 3.0]]


def test_interleaved_counts_calls_to_fill_min_time_and_returns_medians():
    m = FakeMachine()
    f, g = m.library("f", 0.004, 0.004), m.library("g", 0.01, 0.01)
    medians = fair.interleaved([f, g], 2, min_time=0.02, prime=0, idle=m.settle, clock=m.clock)
    assert medians == pytest.approx([0.004, 0.01])
    # counting calls: settle, one call each; then per turn settle, warm-up, 5 (f) or 2 (g) calls
    assert m.log[:4] == ["settle", "f", "settle", "g"]
    assert m.log[4:] == (["settle"] + ["f"] * 6 + ["settle"] + ["g"] * 3) * 2


def test_each_library_is_primed_before_its_calls_are_counted_or_timed():
    """PRIME_CALLS untimed calls of each function, after an idle wait, before the call that
    counts how many fill min_time: an op whose first calls at a shape are slow (cnnmath's
    thread probe and exploration) is counted and timed in its steady state."""
    from cnnmath.ops import _threads

    assert fair.PRIME_CALLS > 1 + _threads._EXPLORE
    m = FakeMachine()
    slow_runs = [1.0] * fair.PRIME_CALLS  # the op's first calls, then 0.004 s each

    def f():
        m.now += slow_runs.pop() if slow_runs else 0.004
        m.log.append("f")

    g = m.library("g", 0.01, 0.01)
    medians = fair.interleaved([f, g], 2, min_time=0.02, idle=m.settle, clock=m.clock)
    assert medians == pytest.approx([0.004, 0.01])
    prime = fair.PRIME_CALLS
    head = ["settle"] + ["f"] * (prime + 1) + ["settle"] + ["g"] * (prime + 1)
    assert m.log[: len(head)] == head
    assert m.log[len(head) :] == (["settle"] + ["f"] * 6 + ["settle"] + ["g"] * 3) * 2


def test_bench_ops_interleaving_warms_each_library_before_its_samples(monkeypatch):
    from cnnmath.bench import ops

    m = FakeMachine()
    monkeypatch.setattr(fair, "settle", m.settle)
    monkeypatch.setattr(fair, "_clock", m.clock)
    ours, theirs = m.library("cnnmath", 1.0, 0.5), m.library("torch", 1.0, 0.25)
    t_ours, t_theirs, ratio = ops.interleaved(ours, theirs, 3, min_time=0.0)
    assert (t_ours, t_theirs, ratio) == (0.5, 0.25, 2.0)
    turns = m.log[4 + 2 * fair.PRIME_CALLS :]
    assert turns == ["settle", "cnnmath", "cnnmath", "settle", "torch", "torch"] * 3


def test_paired_ratio_divides_out_a_drift_between_turns():
    import statistics

    # cnnmath takes twice PyTorch's time in every turn; the machine slows by half between
    # the two samples of turn 2 and stays slow: the medians pair a fast turn with a slow one
    ours = [2.0, 2.0, 2.0, 3.0, 3.0]
    theirs = [1.0, 1.0, 1.5, 1.5, 1.5]
    assert statistics.median(ours) / statistics.median(theirs) == pytest.approx(4 / 3)
    assert fair.paired_ratio(ours, theirs) == 2.0
    assert np.isnan(fair.paired_ratio([], []))
    with pytest.raises(ValueError):
        fair.paired_ratio([1.0, 2.0], [1.0])  # samples of different turns


def test_bench_ops_ratio_is_nan_without_pytorch(monkeypatch):
    from cnnmath.bench import ops

    m = FakeMachine()
    monkeypatch.setattr(fair, "settle", m.settle)
    monkeypatch.setattr(fair, "_clock", m.clock)
    t_ours, t_theirs, ratio = ops.interleaved(m.library("cnnmath", 1.0, 0.5), None, 2, 0.0)
    assert t_ours == 0.5 and np.isnan(t_theirs) and np.isnan(ratio)


def test_settle_waits_until_the_process_is_idle():
    now, cpu, slept = [0.0], [0.0], []
    busy_slices = [1.0, 1.0, 0.9, 0.02]  # cores used in each 10 ms slice: a thread spins 3

    def sleep(dt):
        slept.append(dt)
        cpu[0] += busy_slices[len(slept) - 1] * dt
        now[0] += dt

    waited = fair.settle(clock=lambda: now[0], cpu=lambda: cpu[0], sleep=sleep)
    assert len(slept) == 4 and waited == pytest.approx(0.04)


def test_settle_gives_up_after_max_s_when_something_keeps_a_core_busy():
    now, cpu = [0.0], [0.0]

    def sleep(dt):
        cpu[0] += dt  # always one core busy
        now[0] += dt

    waited = fair.settle(0.1, clock=lambda: now[0], cpu=lambda: cpu[0], sleep=sleep)
    assert 0.1 <= waited < 0.12


def test_settle_is_short_on_a_quiet_process():
    assert fair.settle() < 0.5


def _blas_threads():
    from threadpoolctl import threadpool_info

    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_same_threads_sets_both_libraries_and_restores_them():
    torch = pytest.importorskip("torch")
    before = (cnnmath.get_num_threads(), torch.get_num_threads(), _blas_threads())
    other = 2 if before[1] != 2 else 3
    with pytest.raises(RuntimeError), fair.same_threads(other, torch):
        assert cnnmath.get_num_threads() == other and torch.get_num_threads() == other
        assert _blas_threads() == {other} or len(_blas_threads()) > 1
        raise RuntimeError("the counts come back even when the block fails")
    assert (cnnmath.get_num_threads(), torch.get_num_threads(), _blas_threads()) == before


def test_bench_header_names_each_librarys_thread_count(capsys):
    pytest.importorskip("torch")
    from cnnmath.bench import main

    argv = ["--threads", "1", "--repeats", "1", "--only", "max pool 2/2/0, LeNet", "--no-memory"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("== 1 thread(s)"))
    assert "cnnmath.get_num_threads() = 1" in line and "torch.get_num_threads() = 1" in line
    row = next(x for x in out.splitlines() if x.startswith("max pool 2/2/0, LeNet"))
    ratio = float(row.split()[6])
    assert np.isfinite(ratio) and ratio > 0


def test_bench_epoch_row_runs_at_one_thread():
    pytest.importorskip("torch")
    from cnnmath.bench import train as bench_train

    before = cnnmath.get_num_threads()
    (row,) = bench_train.run(1, repeats=1)
    assert row["name"].startswith("digits LeNet epoch (N=1437, B=32")
    assert row["cnnmath_s"] > 0 and row["torch_s"] > 0
    assert cnnmath.get_num_threads() == before


def _fresh_pages(pages):
    """A call that maps ``pages`` pages of 4 KiB afresh (no huge pages) and writes each."""
    import mmap

    def call():
        with mmap.mmap(-1, pages * 4096) as m:
            if hasattr(mmap, "MADV_NOHUGEPAGE"):
                m.madvise(mmap.MADV_NOHUGEPAGE)
            m[::4096] = b"\1" * pages

    return call


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_getaffinity"), reason="Linux only")
def test_page_faults_per_call_counts_the_pages_a_call_maps_afresh():
    # the kernel's count (getrusage) against the pages the call is known to touch first
    assert 1024 <= fair.page_faults_per_call(_fresh_pages(1024)) < 1024 + 64
    assert 256 <= fair.page_faults_per_call(_fresh_pages(256), calls=2) < 256 + 64
    kept = np.zeros(1 << 20, np.float32)
    assert fair.page_faults_per_call(lambda: kept.fill(1.0)) < 16  # memory already mapped
    assert 256 <= fair.page_faults_per_call(_fresh_pages(256), calls=0) < 256 + 64  # one call


def test_page_faults_per_call_is_nan_without_the_resource_module(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "resource", None)  # as on Windows: import fails
    calls = []
    assert np.isnan(fair.page_faults_per_call(lambda: calls.append(1)))
    assert calls == []  # nothing run for a count it cannot take


def test_bench_rows_carry_each_librarys_page_faults_and_the_huge_page_policy(capsys, monkeypatch):
    pytest.importorskip("torch")
    from cnnmath.bench import main

    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")  # restored after the test
    argv = ["--threads", "1", "--repeats", "1", "--only", "avg pool 2/2/0, LeNet", "--no-memory"]
    assert main([*argv, "--torch-huge-pages"]) == 0
    out = capsys.readouterr().out
    assert "asked for by NumPy" in out and "by PyTorch yes" in out
    # PyTorch was imported before main set the switch: the header says it may not hold
    assert "set after PyTorch was imported" in out
    import os

    assert os.environ["THP_MEM_ALLOC_ENABLE"] == "0"  # the caller's environment restored
    lines = out.splitlines()
    at = next(k for k, x in enumerate(lines) if x.startswith("avg pool 2/2/0, LeNet"))
    row, header = lines[at], lines[at - 1]  # the pooling table's column names
    assert header.split()[-2:] == ["faults", "torch"]
    ours, theirs = (float(v) for v in row.split()[8:10])
    assert ours >= 0 and theirs >= 0


def test_torch_huge_pages_cut_pytorchs_page_faults():
    # the switch --torch-huge-pages relies on: PyTorch reads THP_MEM_ALLOC_ENABLE and then
    # backs a large tensor with 2 MiB pages (where the system allows them at all)
    pytest.importorskip("torch")
    import subprocess
    import sys

    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            mode = f.read()
    except OSError:
        pytest.skip("no transparent huge pages on this system")
    if "[madvise]" not in mode:  # "always": huge pages without asking; "never": none at all
        pytest.skip(f"the system's huge-page mode is not madvise: {mode.strip()}")
    script = (
        "import torch\n"
        "from cnnmath.bench.fair import page_faults_per_call\n"
        "print(page_faults_per_call(lambda: torch.ones(8 << 20), calls=4))\n"
    )

    def faults(value):
        env = {**__import__("os").environ, "THP_MEM_ALLOC_ENABLE": value}
        run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
        assert run.returncode == 0, run.stderr.decode()
        return float(run.stdout)

    small_pages, huge_pages = faults("0"), faults("1")
    assert small_pages >= 0.9 * (32 << 20) / 4096  # 32 MiB in 4 KiB pages, each faulting
    assert huge_pages < small_pages / 10


def test_only_picks_the_sections_whose_names_hold_the_text():
    from cnnmath.bench import MEMORY_NAMES, MODELS_TITLE, ONNX_NAMES, TRAIN_NAMES, _wanted
    from cnnmath.bench.models import row_names

    models = (MODELS_TITLE, *row_names())
    sections = {"train": TRAIN_NAMES, "models": models, "onnx": ONNX_NAMES, "memory": MEMORY_NAMES}

    def picked(only):
        return {name for name, names in sections.items() if _wanted(only, names)}

    assert picked(None) == set(sections)  # no --only: every section
    assert picked("epoch") == {"train"}
    assert picked("ResNet-18") == {"models", "onnx"}
    assert picked("mobilenetv2") == {"models"}  # case ignored, as for the ops' rows
    assert picked("onnx") == {"onnx"}
    assert picked("MEMORY") == {"memory"}
    assert picked("max pool 2/2/0, LeNet") == set()  # an ops row only
    assert row_names(64)[0] == "ResNet-18 forward (B=1, 3×64×64, eval)"


def test_only_epoch_runs_the_epoch_and_no_ops_table(capsys):
    pytest.importorskip("torch")
    from cnnmath.bench import main

    argv = ["--threads", "1", "--repeats", "1", "--only", "epoch", "--no-models", "--no-onnx"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "one training epoch, 1 thread(s)" in out
    row = next(x for x in out.splitlines() if x.startswith("digits LeNet epoch"))
    assert float(row.split()[-3]) > 0  # the ratio column
    assert "conv2d forward + backward" not in out and "pooling forward" not in out
    assert "peak memory" not in out  # --only epoch leaves the memory section out
