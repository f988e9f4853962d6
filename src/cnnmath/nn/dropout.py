"""Dropout."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_float_array
from ._common import as_generator
from .module import Module


class Dropout(Module):
    """Inverted dropout, as ``torch.nn.Dropout``: in training mode each element is kept with
    probability 1 − p and scaled by 1/(1 − p) (zeroed otherwise), so E[y] = x; in evaluation
    mode it is the identity. Backward applies the same mask and scale to G.

    The mask is drawn at every training forward from the generator ``self.rng``, made from
    ``rng=`` (Generator, int seed or None) and declared with ``register_generator`` so that
    checkpoints find it (``named_generators()`` lists it as "rng").
    """

    rng: np.random.Generator

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        super().__init__()
        if isinstance(p, (bool, np.bool_)) or not isinstance(
            p, (int, float, np.floating, np.integer)
        ):
            raise TypeError(f"Dropout: p: expected a probability in [0, 1], got {p!r}")
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"Dropout: p: expected a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.register_generator("rng", as_generator(rng, func="Dropout"))

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Training: x·mask/(1 − p), mask ~ Bernoulli(1 − p) per element; eval: x."""
        check_float_array("x", x, func="Dropout.forward")
        if not self.training or self.p == 0.0:
            scale = np.ones((), dtype=x.dtype)
        elif self.p == 1.0:
            scale = np.zeros(x.shape, dtype=x.dtype)
        else:
            keep = self.rng.random(x.shape) >= self.p
            scale = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * scale, (scale, x.shape, x.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """G·mask/(1 − p) with the forward pass's mask (G itself in eval mode); G of the
        output's shape and dtype."""
        scale, shape, dtype = ctx
        self._check_grad_output(grad_output, shape, dtype)
        return grad_output * scale

    def extra_repr(self) -> str:
        """``p=…, inplace=False`` (never in place here), as ``torch.nn.Dropout`` prints."""
        return f"p={self.p}, inplace=False"
