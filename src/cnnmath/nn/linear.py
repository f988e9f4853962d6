"""The dense layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import positive_int
from ._common import _float_dtype, _uniform, as_generator
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """Dense layer, as ``torch.nn.Linear``: y = x Wᵀ + b, y[..., o] = Σ_i W[o,i] x[..., i] + b[o].

    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,) unless
    ``bias=False``, both ~ U(−1/√in_features, 1/√in_features). Input (*, in_features) in the
    layer's dtype (a batch is (B, in_features); put a ``Flatten()`` before it after a
    convolution); output (*, out_features).

    >>> Linear(400, 120, rng=0)
    Linear(in_features=400, out_features=120, bias=True)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "Linear"
        self.in_features = positive_int("in_features", in_features, func=func)
        self.out_features = positive_int("out_features", out_features, func=func)
        if not isinstance(bias, bool):
            raise TypeError(f"{func}: bias: expected a bool, got {bias!r}")
        dt = _float_dtype(dtype, func=func)
        generator = as_generator(rng, func=func)
        bound = 1.0 / np.sqrt(self.in_features)
        self.weight = Parameter(
            _uniform(generator, bound, (self.out_features, self.in_features), dt)
        )
        bias_shape = (self.out_features,)
        self.bias = Parameter(_uniform(generator, bound, bias_shape, dt)) if bias else None

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype, which the input must have."""
        return self.weight.dtype

    def _check_input(self, x: Any) -> None:
        func = "Linear.forward"
        self._check_input_dtype(x, self.weight.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            hint = ""
            if x.ndim > 2 and int(np.prod(x.shape[1:])) == self.in_features:
                hint = "; flatten the trailing axes first (put a Flatten() before this Linear)"
            raise ValueError(
                f"{func}: x: expected shape (*, in_features={self.in_features}), e.g. (B, "
                f"{self.in_features}), got shape {x.shape}{hint}"
            )

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """y = x Wᵀ + b (``ops.linear``); the context is x."""
        self._check_input(x)
        bias = self.bias.data if self.bias is not None else None
        y = ops.linear(x, self.weight.data, bias)
        return y, x

    def backward_ctx(self, ctx: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G W; adds ∂ℓ/∂W = Σ Gᵀx and ∂ℓ/∂b = Σ G (over all leading axes)."""
        x = ctx
        grad_x, grad_w, grad_b = ops.linear_backward(grad_output, x, self.weight.data)
        self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        return grad_x

    def extra_repr(self) -> str:
        """``in_features=n, out_features=m, bias=True|False``, as ``torch.nn.Linear`` prints."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
