"""Small helpers for tests: the error measure of SPEC.md and tolerances per dtype."""

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
