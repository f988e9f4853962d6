"""Results 1–4 and 6 (docs/results.md) as executable claims with stable ids (``cnnmath verify``).

One module per result — :mod:`~cnnmath.results.result1` (finite differences),
:mod:`~cnnmath.results.result2` (average pooling), :mod:`~cnnmath.results.result3` (luma),
:mod:`~cnnmath.results.result4` (pooling and activations, generated from the activation
registry), :mod:`~cnnmath.results.result6` (backprop as Jacobians) — each with a ``claims()``
list; the claim type and the tolerances are in :mod:`~cnnmath.results.claim`.

Every claim has a **stable id**, ``r<result>.<topic>.<verdict>[.<name>]``
(``r1.gradient.vertical``, ``r4.max.commutes.relu``, ``r4.max.fails.gelu``): unique, printed
by ``cnnmath verify`` and ``verify --json``, and the key by which the tour and other tools find
a claim. Statements may be reworded; renaming or removing an id is a breaking change.

:func:`all_claims` lists them, :func:`run_all` runs them all and returns the rows of
``cnnmath verify --json``; :func:`by_id` finds a row by id and raises
:class:`MissingClaimError` when there is none.

>>> from cnnmath import results
>>> "r4.max.commutes.relu" in {c.id for c in results.all_claims()}
True
"""

from __future__ import annotations

from . import claim, result1, result2, result3, result4, result6
from ._run import (
    MissingClaimError,
    all_claims,
    by_id,
    check,
    load_photo,
    notes,
    run_all,
    run_claim,
)
from .claim import FD_TOLERANCE, MIN_GAP, TOLERANCE, CheckedClaim, Claim, ClaimOutcome

__all__ = [
    "FD_TOLERANCE",
    "MIN_GAP",
    "TOLERANCE",
    "CheckedClaim",
    "Claim",
    "ClaimOutcome",
    "MissingClaimError",
    "all_claims",
    "by_id",
    "check",
    "claim",
    "load_photo",
    "notes",
    "result1",
    "result2",
    "result3",
    "result4",
    "result6",
    "run_all",
    "run_claim",
]
