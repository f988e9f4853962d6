"""Small helpers for tests: the error measure of SPEC.md and tolerances per dtype."""

import contextlib
import os
import threading

import numpy as np

# Relative-to-scale bounds from DESIGN.md: float64 against the reference, float32 likewise.
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def rel_error(got, want) -> float:
    """max|got - want| / max|want| (0 when both are zero): the error relative to the data's scale."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = np.abs(want).max(initial=0.0)
    diff = np.abs(got - want).max(initial=0.0)
    return diff if scale == 0 else diff / scale


def assert_close(got, want, dtype=np.float64, factor=1.0):
    err = rel_error(got, want)
    bound = TOL[np.dtype(dtype).type] * factor
    assert err <= bound, f"relative error {err:.3g} > {bound:.3g}"


@contextlib.contextmanager
def fifo_never_hangs(path):
    """Make a FIFO at ``path`` for a test that expects it refused unopened: should the code
    under test open it after all, a writer comes and goes after 3 s, so the read ends (empty)
    and the test fails instead of hanging the suite."""
    os.mkfifo(path)
    done = threading.Event()

    def unblock():
        if done.wait(3):
            return
        while not done.is_set():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader: nothing to unblock
                pass
            done.wait(0.1)

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        done.set()
        thread.join()
