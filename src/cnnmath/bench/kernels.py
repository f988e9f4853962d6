"""Which kernels OpenBLAS runs, and what a forced choice costs.

``OPENBLAS_CORETYPE`` makes a dynamic-architecture OpenBLAS (NumPy's wheels) run the
kernels of the named core instead of the ones it detects; some machines set it (with
``OPENBLAS_L2_SIZE``) because some OpenBLAS builds misbehave on newer processors. On a
processor with AVX-512 that can force, say, the Haswell kernels (AVX2) on NumPy's
products: on the AMD Zen 5 the project measures on, half the one-thread sgemm speed (114
against 214 GFLOP/s), and so every ratio of a product-bound bench row against PyTorch,
whose oneDNN and MKL ignore the variable. `forced_kernels_line` says so in the bench's
header. It starts two child Pythons, one with the environment as it is and one without
the two variables, and each reports which kernels its OpenBLAS runs and how fast its
one-thread sgemm is: the figures come from this machine, not from a table of processors
written here.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Mapping

__all__ = ["CORETYPE_ENV", "forced_kernels_line", "probe"]

#: The variables that pick OpenBLAS's kernels and its cache blocking.
CORETYPE_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: Seconds one child may take (it imports NumPy and cnnmath and times six 1024³ products).
PROBE_TIMEOUT_S = 60.0

_PROBE = """
import json, threadpoolctl
from cnnmath.bench.ops import sgemm_gflops
found = [i for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
with threadpoolctl.threadpool_limits(1, user_api="blas"):
    threads = [i.get("num_threads") for i in threadpoolctl.threadpool_info()
               if i.get("user_api") == "blas"]
    gflops = sgemm_gflops()
print(json.dumps({"architecture": found[0].get("architecture") if found else None,
                  "threads": threads, "gflops": gflops}))
"""
_KEYS = {"architecture", "threads", "gflops"}


def probe(env: Mapping[str, str], timeout: float = PROBE_TIMEOUT_S) -> dict[str, object]:
    """Start a fresh Python with exactly this environment; it reports NumPy's OpenBLAS
    kernels and times NumPy's float32 1024³ product with its BLAS limited to one thread
    (threadpoolctl): {"architecture": the kernels' name as OpenBLAS gives it, None where
    NumPy's BLAS is not OpenBLAS; "threads": each BLAS's thread count inside that limit;
    "gflops": the best of five products, GFLOP/s}.

    Raises RuntimeError naming the cause when the child cannot start, runs past
    ``timeout`` seconds, fails (a forced or a detected kernel may crash some OpenBLAS
    builds) or prints no such report."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"the probe did not run: {error}") from error
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the probe exited with status {done.returncode}: {tail}")
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as error:
        raise RuntimeError(f"the probe printed no result: {done.stdout!r}") from error
    if not isinstance(found, dict) or set(found) != _KEYS:
        raise RuntimeError(f"the probe printed no result: {done.stdout!r}")
    return found


def forced_kernels_line(environ: Mapping[str, str] | None = None) -> str | None:
    """None where neither of `CORETYPE_ENV` is set in ``environ`` (default: os.environ);
    else one line for the bench's header: the kernels and one-thread sgemm speed of
    NumPy's OpenBLAS with the variables as set, and without them (both measured in child
    processes, `probe`, once per process and environment), or why that could not be
    measured, or that NumPy's BLAS is not OpenBLAS."""
    return _line(tuple(sorted(dict(os.environ if environ is None else environ).items())))


@functools.cache
def _line(items: tuple[tuple[str, str], ...]) -> str | None:
    environ = dict(items)
    present = ", ".join(f"{k}={environ[k]}" for k in CORETYPE_ENV if k in environ)
    if not present:
        return None
    plain = {k: v for k, v in environ.items() if k not in CORETYPE_ENV}
    try:
        forced = probe(environ)
        if forced["architecture"] is None:
            return f"kernels: {present} is set, but NumPy's BLAS is not OpenBLAS: no effect"
        native = probe(plain)
    except RuntimeError as error:
        return f"kernels: {present} is set; OpenBLAS could not be compared without it ({error})"
    told = (
        f"kernels: with {present} OpenBLAS runs its {forced['architecture']} kernels, "
        f"{forced['gflops']:.0f} GFLOP/s on one thread's sgemm; without, its "
        f"{native['architecture']} kernels, {native['gflops']:.0f} GFLOP/s"
    )
    if forced["architecture"] == native["architecture"]:
        return told + " (the same kernels)"
    unset = " ".join(f"-u {k}" for k in CORETYPE_ENV)
    return told + (
        ": NumPy's products below run at the forced kernels' speed (to time this "
        f"machine's own: env {unset} cnnmath bench)"
    )
