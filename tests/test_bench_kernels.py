"""The bench's line on forced OpenBLAS kernels (``cnnmath.bench.kernels``).

The witness for which kernels OpenBLAS picks is a child Python started here, asking
threadpoolctl directly; the module's own children must agree with it."""

import json
import os
import subprocess
import sys

import pytest

from cnnmath.bench import kernels

_ASK = (
    "import json, threadpoolctl, numpy\n"
    "print(json.dumps([i.get('architecture') for i in threadpoolctl.threadpool_info()"
    " if i['internal_api'] == 'openblas']))"
)


def _architecture(env: dict[str, str]) -> str | None:
    done = subprocess.run(
        [sys.executable, "-c", _ASK], env=env, capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found[0] if found else None


def _plain() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in kernels.CORETYPE_ENV}


def _openblas() -> bool:
    from threadpoolctl import threadpool_info

    return any(i.get("internal_api") == "openblas" for i in threadpool_info())


needs_openblas = pytest.mark.skipif(not _openblas(), reason="NumPy's BLAS is not OpenBLAS here")


@pytest.fixture(autouse=True)
def _fresh_lines():
    """Each test measures afresh, and a faked probe's line stays out of the others."""
    kernels._line.cache_clear()
    yield
    kernels._line.cache_clear()


def test_no_line_without_the_variables():
    assert kernels.forced_kernels_line(_plain()) is None


@needs_openblas
def test_a_forced_core_is_named_beside_the_detected_one():
    forced = {**_plain(), "OPENBLAS_CORETYPE": "Nehalem"}
    if _architecture(forced) != "Nehalem":
        pytest.skip("this OpenBLAS does not honour OPENBLAS_CORETYPE=Nehalem")
    line = kernels.forced_kernels_line(forced)
    native = _architecture(_plain())
    assert line is not None and line.startswith("kernels: with OPENBLAS_CORETYPE=Nehalem ")
    assert "runs its Nehalem kernels" in line
    assert f"without, its {native} kernels" in line
    if native == "Nehalem":
        assert line.endswith("(the same kernels)")
    else:
        assert line.endswith("env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE cnnmath bench)")


@needs_openblas
def test_the_probe_times_sgemm_on_one_thread():
    found = kernels.probe(_plain())
    assert found["architecture"] == _architecture(_plain())
    assert found["threads"] == [1]  # inside the limit, as the child's threadpoolctl saw it
    assert isinstance(found["gflops"], float) and 0.1 < found["gflops"] < 1e5


def test_a_failing_child_is_reported_not_raised():
    # PYTHONHOME pointing nowhere: the child's interpreter fails at startup
    broken = {**_plain(), "OPENBLAS_L2_SIZE": "512", "PYTHONHOME": "/nonexistent"}
    line = kernels.forced_kernels_line(broken)
    assert line is not None
    assert line.startswith("kernels: OPENBLAS_L2_SIZE=512 is set; OpenBLAS could not be compared")
    assert "exited with status" in line


def _fake_probe(reports):
    def probe(env, timeout=kernels.PROBE_TIMEOUT_S):
        return reports["forced" if "OPENBLAS_CORETYPE" in env else "plain"]

    return probe


def test_without_openblas_the_variables_change_nothing(monkeypatch):
    none = {"architecture": None, "threads": [1], "gflops": 50.0}
    monkeypatch.setattr(kernels, "probe", _fake_probe({"forced": none, "plain": none}))
    line = kernels.forced_kernels_line({**_plain(), "OPENBLAS_CORETYPE": "Haswell"})
    assert line == (
        "kernels: OPENBLAS_CORETYPE=Haswell is set, but NumPy's BLAS is not OpenBLAS: no effect"
    )


@pytest.mark.parametrize(
    "stdout",
    ['{"architecture": "Haswell"}', "[1, 2]", "", "not json"],
    ids=["a key missing", "not an object", "nothing", "not json"],
)
def test_a_probe_without_its_report_is_an_error(stdout, monkeypatch):
    done = subprocess.CompletedProcess([], 0, stdout=stdout, stderr="")
    monkeypatch.setattr(kernels.subprocess, "run", lambda *a, **k: done)
    with pytest.raises(RuntimeError, match="the probe printed no result"):
        kernels.probe(_plain())


def test_probe_errors_name_the_cause(monkeypatch):
    monkeypatch.setattr(kernels.sys, "executable", "/nonexistent/python")
    with pytest.raises(RuntimeError, match="the probe did not run"):
        kernels.probe(_plain())


def test_the_bench_header_carries_the_line_after_the_blas_one(monkeypatch):
    from cnnmath import bench

    reports = {
        "forced": {"architecture": "Haswell", "threads": [1], "gflops": 110.0},
        "plain": {"architecture": "SkylakeX", "threads": [1], "gflops": 210.0},
    }
    monkeypatch.setattr(kernels, "probe", _fake_probe(reports))
    for name in kernels.CORETYPE_ENV:
        monkeypatch.delenv(name, raising=False)
    assert not any(line.startswith("kernels:") for line in bench._header(None).splitlines())
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    header = bench._header(None).splitlines()
    at = next(k for k, line in enumerate(header) if line.startswith("BLAS:"))
    assert header[at + 1] == (
        "kernels: with OPENBLAS_CORETYPE=Haswell OpenBLAS runs its Haswell kernels, 110 GFLOP/s "
        "on one thread's sgemm; without, its SkylakeX kernels, 210 GFLOP/s: NumPy's products "
        "below run at the forced kernels' speed (to time this machine's own: env -u "
        "OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE cnnmath bench)"
    )
