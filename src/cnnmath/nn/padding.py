"""Padding layers: a border of a constant, or of the image's own pixels reflected, replicated
or wrapped around (``cnnmath.ops.pad2d``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..ops.pad import PAD_MODES, pad_widths
from .module import Module

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "ConstantPad1d",
    "ConstantPad2d",
    "Pad1d",
    "Pad2d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ZeroPad1d",
    "ZeroPad2d",
]


class Pad2d(Module):
    """The padding layers' common part: x̃ = ``ops.pad2d(x, padding, mode, value)`` on an
    image (C, H, W) or a batch (B, C, H, W), ``padding`` an int or PyTorch's (left, right,
    top, bottom); negative entries crop. No parameters. Its subclasses are PyTorch's layers,
    one per mode.

    >>> Pad2d(1, mode="replicate")(np.array([[[1.0, 2.0]]]))
    array([[[1., 1., 2., 2.],
            [1., 1., 2., 2.],
            [1., 1., 2., 2.]]])
    """

    def __init__(
        self, padding: int | tuple[int, int, int, int], mode: str = "constant", value: float = 0.0
    ) -> None:
        super().__init__()
        func = type(self).__name__
        self.padding = pad_widths(padding, func=func)
        if mode not in PAD_MODES:
            raise ValueError(f"{func}: mode: expected one of {', '.join(PAD_MODES)}, got {mode!r}")
        self.mode = mode
        if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"{func}: value: expected a real number, got {value!r}")
        self.value = value  # as given: PyTorch's repr echoes it (value=3, value=3.5)

    def _check_image(self, x: Any) -> None:
        if not isinstance(x, np.ndarray) or x.ndim not in (3, 4):
            shape = getattr(x, "shape", type(x).__name__)
            raise ValueError(
                f"{type(self).__name__}.forward: x: expected an image (C, H, W) or a batch "
                f"(B, C, H, W), got {shape}"
            )

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """x̃ = pad2d(x, padding, mode, value); the context is x."""
        self._check_image(x)
        return ops.pad2d(x, self.padding, self.mode, float(self.value)), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x: each border cell of G added into the pixel it copied."""
        return ops.pad2d_backward(grad_output, ctx, self.padding, self.mode)

    def extra_repr(self) -> str:
        """``(left, right, top, bottom)`` as PyTorch's padding layers print it."""
        return str(self.padding)


class ZeroPad2d(Pad2d):
    """A border of zeros, as ``torch.nn.ZeroPad2d(padding)``.

    >>> ZeroPad2d((1, 0, 0, 0))(np.ones((1, 1, 2)))
    array([[[0., 1., 1.]]])
    """

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__(padding, "constant", 0.0)


class ConstantPad2d(Pad2d):
    """A border of ``value``, as ``torch.nn.ConstantPad2d(padding, value)``.

    >>> ConstantPad2d(1, 3.5)
    ConstantPad2d(padding=(1, 1, 1, 1), value=3.5)
    """

    def __init__(self, padding: int | tuple[int, int, int, int], value: float) -> None:
        super().__init__(padding, "constant", value)

    def extra_repr(self) -> str:
        """``padding=(left, right, top, bottom), value=v`` as PyTorch prints it."""
        return f"padding={self.padding}, value={self.value}"


class ReflectionPad2d(Pad2d):
    """The image mirrored about its edge pixels (the edge not repeated), as
    ``torch.nn.ReflectionPad2d(padding)``: x̃[i] = x[|i − top|] above the image, and likewise
    on every side. Each pad must be smaller than the image's side.

    >>> ReflectionPad2d((2, 2, 0, 0))(np.array([[[1.0, 2.0, 3.0]]]))
    array([[[3., 2., 1., 2., 3., 2., 1.]]])
    """

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__(padding, "reflect")


class ReplicationPad2d(Pad2d):
    """The edge pixels repeated outwards, as ``torch.nn.ReplicationPad2d(padding)``.

    >>> ReplicationPad2d((2, 1, 0, 0))(np.array([[[1.0, 2.0, 3.0]]]))
    array([[[1., 1., 1., 2., 3., 3.]]])
    """

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__(padding, "replicate")


class CircularPad2d(Pad2d):
    """The image tiled periodically (the left border is the image's right edge), as
    ``torch.nn.CircularPad2d(padding)``.

    >>> CircularPad2d((2, 1, 0, 0))(np.array([[[1.0, 2.0, 3.0]]]))
    array([[[2., 3., 1., 2., 3., 1.]]])
    """

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__(padding, "circular")


class Pad1d(Module):
    """The 1-D padding layers' common part: a border on the last axis of a signal (C, L) or a
    batch (N, C, L), ``padding`` an int or PyTorch's (left, right), in ``mode`` as
    :class:`Pad2d` (run on the (…, 1, L) view). No parameters.

    >>> ReflectionPad1d((2, 1))(np.array([[1.0, 2.0, 3.0]]))
    array([[3., 2., 1., 2., 3., 2.]])
    """

    def __init__(self, padding: int | tuple[int, int], mode: str = "constant", value: float = 0.0):
        super().__init__()
        func = type(self).__name__
        if isinstance(padding, (tuple, list)) and len(padding) != 2:
            raise ValueError(f"{func}: padding: expected an int or (left, right), got {padding!r}")
        pair = padding if isinstance(padding, (tuple, list)) else (padding, padding)
        left, right, _, _ = pad_widths((*pair, 0, 0), func=func)
        self.padding = (left, right)
        self._image = Pad2d((left, right, 0, 0), mode, value)
        self.mode, self.value = mode, value

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """x̃ = the border on the last axis; the context is x as an image."""
        if not isinstance(x, np.ndarray) or x.ndim not in (2, 3):
            shape = getattr(x, "shape", type(x).__name__)
            raise ValueError(
                f"{type(self).__name__}.forward: x: expected a signal (C, L) or a batch "
                f"(N, C, L), got {shape}"
            )
        y, ctx = self._image.forward_ctx(x[..., None, :])
        return y[..., 0, :], ctx

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x: each border cell of G added into the sample it copied."""
        return self._image.backward_ctx(ctx, grad_output[..., None, :])[..., 0, :]

    def extra_repr(self) -> str:
        """``(left, right)`` as PyTorch's 1-D padding layers print it."""
        return str(self.padding)


class ZeroPad1d(Pad1d):
    """A border of zeros on a signal, as ``torch.nn.ZeroPad1d(padding)``."""

    def __init__(self, padding: int | tuple[int, int]) -> None:
        super().__init__(padding, "constant", 0.0)


class ConstantPad1d(Pad1d):
    """A border of ``value`` on a signal, as ``torch.nn.ConstantPad1d(padding, value)``."""

    def __init__(self, padding: int | tuple[int, int], value: float) -> None:
        super().__init__(padding, "constant", value)

    def extra_repr(self) -> str:
        """``padding=(left, right), value=v`` as PyTorch prints it."""
        return f"padding={self.padding}, value={self.value}"


class ReflectionPad1d(Pad1d):
    """The signal mirrored about its end samples, as ``torch.nn.ReflectionPad1d(padding)``."""

    def __init__(self, padding: int | tuple[int, int]) -> None:
        super().__init__(padding, "reflect")


class ReplicationPad1d(Pad1d):
    """The end samples repeated outwards, as ``torch.nn.ReplicationPad1d(padding)``."""

    def __init__(self, padding: int | tuple[int, int]) -> None:
        super().__init__(padding, "replicate")


class CircularPad1d(Pad1d):
    """The signal wrapped around, as ``torch.nn.CircularPad1d(padding)``."""

    def __init__(self, padding: int | tuple[int, int]) -> None:
        super().__init__(padding, "circular")
