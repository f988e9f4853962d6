"""Collecting and running the claims: what ``cnnmath verify`` and the tour call."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from . import receptive, result1, result2, result3, result4, result6
from .claim import CheckedClaim, Claim, ClaimOutcome


def all_claims() -> list[Claim]:
    """Every claim, in the results' order; ids unique. Result 4's rows follow the activation
    registry: one "commutes" claim per non-decreasing σ, one "does not commute" per other σ.

    >>> [c.id for c in all_claims()][:2]
    ['r1.gradient.vertical', 'r1.gradient.horizontal']
    """
    claims = [
        *result1.claims(),
        *result2.claims(),
        *result3.claims(),
        *result4.claims(),
        *result6.claims(),
        *receptive.model_claims(),
    ]
    seen: set[str] = set()
    for claim in claims:
        if claim.id in seen:  # two registry names mapping to one id would hide a claim
            raise ValueError(f"all_claims: id: {claim.id!r} is used by two claims")
        seen.add(claim.id)
    return claims


def notes() -> list[str]:
    """Lines for people about claims that were not made (registry entries left out)."""
    skipped = result4.left_out()
    if not skipped:
        return []
    return [
        f"result 4 leaves out {', '.join(skipped)}: σ needs an argument besides x "
        "(see cnnmath.results.result4)"
    ]


def load_photo(use_photo: bool | None) -> tuple[np.ndarray | None, list[str]]:
    """The photograph for the checks, and notes on what was skipped.

    use_photo : True — load it (an ImportError naming the extra when it cannot be); False —
        None, with a note; None — load it when the ``image`` and ``plot`` extras import, else
        None with a note naming the extra.

    Returns (photo or None, notes); photo is RGB (3, 600, 512) float64 in [0, 1].
    """
    if use_photo is False:
        return None, [
            "skipped the photograph (not requested): every claim ran on random tensors only"
        ]
    from ..data import sample_image

    try:
        return sample_image(), []
    except ImportError as exc:
        if use_photo:
            raise
        return None, [f"skipped the photograph ({exc}); every claim ran on random tensors only"]


def check(claim: Claim, photo: np.ndarray | None = None) -> CheckedClaim:
    """Run one claim's check; a check that raises is a failed claim whose detail names the
    exception (error inf, bound None)."""
    start = time.perf_counter()
    try:
        outcome = claim.check(photo)
    except Exception as exc:  # a crash is reported as a failure, not hidden
        outcome = ClaimOutcome(math.inf, False, None, f"raised {type(exc).__name__}: {exc}")
    return CheckedClaim(
        id=claim.id,
        result=claim.result,
        statement=claim.statement,
        max_abs_error=float(outcome.max_abs_error),
        bound=outcome.bound,
        passed=bool(outcome.passed),
        detail=outcome.detail,
        counterexample=outcome.counterexample,
        seconds=round(time.perf_counter() - start, 4),
    )


def run_claim(claim: Claim, photo: np.ndarray | None = None) -> dict[str, Any]:
    """One claim as a row of ``verify --json`` (:meth:`CheckedClaim.as_row`)."""
    return check(claim, photo).as_row()


def run_all(
    use_photo: bool | None = None, claims: Iterable[Claim] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run every claim; return (rows, notes).

    Parameters
    ----------
    use_photo : True — use the photograph (ImportError naming the extra if it cannot be
        loaded); False — random tensors only; None (default) — the photograph when the
        ``image`` and ``plot`` extras import, else random tensors only, with a note.
    claims : the claims to run, default :func:`all_claims`.

    Returns
    -------
    rows : one dict per claim, in order, with keys ``id`` (str, stable), ``result`` (int),
        ``claim`` (str, the statement), ``max_abs_error`` (float, or None when not finite),
        ``bound`` (float or None), ``passed`` (bool), ``detail`` (str), ``seconds`` (float),
        and ``counterexample`` (dict) where there is one — the JSON of ``cnnmath verify
        --json``.
    notes : human-readable lines about what was skipped ("skipped the photograph ...").
    """
    photo, photo_notes = load_photo(use_photo)
    rows = [run_claim(claim, photo) for claim in (all_claims() if claims is None else claims)]
    return rows, photo_notes + (notes() if claims is None else [])


class MissingClaimError(LookupError):
    """A claim looked up by id is not among the rows: renamed, or its registry entry gone."""


def by_id(rows: Sequence[Mapping[str, Any]], claim_id: str) -> Mapping[str, Any]:
    """The row (``verify --json``'s) whose ``id`` is ``claim_id``.

    Raises :class:`MissingClaimError` naming the id when no row has it: a caller that
    needs a claim fails loudly rather than dropping what it would have shown.

    >>> by_id([{"id": "r1.a", "passed": True}], "r1.a")["passed"]
    True
    >>> by_id([{"id": "r1.a"}], "r1.b")
    Traceback (most recent call last):
    ...
    cnnmath.results._run.MissingClaimError: no claim with id 'r1.b' among 1 rows (ids: r1.a)
    """
    for row in rows:
        if row.get("id") == claim_id:
            return row
    known = ", ".join(str(row.get("id")) for row in rows[:8]) + (", ..." if len(rows) > 8 else "")
    raise MissingClaimError(f"no claim with id {claim_id!r} among {len(rows)} rows (ids: {known})")
