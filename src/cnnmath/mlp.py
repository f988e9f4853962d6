"""Result 6 (docs/results.md): backpropagation through an MLP, written as products of Jacobians.

The network, for ``l = 1..L`` (``L ≥ 1`` layers, sizes ``n_0, n_1, ..., n_L`` with ``n_L = 1``)::

    y_0 = x ∈ R^{n_0}
    z_l = A_l y_{l−1} + b_l                  A_l : n_l × n_{l−1},  b_l : n_l
    y_l = σ(z_l)          for l = 1..L−1     (σ elementwise)
    y_L = z_L = A_L y_{L−1} + b_L ∈ R        (no σ on the scalar output)

Jacobians use numerator layout, ``(∂w/∂v)[i, j] = ∂w_i/∂v_j``, so ``∂y_L/∂y_l`` is a row
(1 × n_l). Writing ``σ'_l = σ'(A_l y_{l−1} + b_l)`` (a vector of n_l numbers):

(a) ``∂y_L/∂b_L = 1`` and ``∂y_L/∂y_{L−1} = A_L``; for ``l < L``
    ``∂y_l/∂b_l = diag(σ'_l)``, ``∂y_l/∂y_{l−1} = diag(σ'_l) A_l``, and by the chain rule::

        ∂y_L/∂y_l = A_L diag(σ'_{L−1}) A_{L−1} ··· diag(σ'_{l+1}) A_{l+1}      (a row)
        ∂y_L/∂b_l = ∂y_L/∂y_l · diag(σ'_l)

(b) ``∂y_L/∂A_L = y_{L−1}ᵀ`` (A_L's shape, 1 × n_{L−1}); for ``l < L``, with
    ``B_l = (∂y_L/∂y_l)ᵀ y_{l−1}ᵀ`` (n_l × n_{l−1}, a column times a row) and
    ``C_l = diag(σ'_l)``::

        ∂y_L/∂A_l = C_l B_l,   i.e.   ∂y_L/∂(A_l)[i, j] = σ'_l[i] · (∂y_L/∂y_l)[i] · y_{l−1}[j]

The derivative by a matrix is written in that matrix's shape. :meth:`MLP.jacobians` computes
these twice: ``method="literal"`` builds the diagonal matrices and multiplies them exactly as
above, one example at a time (for reading and checking); ``method="efficient"`` replaces every
``v · diag(s)`` by the elementwise product ``v * s`` and every ``C_l B_l`` by an outer product
of ``δ_l = (∂y_L/∂y_l) * σ'_l`` with ``y_{l−1}``, for a whole batch at once (no loop over
examples). Both agree with each other to rounding, with finite differences and with PyTorch's
autograd (tests/test_mlp.py).

Indexing in code: the per-layer lists are 0-based, so ``A[0]`` is A_1, ``b[0]`` is b_1,
``dA[l]``/``db[l]`` belong to A_{l+1}/b_{l+1}; the lists of activations keep the
formulas' index, ``y[l]`` = y_l (``y[0]`` = x, ``y[L]`` = y_L) and ``dy[l]`` = ∂y_L/∂y_l for
``l = 0..L−1``, so ``dy[0]`` is the gradient by the input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._checks import check_float_array, check_ndim, positive_int
from .ops.activations import Activation, get_activation

__all__ = ["MLP", "Jacobians"]

_METHODS = ("literal", "efficient")


@dataclass(frozen=True)
class Jacobians:
    """The derivatives of the scalar output y_L of an :class:`MLP`, each in the shape of what
    it differentiates by (result 6).

    Attributes
    ----------
    dA : list of L arrays, ``dA[l] = ∂y_L/∂A_{l+1}``, shaped like ``A[l]`` (n_{l+1} × n_l).
    db : list of L arrays, ``db[l] = ∂y_L/∂b_{l+1}``, shaped like ``b[l]`` (n_{l+1},).
    dy : list of L arrays, ``dy[l] = ∂y_L/∂y_l`` (the row, as a vector of shape (n_l,)) for
        ``l = 0..L−1``; ``dy[0]`` is the gradient by the input x.

    From :meth:`MLP.jacobians` with a batch ``x`` of shape (B, n_0), every array carries a
    leading batch axis B: one Jacobian per example.
    """

    dA: list[np.ndarray]
    db: list[np.ndarray]
    dy: list[np.ndarray]


def _check_activation(activation: str | Activation, func: str) -> Activation:
    sigma = get_activation(activation)
    if not sigma.differentiable:
        raise ValueError(
            f"{func}: activation: expected a differentiable activation, got {sigma.name!r}: its "
            "derivative is 0 wherever it exists, so every diag(σ'_l) is 0 and all Jacobians "
            "through a hidden layer vanish (nothing to backpropagate); use e.g. 'sigmoid'"
        )
    return sigma


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    func = "MLP"
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
        raise TypeError(
            f"{func}: sizes: expected a sequence [n_0, n_1, ..., n_L] of ints, got {sizes!r}"
        )
    sizes = [positive_int(f"sizes[{i}]", n, func=func) for i, n in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(
            f"{func}: sizes: expected at least two sizes [n_0, ..., n_L] (an input and the "
            f"scalar output), got {sizes!r}"
        )
    if sizes[-1] != 1:
        raise ValueError(
            f"{func}: sizes: expected the last size n_L = 1 (result 6 differentiates a scalar "
            f"output y_L), got sizes={sizes!r} with n_L = {sizes[-1]}"
        )
    return sizes


class MLP:
    """A multilayer perceptron with a scalar output, as in result 6.

    ``y_l = σ(A_l y_{l−1} + b_l)`` for ``l = 1..L−1`` and ``y_L = A_L y_{L−1} + b_L ∈ R``.

    Parameters
    ----------
    sizes : sequence of ints ``[n_0, n_1, ..., n_L]``, each ≥ 1, at least two, with
        ``n_L = 1`` (the output is a scalar).
    activation : a name from ``cnnmath.ACTIVATIONS`` or an :class:`~cnnmath.Activation`;
        ``"step"`` (and any activation marked not differentiable) is refused: its derivative
        is 0, so every Jacobian through a hidden layer would be 0.
    seed : seed of ``numpy.random.default_rng``. Initialisation as PyTorch's ``nn.Linear``:
        A_l and b_l uniform on ``[−1/√n_{l−1}, 1/√n_{l−1}]``, drawn layer by layer, A_l
        before b_l.

    Attributes
    ----------
    A : list of L float64 arrays, ``A[l]`` is A_{l+1} of shape (n_{l+1}, n_l).
    b : list of L float64 arrays, ``b[l]`` is b_{l+1} of shape (n_{l+1},).
    sizes : ``[n_0, ..., n_L]`` (read from the shapes of A).
    activation : the :class:`~cnnmath.Activation` σ.
    L : the number of layers (affine maps).
    y, z : after :meth:`forward`, the activations ``y[l]`` = y_l (l = 0..L, ``y[0]`` = x) and
        pre-activations ``z[l]`` = z_{l+1} = A_{l+1} y_l + b_{l+1} (l = 0..L−1); with a batch
        each has a leading batch axis. None before the first call.

    >>> net = MLP([3, 4, 1], activation="tanh", seed=0)
    >>> [a.shape for a in net.A], [v.shape for v in net.b]
    ([(4, 3), (1, 4)], [(4,), (1,)])
    >>> net.L, net.sizes
    (2, [3, 4, 1])
    """

    def __init__(
        self, sizes: Sequence[int], activation: str | Activation = "sigmoid", seed: int = 0
    ) -> None:
        sizes = _check_sizes(sizes)
        self.activation = _check_activation(activation, "MLP")
        rng = np.random.default_rng(seed)
        self.A: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(n_in)
            self.A.append(rng.uniform(-bound, bound, size=(n_out, n_in)))
            self.b.append(rng.uniform(-bound, bound, size=n_out))
        self.y: list[np.ndarray] | None = None
        self.z: list[np.ndarray] | None = None

    @classmethod
    def from_params(
        cls,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        activation: str | Activation = "sigmoid",
    ) -> MLP:
        """An MLP with the given parameters: ``weights[l]`` is A_{l+1} (n_{l+1} × n_l),
        ``biases[l]`` is b_{l+1} (n_{l+1},), for l = 0..L−1.

        The shapes must chain (``weights[l].shape[1] == weights[l−1].shape[0]``), each bias
        must match its matrix's rows and the last matrix must have one row (scalar output);
        a mismatch names the offending index. Float32 or float64 arrays are accepted and
        copied to float64 (the caller's arrays are never shared).

        >>> net = MLP.from_params([np.ones((2, 3)), np.ones((1, 2))], [np.zeros(2), np.zeros(1)])
        >>> net.sizes
        [3, 2, 1]
        """
        func = "MLP.from_params"
        for name, value in (("weights", weights), ("biases", biases)):
            if isinstance(value, np.ndarray) or not isinstance(value, Sequence):
                raise TypeError(
                    f"{func}: {name}: expected a list of arrays (one per layer), got "
                    f"{type(value).__name__}"
                )
        if len(weights) == 0 or len(weights) != len(biases):
            raise ValueError(
                f"{func}: expected as many biases as weights, at least one each; got "
                f"{len(weights)} weights and {len(biases)} biases"
            )
        A: list[np.ndarray] = []
        b: list[np.ndarray] = []
        for l, (A_l, b_l) in enumerate(zip(weights, biases, strict=True)):
            check_float_array(f"weights[{l}]", A_l, func=func)
            check_float_array(f"biases[{l}]", b_l, func=func)
            check_ndim(f"weights[{l}]", A_l, (2,), func=func, layout=f"(n_{l + 1}, n_{l})")
            if l > 0 and A_l.shape[1] != A[-1].shape[0]:
                raise ValueError(
                    f"{func}: weights[{l}]: expected {A[-1].shape[0]} columns to chain with "
                    f"weights[{l - 1}] of shape {A[-1].shape}, got shape {A_l.shape}"
                )
            if b_l.shape != (A_l.shape[0],):
                raise ValueError(
                    f"{func}: biases[{l}]: expected shape ({A_l.shape[0]},) to match "
                    f"weights[{l}] of shape {A_l.shape}, got {b_l.shape}"
                )
            A.append(A_l.astype(np.float64, copy=True))
            b.append(b_l.astype(np.float64, copy=True))
        if A[-1].shape[0] != 1:
            raise ValueError(
                f"{func}: weights[{len(A) - 1}]: expected one row (n_L = 1, a scalar output), "
                f"got shape {A[-1].shape}"
            )
        net = cls.__new__(cls)
        net.activation = _check_activation(activation, func)
        net.A, net.b = A, b
        net.y = net.z = None
        return net

    # ------------------------------------------------------------------ facts
    @property
    def L(self) -> int:
        """The number of layers (affine maps A_l y + b_l)."""
        return len(self.A)

    @property
    def sizes(self) -> list[int]:
        """``[n_0, n_1, ..., n_L]``, read from the shapes of A."""
        return [self.A[0].shape[1], *(A_l.shape[0] for A_l in self.A)]

    def __repr__(self) -> str:
        return f"MLP(sizes={self.sizes}, activation={self.activation.name!r})"

    # ------------------------------------------------------------------ forward
    def _check_x(self, x: np.ndarray, func: str) -> np.ndarray:
        check_float_array("x", x, func=func)
        n_0 = self.sizes[0]
        check_ndim("x", x, (1, 2), func=func, layout=f"(n_0,) or (B, n_0) with n_0 = {n_0}")
        if x.shape[-1] != n_0:
            raise ValueError(
                f"{func}: x: expected a last axis of length n_0 = {n_0}, got shape {x.shape}"
            )
        return x.astype(np.float64, copy=True)  # y_0 is kept: never the caller's array

    def forward(self, x: np.ndarray) -> float | np.ndarray:
        """y_L for one input x of shape (n_0,) (a Python float) or for a batch (B, n_0)
        (an array of shape (B,)); float32 input is computed in float64.

        Keeps ``self.y`` (y_0..y_L) and ``self.z`` (z_1..z_L, ``z[l]`` = z_{l+1}), which
        backpropagation reads: ``z_l = A_l y_{l−1} + b_l``, ``y_l = σ(z_l)`` for l < L,
        ``y_L = z_L``. With a batch the rows are examples: ``z = y @ Aᵀ + b``.

        >>> net = MLP.from_params([np.array([[1.0, 2.0]])], [np.array([0.5])])
        >>> net.forward(np.array([3.0, 4.0]))
        11.5
        """
        x = self._check_x(x, "MLP.forward")
        sigma = self.activation
        y, z = [x], []
        for l in range(1, self.L + 1):
            A_l, b_l = self.A[l - 1], self.b[l - 1]
            z.append(y[l - 1] @ A_l.T + b_l)
            y.append(sigma.f(z[-1]) if l < self.L else z[-1])
        self.y, self.z = y, z
        y_L = y[self.L][..., 0]
        return float(y_L) if x.ndim == 1 else y_L.copy()  # not a view of the kept self.y

    __call__ = forward

    # ------------------------------------------------------------------ Jacobians
    def jacobians(self, x: np.ndarray, method: str = "literal") -> Jacobians:
        """∂y_L/∂A_l, ∂y_L/∂b_l (l = 1..L) and ∂y_L/∂y_l (l = 0..L−1) at x (result 6).

        Parameters
        ----------
        x : (n_0,) one input, or (B, n_0) a batch (``method="efficient"`` only).
        method : ``"literal"`` — the page's formulas with the diagonal matrices C_l =
            diag(σ'_l) and B_l = (∂y_L/∂y_l)ᵀ y_{l−1}ᵀ, one example; ``"efficient"`` —
            the same numbers by elementwise products, no diagonal matrices, a batch at once.

        Returns
        -------
        :class:`Jacobians` with ``dA[l]`` shaped like ``A[l]``, ``db[l]`` like ``b[l]`` and
        ``dy[l]`` of shape (n_l,); for a batch each gets a leading axis B.

        >>> net = MLP.from_params([np.array([[1.0, 2.0]])], [np.array([0.5])])
        >>> J = net.jacobians(np.array([3.0, 4.0]))
        >>> J.dA[0], J.db[0], J.dy[0]
        (array([[3., 4.]]), array([1.]), array([1., 2.]))
        """
        func = "MLP.jacobians"
        if not isinstance(method, str) or method not in _METHODS:
            raise ValueError(
                f"{func}: method: expected one of {', '.join(map(repr, _METHODS))}, got {method!r}"
            )
        x = self._check_x(x, func)
        if method == "literal":
            if x.ndim != 1:
                raise ValueError(
                    f"{func}: x: method='literal' takes one example of shape "
                    f"({self.sizes[0]},), got shape {x.shape}; use method='efficient' for a "
                    "batch"
                )
            return self._jacobians_literal(x)
        if x.ndim == 1:
            batched = self._jacobians_efficient(x[None])
            return Jacobians(
                *([a[0] for a in arrays] for arrays in (batched.dA, batched.db, batched.dy))
            )
        return self._jacobians_efficient(x)

    def _forward_kept(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Run the forward pass and return the values it keeps: (y_0..y_L, z_1..z_L)."""
        self.forward(x)
        if self.y is None or self.z is None:  # forward always sets both
            raise RuntimeError("MLP.forward kept no values")
        return self.y, self.z

    def _jacobians_literal(self, x: np.ndarray) -> Jacobians:
        """Result 6 line by line, for one example. Dicts keyed by the formulas' layer index
        l (1-based); y_l are columns (n_l × 1), ∂y_L/∂y_l are rows (1 × n_l)."""
        ys, zs = self._forward_kept(x)
        L = self.L
        A = {l: self.A[l - 1] for l in range(1, L + 1)}
        y = {l: ys[l].reshape(-1, 1) for l in range(L)}  # columns y_0 .. y_{L−1}
        sigma_prime = {l: self.activation.df(zs[l - 1]) for l in range(1, L)}

        dyL_dy: dict[int, np.ndarray] = {}  # rows ∂y_L/∂y_l
        dyL_dA: dict[int, np.ndarray] = {}
        dyL_db: dict[int, np.ndarray] = {}

        # The output layer: y_L = A_L y_{L−1} + b_L.
        dyL_dy[L - 1] = A[L].copy()  # ∂y_L/∂y_{L−1} = A_L (a copy: not the parameter itself)
        dyL_dA[L] = y[L - 1].T.copy()  # ∂y_L/∂A_L = y_{L−1}ᵀ
        dyL_db[L] = np.ones((1, 1))  # ∂y_L/∂b_L = 1

        # Hidden layers, from the top down: y_l = σ(A_l y_{l−1} + b_l).
        for l in range(L - 1, 0, -1):
            C_l = np.diag(sigma_prime[l])  # C_l = diag(σ'_l) = ∂y_l/∂b_l
            B_l = dyL_dy[l].T @ y[l - 1].T  # B_l = (∂y_L/∂y_l)ᵀ y_{l−1}ᵀ
            dyL_dA[l] = C_l @ B_l  # ∂y_L/∂A_l = C_l B_l
            dyL_db[l] = dyL_dy[l] @ C_l  # ∂y_L/∂b_l = ∂y_L/∂y_l · diag(σ'_l)
            dyL_dy[l - 1] = dyL_dy[l] @ (C_l @ A[l])  # chain: · ∂y_l/∂y_{l−1} = diag(σ'_l) A_l

        return Jacobians(
            dA=[dyL_dA[l] for l in range(1, L + 1)],
            db=[dyL_db[l].reshape(-1) for l in range(1, L + 1)],
            dy=[dyL_dy[l].reshape(-1) for l in range(L)],
        )

    def _jacobians_efficient(self, x: np.ndarray) -> Jacobians:
        """The same numbers for a batch x (B, n_0): rows of every array are examples;
        ``v · diag(s)`` becomes ``v * s`` and ``C_l B_l`` the outer product δ_l ⊗ y_{l−1}."""
        y, z = self._forward_kept(x)
        L, B = self.L, x.shape[0]
        dA: list[np.ndarray] = [np.empty(0)] * L
        db: list[np.ndarray] = [np.empty(0)] * L
        dy: list[np.ndarray] = [np.empty(0)] * L

        dy[L - 1] = np.repeat(self.A[L - 1], B, axis=0)  # ∂y_L/∂y_{L−1} = A_L, per example
        dA[L - 1] = y[L - 1][:, None, :].copy()  # y_{L−1}ᵀ, shaped (B, 1, n_{L−1})
        db[L - 1] = np.ones((B, 1))
        for l in range(L - 1, 0, -1):
            delta = dy[l] * self.activation.df(z[l - 1])  # δ_l = ∂y_L/∂y_l * σ'_l = ∂y_L/∂z_l
            db[l - 1] = delta
            dA[l - 1] = delta[:, :, None] * y[l - 1][:, None, :]  # δ_l[i] · y_{l−1}[j]
            dy[l - 1] = delta @ self.A[l - 1]  # δ_l A_l
        return Jacobians(dA=dA, db=db, dy=dy)
