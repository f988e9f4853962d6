"""cnnmath.results: every claim's numbers, recomputed here from the counterexamples with
plain Python/NumPy formulas, and checks that have teeth (a broken identity makes them fail)."""

import dataclasses
import math

import numpy as np
import pytest

from cnnmath import results
from cnnmath.ops.activations import ACTIVATIONS, Activation
from cnnmath.results import Claim, ClaimOutcome, all_claims, run_all, run_claim

# Independent formulas for the activations whose counterexamples are checked by value.
SIGMA = {
    "gelu": lambda x: 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0))),
    "silu": lambda x: x / (1.0 + math.exp(-x)),
    "mish": lambda x: x * math.tanh(math.log1p(math.exp(x))),
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
    "softplus": lambda x: math.log1p(math.exp(x)),
}
KEYS = {"result", "claim", "max_abs_error", "passed"}


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


def _by_claim(rows):
    return {row["claim"]: row for row in rows}


def test_every_claim_passes_on_random_tensors(rows_without_photo):
    rows, notes = rows_without_photo
    failed = [(r["claim"], r["detail"]) for r in rows if not r["passed"]]
    assert not failed
    assert any("skipped the photograph" in n for n in notes)
    assert {r["result"] for r in rows} == {1, 2, 3, 4, 6}


def test_every_claim_passes_on_the_photograph(rows_with_photo):
    rows, notes = rows_with_photo
    failed = [(r["claim"], r["detail"]) for r in rows if not r["passed"]]
    assert not failed and notes == []
    by = _by_claim(rows)
    assert "photograph" in by["max pooling does not commute with gelu"]["detail"]
    for claim in (
        "conv with w1, w2, zero padding 1 gives the forward differences Y1, Y2",
        "the δ(c,d)/k² filter, stride k, equals k×k average pooling",
        "when k does not divide n, it and avg_pool2d both floor n/k",
        "max pooling commutes with relu",
    ):
        assert "the photograph among them" in by[claim]["detail"]


def test_rows_have_the_json_keys_and_types(rows_without_photo):
    rows, _ = rows_without_photo
    for row in rows:
        assert KEYS <= row.keys()
        assert isinstance(row["result"], int) and isinstance(row["claim"], str)
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
        bound = results.FD_TOLERANCE if "finite differences" in row["claim"] else 1e-12
        assert row["max_abs_error"] <= bound, row


# ------------------------------------------------------------------------- result 3


def test_the_0581_typo_turns_white_into_253_47(rows_without_photo):
    row = _by_claim(rows_without_photo[0])["0.581 (the original's typo) does not keep white white"]
    assert row["passed"]
    # 255·(1 − (0.299 + 0.581 + 0.114)) / 255 = 0.006
    assert row["max_abs_error"] == pytest.approx(0.006, abs=1e-12)
    assert row["counterexample"]["gray"] == pytest.approx(253.47, abs=1e-9)


def test_white_stays_white_with_0587(rows_without_photo):
    row = _by_claim(rows_without_photo[0])["with 0.587 white stays white (the weights sum to 1)"]
    assert row["passed"] and row["max_abs_error"] <= 2 * np.finfo(float).eps


# ------------------------------------------------------------------------- result 4


def test_the_registry_drives_result_4(rows_without_photo):
    by = _by_claim(rows_without_photo[0])
    for name, activation in ACTIVATIONS.items():
        if activation.non_decreasing:
            row = by[f"max pooling commutes with {name}"]
            assert row["max_abs_error"] == 0.0  # σ keeps order exactly in floating point
        else:
            assert f"max pooling does not commute with {name}" in by
    for name in ("gelu", "silu", "mish"):
        assert f"max pooling does not commute with {name}" in by


@pytest.mark.parametrize("name", ["gelu", "silu", "mish"])
def test_non_monotone_counterexample_is_real(rows_without_photo, name):
    row = _by_claim(rows_without_photo[0])[f"max pooling does not commute with {name}"]
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
    by = _by_claim(rows_without_photo[0])
    row = by[f"zero-padded max pooling does not commute with {name} (σ(0) ≠ 0)"]
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
    row = _by_claim(rows_without_photo[0])[
        "average pooling does not commute with a non-affine σ (Jensen)"
    ]
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
    row = _by_claim(rows_without_photo[0])[
        "zero-padded average pooling does not commute with σ(x) = 2x + 1"
    ]
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
    outcome = results._max_pool_commutes(fake)()
    assert not outcome.passed and outcome.max_abs_error > 1e-3


def test_a_monotone_activation_fails_the_does_not_commute_claim():
    relu = ACTIVATIONS["relu"]
    fake = Activation("fake_relu", relu.f, relu.df, False, "max(x, 0)", minimum_at=-1.0)
    outcome = results._max_pool_fails(fake)()
    assert not outcome.passed and outcome.max_abs_error == 0.0


def test_a_wrong_gradient_filter_fails_result_1(monkeypatch):
    real = results.image_gradient
    monkeypatch.setattr(results, "image_gradient", lambda x: tuple(reversed(real(x))))
    assert not results._check_finite_differences().passed


def test_a_wrong_jacobian_fails_result_6(monkeypatch):
    from cnnmath.mlp import MLP

    real = MLP.jacobians

    def skewed(self, x, method="literal"):
        J = real(self, x, method)
        return dataclasses.replace(J, dA=[J.dA[0] * (1 + 1e-6), *J.dA[1:]])

    monkeypatch.setattr(MLP, "jacobians", skewed)
    outcome = results._check_mlp_finite_differences()
    assert not outcome.passed and outcome.max_abs_error > results.FD_TOLERANCE


def test_result_6_literal_and_efficient_agree_and_match_finite_differences(rows_without_photo):
    by = _by_claim(rows_without_photo[0])
    literal = by["backprop: literal Jacobians (diag) equal the efficient batched ones"]
    fd = by["backprop: the Jacobians equal central finite differences (≤ 1e-7)"]
    assert literal["passed"] and literal["max_abs_error"] <= 1e-12
    assert fd["passed"] and fd["max_abs_error"] <= 1e-7


# ------------------------------------------------------------------------- run_all


def test_a_failing_or_crashing_claim_is_reported_not_hidden():
    def fails(photo=None):
        return ClaimOutcome(0.5, False, None, "deliberately wrong")

    def crashes(photo=None):
        raise RuntimeError("boom")

    rows, _ = run_all(
        use_photo=False, claims=[Claim(1, "fails", fails), Claim(2, "crashes", crashes)]
    )
    assert [r["passed"] for r in rows] == [False, False]
    assert rows[0]["max_abs_error"] == 0.5
    assert rows[1]["max_abs_error"] is None and "RuntimeError: boom" in rows[1]["detail"]


def test_missing_extras_skip_the_photograph_with_a_note(monkeypatch):
    import cnnmath.data

    def missing():
        raise ImportError(
            'this needs matplotlib, which is not installed: pip install "cnnmath[plot]"'
        )

    monkeypatch.setattr(cnnmath.data, "sample_image", missing)
    claim = Claim(1, "sees no photo", lambda photo=None: ClaimOutcome(0.0, photo is None))
    rows, notes = run_all(claims=[claim])
    assert rows[0]["passed"]
    assert len(notes) == 1 and "skipped the photograph" in notes[0] and "cnnmath[plot]" in notes[0]
    with pytest.raises(ImportError, match=r"cnnmath\[plot\]"):
        run_all(use_photo=True, claims=[claim])


def test_claims_are_frozen_and_numbered():
    claims = all_claims()
    assert {c.result for c in claims} == {1, 2, 3, 4, 6}
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
    found = [r for r in rows if r["claim"].startswith("softplus's cut-off at 20")]
    assert len(found) == 1, [r["claim"] for r in rows]
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
    by = _by_claim(rows_without_photo[0])
    detail = by["max pooling commutes with softplus"]["detail"]
    assert "below softplus's cut-off at 20" in detail
    lo, hi = (float(v) for v in detail.split("inputs in [")[1].split("]")[0].split(","))
    assert hi < CUT_OFF  # the data it passed on really stay below the cut-off
    # only softplus has a cut-off, so only it gets the extra claim
    assert sum("cut-off" in r["claim"] for r in rows_without_photo[0]) == 1


def _softplus_like(f):
    return Activation("fake_softplus", f, ACTIVATIONS["softplus"].df, True, "fake")


def test_a_larger_drop_than_claimed_fails_the_cut_off_claim():
    def dropping(x):  # falls by 1e-6 at 20: far more than log1p(e^-20)
        x = np.asarray(x, dtype=np.float64)
        return np.where(x > CUT_OFF, x - 1e-6, np.log1p(np.exp(np.minimum(x, CUT_OFF))))

    outcome = results._cut_off_breaks(_softplus_like(dropping), CUT_OFF)()
    assert not outcome.passed and outcome.max_abs_error > 1e-7


def test_no_drop_fails_the_cut_off_claim():
    from cnnmath.ops.activations import softplus

    # with the cut-off at 40 nothing drops near 20: there is no counterexample to show
    outcome = results._cut_off_breaks(
        _softplus_like(lambda x: softplus(x, threshold=40.0)), CUT_OFF
    )()
    assert not outcome.passed and outcome.max_abs_error == 0.0
