"""``cnnmath verify``: run every claim of results 1–4 and 6 and print the verdicts.

A table — id, claim, largest error, PASS/FAIL — one row per claim as it finishes, then
the counterexamples found for the "does not" claims, what was skipped, and a summary line.
Exit status 0 when every claim passes, 1 when any fails. ``--json`` prints the rows of
:func:`cnnmath.results.run_all` as a JSON list instead (notes go to stderr). Each row, in
the table and in the JSON, carries the claim's stable id (``r4.max.commutes.relu``): the
result is its first word.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .. import results

NAME = "verify"
HELP = (
    "check results 1-4 and 6 of the exercises (and the models' receptive fields) on a "
    "photograph and random tensors"
)
ORDER = 20

_ERROR_WIDTH = 13


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--json, --no-photo and -v/--verbose."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the results as a JSON list (notes on stderr); its max_abs_error is the "
        "table's error column: relative for an identity, max|got - want| / max|want|, the "
        "counterexample's gap for a predicted failure",
    )
    parser.add_argument(
        "--no-photo",
        action="store_true",
        help="run on random tensors only, without the bundled photograph",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print each check's detail under its row"
    )


def _format_error(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2e}"


#: Significant digits tried, fewest first, until a counterexample's distinct numbers print
#: distinctly (17 always does: it round-trips float64).
_DIGITS = (4, 6, 8, 10, 12, 14, 17)


def _format_value(value: Any, digits: int = 4) -> str:
    """Numbers to ``digits`` significant digits, lists as nested brackets, others as is."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format_value(v, digits) for v in value) + "]"
    return str(value)


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, (list, tuple)):
        return [f for v in value for f in _floats(v)]
    return []


def _digits_for(values: list[float]) -> int:
    """The fewest of ``_DIGITS`` that print different numbers differently: a window
    [[20.000000000000004, 20]] must not read [[20, 20]]."""
    distinct = set(values)
    for digits in _DIGITS:
        if len({f"{v:.{digits}g}" for v in distinct}) == len(distinct):
            return digits
    return _DIGITS[-1]


def _counterexample_lines(counterexample: dict) -> list[str]:
    """One line per counterexample; a dict of dicts (one per activation) gives one line each.
    Numbers get 4 significant digits, or as many more as it takes to tell them apart."""
    if all(isinstance(v, dict) for v in counterexample.values()):
        return [f"{key}: {_counterexample_lines(v)[0]}" for key, v in counterexample.items()]
    digits = _digits_for([f for v in counterexample.values() for f in _floats(v)])
    return [", ".join(f"{k} = {_format_value(v, digits)}" for k, v in counterexample.items())]


def run(args: argparse.Namespace) -> int:
    """Run every claim of ``results.all_claims()``, print the table (or JSON); return 0 when
    all pass, 1 when any fails."""
    start = time.perf_counter()
    photo, notes = results.load_photo(False if args.no_photo else None)
    claims = results.all_claims()
    notes += results.notes()

    if args.json:
        rows = [results.run_claim(claim, photo) for claim in claims]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return 0 if all(row["passed"] for row in rows) else 1

    id_width = max(len("id"), *(len(c.id) for c in claims))
    width = max(len("claim"), *(len(c.statement) for c in claims))
    header = f"{'id':<{id_width}}  {'claim':<{width}}  {'largest error':>{_ERROR_WIDTH}}  verdict"
    print(header)
    print("-" * len(header))
    rows = []
    for claim in claims:
        row = results.run_claim(claim, photo)
        rows.append(row)
        verdict = "PASS" if row["passed"] else "FAIL"
        print(
            f"{row['id']:<{id_width}}  {row['claim']:<{width}}  "
            f"{_format_error(row['max_abs_error']):>{_ERROR_WIDTH}}  {verdict}",
            flush=True,
        )
        if args.verbose or not row["passed"]:
            print(f"{'':<{id_width}}  {row['detail']}")

    shown = [row for row in rows if "counterexample" in row]
    if shown:
        print("\nCounterexamples (for a 'does not' claim the error column is the gap shown):")
        for row in shown:
            print(f"  [{row['id']}] {row['claim']}")
            for line in _counterexample_lines(row["counterexample"]):
                print(f"      {line}")
    for note in notes:
        print(f"\nnote: {note}")
    failed = [row for row in rows if not row["passed"]]
    elapsed = time.perf_counter() - start
    print(
        f"\n{len(rows)} claims: {len(rows) - len(failed)} passed, {len(failed)} failed "
        f"({elapsed:.1f} s)"
    )
    return 1 if failed else 0
