"""Upsample: nearest-neighbour, bilinear or bicubic resizing of a batch of images; ResizeLike:
bilinear resizing to another value's size."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_float_array, positive_int
from ..ops.interpolate import (
    antialias_taps,
    cubic_taps,
    linear_taps,
    resample_band,
    resample_band_backward,
    resample_cubic,
    resample_cubic_backward,
    resample_linear,
    resample_linear_backward,
    sum_into_sources,
)
from ..ops.resize import nearest_index as _source_index
from .module import Module

__all__ = ["ResizeLike", "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"]


class Upsample(Module):
    """Resizing by a factor or to a size, as ``torch.nn.Upsample(size, scale_factor, mode,
    align_corners, recompute_scale_factor)``, in one of three modes (the functional form,
    with nearest-exact, linear and trilinear too, is ``ops.interpolate``).

    ``mode="nearest"`` (the default) copies the nearest source pixel:

        Y[β, c, i, j] = X[β, c, ⌊i·r_h⌋, ⌊j·r_w⌋],  r = 1/scale_factor (or n_in/n_out for ``size``)

    so an integer factor s copies each pixel into an s×s block. The products are rounded to
    float32 as PyTorch rounds them, so a non-integer factor reads the same pixels as
    ``torch.nn.Upsample`` (e.g. 2.2 on 3 pixels reads 0, 0, 1, 1, 2, 2). One exception:
    PyTorch's CPU kernel takes n_out = n_in and n_out = 2·n_in as exact copies on some
    tensor sizes but not on others, so a factor within about 1e-4 of 1 or 2 (1.0001,
    2.00001) may read a neighbouring pixel there; this layer always takes them exactly.
    Backward: the adjoint, ∂ℓ/∂X[β,c,a,b] = Σ of G over the output pixels copied from
    (a, b) — the sum over its block for an integer factor.

    ``mode="bilinear"`` mixes the four pixels around each output pixel's source point
    (``cnnmath.ops.interpolate_bilinear``: half-pixel centres, or with ``align_corners=True``
    the corner pixels' centres kept in place; ``align_corners`` None means False, as in
    PyTorch, and must stay None for "nearest"). PyTorch's kernel fuses its multiply-adds,
    so the two libraries differ in the last bits (a few units of float32's rounding).

    ``mode="bicubic"`` mixes the 4×4 pixels around it with the cubic convolution weights
    (``cnnmath.ops.interpolate_bicubic``, a = −0.75 as PyTorch; the same ``align_corners``
    rule). Its weights can be negative: the output may overshoot the input's range.

    Give exactly one of ``size`` (int or pair: the output's H, W) and ``scale_factor`` (a
    positive number or a pair); output H_out = ⌊m·s_h⌋. The coordinates use r = 1/s, as
    PyTorch's; with ``recompute_scale_factor=True`` (PyTorch's option, refused with a size)
    they use r = m/H_out instead, as if that size had been given — the same pixels for an
    integer factor, different ones for e.g. 1.7. It is kept as an attribute; PyTorch's
    ``repr`` does not show it, nor does this one.
    Input (B, C, m, n) or (C, m, n); dtype preserved.

    >>> Upsample(scale_factor=2)(np.arange(4.0).reshape(1, 1, 2, 2))[0, 0]
    array([[0., 0., 1., 1.],
           [0., 0., 1., 1.],
           [2., 2., 3., 3.],
           [2., 2., 3., 3.]])
    >>> Upsample(size=(1, 4), mode="bilinear")(np.array([[[0.0, 1.0]]]))[0]
    array([[0.  , 0.25, 0.75, 1.  ]])
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale_factor: float | tuple[float, float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        func = "Upsample"
        if recompute_scale_factor is not None and not isinstance(
            recompute_scale_factor, (bool, np.bool_)
        ):
            raise TypeError(
                f"{func}: recompute_scale_factor: expected True, False or None, got "
                f"{recompute_scale_factor!r}"
            )
        if recompute_scale_factor and size is not None:
            raise ValueError(
                f"{func}: recompute_scale_factor: expected None or False with a size (there is "
                "no factor to recompute), got True"
            )
        if mode not in ("nearest", "bilinear", "bicubic"):
            raise ValueError(
                f"{func}: mode: expected 'nearest', 'bilinear' or 'bicubic', got {mode!r}"
            )
        self.mode = mode
        if mode == "nearest" and align_corners is not None:
            raise ValueError(
                f"{func}: align_corners: expected None with mode 'nearest' (it concerns the "
                f"interpolating modes), got {align_corners!r}"
            )
        if align_corners is not None and not isinstance(align_corners, (bool, np.bool_)):
            raise TypeError(
                f"{func}: align_corners: expected True, False or None, got {align_corners!r}"
            )
        self.align_corners = None if align_corners is None else bool(align_corners)
        if (size is None) == (scale_factor is None):
            raise ValueError(
                f"{func}: expected exactly one of size and scale_factor, got size={size!r}, "
                f"scale_factor={scale_factor!r}"
            )
        self.size: int | tuple[int, int] | None = None
        self.scale_factor: float | tuple[float, float] | None = None
        size = tuple(size) if isinstance(size, list) else size  # torch takes a list too
        if size is not None:
            if isinstance(size, tuple):
                if len(size) != 2:
                    raise ValueError(f"{func}: size: expected an int or a pair, got {size!r}")
                self.size = (
                    positive_int("size[0]", size[0], func=func),
                    positive_int("size[1]", size[1], func=func),
                )
            else:
                self.size = positive_int("size", size, func=func)
        else:
            factors: tuple[Any, ...] = (
                scale_factor if isinstance(scale_factor, tuple) else (scale_factor,)
            )
            if len(factors) not in (1, 2) or not all(
                isinstance(f, (int, float, np.integer, np.floating))
                and not isinstance(f, (bool, np.bool_))
                and np.isfinite(f)
                and f > 0
                for f in factors
            ):
                raise ValueError(
                    f"{func}: scale_factor: expected a positive finite number or a pair of "
                    f"them, got {scale_factor!r}"
                )
            floats = [float(f) for f in factors]
            self.scale_factor = (
                (floats[0], floats[1]) if isinstance(scale_factor, tuple) else floats[0]
            )
        self.recompute_scale_factor = (
            None if recompute_scale_factor is None else bool(recompute_scale_factor)
        )

    def _plan(self, m: int, n: int) -> tuple[tuple[int, int], tuple[np.float32, np.float32]]:
        """The output size and the source-index ratio per axis for an m×n input (float32,
        as PyTorch's kernel holds it; see ``_source_index``)."""
        if self.size is not None:
            out = self.size if isinstance(self.size, tuple) else (self.size, self.size)
            return out, (np.float32(m) / np.float32(out[0]), np.float32(n) / np.float32(out[1]))
        assert self.scale_factor is not None
        s = self.scale_factor
        sh, sw = s if isinstance(s, tuple) else (s, s)
        out = (int(np.floor(m * sh)), int(np.floor(n * sw)))
        if min(out) < 1:
            raise ValueError(
                f"Upsample.forward: x: an input of {m}×{n} pixels scaled by {self.scale_factor} "
                f"has no output pixel"
            )
        if self.recompute_scale_factor:  # the coordinates use n_in/n_out, as for a size
            return out, (np.float32(m) / np.float32(out[0]), np.float32(n) / np.float32(out[1]))
        return out, (np.float32(1.0 / sh), np.float32(1.0 / sw))

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = X at the nearest source pixels, or bilinearly or bicubically resampled; the
        context is (x's shape and dtype, the rows' and columns' index maps or taps)."""
        func = "Upsample.forward"
        check_float_array("x", x, func=func)
        if x.ndim not in (3, 4):
            raise ValueError(f"{func}: x: expected shape (B, C, H, W) or (C, H, W), got {x.shape}")
        m, n = x.shape[-2:]
        (h, w), (rh, rw) = self._plan(m, n)
        if self.mode == "bilinear":
            sh, sw = self._factors()
            taps_h = linear_taps(m, h, sh, bool(self.align_corners), x.dtype)
            taps_w = linear_taps(n, w, sw, bool(self.align_corners), x.dtype)
            return resample_linear(x, taps_h, taps_w), (x.shape, x.dtype, taps_h, taps_w)
        if self.mode == "bicubic":
            sh, sw = self._factors()
            cubic_h = cubic_taps(m, h, sh, bool(self.align_corners), x.dtype)
            cubic_w = cubic_taps(n, w, sw, bool(self.align_corners), x.dtype)
            return resample_cubic(x, cubic_h, cubic_w), (x.shape, x.dtype, cubic_h, cubic_w)
        rows, cols = _source_index(m, h, rh), _source_index(n, w, rw)
        s1, s2 = h // m if h % m == 0 else 0, w // n if w % n == 0 else 0
        if s1 and s2 and self._integer_copy(rows, cols, s1, s2):
            # each pixel copied into an s1×s2 block: repeated along its row, then the row
            # copied s1 times (a broadcast over each block at once ran NumPy's inner loops
            # s2 elements long: 2-3 times the time)
            lead = x.shape[:-2]
            y = np.repeat(x, s2, axis=-1)
            if s1 > 1:
                y = np.broadcast_to(y[..., :, None, :], (*lead, m, s1, w)).reshape(*lead, h, w)
            if not y.flags.writeable:  # the reshape kept the broadcast's view (one row, or s1 = 1)
                y = y.copy()
        else:
            y = x[..., rows, :][..., cols]
        return y, (x.shape, x.dtype, rows, cols)

    def _factors(self) -> tuple[float | None, float | None]:
        """The factors the interpolating modes' coordinates use (1/s, as PyTorch), None for
        ``size``."""
        s = self.scale_factor
        if s is None or self.recompute_scale_factor:
            return None, None
        return s if isinstance(s, tuple) else (s, s)

    @staticmethod
    def _integer_copy(rows: np.ndarray, cols: np.ndarray, s1: int, s2: int) -> bool:
        return bool(
            np.array_equal(rows, np.arange(rows.size) // s1)
            and np.array_equal(cols, np.arange(cols.size) // s2)
        )

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X: G summed over the output pixels copied from each input pixel (weighted by
        what each took from it, for "bilinear" and "bicubic")."""
        shape, dtype, rows, cols = ctx
        if self.mode == "bilinear":
            n_rows, n_cols = rows.i0.size, cols.i0.size
        elif self.mode == "bicubic":
            n_rows, n_cols = rows.source.shape[1], cols.source.shape[1]
        else:
            n_rows, n_cols = rows.size, cols.size
        self._check_grad_output(grad_output, (*shape[:-2], n_rows, n_cols), dtype)
        if self.mode == "bilinear":
            return resample_linear_backward(grad_output, rows, cols, shape[-2:])
        if self.mode == "bicubic":
            return resample_cubic_backward(grad_output, rows, cols, shape[-2:])
        g = sum_into_sources(grad_output, rows, shape[-2], grad_output.ndim - 2)
        return sum_into_sources(g, cols, shape[-1], grad_output.ndim - 1)

    def extra_repr(self) -> str:
        """``scale_factor=…`` (as floats) or ``size=…``, then ``mode=…``, as
        ``torch.nn.Upsample`` prints them (without align_corners, as it)."""
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode="nearest")``, as ``torch.nn.UpsamplingNearest2d``.

    >>> UpsamplingNearest2d(scale_factor=2)
    UpsamplingNearest2d(scale_factor=2.0, mode='nearest')
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale_factor: float | tuple[float, float] | None = None,
    ) -> None:
        super().__init__(size, scale_factor, "nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode="bilinear", align_corners=True)`` — the corner
    pixels' centres kept, as ``torch.nn.UpsamplingBilinear2d`` (older U-Nets').

    >>> UpsamplingBilinear2d(size=(4, 5))
    UpsamplingBilinear2d(size=(4, 5), mode='bilinear')
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale_factor: float | tuple[float, float] | None = None,
    ) -> None:
        super().__init__(size, scale_factor, "bilinear", align_corners=True)


class ResizeLike(Module):
    """x resized bilinearly to the height and width of a second input ``like``, as
    ``F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)``: a
    segmentation network's logits brought back to the image's size, or a pooled branch
    spread over the feature map it came from. With (m, n) = x's size and (H, W) = like's,

        Y[β, c, i, j] = Σ_{a, b} λ_i(a) μ_j(b) X[β, c, a, b],

    the row weights λ_i the two taps around the source coordinate u_i = max(0, (i + ½)·m/H − ½)
    (half-pixel centres; u_i = i·(m − 1)/(H − 1) with ``align_corners=True``), the column
    weights μ_j the same along the width (``ops.interpolate``'s ``linear_taps``). Only
    like's shape is read: like's values get no gradient (zeros), and
    ∂ℓ/∂X[β, c, a, b] = Σ_{i, j} λ_i(a) μ_j(b) G[β, c, i, j], the forward's adjoint.

    ``antialias=True`` is ``F.interpolate(..., antialias=True)``: where like is smaller, each
    output averages every input pixel it covers under a triangle stretched by m/H (n/W)
    (``ops.interpolate_bilinear``'s ``antialias``; PyTorch's ``_upsample_bilinear2d_aa``).

    Inputs x (B, C, m, n) or (C, m, n) and like (…, H, W), of any float dtype; output x's
    leading axes with (H, W), in x's dtype. A wiring op (``functional``): torchvision writes
    it in ``forward``, so it is in neither ``repr`` nor ``state_dict``.

    >>> ResizeLike()(np.array([[[[0.0, 1.0]]]]), np.zeros((1, 5, 1, 4)))[0, 0]
    array([[0.  , 0.25, 0.75, 1.  ]])
    """

    functional = True

    def __init__(
        self, mode: str = "bilinear", align_corners: bool = False, antialias: bool = False
    ) -> None:
        super().__init__()
        if mode != "bilinear":
            raise ValueError(f"ResizeLike: mode: expected 'bilinear', got {mode!r}")
        if not isinstance(align_corners, (bool, np.bool_)):
            raise TypeError(f"ResizeLike: align_corners: expected a bool, got {align_corners!r}")
        if not isinstance(antialias, (bool, np.bool_)):
            raise TypeError(f"ResizeLike: antialias: expected a bool, got {antialias!r}")
        self.mode = mode
        self.align_corners = bool(align_corners)
        self.antialias = bool(antialias)

    def forward_ctx(self, x: np.ndarray, like: np.ndarray) -> tuple[np.ndarray, Any]:
        """x resampled to like's (H, W); the context is both inputs' shapes and dtypes and
        the rows' and columns' taps."""
        func = "ResizeLike.forward"
        check_float_array("x", x, func=func)
        check_float_array("like", like, func=func)
        if x.ndim not in (3, 4):
            raise ValueError(f"{func}: x: expected shape (B, C, H, W) or (C, H, W), got {x.shape}")
        if like.ndim < 2 or min(like.shape[-2:]) < 1:
            raise ValueError(
                f"{func}: like: expected an array whose last two axes (H, W) are ≥ 1, got shape "
                f"{like.shape}"
            )
        (m, n), (h, w) = x.shape[-2:], like.shape[-2:]
        if self.antialias:
            band_h = antialias_taps(m, h, None, self.align_corners, x.dtype)
            band_w = antialias_taps(n, w, None, self.align_corners, x.dtype)
            y = resample_band(x, band_h, band_w)
            return y, (x.shape, like.shape, like.dtype, band_h, band_w)
        taps_h = linear_taps(m, h, None, self.align_corners, x.dtype)
        taps_w = linear_taps(n, w, None, self.align_corners, x.dtype)
        y = resample_linear(x, taps_h, taps_w)
        return y, (x.shape, like.shape, like.dtype, taps_h, taps_w)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂ℓ/∂x, zeros of like's shape): G sent back through the taps; like's values do not
        enter the output."""
        x_shape, like_shape, like_dtype, taps_h, taps_w = ctx
        func = "ResizeLike.backward"
        check_float_array("grad_output", grad_output, func=func)
        n_out = [t.source.shape[1] if self.antialias else t.i0.size for t in (taps_h, taps_w)]
        want = (*x_shape[:-2], *n_out)
        if grad_output.shape != want:
            raise ValueError(
                f"{func}: grad_output: expected the output's shape {want}, got {grad_output.shape}"
            )
        if self.antialias:
            grad = resample_band_backward(grad_output, taps_h, taps_w, x_shape[-2:])
        else:
            grad = resample_linear_backward(grad_output, taps_h, taps_w, x_shape[-2:])
        return grad, np.zeros(like_shape, like_dtype)

    def extra_repr(self) -> str:
        """``mode='bilinear', align_corners=False`` (and ``antialias=True`` when set)."""
        aa = ", antialias=True" if self.antialias else ""
        return f"mode={self.mode!r}, align_corners={self.align_corners}{aa}"
