"""The bench's line on forced OpenBLAS kernels (``cnnmath.bench.kernels``).

The witness for which kernels OpenBLAS picks is a child Python started here, asking
threadpoolctl directly; the module's own children must agree with it."""

import os
import subprocess
import sys

import pytest

from cnnmath.bench import kernels

_ASK = (
    "import threadpoolctl, numpy\n"
    "print([i['architecture'] for i in threadpoolctl.threadpool_info()"
    " if i['user_api'] == 'blas'][0])"
)


def _architecture(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _ASK], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def _plain() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in kernels.CORETYPE_ENV}


def _openblas() -> bool:
    from threadpoolctl import threadpool_info

    return any(i.get("internal_api") == "openblas" for i in threadpool_info())


def test_no_line_without_the_variables():
    assert kernels.forced_kernels_line(_plain()) is None


@pytest.mark.skipif(not _openblas(), reason="NumPy's BLAS is not OpenBLAS here")
def test_a_forced_core_is_named_beside_the_detected_one():
    forced = {**_plain(), "OPENBLAS_CORETYPE": "Nehalem"}
    line = kernels.forced_kernels_line(forced)
    native = _architecture(_plain())
    assert line is not None and line.startswith("kernels: with OPENBLAS_CORETYPE=Nehalem ")
    assert "runs its Nehalem kernels" in line
    assert f"without, its {native} kernels" in line
    if native == "Nehalem":
        assert line.endswith("(the same kernels)")
    else:
        assert "forced kernels' speed" in line
    assert _architecture(forced) == "Nehalem"  # the witness: the variable is what did it


@pytest.mark.skipif(not _openblas(), reason="NumPy's BLAS is not OpenBLAS here")
def test_the_probe_measures_one_thread_sgemm():
    found = kernels.probe(_plain())
    assert found["architecture"] == _architecture(_plain())
    assert isinstance(found["gflops"], float) and 0.1 < found["gflops"] < 1e5


def test_a_failing_child_is_reported_not_raised():
    # PYTHONHOME pointing nowhere: the child's interpreter fails at startup
    broken = {**_plain(), "OPENBLAS_L2_SIZE": "512", "PYTHONHOME": "/nonexistent"}
    line = kernels.forced_kernels_line(broken)
    assert line is not None
    assert line.startswith("kernels: OPENBLAS_L2_SIZE=512 is set; OpenBLAS could not be compared")
    assert "exited with status" in line


def test_the_bench_header_carries_the_line(monkeypatch):
    from cnnmath import bench

    for name in kernels.CORETYPE_ENV:
        monkeypatch.delenv(name, raising=False)
    assert "kernels:" not in bench._header(None)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Nehalem")
    header = bench._header(None).splitlines()
    assert header[2].startswith("kernels: with OPENBLAS_CORETYPE=Nehalem ")  # after BLAS's


def test_probe_errors_name_the_cause(monkeypatch):
    monkeypatch.setattr(kernels.sys, "executable", "/nonexistent/python")
    with pytest.raises(RuntimeError, match="the probe did not run"):
        kernels.probe(_plain())
