"""affine_grid and grid_sample beyond the op records: the points the records' random grids
avoid (exactly on pixel centres, on the edges, on nearest's ties) against PyTorch, and the
geometry a spatial transformer relies on (the identity map copies, a quarter turn is
np.rot90, a shift by whole pixels moves the image). Bicubic, whose sampling is smooth even
there, also against finite differences and the reference loop on those points."""

import itertools

import numpy as np
import pytest

from cnnmath import reference
from cnnmath.gradcheck import check_gradients
from cnnmath.ops import affine_grid, affine_grid_backward, grid_sample, grid_sample_backward
from helpers import assert_close

PADDING_MODES = ("zeros", "border", "reflection")
MODES = list(itertools.product(("bilinear", "nearest", "bicubic"), PADDING_MODES))


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


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
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
        else:  # border: (0.2, +∞) reads the bottom row, (−∞, 0.5) the left column, as points
            edges = np.array([[[[0.2, 5.0], [-5.0, 0.5]]]])  # far enough for bicubic's taps
            want = grid_sample(x, edges, mode, "border")  # bicubic: 4 weights of the edge, rounded
            np.testing.assert_allclose(y[..., 1:3], want, rtol=1e-15, atol=0)
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


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_float32_points_an_ulp_from_a_pixel_fall_where_pytorchs_fused_kernel_puts_them(
    padding_mode, mode
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
        kw = dict(mode=mode, padding_mode=padding_mode, align_corners=False)
        y = grid_sample(x, grid, **kw)
        tg = torch.from_numpy(grid).requires_grad_()
        ty = torch.nn.functional.grid_sample(torch.from_numpy(x), tg, **kw)
        ty.sum().backward()
        _, grad_grid = grid_sample_backward(np.ones(y.shape, f32), x, grid, **kw)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(grad_grid, tg.grad.numpy(), rtol=1e-5, atol=1e-3)


def _special_points(H, W, align_corners, far=7.0):
    """A grid (1, P, 1, 2) of pixel centres, the edges ±1, half-pixels, points one and two
    pixels past the edges and far outside, on each axis, crossed with a few on the other."""

    def axis(n):
        step = 2 / (n - 1) if align_corners and n > 1 else 2 / n
        start = -1.0 if align_corners else -1.0 + step / 2
        return np.concatenate([start + step * np.arange(-2, n + 2), [-1.0, 1.0, 0.37, -far, far]])

    gx, gy = axis(W), axis(H)
    points = [(a, b) for a in gx for b in (gy[0], gy[3], 0.37, -far)]
    points += [(a, b) for a in (gx[1], -0.61, far) for b in gy]
    return np.array(points)[None, :, None, :]


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_bicubic_gradients_are_finite_differences_on_pixels_and_edges_too(
    padding_mode, align_corners
):
    """The cubic kernel is C¹ (its slope is A at distance 1 and 0 at 0 and 2), and each
    padding extends the image (by zeros, its edge, its mirror) before the kernel sums over
    it, so bicubic sampling is C¹ in the grid everywhere: on pixel centres and edges, where
    bilinear has kinks, ∂ℓ/∂grid is still the finite difference. The same points against the
    reference loop, which weighs by distances, not by t."""
    x = np.random.default_rng(8).normal(size=(1, 2, 4, 5))
    grid = _special_points(4, 5, align_corners)
    kw = dict(mode="bicubic", padding_mode=padding_mode, align_corners=align_corners)
    errors = check_gradients(
        lambda x, g: grid_sample(x, g, **kw),
        lambda G, x, g: grid_sample_backward(G, x, g, **kw),
        [x, grid],
        eps=1e-7,  # f'' jumps there: the central difference errs by O(ε·jump)
        rtol=1e-6,
    )
    assert max(errors) <= 1e-6
    G = np.random.default_rng(9).normal(size=(1, 2, grid.shape[1], 1))
    assert_close(grid_sample(x, grid, **kw), reference.grid_sample(x, grid, **kw))
    for got, want in zip(
        grid_sample_backward(G, x, grid, **kw), reference.grid_sample_backward(G, x, grid, **kw)
    ):
        assert_close(got, want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bicubic_on_small_images_and_far_points_is_torchs(dtype):
    """Images of one and two pixels a side, where reflection folds a tap many times and
    every tap of a point is padded; points far outside (±7, ±1e4) and on the edges."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    worst = 0.0
    for (H, W), padding_mode, align_corners in itertools.product(
        [(1, 1), (1, 2), (2, 1), (2, 3), (3, 2)], PADDING_MODES, (False, True)
    ):
        x = rng.normal(size=(2, 3, H, W)).astype(dtype)
        grid = np.concatenate(
            [
                _special_points(H, W, align_corners, far=1e4),
                _special_points(H, W, align_corners),
            ]
        ).astype(dtype)
        kw = dict(mode="bicubic", padding_mode=padding_mode, align_corners=align_corners)
        y = grid_sample(x, grid, **kw)
        G = rng.normal(size=y.shape).astype(dtype)
        tx, tg = torch.from_numpy(x).requires_grad_(), torch.from_numpy(grid).requires_grad_()
        ty = torch.nn.functional.grid_sample(tx, tg, **kw)
        ty.backward(torch.from_numpy(G))
        got = (y, *grid_sample_backward(G, x, grid, **kw))
        for a, b in zip(got, (ty.detach(), tx.grad, tg.grad)):
            assert a.dtype == dtype
            # relative to the data's scale, 1 (a one-pixel image's grid gradient is 0,
            # PyTorch's and ours rounding noise)
            worst = max(worst, np.abs(a - b.numpy()).max() / max(np.abs(b.numpy()).max(), 1))
    assert worst <= (1e-12 if dtype == np.float64 else 1e-5)


def test_bicubic_uses_pytorchs_kernel_parameter():
    """A = −0.75, not Keys's −0.5 (0.5625 and −0.0625 below): half a pixel from a lone 1
    the sample is k₁(½) = (A + 2)/8 − (A + 3)/4 + 1 = 0.59375, a pixel and a half from it
    k₂(3/2) = A·(27/8 − 45/4 + 12 − 4) = −0.09375."""
    row = np.zeros((1, 1, 1, 5))
    row[..., 2] = 1.0
    grid = np.array([[[[-0.2, 0.0], [0.2, 0.0]]]])  # u = 1.5 and 2.5 (align_corners=False)
    y = grid_sample(row, grid, "bicubic")
    np.testing.assert_allclose(y.ravel(), [0.59375, 0.59375], rtol=0, atol=1e-15)
    row[..., 2], row[..., 3] = 0.0, 1.0
    np.testing.assert_allclose(grid_sample(row, grid, "bicubic")[..., 0], -0.09375, atol=1e-15)


def test_pytorchs_bicubic_samples_nan_at_infinity_where_cnnmath_takes_the_limit():
    """The documented difference: PyTorch's t = ∞ − ∞ is NaN in every padding mode; cnnmath
    reads 0 under "zeros" and the edge under "border" (as its bilinear does), NaN under
    "reflection". Should PyTorch change, this fails and the module docstring needs a look."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(11).normal(size=(1, 1, 3, 3))
    grid = np.array([[[[0.2, np.inf], [-np.inf, 0.5]]]])
    for padding_mode in PADDING_MODES:
        kw = dict(mode="bicubic", padding_mode=padding_mode, align_corners=False)
        theirs = torch.nn.functional.grid_sample(
            torch.from_numpy(x), torch.from_numpy(grid), **kw
        ).numpy()
        assert np.isnan(theirs).all()
        ours = grid_sample(x, grid, **kw)
        assert np.isnan(ours).all() == (padding_mode == "reflection")
