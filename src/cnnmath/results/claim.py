"""The claim type of ``cnnmath verify``: a statement with a stable id and the check behind it.

A :class:`Claim` is the definition: its id, the result's number (docs/results.md), the statement
in words and ``check(photo=None) -> ClaimOutcome``. Running it gives a :class:`CheckedClaim`:
the same id and statement with the measured error, the bound it was held to, the verdict, and
the detail and counterexample as plain data (JSON-ready), which :meth:`CheckedClaim.as_row`
turns into one row of ``cnnmath verify --json``.

Ids are stable: ``r<result>.<topic>.<verdict>[.<name>]`` in lowercase words of letters,
digits and ``_`` (``r4.max.commutes.relu``, ``r4.max.fails.gelu``). Tools and the tour find a
claim by its id, never by its wording, so a statement may be reworded freely while renaming
an id is a breaking change.

Two kinds of claim, both phrased so that they pass when the mathematics is right:

* an identity ("max pooling commutes with relu"): the error is the largest difference
  between the two sides relative to the data's scale, max|got − want| / max|want|
  (the project's error measure); it passes at ≤ the bound, :data:`TOLERANCE` = 1e-12 (result 6's
  finite differences: :data:`FD_TOLERANCE` = 1e-7);
* a failure the mathematics predicts ("max pooling does not commute with gelu"): the check
  searches for a counterexample and returns it; the error is then the gap the
  counterexample shows, and the claim passes when that gap exceeds the bound,
  :data:`MIN_GAP` = 1e-6, far beyond rounding. (One such claim, softplus's cut-off, is
  about floating point: its gap must be above 0 and at most its bound, the drop of the
  computed σ; see :mod:`cnnmath.results.result4`.)

>>> Claim("r1.example.ok", 1, "an example", lambda photo=None: ClaimOutcome(0.0, True)).id
'r1.example.ok'
>>> Claim("r2.example", 1, "wrong result", lambda photo=None: ClaimOutcome(0.0, True))
... # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: Claim: id: expected 'r1.<word>...' ... for result 1, got 'r2.example'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FD_TOLERANCE",
    "MIN_GAP",
    "TOLERANCE",
    "CheckedClaim",
    "Claim",
    "ClaimOutcome",
]

#: An identity holds when its error, relative to the data's scale, is at most this (float64).
TOLERANCE = 1e-12
#: Result 6 against central finite differences (step 1e-6): relative error at most this.
FD_TOLERANCE = 1e-7
#: A predicted failure is shown when the counterexample's gap exceeds this.
MIN_GAP = 1e-6

_WORD = r"[a-z0-9_]+"


@dataclass(frozen=True)
class ClaimOutcome:
    """What a check found.

    max_abs_error : for an identity, max|got − want| / max|want| over every case tried (inf
        when the shapes differ); for a predicted failure, the gap its counterexample shows.
    passed : whether the claim holds.
    counterexample : for a predicted failure, the window(s) and both values (JSON-ready:
        plain floats, lists and str); None otherwise.
    detail : one or two lines for people: what was tried, where the worst case was.
    bound : what ``max_abs_error`` was held to (the tolerance of an identity, the least gap
        of a predicted failure); None when the check did not get that far.
    """

    max_abs_error: float
    passed: bool
    counterexample: dict[str, Any] | None = None
    detail: str = ""
    bound: float | None = None


@dataclass(frozen=True)
class Claim:
    """One statement of a result with its stable id and its check.

    id : stable identifier, ``r<result>.<word>[.<word>...]`` (see the module's docstring);
        unique among :func:`cnnmath.results.all_claims`.
    result : the result's number (1, 2, 3, 4 or 6); several claims may share one.
    statement : the claim in words, phrased so that it passes when the maths is right;
        free to be reworded (nothing looks a claim up by its words).
    check : ``check(photo=None) -> ClaimOutcome``; ``photo`` is the RGB photograph
        (3, H, W) in [0, 1], or None for random tensors only.
    """

    id: str
    result: int
    statement: str
    check: Callable[..., ClaimOutcome]

    def __post_init__(self) -> None:
        if isinstance(self.result, bool) or not isinstance(self.result, int):
            raise TypeError(f"Claim: result: expected an int, got {self.result!r}")
        pattern = rf"r{self.result}(\.{_WORD})+"
        if not isinstance(self.id, str) or not re.fullmatch(pattern, self.id):
            raise ValueError(
                f"Claim: id: expected 'r{self.result}.<word>...' (words of a-z, 0-9, _) for "
                f"result {self.result}, got {self.id!r}"
            )
        if not isinstance(self.statement, str) or not self.statement:
            raise TypeError(f"Claim: statement: expected a non-empty str, got {self.statement!r}")
        if not callable(self.check):
            raise TypeError(f"Claim: check: expected a callable, got {self.check!r}")

    @property
    def claim(self) -> str:
        """The statement (its earlier name)."""
        return self.statement


def _json_number(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class CheckedClaim:
    """A claim after its check ran: what ``cnnmath verify`` prints, as data.

    id, result, statement : the :class:`Claim`'s.
    max_abs_error : the measured error or gap (see :class:`ClaimOutcome`); inf when the
        check raised.
    bound : what it was held to, or None.
    passed : the verdict.
    detail : one or two lines for people (for a check that raised: the exception).
    counterexample : the counterexample as JSON-ready data, or None.
    seconds : how long the check took.
    """

    id: str
    result: int
    statement: str
    max_abs_error: float
    bound: float | None
    passed: bool
    detail: str
    counterexample: dict[str, Any] | None
    seconds: float

    def as_row(self) -> dict[str, Any]:
        """The row of ``verify --json``: ``id``, ``result``, ``claim`` (the statement),
        ``max_abs_error`` and ``bound`` (None when not finite), ``passed``, ``detail``,
        ``seconds``, and ``counterexample`` where there is one.

        >>> CheckedClaim("r3.x", 3, "s", math.inf, None, False, "", None, 0.5).as_row()
        ... # doctest: +NORMALIZE_WHITESPACE
        {'id': 'r3.x', 'result': 3, 'claim': 's', 'max_abs_error': None, 'bound': None,
         'passed': False, 'detail': '', 'seconds': 0.5}
        """
        row: dict[str, Any] = {
            "id": self.id,
            "result": self.result,
            "claim": self.statement,
            "max_abs_error": _json_number(self.max_abs_error),
            "bound": _json_number(self.bound),
            "passed": bool(self.passed),
            "detail": self.detail,
            "seconds": self.seconds,
        }
        if self.counterexample is not None:
            row["counterexample"] = self.counterexample
        return row
