"""PixelShuffle and PixelUnshuffle: r² channels to an r×r block of pixels (sub-pixel
convolution, ESPCN's upsampling) and back; ChannelShuffle: ShuffleNet's permutation of the
channels between groups."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import positive_int
from .module import Module

__all__ = ["ChannelShuffle", "PixelShuffle", "PixelUnshuffle"]


class PixelShuffle(Module):
    """Rearrange (…, C·r², H, W) into (…, C, H·r, W·r), as ``torch.nn.PixelShuffle``:

        Y[…, c, h·r + i, w·r + j] = X[…, c·r² + i·r + j, h, w]   (0 ≤ i, j < r)

    (``ops.pixel_shuffle``). After a convolution to C·r² channels it is ESPCN's sub-pixel
    upsampling by r = ``upscale_factor``. No parameters; backward: ∂ℓ/∂X =
    pixel_unshuffle(G, r). Input with at least 3 axes (…, C·r², H, W); dtype preserved.

    >>> PixelShuffle(3)
    PixelShuffle(upscale_factor=3)
    >>> PixelShuffle(2)(np.zeros((1, 8, 5, 7))).shape
    (1, 2, 10, 14)
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = positive_int("upscale_factor", upscale_factor, func="PixelShuffle")

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = pixel_shuffle(x, r); the context is Y's shape and dtype."""
        y = ops.pixel_shuffle(x, self.upscale_factor)
        return y, (y.shape, y.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X = pixel_unshuffle(G, r): each G value back to the channel it came from."""
        shape, dtype = ctx
        self._check_grad_output(grad_output, shape, dtype)
        return ops.pixel_shuffle_backward(grad_output, self.upscale_factor)

    def extra_repr(self) -> str:
        """``upscale_factor=r``, as ``torch.nn.PixelShuffle`` prints it."""
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Rearrange (…, C, H·r, W·r) into (…, C·r², H, W), as ``torch.nn.PixelUnshuffle``:

        Y[…, c·r² + i·r + j, h, w] = X[…, c, h·r + i, w·r + j]   (0 ≤ i, j < r)

    (``ops.pixel_unshuffle``), the inverse of :class:`PixelShuffle`: each r×r block of
    pixels, r = ``downscale_factor``, becomes r² channels. No parameters; backward:
    ∂ℓ/∂X = pixel_shuffle(G, r). Input with at least 3 axes, H·r and W·r divisible by r.

    >>> PixelUnshuffle(2)
    PixelUnshuffle(downscale_factor=2)
    >>> PixelUnshuffle(2)(np.zeros((1, 2, 10, 14))).shape
    (1, 8, 5, 7)
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = positive_int(
            "downscale_factor", downscale_factor, func="PixelUnshuffle"
        )

    def output_channels(self, in_channels: int) -> int:
        """C·r² output channels for C input channels (read by ``cnnmath.receptive``)."""
        return in_channels * self.downscale_factor**2

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = pixel_unshuffle(x, r); the context is Y's shape and dtype."""
        y = ops.pixel_unshuffle(x, self.downscale_factor)
        return y, (y.shape, y.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X = pixel_shuffle(G, r): each G value back to the pixel it came from."""
        shape, dtype = ctx
        self._check_grad_output(grad_output, shape, dtype)
        return ops.pixel_unshuffle_backward(grad_output, self.downscale_factor)

    def extra_repr(self) -> str:
        """``downscale_factor=r``, as ``torch.nn.PixelUnshuffle`` prints it."""
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """ShuffleNet's channel shuffle, as ``torch.nn.ChannelShuffle(groups)``: the C = g·k
    channels, as g groups of k, dealt out one from each group in turn,
    Y[n, j·g + i] = X[n, i·k + j] (``ops.channel_shuffle``). No parameters; backward: the
    inverse permutation. Input (N, C, …) with at least 3 axes.

    >>> ChannelShuffle(3)
    ChannelShuffle(groups=3)
    """

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = positive_int("groups", groups, func="ChannelShuffle")

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = channel_shuffle(x, g); the context is Y's shape and dtype."""
        y = ops.channel_shuffle(x, self.groups)
        return y, (y.shape, y.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X: G's channels put back where they came from."""
        shape, dtype = ctx
        self._check_grad_output(grad_output, shape, dtype)
        return ops.channel_shuffle_backward(grad_output, self.groups)

    def extra_repr(self) -> str:
        """``groups=g``, as ``torch.nn.ChannelShuffle`` prints it."""
        return f"groups={self.groups}"
