"""Padding layers: a border of a constant, or of the image's own pixels reflected, replicated
or wrapped around (``cnnmath.ops.pad2d``); for signals (…1d) and volumes (…3d,
``cnnmath.ops.pad.pad_axes`` on the last three axes) as well as images."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import check_float_array
from ..ops.pad import PAD_MODES, pad_axes, pad_axes_backward, pad_widths
from .module import Module

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "Pad1d",
    "Pad2d",
    "Pad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]


def _mode_and_value(func: str, mode: Any, value: Any) -> tuple[str, Any]:
    """A padding layer's ``mode`` (one of PAD_MODES) and constant ``value`` (a real number,
    kept as given: PyTorch's repr echoes it, value=3 or value=3.5)."""
    if mode not in PAD_MODES:
        raise ValueError(f"{func}: mode: expected one of {', '.join(PAD_MODES)}, got {mode!r}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{func}: value: expected a real number, got {value!r}")
    return str(mode), value


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
        self.mode, self.value = _mode_and_value(func, mode, value)

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


_Sides6 = int | tuple[int, int, int, int, int, int]


class Pad3d(Module):
    """The 3-D padding layers' common part: a border on the last three axes of a volume
    (C, D, H, W) or a batch (N, C, D, H, W), ``padding`` an int or PyTorch's (left, right,
    top, bottom, front, back) — W's sides, then H's, then D's; negative entries crop:

        x̃[…, t, i, j] = x[…, σ_D(t − front), σ_H(i − top), σ_W(j − left)]

    with σ of the ``mode`` (``cnnmath.ops.pad``: constant cells hold ``value``; reflect needs
    each pad smaller than its axis, as PyTorch). Output (…, D + front + back, H + top + bottom,
    W + left + right). ``ops.pad.pad_axes`` computes it and ``pad_axes_backward`` its adjoint
    (each border cell's gradient added into the voxel it copied). No parameters.

    >>> ReplicationPad3d((1, 0, 0, 0, 0, 1))(np.array([[[[1.0, 2.0]]]]))
    array([[[[1., 1., 2.]],
    <BLANKLINE>
            [[1., 1., 2.]]]])
    """

    def __init__(self, padding: _Sides6, mode: str = "constant", value: float = 0.0) -> None:
        super().__init__()
        func = type(self).__name__
        self.padding = pad_widths(padding, func=func, sides=6)
        self.mode, self.value = _mode_and_value(func, mode, value)

    def widths(self) -> list[tuple[int, int]]:
        """The (before, after) border of depth, height and width, in that order."""
        left, right, top, bottom, front, back = self.padding
        return [(front, back), (top, bottom), (left, right)]

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """x̃ = pad_axes(x, widths, (−3, −2, −1), mode, value); the context is x."""
        func = f"{type(self).__name__}.forward"
        if not isinstance(x, np.ndarray) or x.ndim not in (4, 5):
            shape = getattr(x, "shape", type(x).__name__)
            raise ValueError(
                f"{func}: x: expected a volume (C, D, H, W) or a batch (N, C, D, H, W), got {shape}"
            )
        check_float_array("x", x, func=func)
        return pad_axes(x, self.widths(), (-3, -2, -1), self.mode, float(self.value)), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x: each border cell of G added into the voxel it copied."""
        return pad_axes_backward(grad_output, ctx, self.widths(), (-3, -2, -1), self.mode)

    def extra_repr(self) -> str:
        """``(left, right, top, bottom, front, back)`` as PyTorch's 3-D padding layers print it."""
        return str(self.padding)


class ZeroPad3d(Pad3d):
    """A border of zeros around a volume, as ``torch.nn.ZeroPad3d(padding)``."""

    def __init__(self, padding: _Sides6) -> None:
        super().__init__(padding, "constant", 0.0)


class ConstantPad3d(Pad3d):
    """A border of ``value`` around a volume, as ``torch.nn.ConstantPad3d(padding, value)``.

    >>> ConstantPad3d(1, 3.5)
    ConstantPad3d(padding=(1, 1, 1, 1, 1, 1), value=3.5)
    """

    def __init__(self, padding: _Sides6, value: float) -> None:
        super().__init__(padding, "constant", value)

    def extra_repr(self) -> str:
        """``padding=(left, right, top, bottom, front, back), value=v`` as PyTorch prints it."""
        return f"padding={self.padding}, value={self.value}"


class ReflectionPad3d(Pad3d):
    """The volume mirrored about its edge voxels (the edge not repeated), as
    ``torch.nn.ReflectionPad3d(padding)``; each pad must be smaller than its axis."""

    def __init__(self, padding: _Sides6) -> None:
        super().__init__(padding, "reflect")


class ReplicationPad3d(Pad3d):
    """The edge voxels repeated outwards, as ``torch.nn.ReplicationPad3d(padding)``."""

    def __init__(self, padding: _Sides6) -> None:
        super().__init__(padding, "replicate")


class CircularPad3d(Pad3d):
    """The volume tiled periodically on each of its three axes, as
    ``torch.nn.CircularPad3d(padding)``."""

    def __init__(self, padding: _Sides6) -> None:
        super().__init__(padding, "circular")
