"""Result 6: backpropagation through an MLP, as products of Jacobians.

A small MLP (sizes :data:`MLP_SIZES`, hidden σ in :data:`MLP_ACTIVATIONS`): the literal
Jacobians, with the diagonal matrices diag(σ′), one example at a time, equal the efficient
batched ones; and both equal central finite differences.

Claims: ``r6.backprop.literal``, ``r6.backprop.finite_differences``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ._common import identity, rel_error
from .claim import FD_TOLERANCE, Claim, ClaimOutcome

__all__ = ["MLP_ACTIVATIONS", "MLP_SIZES", "claims"]

#: A small MLP for result 6: sizes n_0..n_L, hidden activations, three inputs.
MLP_SIZES = (4, 6, 5, 1)
MLP_ACTIVATIONS = ("sigmoid", "tanh", "gelu")


def _mlp_cases() -> Iterator[tuple[str, Any, np.ndarray]]:
    """(σ's name, an MLP with that σ, three inputs (3, n_0)), for each σ."""
    from ..mlp import MLP  # result 6's module; imported here so results 1–4 never need it

    rng = np.random.default_rng(60)
    for seed, name in enumerate(MLP_ACTIVATIONS):
        yield (
            name,
            MLP(list(MLP_SIZES), activation=name, seed=seed),
            rng.standard_normal((3, MLP_SIZES[0])),
        )


def _jacobian_arrays(J: Any) -> dict[str, np.ndarray]:
    arrays = {}
    for kind in ("dA", "db", "dy"):
        for l, a in enumerate(getattr(J, kind)):
            arrays[f"{kind}[{l}]"] = a
    return arrays


def _check_mlp_literal_vs_efficient(photo: np.ndarray | None = None) -> ClaimOutcome:
    errors = {}
    for name, net, x in _mlp_cases():
        batch = _jacobian_arrays(net.jacobians(x, method="efficient"))
        for beta in range(x.shape[0]):  # the literal form takes one example at a time
            literal = _jacobian_arrays(net.jacobians(x[beta], method="literal"))
            for key, want in literal.items():
                errors[f"σ = {name}, example {beta}, {key}"] = rel_error(batch[key][beta], want)
    return identity(errors)


def _check_mlp_finite_differences(photo: np.ndarray | None = None) -> ClaimOutcome:
    from ..gradcheck import numerical_vjp
    from ..mlp import MLP

    errors = {}
    for name, net, x in _mlp_cases():
        L = net.L

        def y_L(x0: np.ndarray, *params: np.ndarray, name: str = name, L: int = L) -> np.ndarray:
            return np.asarray(MLP.from_params(list(params[:L]), list(params[L:]), name).forward(x0))

        for beta in range(x.shape[0]):
            inputs = [x[beta], *net.A, *net.b]
            numeric = numerical_vjp(y_L, inputs, np.array(1.0))
            want = {"dy[0]": numeric[0]}
            want.update({f"dA[{l}]": numeric[1 + l] for l in range(L)})
            want.update({f"db[{l}]": numeric[1 + L + l] for l in range(L)})
            for method in ("literal", "efficient"):
                got = _jacobian_arrays(net.jacobians(x[beta], method=method))
                for key, w in want.items():
                    errors[f"σ = {name}, {method}, example {beta}, {key}"] = rel_error(got[key], w)
    return identity(errors, FD_TOLERANCE)


def claims() -> list[Claim]:
    """Result 6's claims."""
    return [
        Claim(
            "r6.backprop.literal",
            6,
            "backprop: literal Jacobians (diag) equal the efficient batched ones",
            _check_mlp_literal_vs_efficient,
        ),
        Claim(
            "r6.backprop.finite_differences",
            6,
            "backprop: the Jacobians equal central finite differences (≤ 1e-7)",
            _check_mlp_finite_differences,
        ),
    ]
