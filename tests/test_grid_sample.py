"""affine_grid and grid_sample beyond the op records: the points the records' random grids
avoid (exactly on pixel centres, on the edges, on nearest's ties) against PyTorch, and the
geometry a spatial transformer relies on (the identity map copies, a quarter turn is
np.rot90, a shift by whole pixels moves the image)."""

import itertools

import numpy as np
import pytest

from cnnmath.ops import affine_grid, affine_grid_backward, grid_sample, grid_sample_backward

MODES = list(itertools.product(("bilinear", "nearest"), ("zeros", "border", "reflection")))


def _theta(*rows):
    return np.array([rows], dtype=np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(("mode", "padding_mode"), MODES)
def test_kinks_edges_and_ties_are_torchs(mode, padding_mode, align_corners, dtype):
    """In float32 too: the coordinates are computed in the grid's dtype, so each point falls
    on the side of an edge or a tie that PyTorch's float32 kernel puts it (a point one ulp
    past ±1 among them)."""
    torch = pytest.importorskip("torch")
    H, W = 4, 5
    x = np.random.default_rng(0).normal(size=(1, 2, H, W)).astype(dtype)
    # every pixel centre, the half-way points between them (nearest's ties), the edges ±1,
    # and points past them by whole and half pixels
    step_x = 2 / (W - 1) if align_corners else 2 / W
    step_y = 2 / (H - 1) if align_corners else 2 / H
    gx = np.arange(-2 * W - 2, 2 * W + 3) * step_x / 2 + (0 if align_corners else step_x / 2)
    gy = np.arange(-2 * H - 2, 2 * H + 3) * step_y / 2 + (0 if align_corners else step_y / 2)
    past = np.nextafter(np.float32(1), np.float32(2))  # 1.0000001
    gx = np.concatenate([gx, [-1.0, 1.0, past, -past]])
    gy = np.concatenate([gy, [-1.0, 1.0, past, -past]])
    grid = np.stack(np.meshgrid(gx, gy), axis=-1)[None].astype(dtype)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    y = grid_sample(x, grid, **kw)
    tx = torch.from_numpy(x).requires_grad_()
    tg = torch.from_numpy(grid).requires_grad_()
    ty = torch.nn.functional.grid_sample(tx, tg, **kw)
    G = np.random.default_rng(1).normal(size=y.shape).astype(dtype)
    ty.backward(torch.from_numpy(G))
    grad_x, grad_grid = grid_sample_backward(G, x, grid, **kw)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_x, tx.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_grid, tg.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_the_identity_map_copies_the_image(mode):
    x = np.random.default_rng(2).normal(size=(2, 3, 5, 7)).astype(np.float32)
    identity = np.repeat(_theta([1, 0, 0], [0, 1, 0]), 2, axis=0).astype(np.float32)
    for align_corners in (False, True):
        grid = affine_grid(identity, x.shape, align_corners)
        y = grid_sample(x, grid, mode, align_corners=align_corners)
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-6)


def test_a_quarter_turn_is_rot90():
    # (x, y) ↦ (y, −x) on the normalised square: output (i, j) reads input (W−1−j, i)
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    theta = _theta([0, -1, 0], [1, 0, 0])
    y = grid_sample(x, affine_grid(theta, x.shape, align_corners=True), align_corners=True)
    np.testing.assert_allclose(y[0, 0], np.rot90(x[0, 0], k=1), atol=1e-12)


def test_a_shift_by_whole_pixels_moves_the_image_and_pads_with_zeros():
    x = np.random.default_rng(3).normal(size=(1, 2, 4, 8))
    # a translation of t in normalised units is t·W/2 pixels with align_corners=False
    theta = _theta([1, 0, 2 * 2 / 8], [0, 1, 0])  # read two pixels to the right
    y = grid_sample(x, affine_grid(theta, x.shape), mode="nearest")
    np.testing.assert_array_equal(y[..., :6], x[..., 2:])
    np.testing.assert_array_equal(y[..., 6:], 0)


def test_the_gradients_are_adjoint_to_the_forward_in_x():
    # grid_sample is linear in X: ⟨G, S(X)⟩ = ⟨Sᵀ(G), X⟩
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 5, 4))
    grid = rng.uniform(-1.5, 1.5, size=(2, 6, 3, 2))
    G = rng.normal(size=(2, 3, 6, 3))
    for mode, padding_mode in MODES:
        y = grid_sample(x, grid, mode, padding_mode)
        grad_x, _ = grid_sample_backward(G, x, grid, mode, padding_mode)
        assert np.vdot(G, y) == pytest.approx(np.vdot(grad_x, x), rel=1e-12)


def test_affine_grid_backward_is_the_adjoint_of_affine_grid():
    rng = np.random.default_rng(5)
    theta, G = rng.normal(size=(3, 2, 3)), rng.normal(size=(3, 4, 6, 2))
    for align_corners in (False, True):
        grid = affine_grid(theta, (3, 1, 4, 6), align_corners)
        grad = affine_grid_backward(G, (3, 1, 4, 6), align_corners)
        assert np.vdot(G, grid) == pytest.approx(np.vdot(grad, theta), rel=1e-12)


def test_non_finite_grid_points_follow_the_documented_rule():
    # PyTorch's own kernels disagree here (the module docstring); finite points are its
    x = np.random.default_rng(6).normal(size=(1, 2, 3, 3))
    grid = np.array([[[[np.nan, 0.0], [0.2, np.inf], [-np.inf, 0.5], [0.1, -0.3]]]])
    G = np.ones((1, 2, 1, 4))
    for mode, padding_mode in MODES:
        y = grid_sample(x, grid, mode, padding_mode)
        grad_x, grad_grid = grid_sample_backward(G, x, grid, mode, padding_mode)
        finite = grid_sample(x, grid[:, :, 3:], mode, padding_mode)
        np.testing.assert_array_equal(y[..., 3:], finite)
        assert np.isnan(y[..., 0]).all() and np.isnan(grad_grid[0, 0, 0]).all()
        if padding_mode == "reflection":
            assert np.isnan(y[..., 1:3]).all() and np.isnan(grad_grid[0, 0, 1:3]).all()
        elif padding_mode == "zeros":
            np.testing.assert_array_equal(y[..., 1:3], 0)
            np.testing.assert_array_equal(grad_grid[0, 0, 1:3], 0)
        else:  # border: (0.2, +∞) reads the bottom row, (−∞, 0.5) the left column
            edges = np.array([[[[0.2, 1.0], [-1.0, 0.5]]]])
            np.testing.assert_array_equal(y[..., 1:3], grid_sample(x, edges, mode, "border"))
        # the NaN point shares nothing out: ∂ℓ/∂X is that of the other points alone
        others = grid[:, :, 1:] if padding_mode != "reflection" else grid[:, :, 3:]
        want, _ = grid_sample_backward(
            np.ones((1, 2, 1, others.shape[2])), x, others, mode, padding_mode
        )
        np.testing.assert_array_equal(grad_x, want)


def test_an_empty_batch_samples_nothing_and_an_empty_image_is_refused():
    torch = pytest.importorskip("torch")
    x, grid = np.zeros((0, 2, 3, 3)), np.zeros((0, 4, 5, 2))
    y = grid_sample(x, grid)
    want = torch.nn.functional.grid_sample(
        torch.from_numpy(x), torch.from_numpy(grid), align_corners=False
    )
    assert y.shape == tuple(want.shape) == (0, 2, 4, 5)
    grad_x, grad_grid = grid_sample_backward(np.zeros(y.shape), x, grid)
    assert grad_x.shape == x.shape and grad_grid.shape == grid.shape
    with pytest.raises(ValueError, match=r"grid_sample: x: expected an image of at least one"):
        grid_sample(np.zeros((1, 1, 0, 3)), np.zeros((1, 2, 2, 2)))


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_float32_points_an_ulp_from_a_pixel_fall_where_pytorchs_fused_kernel_puts_them(
    padding_mode,
):
    """With align_corners=False PyTorch's float32 kernel computes (g + 1)·(n/2) − 0.5 in one
    rounding: −6/11 in float32 lands an ulp below pixel 2, not on it. Every k/n and k/(2n)
    and the ulps beside them, on rows of 7, 11 and 13 pixels."""
    torch = pytest.importorskip("torch")
    f32 = np.float32
    for n in (7, 11, 13):
        points = set()
        for k in range(-4 * n, 4 * n + 1):
            for v in (k / (2 * n), k / n):
                p = f32(v)
                points |= {p, np.nextafter(p, f32(9)), np.nextafter(p, f32(-9))}
        g = np.array(sorted(points), f32)
        grid = np.stack([g, np.zeros_like(g)], -1)[None, None]
        x = (np.arange(n, dtype=f32) ** 2).reshape(1, 1, 1, n)  # other slopes each side
        kw = dict(mode="bilinear", padding_mode=padding_mode, align_corners=False)
        y = grid_sample(x, grid, **kw)
        tg = torch.from_numpy(grid).requires_grad_()
        ty = torch.nn.functional.grid_sample(torch.from_numpy(x), tg, **kw)
        ty.sum().backward()
        _, grad_grid = grid_sample_backward(np.ones(y.shape, f32), x, grid, **kw)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(grad_grid, tg.grad.numpy(), rtol=1e-5, atol=1e-3)
