"""`cnnmath verify`: through a subprocess (`python -m cnnmath verify --json`), and in-process
through `cnnmath.cli.main` for the table and for the exit status when a claim fails."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cnnmath import results
from cnnmath.cli import main
from cnnmath.results import Claim, ClaimOutcome


def test_json_through_python_m():
    done = subprocess.run(
        [sys.executable, "-m", "cnnmath", "verify", "--json", "--no-photo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)  # stdout is pure JSON: notes go to stderr
    assert isinstance(rows, list) and rows
    for row in rows:
        assert {"id", "result", "claim", "max_abs_error", "bound", "passed"} <= row.keys()
        assert row["passed"] is True
    assert {row["result"] for row in rows} == {0, 1, 2, 3, 4, 6}  # 0: receptive fields
    # every claim's stable id, in order, once each
    assert [row["id"] for row in rows] == [c.id for c in results.all_claims()]
    assert len({row["id"] for row in rows}) == len(rows)
    gelu = next(r for r in rows if r["id"] == "r4.max.fails.gelu")
    assert gelu["claim"] == "max pooling does not commute with gelu"
    assert {"window", "sigma_of_max_pool", "max_pool_of_sigma"} <= gelu["counterexample"].keys()
    assert "skipped the photograph" in done.stderr


def test_table_lists_every_claim_and_the_counterexamples(capsys):
    assert main(["verify", "--no-photo"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["id", "claim", "largest", "error", "verdict"]
    table = [line for line in lines[2:] if line.strip().endswith(("PASS", "FAIL"))]
    assert len(table) == len(results.all_claims())
    assert all(line.endswith("PASS") for line in table)
    # each row opens with its claim's id, then the statement
    for line, claim in zip(table, results.all_claims()):
        assert line.split()[0] == claim.id and claim.statement in line
    assert "Counterexamples" in out and "max pooling does not commute with gelu" in out
    assert "[r4.max.fails.gelu] max pooling does not commute with gelu" in out
    assert "window = [[-0.7518" in out  # GELU's dip, printed with the window
    assert "note: skipped the photograph" in out
    assert "passed, 0 failed" in lines[-1]


def _failing(photo=None):
    return ClaimOutcome(0.25, False, None, "deliberately wrong")


def _passing(photo=None):
    return ClaimOutcome(0.0, True, None, "fine")


def test_a_failing_claim_makes_verify_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(
        results,
        "all_claims",
        lambda: [
            Claim("r1.test.true", 1, "a true claim", _passing),
            Claim("r4.test.false", 4, "an injected false claim", _failing),
        ],
    )
    assert main(["verify", "--no-photo"]) == 1
    out = capsys.readouterr().out
    assert "an injected false claim" in out and "FAIL" in out
    assert "deliberately wrong" in out  # a failure prints its detail
    assert "1 passed, 1 failed" in out

    assert main(["verify", "--no-photo", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert [r["passed"] for r in rows] == [True, False]
    assert [r["id"] for r in rows] == ["r1.test.true", "r4.test.false"]


def test_a_crashing_claim_is_a_failure_not_a_traceback(monkeypatch, capsys):
    def crashes(photo=None):
        raise ZeroDivisionError("in the check")

    monkeypatch.setattr(
        results, "all_claims", lambda: [Claim("r2.test.crashes", 2, "crashes", crashes)]
    )
    assert main(["verify", "--no-photo"]) == 1
    out = capsys.readouterr().out
    assert "ZeroDivisionError: in the check" in out and "n/a" in out


def test_verbose_prints_details(monkeypatch, capsys):
    monkeypatch.setattr(
        results, "all_claims", lambda: [Claim("r1.test.true", 1, "a true claim", _passing)]
    )
    assert main(["verify", "--no-photo", "-v"]) == 0
    assert "fine" in capsys.readouterr().out


def test_unknown_option_is_a_usage_error_of_verify(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", "--photo-please"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    # named by the subcommand, whose --help is the one that lists the right options
    assert err.startswith("cnnmath verify: error: unrecognized arguments: --photo-please")
    assert "see cnnmath verify --help" in err and len(err.strip().splitlines()) == 1


def test_the_softplus_cut_off_counterexample_prints_distinct_numbers(capsys):
    assert main(["verify", "--no-photo"]) == 0
    out = capsys.readouterr().out
    above = float(np.nextafter(20.0, 21.0))  # the float just above the cut-off
    line = next(line for line in out.splitlines() if "activation = softplus, threshold" in line)
    # 4 significant digits would print both 20.000000000000004 and 20 as "20"
    assert f"window = [[{above!r}, 20], [20, 20]]" in line, line
    table = [line for line in out.splitlines() if line.startswith("r4.max.cutoff.softplus ")]
    assert len(table) == 1 and table[0].endswith("PASS") and "softplus's cut-off" in table[0]


@pytest.mark.parametrize(
    ("counterexample", "line"),
    [
        ({"a": 0.5, "b": -7.62e-23}, "a = 0.5, b = -7.62e-23"),  # 4 digits are enough
        ({"a": 1.00001, "b": [1.00002, 3.0]}, "a = 1.00001, b = [1.00002, 3]"),
        ({"a": 0.1 + 0.2, "b": 0.3}, "a = 0.30000000000000004, b = 0.29999999999999999"),
        ({"x": 2.0, "name": "relu"}, "x = 2, name = relu"),
    ],
)
def test_counterexample_numbers_get_the_digits_that_tell_them_apart(counterexample, line):
    from cnnmath.commands.verify import _counterexample_lines

    assert _counterexample_lines(counterexample) == [line]


def test_an_activation_left_out_of_result_4_is_a_note(monkeypatch, capsys):
    from cnnmath.ops.activations import ACTIVATIONS, Activation

    def with_weight(x, weight):
        return np.where(x > 0, x, weight * x)

    monkeypatch.setitem(
        ACTIVATIONS,
        "prelu_t",
        Activation("prelu_t", with_weight, with_weight, True, "x if x > 0 else a*x"),
    )
    assert main(["verify", "--no-photo", "--json"]) == 0
    captured = capsys.readouterr()
    assert not [r["id"] for r in json.loads(captured.out) if "prelu_t" in r["id"]]
    assert "note: result 4 leaves out prelu_t" in captured.err
