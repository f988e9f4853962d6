"""Records for cnnmath.ops.grid_sample: affine_grid and grid_sample (gradients in X and in
the grid), every mode (bilinear, nearest, bicubic) × padding mode × align_corners, grids
reaching well outside [−1, 1] so that padding, clamping and repeated reflections are met.
Random grids keep every point a finite-difference step away from the kinks (integer pixel
coordinates, the edges; bicubic's weights are smooth there, its second derivative is not)."""

import warnings

import numpy as np

from cnnmath import reference
from cnnmath.ops import affine_grid, affine_grid_backward, grid_sample, grid_sample_backward
from opinfo import ErrorCase, OpRecord, Sample, randn


def _grid(N, H, W, seed, reach=2.6):
    return np.random.default_rng(seed).uniform(-reach, reach, size=(N, H, W, 2))


def _grid_samples():
    samples = []
    seed = 0
    for mode in ("bilinear", "nearest", "bicubic"):
        for padding_mode in ("zeros", "border", "reflection"):
            for align_corners in (False, True):
                seed += 1
                kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
                label = f"{mode}-{padding_mode}-{'corners' if align_corners else 'edges'}"
                samples.append(
                    Sample(label, (randn(2, 3, 5, 6, seed=seed), _grid(2, 4, 3, seed)), kw)
                )
    samples += [
        Sample("defaults-upsample", (randn(1, 2, 3, 4, seed=20), _grid(1, 6, 7, 20, 1.0))),
        Sample(
            "one-row-reflection",
            (randn(2, 1, 1, 5, seed=21), _grid(2, 3, 4, 21, 4.0)),
            dict(padding_mode="reflection", align_corners=True),
        ),
        Sample(
            "one-column-border",
            (randn(1, 2, 4, 1, seed=22), _grid(1, 5, 2, 22)),
            dict(padding_mode="border"),
        ),
        Sample(
            "bicubic-one-row-reflection",
            (randn(2, 1, 1, 5, seed=23), _grid(2, 3, 4, 23, 4.0)),
            dict(mode="bicubic", padding_mode="reflection", align_corners=True),
        ),
        Sample(
            "bicubic-one-column-reflection",
            (randn(1, 2, 4, 1, seed=24), _grid(1, 5, 2, 24)),
            dict(mode="bicubic", padding_mode="reflection"),
        ),
        Sample(
            "bicubic-2x2-border",
            (randn(1, 2, 2, 2, seed=25), _grid(1, 3, 3, 25)),
            dict(mode="bicubic", padding_mode="border", align_corners=True),
        ),
    ]
    return samples


def _affine_samples():
    return [
        Sample(
            f"{H}x{W}-{ac}",
            (randn(N, 2, 3, seed=H * W),),
            dict(size=(N, 3, H, W), align_corners=ac),
        )
        for N, H, W in ((2, 4, 5), (1, 1, 6), (3, 7, 1))
        for ac in (False, True)
    ]


def _grid_errors():
    x, g = np.zeros((2, 3, 4, 4)), np.zeros((2, 5, 5, 2))
    return [
        ErrorCase("x 3-D", lambda: grid_sample(x[0], g), ValueError, r"x: expected a 4-D array"),
        ErrorCase("grid last", lambda: grid_sample(x, g[..., :1]), ValueError, r"grid: expected"),
        ErrorCase("batch", lambda: grid_sample(x, g[:1]), ValueError, r"N = 2 \(x's batch\)"),
        ErrorCase("dtype", lambda: grid_sample(x, g.astype(np.float32)), TypeError, "dtype"),
        ErrorCase(
            "area",
            lambda: grid_sample(x, g, "area"),
            ValueError,
            r"^grid_sample: mode: expected 'bilinear', 'nearest' or 'bicubic', got 'area'$",
        ),
        ErrorCase(
            "padding", lambda: grid_sample(x, g, padding_mode="wrap"), ValueError, "padding_mode"
        ),
        ErrorCase(
            "align int", lambda: grid_sample(x, g, align_corners=1), TypeError, "align_corners"
        ),
        ErrorCase(
            "grad shape",
            lambda: grid_sample_backward(np.zeros((2, 3, 4, 4)), x, g),
            ValueError,
            r"^grid_sample_backward: grad_output: expected the output's shape \(2, 3, 5, 5\)",
        ),
    ]


def _affine_errors():
    theta = np.zeros((2, 2, 3))
    return [
        ErrorCase(
            "theta shape",
            lambda: affine_grid(theta[:, :, :2], (2, 1, 3, 3)),
            ValueError,
            r"theta: expected shape \(N, 2, 3\)",
        ),
        ErrorCase("batch", lambda: affine_grid(theta, (3, 1, 3, 3)), ValueError, r"\(3, 2, 3\)"),
        ErrorCase("5-d size", lambda: affine_grid(theta, (2, 1, 3, 3, 3)), ValueError, "size"),
        ErrorCase("zero size", lambda: affine_grid(theta, (2, 1, 0, 3)), ValueError, "size"),
        ErrorCase(
            "int theta", lambda: affine_grid(theta.astype(int), (2, 1, 3, 3)), TypeError, "theta"
        ),
        ErrorCase(
            "grad shape",
            lambda: affine_grid_backward(np.zeros((2, 3, 3, 1)), (2, 1, 3, 3)),
            ValueError,
            r"grad_grid: expected shape \(N, H, W, 2\)",
        ),
    ]


def _torch_grid_sample(torch, x, grid, align_corners=False, **kw):
    return torch.nn.functional.grid_sample(x, grid, align_corners=align_corners, **kw)


def _torch_affine_grid(torch, theta, size, align_corners=False):
    with warnings.catch_warnings():  # PyTorch's note on 1-pixel axes, which the samples mean
        warnings.simplefilter("ignore", UserWarning)
        return torch.nn.functional.affine_grid(theta, size, align_corners=align_corners)


RECORDS = [
    OpRecord(
        name="grid_sample",
        op=grid_sample,
        reference=reference.grid_sample,
        samples=_grid_samples,
        torch=_torch_grid_sample,
        backward=grid_sample_backward,
        reference_backward=reference.grid_sample_backward,
        grad_args=(0, 1),
        errors=_grid_errors,
    ),
    OpRecord(
        name="affine_grid",
        op=affine_grid,
        reference=reference.affine_grid,
        samples=_affine_samples,
        torch=_torch_affine_grid,
        backward=lambda g, theta, **kw: affine_grid_backward(g, **kw),
        reference_backward=lambda g, theta, **kw: reference.affine_grid_backward(g, **kw),
        errors=_affine_errors,
    ),
]
