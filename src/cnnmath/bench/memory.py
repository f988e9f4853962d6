"""Peak memory of conv2d and its backward on one large image, each library in its own process.

A fresh interpreter (``sys.executable -c ...``) per measurement, so one run's peak cannot
hide in another's: it builds a (1, 1, n, n) float32 image and one 3×3 filter (padding 1),
runs the forward, the backward alone (cnnmath: ``conv2d_backward`` needs no forward) or both,
and prints its peak resident set size: ``VmHWM`` of ``/proc/self/status`` on Linux (the
high-water mark of this program's own memory), else ``resource.getrusage``'s ru_maxrss. Linux
carries ru_maxrss across ``execve``, so a child started by a big parent (a long pytest run)
would report the parent's size instead of its own. A baseline
process that only allocates the arrays the call must hold anyway (input and output, and the
output gradient and input gradient for the backward) shows the floor; cnnmath's buffers are
chunked and its backward works in bands of rows, so it stays near that floor.
"""

from __future__ import annotations

import subprocess
import sys

_SETUP = """
import resource, sys
import numpy as np
n = {n}
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 1, n, n), dtype=np.float32)
w = rng.standard_normal((1, 1, 3, 3), dtype=np.float32)
"""

SNIPPETS = {
    ("floor", "forward"): "y = np.empty_like(x); y[:] = 0",
    ("floor", "backward"): "g = np.ones_like(x); gx = np.empty_like(x); gx[:] = 0",
    ("floor", "forward + backward"): (
        "y = np.empty_like(x); y[:] = 0\ng = np.ones_like(x); gx = np.empty_like(x); gx[:] = 0"
    ),
    ("cnnmath", "forward"): "import cnnmath\ny = cnnmath.conv2d(x, w, padding=1)",
    ("cnnmath", "backward"): (
        "import cnnmath\ng = np.ones_like(x)\n"
        "gx, gw, gb = cnnmath.conv2d_backward(g, x, w, padding=1)"
    ),
    ("cnnmath", "forward + backward"): (
        "import cnnmath\ny = cnnmath.conv2d(x, w, padding=1)\ng = np.ones_like(y)\n"
        "gx, gw, gb = cnnmath.conv2d_backward(g, x, w, padding=1)"
    ),
    ("torch", "forward"): (
        "import torch\nwith torch.no_grad():\n"
        "    y = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1)"
    ),
    ("torch", "forward + backward"): (
        "import torch\ntx = torch.from_numpy(x).requires_grad_()\n"
        "tw = torch.from_numpy(w).requires_grad_()\n"
        "y = torch.nn.functional.conv2d(tx, tw, padding=1)\ny.backward(torch.ones_like(y))"
    ),
}
_REPORT = """
try:  # Linux: the new program's own high-water mark (ru_maxrss survives execve)
    with open("/proc/self/status") as status:
        print(next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")))
except (OSError, StopIteration):
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_mib(library: str, which: str, n: int = 8192, timeout: float = 600) -> float | None:
    """ru_maxrss (MiB) of a fresh process running SNIPPETS[(library, which)]; None on failure."""
    code = _SETUP.format(n=n) + SNIPPETS[(library, which)] + _REPORT
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        return None
    return int(done.stdout.strip().splitlines()[-1]) / 1024  # Linux reports KiB


def report(n: int = 8192) -> str:
    """The peak-memory table: floor, cnnmath and PyTorch, forward and forward + backward."""
    image = n * n * 4 / 2**20
    lines = [
        f"peak memory (ru_maxrss, MiB), conv2d on (1, 1, {n}, {n}) float32 "
        f"({image:.0f} MiB per image), one 3x3 filter, padding 1; a process each",
        f"{'':18s} {'floor':>8s} {'cnnmath':>8s} {'torch':>8s}",
    ]
    for which in ("forward", "backward", "forward + backward"):
        cells = []
        for library in ("floor", "cnnmath", "torch"):
            if (library, which) not in SNIPPETS:
                cells.append("-")  # PyTorch has no backward without its forward
                continue
            try:
                peak = peak_mib(library, which, n)
            except subprocess.TimeoutExpired:
                peak = None
            cells.append("failed" if peak is None else f"{peak:.0f}")
        lines.append(f"{which:18s} " + " ".join(f"{c:>8s}" for c in cells))
    lines.append(
        "(floor: a process holding only the arrays the call must hold: input and "
        "output; for the backward the output gradient and grad_x)"
    )
    return "\n".join(lines)
