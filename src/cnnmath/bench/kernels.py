"""Which kernels OpenBLAS runs, and what a forced choice costs.

``OPENBLAS_CORETYPE`` makes a dynamic-architecture OpenBLAS (NumPy's wheels) run the
kernels of the named core instead of the ones it detects; some machines set it (with
``OPENBLAS_L2_SIZE``) because older OpenBLAS builds misbehave on newer processors. On a
processor with AVX-512 that forces, say, the Haswell kernels (AVX2) on NumPy's products:
half the one-thread sgemm speed measured on an AMD Zen 5 (114 against 214 GFLOP/s), and
so every ratio of a product-bound bench row against PyTorch, whose oneDNN and MKL ignore
the variable. `forced_kernels_line` says so in the bench's header: it asks a child process
of each kind which kernels it runs and how fast its one-thread sgemm is, with the
variables as set and without them, so that the figures do not depend on a table of
processors written here.
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

# Run in the child: the architecture threadpoolctl reports for NumPy's OpenBLAS and the
# best of five 1024³ float32 products on one thread, as one line of JSON.
_PROBE = """
import json, threadpoolctl
from cnnmath.bench.ops import sgemm_gflops
blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
with threadpoolctl.threadpool_limits(1, user_api="blas"):
    gflops = sgemm_gflops()
print(json.dumps({"architecture": blas[0].get("architecture") if blas else None,
                  "gflops": gflops}))
"""


def probe(env: Mapping[str, str], timeout: float = 120.0) -> dict[str, object]:
    """Run `_PROBE` in a fresh Python with exactly this environment: {"architecture": the
    kernels OpenBLAS chose, "gflops": one-thread sgemm GFLOP/s}. Raises RuntimeError
    naming the cause when the child fails (a forced or a detected kernel may crash an old
    OpenBLAS) or prints no such line."""
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
    return dict(found)


def forced_kernels_line(environ: Mapping[str, str] | None = None) -> str | None:
    """None where neither of `CORETYPE_ENV` is set in ``environ`` (default: os.environ);
    else one line for the bench's header: the kernels and one-thread sgemm speed of
    NumPy's OpenBLAS with the variables as set, and without them (both measured in child
    processes, `probe`, once per process and environment), or why that could not be
    measured."""
    return _line(tuple(sorted(dict(os.environ if environ is None else environ).items())))


@functools.cache
def _line(items: tuple[tuple[str, str], ...]) -> str | None:
    environ = dict(items)
    present = ", ".join(f"{k}={environ[k]}" for k in CORETYPE_ENV if k in environ)
    if not present:
        return None
    plain = {k: v for k, v in environ.items() if k not in CORETYPE_ENV}
    try:
        forced, native = probe(environ), probe(plain)
    except RuntimeError as error:
        return f"kernels: {present} is set; OpenBLAS could not be compared without it ({error})"
    told = (
        f"kernels: with {present} OpenBLAS runs its {forced['architecture']} kernels, "
        f"{forced['gflops']:.0f} GFLOP/s on one thread's sgemm; without, its "
        f"{native['architecture']} kernels, {native['gflops']:.0f} GFLOP/s"
    )
    if forced["architecture"] == native["architecture"]:
        return told + " (the same kernels)"
    return told + (
        ": NumPy's products below run at the forced kernels' speed (unset the variables in "
        "the bench's command alone to time this machine's own)"
    )
