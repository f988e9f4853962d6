"""Dropout."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_float_array
from ..ops import alpha_dropout, alpha_dropout_backward, feature_alpha_dropout
from ._common import as_generator
from .module import Module


class Dropout(Module):
    """Inverted dropout, as ``torch.nn.Dropout``: in training mode each element is kept with
    probability 1 − p and scaled by 1/(1 − p) (zeroed otherwise), so E[y] = x; in evaluation
    mode it is the identity. Backward applies the same mask and scale to G.

    The mask is drawn at every training forward from the generator ``self.rng``, made from
    ``rng=`` (Generator, int seed or None) and declared with ``register_generator`` so that
    checkpoints find it (``named_generators()`` lists it as "rng").

    ``inplace`` (a bool, default False) is PyTorch's flag: kept as the attribute and shown in
    ``repr`` (``Dropout(p=0.5, inplace=True)``), but the output is always a new array and x
    is left untouched — the same values as PyTorch's in-place dropout with the same mask.
    Dropout1d/2d/3d take it too.
    """

    rng: np.random.Generator

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: Any = None) -> None:
        super().__init__()
        func = type(self).__name__
        if not isinstance(inplace, (bool, np.bool_)):
            raise TypeError(f"{func}: inplace: expected True or False, got {inplace!r}")
        if isinstance(p, (bool, np.bool_)) or not isinstance(
            p, (int, float, np.floating, np.integer)
        ):
            raise TypeError(f"{func}: p: expected a probability in [0, 1], got {p!r}")
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{func}: p: expected a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self.register_generator("rng", as_generator(rng, func=func))

    def _mask_shape(self, x: np.ndarray) -> tuple[int, ...]:
        """One Bernoulli draw per element."""
        return x.shape

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Training: x·mask/(1 − p), mask ~ Bernoulli(1 − p) per element; eval: x."""
        check_float_array("x", x, func=f"{type(self).__name__}.forward")
        if not self.training or self.p == 0.0:
            scale = np.ones((), dtype=x.dtype)
        elif self.p == 1.0:
            scale = np.zeros(self._mask_shape(x), dtype=x.dtype)
        else:
            keep = self.rng.random(self._mask_shape(x)) >= self.p
            scale = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * scale, (scale, x.shape, x.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """G·mask/(1 − p) with the forward pass's mask (G itself in eval mode); G of the
        output's shape and dtype."""
        scale, shape, dtype = ctx
        self._check_grad_output(grad_output, shape, dtype)
        return grad_output * scale

    def extra_repr(self) -> str:
        """``p=…, inplace=…``, as ``torch.nn.Dropout`` prints."""
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Channel dropout, as ``torch.nn.Dropout2d``: in training each whole feature map
    x[n, c] is kept with probability 1 − p and scaled by 1/(1 − p), or zeroed — one draw per
    (n, c), as neighbouring pixels of a map are too correlated for per-pixel dropout to
    regularise. Evaluation: the identity. Input (N, C, H, W), or (N, C, L) as PyTorch takes
    a 3-D input (a map per (n, c)).

    >>> Dropout2d(0.2)
    Dropout2d(p=0.2, inplace=False)
    """

    def _mask_shape(self, x: np.ndarray) -> tuple[int, ...]:
        if x.ndim not in (3, 4):
            raise ValueError(
                f"Dropout2d.forward: x: expected shape (N, C, H, W) or (N, C, L), got {x.shape}"
            )
        return x.shape[:2] + (1,) * (x.ndim - 2)


class Dropout1d(Dropout):
    """Channel dropout for signals, as ``torch.nn.Dropout1d``: in training each whole channel
    x[n, c] of a (N, C, L) batch (or x[c] of one (C, L) signal) is kept with probability
    1 − p and scaled by 1/(1 − p), or zeroed. Evaluation: the identity.

    >>> Dropout1d(0.2)
    Dropout1d(p=0.2, inplace=False)
    """

    def _mask_shape(self, x: np.ndarray) -> tuple[int, ...]:
        if x.ndim not in (2, 3):
            raise ValueError(
                f"Dropout1d.forward: x: expected shape (N, C, L) or (C, L), got {x.shape}"
            )
        return x.shape[:-1] + (1,)


class StochasticDepth(Dropout):
    """Stochastic depth (Huang et al. 2016), as ``torchvision.ops.StochasticDepth``: in
    training a residual branch's output x is dropped whole for some examples — with
    ``mode="row"`` each example n keeps x[n] with probability 1 − p (scaled by 1/(1 − p)) or
    is zeroed; with ``mode="batch"`` one draw keeps or zeroes the whole batch — so that the
    block computes the identity for those examples (the branch is added to its input after
    this layer). Evaluation: the identity. EfficientNet raises p linearly with depth.

    >>> StochasticDepth(0.1, "row")
    StochasticDepth(p=0.1, mode=row)
    """

    def __init__(self, p: float, mode: str, *, rng: Any = None) -> None:
        super().__init__(p, rng=rng)
        if mode not in ("row", "batch"):
            raise ValueError(f"StochasticDepth: mode: expected 'row' or 'batch', got {mode!r}")
        self.mode = mode

    def _mask_shape(self, x: np.ndarray) -> tuple[int, ...]:
        if x.ndim == 0:
            raise ValueError("StochasticDepth.forward: x: expected a batch (N, …), got a scalar")
        lead = x.shape[:1] if self.mode == "row" else (1,)
        return lead + (1,) * (x.ndim - 1)

    def extra_repr(self) -> str:
        """``p=…, mode=…``, as torchvision prints it."""
        return f"p={self.p}, mode={self.mode}"


class AlphaDropout(Dropout):
    """Alpha dropout, as ``torch.nn.AlphaDropout(p=0.5, inplace=False)``: dropout for
    self-normalizing (SELU) networks that keeps zero mean and unit variance. In training each
    element is kept (m = 1) with probability 1 − p or set to SELU's saturation α′ = −λα,
    then mapped affinely,

        y = a·(x·m + α′·(1 − m)) + b,   a = ((1 − p)(1 + p·α′²))^(−1/2),   b = −a·α′·p,

    and ∂ℓ/∂x = a·m·G (``ops.alpha_dropout``). In evaluation mode, or with p = 0, it is the
    identity; with p = 1, y = x·0 and the gradient 0, as PyTorch. The mask is drawn at every
    training forward from ``self.rng`` (as Dropout's); ``inplace`` as Dropout's.

    >>> AlphaDropout(0.2)
    AlphaDropout(p=0.2, inplace=False)
    """

    #: One draw per feature map (n, c) instead of per element.
    per_map = False

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y as above (x in eval); the context is (mask, training)."""
        func = f"{type(self).__name__}.forward"
        check_float_array("x", x, func=func)
        op = feature_alpha_dropout if self.per_map else alpha_dropout
        y, mask = op(x, self.p, self.training, self.rng, return_mask=True)
        return y, (mask, self.training, x.shape, x.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """a·m·G with the forward pass's mask (G in eval, 0 for p = 1); G of the output's shape
        and dtype."""
        mask, training, shape, dtype = ctx
        self._check_grad_output(grad_output, shape, dtype)
        return alpha_dropout_backward(grad_output, mask, self.p, training)


class FeatureAlphaDropout(AlphaDropout):
    """Alpha dropout of whole feature maps, as ``torch.nn.FeatureAlphaDropout(p=0.5,
    inplace=False)``: :class:`AlphaDropout` with one draw per (n, c), every element of the map
    x[n, c] kept or set to α′ together (``ops.feature_alpha_dropout``). Input (N, C, …), two
    axes at least. Evaluation: the identity.

    >>> FeatureAlphaDropout(0.2)
    FeatureAlphaDropout(p=0.2, inplace=False)
    """

    per_map = True
