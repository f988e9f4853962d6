"""cnnmath.results: every claim's numbers, recomputed here from the counterexamples with
plain Python/NumPy formulas, and checks that have teeth (a broken identity makes them fail)."""

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest

from cnnmath import results
from cnnmath.ops.activations import ACTIVATIONS, Activation
from cnnmath.results import Claim, ClaimOutcome, all_claims, result1, result4, run_all, run_claim

# Independent formulas for the activations whose counterexamples are checked by value.
SIGMA = {
    "gelu": lambda x: 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0))),
    "silu": lambda x: x / (1.0 + math.exp(-x)),
    "mish": lambda x: x * math.tanh(math.log1p(math.exp(x))),
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
    "softplus": lambda x: math.log1p(math.exp(x)),
}
KEYS = {"id", "result", "claim", "max_abs_error", "bound", "passed"}


@pytest.fixture(scope="module")
def rows_without_photo():
    rows, notes = run_all(use_photo=False)
    return rows, notes


@pytest.fixture(scope="module")
def rows_with_photo():
    pytest.importorskip("PIL")
    pytest.importorskip("matplotlib")
    rows, notes = run_all(use_photo=True)
    return rows, notes


def _by_id(rows):
    by = {row["id"]: row for row in rows}
    assert len(by) == len(rows)  # ids are unique
    return by


def test_every_claim_passes_on_random_tensors(rows_without_photo):
    rows, notes = rows_without_photo
    failed = [(r["claim"], r["detail"]) for r in rows if not r["passed"]]
    assert not failed
    assert any("skipped the photograph" in n for n in notes)
    assert {r["result"] for r in rows} == {0, 1, 2, 3, 4, 6}  # 0: the receptive-field claims


def test_every_claim_passes_on_the_photograph(rows_with_photo):
    rows, notes = rows_with_photo
    failed = [(r["claim"], r["detail"]) for r in rows if not r["passed"]]
    assert not failed and notes == []
    by = _by_id(rows)
    assert "photograph" in by["r4.max.fails.gelu"]["detail"]
    for claim_id in (
        "r1.gradient.vertical",
        "r1.gradient.horizontal",
        "r2.avgpool.conv",
        "r2.avgpool.floor",
        "r4.max.commutes.relu",
    ):
        assert "the photograph among them" in by[claim_id]["detail"]


def test_rows_have_the_json_keys_and_types(rows_without_photo):
    rows, _ = rows_without_photo
    for row in rows:
        assert KEYS <= row.keys()
        assert isinstance(row["result"], int) and isinstance(row["claim"], str)
        assert row["id"].startswith(f"r{row['result']}." if row["result"] else "rf.")
        assert isinstance(row["passed"], bool)
        assert row["max_abs_error"] is None or isinstance(row["max_abs_error"], float)
    with_counterexample = [r for r in rows if "counterexample" in r]
    assert all(("does not" in r["claim"]) for r in with_counterexample)
    assert len(with_counterexample) >= 3 + 1 + 2 + 1 + 1  # GELU/SiLU/Mish, 0.581, zero pads, ...


def test_identities_hold_to_1e_12(rows_without_photo):
    rows, _ = rows_without_photo
    for row in rows:
        if "does not" in row["claim"]:
            continue
        if row["id"].startswith("rf."):  # a count of disagreeing box edges: exactly none
            assert row["max_abs_error"] == 0.0 and row["bound"] == 0.0, row
            continue
        bound = results.FD_TOLERANCE if "finite differences" in row["claim"] else 1e-12
        assert row["max_abs_error"] <= bound, row
        assert row["bound"] == bound  # the bound the row reports is the one it was held to


# ------------------------------------------------------------------------- result 3


def test_the_0581_typo_turns_white_into_253_47(rows_without_photo):
    row = _by_id(rows_without_photo[0])["r3.luma.fails.typo"]
    assert row["passed"]
    # 255·(1 − (0.299 + 0.581 + 0.114)) / 255 = 0.006
    assert row["max_abs_error"] == pytest.approx(0.006, abs=1e-12)
    assert row["counterexample"]["gray"] == pytest.approx(253.47, abs=1e-9)


def test_white_stays_white_with_0587(rows_without_photo):
    row = _by_id(rows_without_photo[0])["r3.luma.white"]
    assert row["passed"] and row["max_abs_error"] <= 2 * np.finfo(float).eps


# ------------------------------------------------------------------------- result 4


def test_the_registry_drives_result_4(rows_without_photo):
    by = _by_id(rows_without_photo[0])
    for activation in result4.activations():
        name = activation.name
        if activation.non_decreasing:
            row = by[f"r4.max.commutes.{name}"]
            assert row["claim"] == f"max pooling commutes with {name}"
            assert row["max_abs_error"] == 0.0  # σ keeps order exactly in floating point
            assert f"r4.max.fails.{name}" not in by
        else:
            row = by[f"r4.max.fails.{name}"]
            assert row["claim"] == f"max pooling does not commute with {name}"
            assert f"r4.max.commutes.{name}" not in by
    for name in ("gelu", "silu", "mish"):
        assert f"r4.max.fails.{name}" in by


@pytest.mark.parametrize("name", ["gelu", "silu", "mish"])
def test_non_monotone_counterexample_is_real(rows_without_photo, name):
    row = _by_id(rows_without_photo[0])[f"r4.max.fails.{name}"]
    ce = row["counterexample"]
    window = [v for r in ce["window"] for v in r]
    sigma = SIGMA[name]
    top = max(window)
    assert ce["max_pool"] == top
    assert ce["sigma_of_max_pool"] == pytest.approx(sigma(top), abs=1e-15)
    assert ce["max_pool_of_sigma"] == pytest.approx(max(sigma(v) for v in window), abs=1e-15)
    assert max(sigma(v) for v in window) - sigma(top) > 0.1
    # The search lands on the dip of σ: its minimum, where SPEC.md says (about).
    assert top == pytest.approx({"gelu": -0.75, "silu": -1.28, "mish": -1.19}[name], abs=0.01)
    assert row["max_abs_error"] == pytest.approx(
        abs(ce["sigma_of_max_pool"] - ce["max_pool_of_sigma"])
    )


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_zero_padded_max_pool_counterexample(rows_without_photo, name):
    by = _by_id(rows_without_photo[0])
    row = by[f"r4.zeropad.max.fails.{name}"]
    ce = row["counterexample"]
    window = [v for r in ce["window"] for v in r]
    sigma = SIGMA[name]
    # Real entries are < 0 in that data, so the zeros are the padding: σ maps them to 0 there.
    assert any(v == 0.0 for v in window) and all(v <= 0.0 for v in window)
    assert ce["sigma_of_pool"] == pytest.approx(sigma(0.0), abs=1e-15)
    assert ce["pool_of_sigma"] == pytest.approx(
        max(0.0, *(sigma(v) for v in window if v != 0.0)), abs=1e-15
    )
    assert row["passed"] and row["max_abs_error"] > 0.1


def test_jensen_counterexamples(rows_without_photo):
    row = _by_id(rows_without_photo[0])["r4.avg.fails.jensen"]
    assert row["passed"]
    ce = row["counterexample"]
    assert "identity" not in ce and {"relu", "sigmoid", "tanh", "gelu"} <= ce.keys()
    for name, window_ce in ce.items():
        window = np.array(window_ce["window"])
        f = ACTIVATIONS[name].f
        assert window_ce["sigma_of_avg"] == pytest.approx(float(f(np.array(window.mean()))))
        assert window_ce["avg_of_sigma"] == pytest.approx(float(f(window).mean()))
        assert abs(window_ce["sigma_of_avg"] - window_ce["avg_of_sigma"]) > 0.1


def test_zero_padded_average_gap_is_five_ninths(rows_without_photo):
    row = _by_id(rows_without_photo[0])["r4.zeropad.avg.fails.affine"]
    # kernel 3, padding 1: the corner window holds 5 pad zeros; σ(avg N) − avg σ(N) = 5/9.
    window = np.array(row["counterexample"]["window"])
    assert (window == 0).sum() == 5
    assert row["max_abs_error"] == pytest.approx(5 / 9, abs=1e-12)
    assert row["counterexample"]["sigma_of_avg"] == pytest.approx(2 * window.mean() + 1)


# ------------------------------------------------------------------------- the checks have teeth


def test_a_mislabelled_activation_fails_the_commute_claim():
    # GELU claimed non-decreasing: "max pooling commutes with it" must fail on the data.
    gelu = ACTIVATIONS["gelu"]
    fake = Activation("fake_gelu", gelu.f, gelu.df, True, "x * Phi(x)")
    outcome = result4._max_pool_commutes(fake)()
    assert not outcome.passed and outcome.max_abs_error > 1e-3


def test_a_monotone_activation_fails_the_does_not_commute_claim():
    relu = ACTIVATIONS["relu"]
    fake = Activation("fake_relu", relu.f, relu.df, False, "max(x, 0)", minimum_at=-1.0)
    outcome = result4._max_pool_fails(fake)()
    assert not outcome.passed and outcome.max_abs_error == 0.0


def test_a_wrong_gradient_filter_fails_result_1(monkeypatch):
    real = result1.image_gradient
    monkeypatch.setattr(result1, "image_gradient", lambda x: tuple(reversed(real(x))))
    for claim in result1.claims():  # Y1 and Y2 swapped: each channel's claim fails
        outcome = claim.check()
        assert not outcome.passed and outcome.max_abs_error > 0.1, claim.id


def test_a_nan_in_a_later_case_fails_the_claim(monkeypatch):
    # NaN compares false with everything: the worst case must still be the NaN one,
    # whichever order the cases come in
    from cnnmath.results._common import identity

    assert not identity({"a": 0.0, "b": math.nan}).passed
    assert not identity({"b": math.nan, "a": 0.0}).passed
    real = result1.image_gradient
    calls = []

    def nan_on_the_third(x):
        calls.append(1)
        y1, y2 = real(x)
        return (y1 * math.nan, y2) if len(calls) == 3 else (y1, y2)

    monkeypatch.setattr(result1, "image_gradient", nan_on_the_third)
    outcomes = [claim.check() for claim in result1.claims()]
    assert len(calls) >= 3
    assert not all(o.passed for o in outcomes)


def test_a_wrong_jacobian_fails_result_6(monkeypatch):
    from cnnmath.mlp import MLP

    real = MLP.jacobians

    def skewed(self, x, method="literal"):
        J = real(self, x, method)
        return dataclasses.replace(J, dA=[J.dA[0] * (1 + 1e-6), *J.dA[1:]])

    monkeypatch.setattr(MLP, "jacobians", skewed)
    outcome = results.result6._check_mlp_finite_differences()
    assert not outcome.passed and outcome.max_abs_error > results.FD_TOLERANCE


def test_result_6_literal_and_efficient_agree_and_match_finite_differences(rows_without_photo):
    by = _by_id(rows_without_photo[0])
    literal = by["r6.backprop.literal"]
    fd = by["r6.backprop.finite_differences"]
    assert literal["passed"] and literal["max_abs_error"] <= 1e-12
    assert fd["passed"] and fd["max_abs_error"] <= 1e-7


# ------------------------------------------------------------------------- run_all


def test_a_failing_or_crashing_claim_is_reported_not_hidden():
    def fails(photo=None):
        return ClaimOutcome(0.5, False, None, "deliberately wrong")

    def crashes(photo=None):
        raise RuntimeError("boom")

    rows, _ = run_all(
        use_photo=False,
        claims=[
            Claim("r1.test.fails", 1, "fails", fails),
            Claim("r2.test.crashes", 2, "crashes", crashes),
        ],
    )
    assert [r["passed"] for r in rows] == [False, False]
    assert rows[0]["max_abs_error"] == 0.5
    assert rows[1]["max_abs_error"] is None and "RuntimeError: boom" in rows[1]["detail"]
    assert [r["id"] for r in rows] == ["r1.test.fails", "r2.test.crashes"]


def test_missing_extras_skip_the_photograph_with_a_note(monkeypatch):
    import cnnmath.data

    def missing():
        raise ImportError(
            'this needs matplotlib, which is not installed: pip install "cnnmath[plot]"'
        )

    monkeypatch.setattr(cnnmath.data, "sample_image", missing)
    claim = Claim(
        "r1.test.no_photo", 1, "sees no photo", lambda photo=None: ClaimOutcome(0.0, photo is None)
    )
    rows, notes = run_all(claims=[claim])
    assert rows[0]["passed"]
    assert len(notes) == 1 and "skipped the photograph" in notes[0] and "cnnmath[plot]" in notes[0]
    with pytest.raises(ImportError, match=r"cnnmath\[plot\]"):
        run_all(use_photo=True, claims=[claim])


def test_claims_are_frozen_and_numbered():
    claims = all_claims()
    assert {c.result for c in claims} == {0, 1, 2, 3, 4, 6}  # 0: the receptive-field claims
    with pytest.raises(dataclasses.FrozenInstanceError):
        claims[0].result = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        ClaimOutcome(0.0, True).passed = False
    row = run_claim(claims[0])
    assert row["result"] == 1 and row["passed"]


# ------------------------------------------------------------------------- softplus's cut-off

CUT_OFF = 20.0  # PyTorch's softplus threshold
DROP = math.log1p(math.exp(-CUT_OFF))  # softplus(20) − 20, the fall of the computed σ at 20


def softplus_as_pytorch(x: float) -> float:
    """x itself above 20, log(1 + eˣ) below: PyTorch's rule, written here independently."""
    return x if x > CUT_OFF else math.log1p(math.exp(x))


def _cut_off_row(rows):
    found = [r for r in rows if r["id"] == "r4.max.cutoff.softplus"]
    assert len(found) == 1, [r["id"] for r in rows]
    assert found[0]["claim"].startswith("softplus's cut-off at 20")
    return found[0]


def test_softplus_cut_off_claim_shows_a_real_break_bounded_by_the_drop(rows_without_photo):
    rows = rows_without_photo[0]
    row = _cut_off_row(rows)
    assert row["passed"] and "does not commute exactly" in row["claim"] and "2.1e-9" in row["claim"]
    ce = row["counterexample"]
    window = [v for r in ce["window"] for v in r]
    top = max(window)
    assert top > CUT_OFF and min(window) <= CUT_OFF  # it straddles the cut-off
    lhs, rhs = softplus_as_pytorch(top), max(softplus_as_pytorch(v) for v in window)
    assert ce["sigma_of_max_pool"] == lhs and ce["max_pool_of_sigma"] == pytest.approx(
        rhs, abs=np.spacing(CUT_OFF)
    )
    gap = rhs - lhs
    assert row["max_abs_error"] == pytest.approx(gap, rel=1e-6)
    # a real break at the 1e-12 relative tolerance of an identity, yet at most the drop
    assert gap / rhs > 1e-12
    assert 0 < gap <= DROP + np.spacing(CUT_OFF)
    assert gap > 0.99 * DROP  # the search finds the worst window, next to 20
    # the mathematical softplus (no cut-off) keeps order on that window: the break is the
    # cut-off's alone
    exact = [math.log1p(math.exp(v)) for v in window]
    assert max(exact) == math.log1p(math.exp(top))


def test_softplus_cut_off_is_pytorchs(rows_without_photo):
    torch = pytest.importorskip("torch")
    ce = _cut_off_row(rows_without_photo[0])["counterexample"]
    window = torch.tensor([ce["window"]], dtype=torch.float64)  # (1, 2, 2)
    pool = torch.nn.functional.max_pool2d
    softplus = torch.nn.functional.softplus
    lhs = float(softplus(pool(window, 2)).item())
    rhs = float(pool(softplus(window), 2).item())
    assert lhs == ce["sigma_of_max_pool"] and rhs == ce["max_pool_of_sigma"]
    assert rhs > lhs  # PyTorch's softplus breaks the identity on this window too


def test_the_softplus_commute_claim_states_its_domain(rows_without_photo):
    by = _by_id(rows_without_photo[0])
    detail = by["r4.max.commutes.softplus"]["detail"]
    assert "below softplus's cut-off at 20" in detail
    lo, hi = (float(v) for v in detail.split("inputs in [")[1].split("]")[0].split(","))
    assert hi < CUT_OFF  # the data it passed on really stay below the cut-off
    # only softplus has a cut-off, so only it gets the extra claim
    assert sum("cut-off" in r["claim"] for r in rows_without_photo[0]) == 1
    assert [r["id"] for r in rows_without_photo[0] if r["id"].startswith("r4.max.cutoff.")] == [
        "r4.max.cutoff.softplus"
    ]


def _softplus_like(f):
    return Activation("fake_softplus", f, ACTIVATIONS["softplus"].df, True, "fake")


def test_a_larger_drop_than_claimed_fails_the_cut_off_claim():
    def dropping(x):  # falls by 1e-6 at 20: far more than log1p(e^-20)
        x = np.asarray(x, dtype=np.float64)
        return np.where(x > CUT_OFF, x - 1e-6, np.log1p(np.exp(np.minimum(x, CUT_OFF))))

    outcome = result4._cut_off_breaks(_softplus_like(dropping), CUT_OFF)()
    assert not outcome.passed and outcome.max_abs_error > 1e-7


def test_no_drop_fails_the_cut_off_claim():
    from cnnmath.ops.activations import softplus

    # with the cut-off at 40 nothing drops near 20: there is no counterexample to show
    outcome = result4._cut_off_breaks(
        _softplus_like(lambda x: softplus(x, threshold=40.0)), CUT_OFF
    )()
    assert not outcome.passed and outcome.max_abs_error == 0.0


# ------------------------------------------------------------------------- stable ids

ID = re.compile(r"r(1|2|3|4|6)(\.[a-z0-9_]+)+")


def test_ids_are_unique_well_formed_and_carry_the_result():
    claims = all_claims()
    ids = [c.id for c in claims]
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    for c in claims:
        assert ID.fullmatch(c.id) or c.id.startswith("rf."), c.id
        assert c.id.split(".")[0] == (f"r{c.result}" if c.result else "rf")
    # the ids named in the issue, and one per result at least
    assert {"r1.gradient.vertical", "r4.max.commutes.relu", "r4.max.fails.gelu"} <= set(ids)
    assert {c.id.split(".")[0] for c in claims} == {"r1", "r2", "r3", "r4", "r6", "rf"}


def test_every_id_is_documented_in_docs_results_md():
    """The ids are a public, stable interface: docs/results.md lists each one, the
    registry-made ones by their pattern (``r4.max.commutes.<name>``)."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "results.md").read_text("utf-8")
    names = {a.name for a in ACTIVATIONS.values()}
    for c in all_claims():
        *head, last = c.id.split(".")
        pattern = ".".join(head) + ".<name>"
        if last in names:
            assert f"`{pattern}`" in doc, pattern
        else:
            assert f"`{c.id}`" in doc, c.id


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (
            ("r2.avgpool", 1, "s"),
            ValueError,
            r"Claim: id: expected 'r1\.<word>\.\.\.'.*got 'r2\.avgpool'",
        ),
        (("r1", 1, "s"), ValueError, r"Claim: id: .*got 'r1'"),
        (("r1.Upper", 1, "s"), ValueError, r"Claim: id: .*got 'r1\.Upper'"),
        (("r1.a b", 1, "s"), ValueError, r"Claim: id: .*got 'r1\.a b'"),
        ((None, 1, "s"), ValueError, r"Claim: id: .*got None"),
        (("r1.x", True, "s"), TypeError, r"Claim: result: expected an int, got True"),
        (("r1.x", 1, ""), TypeError, r"Claim: statement: expected a non-empty str, got ''"),
    ],
)
def test_a_malformed_claim_is_refused(args, error, match):
    with pytest.raises(error, match=match):
        Claim(*args, lambda photo=None: ClaimOutcome(0.0, True))


def test_rewording_keeps_the_id_and_the_row():
    claim = all_claims()[0]
    reworded = dataclasses.replace(claim, statement="Y1 is the vertical difference, reworded")
    row = run_claim(reworded)
    assert row["id"] == claim.id == "r1.gradient.vertical"
    assert row["claim"] == "Y1 is the vertical difference, reworded" and row["passed"]
    assert claim.claim == claim.statement  # the earlier attribute name still reads


def test_by_id_finds_a_row_and_fails_loudly_naming_a_missing_id(rows_without_photo):
    rows = rows_without_photo[0]
    assert results.by_id(rows, "r4.max.fails.gelu")["claim"] == (
        "max pooling does not commute with gelu"
    )
    with pytest.raises(results.MissingClaimError, match=r"'r4\.max\.fails\.nonesuch'"):
        results.by_id(rows, "r4.max.fails.nonesuch")
    with pytest.raises(LookupError):  # MissingClaimError is a LookupError
        results.by_id([], "r1.gradient.vertical")


def test_two_claims_with_one_id_are_refused(monkeypatch):
    twice = result1.claims()[:1] * 2
    monkeypatch.setattr(result1, "claims", lambda: twice)
    with pytest.raises(ValueError, match=r"'r1\.gradient\.vertical' is used by two claims"):
        all_claims()


# ------------------------------------------------------------------------- the registry drives result 4


def _hardswish(x):
    """x·relu6(x + 3)/6, written here from its definition."""
    x = np.asarray(x, dtype=np.float64)
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def _slope_times(x, weight):
    """prelu-like: needs a second array argument."""
    return np.where(x > 0, x, weight * x)


def test_an_activation_added_to_the_registry_joins_result_4(monkeypatch):
    monkeypatch.setitem(
        ACTIVATIONS,
        "hardswish_t",
        Activation("hardswish_t", _hardswish, _hardswish, False, "x*relu6(x+3)/6", minimum_at=-1.5),
    )
    monkeypatch.setitem(
        ACTIVATIONS,
        "relu6_t",
        Activation("relu6_t", lambda x: np.clip(x, 0.0, 6.0), np.sign, True, "min(max(x,0),6)"),
    )
    monkeypatch.setitem(
        ACTIVATIONS,
        "prelu_t",
        Activation("prelu_t", _slope_times, _slope_times, True, "x if x > 0 else a*x"),
    )
    claims = {c.id: c for c in all_claims()}
    assert "r4.max.fails.hardswish_t" in claims and "r4.max.commutes.hardswish_t" not in claims
    assert "r4.max.commutes.relu6_t" in claims and "r4.max.fails.relu6_t" not in claims
    assert not [i for i in claims if "prelu_t" in i]  # an extra array argument: left out
    assert result4.left_out() == ["prelu_t"]
    assert any("prelu_t" in note for note in results.notes())

    rows, notes = run_all(use_photo=False)
    by = _by_id(rows)
    assert all(r["passed"] for r in rows), [r["id"] for r in rows if not r["passed"]]
    assert any("leaves out prelu_t" in n for n in notes)
    ce = by["r4.max.fails.hardswish_t"]["counterexample"]
    # hardswish dips to −0.375 at −1.5 and is 0 at and below −3
    assert ce["max_pool"] == -1.5 and ce["sigma_of_max_pool"] == pytest.approx(-0.375, abs=1e-15)
    assert ce["max_pool_of_sigma"] == 0.0
    assert by["r4.max.fails.hardswish_t"]["max_abs_error"] == pytest.approx(0.375, abs=1e-15)
    assert by["r4.max.commutes.relu6_t"]["max_abs_error"] == 0.0
    assert {"hardswish_t", "relu6_t"} <= by["r4.avg.fails.jensen"]["counterexample"].keys()
    assert "prelu_t" not in by["r4.avg.fails.jensen"]["counterexample"]


def test_the_cut_off_is_read_from_the_records_params(monkeypatch):
    from cnnmath.ops.activations import softplus

    # a wrapper whose signature has no threshold: only the record's params can say 10
    monkeypatch.setitem(
        ACTIVATIONS,
        "softplus_t10",
        Activation(
            "softplus_t10",
            lambda x: softplus(x, threshold=10.0),
            lambda x: x,
            True,
            "softplus, threshold 10",
            params={"beta": 1.0, "threshold": 10.0},
        ),
    )
    claims = {c.id: c for c in all_claims()}
    claim = claims["r4.max.cutoff.softplus_t10"]
    assert "cut-off at 10" in claim.statement
    row = run_claim(claim)
    drop = math.log1p(math.exp(-10.0))  # 4.5e-5, the fall of the computed σ at 10
    assert row["passed"] and row["counterexample"]["threshold"] == 10.0
    assert 0.99 * drop < row["max_abs_error"] <= drop + np.spacing(10.0)


# ------------------------------------------------------------------------- doctests


@pytest.mark.parametrize(
    "module",
    [
        "cnnmath.results",
        "cnnmath.results.claim",
        "cnnmath.results._common",
        "cnnmath.results._run",
        "cnnmath.results.result4",
    ],
)
def test_the_docstring_examples_run(module):
    """What ``pytest --doctest-modules src/cnnmath/results`` runs, so CI runs it too."""
    import doctest
    import importlib

    failed, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failed == 0
