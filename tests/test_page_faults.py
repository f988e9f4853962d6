"""In a process that imports NumPy and cnnmath only, a loop of conv2d + conv2d_backward keeps
its temporaries in work buffers: glibc does not hand them back to the system after each call
to fault them in again on the next (docs/performance.md, "In a script without PyTorch").
Made fresh, they cost result 1's shape 1,254 page faults a call and LeNet conv 1's 556."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("resource")  # getrusage: POSIX

LOOP = """
import resource, sys
import numpy as np
import cnnmath

cnnmath.set_num_threads(1)
B, C, H, W, O, k, s, p = map(int, sys.argv[1:])
rng = np.random.default_rng(0)
x = rng.standard_normal((B, C, H, W), dtype=np.float32)
w = rng.standard_normal((O, C, k, k), dtype=np.float32)
b = np.zeros(O, np.float32)
y = cnnmath.conv2d(x, w, b, s, p)  # kept, as a script keeps its first output
g = rng.standard_normal(y.shape, dtype=np.float32)
step = lambda: (cnnmath.conv2d(x, w, b, s, p), cnnmath.conv2d_backward(g, x, w, s, p))
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 512, 512, 2, 3, 1, 1), (64, 1, 28, 28, 6, 5, 1, 2)],
    ids=["result 1", "LeNet conv 1"],
)
def test_a_numpy_only_training_loop_does_not_fault_on_every_call(shape):
    # a script's environment: glibc's malloc tunables as a user's shell has them, unset.
    # Starting a Dask cluster of processes leaves MALLOC_TRIM_THRESHOLD_=65536 (Dask's nanny
    # setting) in the test process's environment; inherited, glibc hands the buffers back
    # after every call (1 370 and 1 023 faults a call), which is that setting, not cnnmath.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    run = subprocess.run(
        [sys.executable, "-c", LOOP, *map(str, shape)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )
    faults_per_call = float(run.stdout)
    assert faults_per_call < 50, f"{faults_per_call} page faults a call"
