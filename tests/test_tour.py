"""``cnnmath tour``: the offline HTML report (quick mode), its links, and how it fails.

The full run is exercised once, as a user runs it (``python -m cnnmath tour --quick`` in a
subprocess, in a fresh working directory); the failure paths run in-process with one step
replaced by one that raises.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
from PIL import Image  # noqa: E402

from cnnmath import results, tour  # noqa: E402
from helpers import rel_error  # noqa: E402

FIGURES = (
    "result1-gradient.png",
    "result1-filter.png",
    "result2-pooling.png",
    "result2-filter.png",
    "result3-grayscale.png",
    "result4-activations.png",
    "result6-backprop.png",
    "receptive-fields.png",
    "training-curve.png",
)
ANIMATIONS = ("result1-filter.gif", "result2-filter.gif")
# the results in their own order, then the digits CNN, then the table of claims
SECTIONS = (
    "result-1",
    "result-2",
    "result-3",
    "result-4",
    "result-6",
    "receptive-fields",
    "training",
    "verification",
)


class _Links(HTMLParser):
    """Every tag, and every URL-bearing attribute, of a page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action") and value:
                self.urls.append(value)
            if name == "id":
                self.ids.append(value)


def cnnmath_cli(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnnmath", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_quick_tour_writes_a_self_contained_report(tmp_path):
    # an earlier report in the default folder, with a file the new one does not have
    earlier = tmp_path / tour.DEFAULT_DIR
    earlier.mkdir()
    (earlier / tour.MARKER).write_text("an earlier tour\n")
    (earlier / "stale.png").write_bytes(b"old")

    proc = cnnmath_cli("tour", "--quick", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet
    index = Path(proc.stdout.strip().splitlines()[-1])
    assert index == (tmp_path / tour.DEFAULT_DIR / "index.html").absolute()
    report = index.parent
    assert not (report / "stale.png").exists()  # replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == [tour.DEFAULT_DIR]  # no temp left

    page = index.read_text(encoding="utf-8")
    links = _Links()
    links.feed(page)
    assert "script" not in links.tags and "iframe" not in links.tags
    assert "http://" not in page and "https://" not in page and "url(" not in page
    for url in links.urls:
        if url.startswith("#"):
            assert url[1:] in links.ids, f"dangling anchor {url}"
            continue
        assert ":" not in url and not url.startswith("/"), f"not a relative link: {url}"
        assert (report / url).is_file(), f"index.html links to a missing file: {url}"
    for name in FIGURES:
        assert name in links.urls, f"{name} is not shown"
        with Image.open(report / name) as im:
            assert im.format == "PNG" and min(im.size) >= 200
    for name in ANIMATIONS:
        assert name in links.urls, f"{name} is not shown"
        with Image.open(report / name) as im:
            assert im.format == "GIF" and im.n_frames > 1
    sections = [i for i in links.ids if i in SECTIONS]
    assert sections == list(SECTIONS)  # every section, in the results' order
    # where one result uses another, the page says so
    assert page.count("<i>Uses:</i>") >= 3 and page.count("<i>Used by:</i>") >= 2
    assert "r6.backprop.literal" in page and "r6.backprop.finite_differences" in page
    # the verification table and result 4's counterexample made it onto the page
    assert "PASS" in page and "gelu" in page and "counterexample" in page.lower()
    assert "FAIL</span>" not in page
    # result 4's floating-point exception is said on the page, with its measured size
    assert "softplus computed as PyTorch does" in page and "by up to 2.1e-09" in page
    epochs, images = tour.TRAINING_RUN[True]
    assert f"from {images or 1437} training images for {epochs} epochs" in page
    # even the quick run learns: well above the 10 % of guessing one of ten digits
    accuracy = float(re.search(r"it classifies <b>([\d.]+)%</b>", page).group(1))
    assert accuracy > 50


def test_a_failed_tour_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("step failed")

    monkeypatch.setattr(tour.compute, "grayscale", broken)  # after result 1's figure
    out = tmp_path / "report"
    with pytest.raises(RuntimeError, match="step failed"):
        tour.build_tour(out, quick=True, progress=True)
    assert list(tmp_path.iterdir()) == []  # no report, no half-built temporary folder
    assert f"[1/{tour.build.STEPS}]" in capsys.readouterr().err  # progress was shown

    # an earlier report survives a failed run untouched
    out.mkdir()
    (out / tour.MARKER).write_text("earlier\n")
    (out / "index.html").write_text("earlier report")
    with pytest.raises(RuntimeError):
        tour.build_tour(out, quick=True, progress=False)
    assert (out / "index.html").read_text() == "earlier report"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    assert capsys.readouterr().err == ""  # progress=False is silent


def test_refuses_to_replace_a_folder_that_is_not_a_report(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    proc = cnnmath_cli("tour", "--out", "photos", "--quick", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a cnnmath tour report" in lines[0]
    assert "Traceback" not in proc.stderr
    assert [p.name for p in mine.iterdir()] == ["holiday.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_out_that_is_a_file_is_an_error(tmp_path):
    (tmp_path / "report").write_text("a file")
    proc = cnnmath_cli("tour", "--out", "report", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("cnnmath tour: error: --out: '")
    assert "exists and is not a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# --quick: the help and the docstring say what the code does


def test_quick_help_and_docstring_match_the_training_it_runs(monkeypatch, capsys):
    import cnnmath.recipes
    from cnnmath.cli import main

    asked = {}

    def recording(**kwargs):  # stands in for the training: records what --quick asks for
        asked.update(kwargs)
        raise RuntimeError("recorded")

    monkeypatch.setattr(cnnmath.recipes, "train_digits", recording)
    with pytest.raises(RuntimeError, match="recorded"):
        tour.compute._train(True, False)
    epochs, images = asked["epochs"], asked["limit"]
    images = "all 1,437" if images is None else images

    with pytest.raises(SystemExit):
        main(["tour", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert (
        f"--quick a faster, smaller run: {epochs} training epochs on {images} images" in help_text
    )
    assert "one training epoch" not in help_text
    doc = " ".join(tour.build_tour.__doc__.split())
    assert f"{epochs} epochs on {images} training images" in doc
    assert "one training epoch" not in doc


# ---------------------------------------------------------------------------------------------
# An output directory that cannot be written: refused before any work, naming the directory


def test_unwritable_parent_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    def refuse(*args, dir=None, prefix="", suffix="", **kwargs):
        raise PermissionError(13, "Permission denied", f"{dir}/{prefix}tmp{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as info:
        tour.build_tour(tmp_path / "new" / "report", quick=True, progress=True)
    assert str(info.value) == (
        f"build_tour: out_dir: output directory is not writable: {tmp_path} (Permission denied)"
    )
    assert capsys.readouterr().err == ""  # not one step started
    assert list(tmp_path.iterdir()) == []  # "new" was not created either


def test_a_failing_temporary_folder_names_the_directory(tmp_path, monkeypatch):
    def refuse(*args, dir=None, prefix="", suffix="", **kwargs):
        raise OSError(28, "No space left on device", f"{dir}/{prefix}tmp{suffix}")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(PermissionError) as info:
        tour.build_tour(tmp_path / "report", quick=True, progress=False)
    message = str(info.value)
    assert f"output directory is not writable: {tmp_path} (No space left on device)" in message
    assert "building" not in message


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("out", ["/proc/x", "/proc/a/b"])
def test_tour_into_proc_is_a_one_line_error(tmp_path, out):
    proc = cnnmath_cli("tour", "--quick", "--out", out, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.fullmatch(
        r"cnnmath tour: error: .*output directory is not writable: /proc \(.*\)", lines[0]
    ), lines[0]
    assert "building" not in lines[0]


def test_out_through_a_symlink_fills_its_target(tmp_path):
    """A symlinked --out folder: the report lands in the target; the link stays a link."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    index = tour.build_tour(tmp_path / "link", quick=True, progress=False)
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "index.html").is_file()
    assert Path(index).resolve() == (tmp_path / "real" / "index.html").resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # nothing left over


# ---------------------------------------------------------------------------------------------
# Claims are found by id: rewording keeps every row, a missing id stops the tour loudly


def _claims_without(claim_id):
    real = results.all_claims

    def claims():
        kept = [c for c in real() if c.id != claim_id]
        assert len(kept) == len(real()) - 1, claim_id  # the id existed
        return kept

    return claims


def test_rewording_every_claim_keeps_every_row_of_result_4(monkeypatch, tmp_path):
    real = results.all_claims
    monkeypatch.setattr(
        results,
        "all_claims",
        lambda: [
            dataclasses.replace(c, statement=f"reworded claim {i}") for i, c in enumerate(real())
        ],
    )
    checked = tour.compute.verification(None)
    assert all(row["claim"].startswith("reworded claim") for row in checked.rows)
    facts = tour.compute.activations(checked.rows)
    expected = results.result4.activations()
    assert [r.name for r in facts.table] == [a.name for a in expected]
    for row, act in zip(facts.table, expected):
        verdict = "commutes" if act.non_decreasing else "fails"
        assert row.claim_id == f"r4.max.{verdict}.{act.name}" and row.passed
        assert (row.counterexample is None) == act.non_decreasing
    assert facts.identities and all(e == 0.0 for e in facts.identities)
    assert facts.example["activation"] == "gelu" and facts.cut_off_gap > 0

    section = tour.render.activation_section(facts, tmp_path, on_photo=False)
    for act in expected:
        assert f"<code>{act.name}</code>" in section.extra_html
    assert section.extra_html.count('<span class="pass">PASS</span>') == len(expected)
    assert "For GELU, the window [[-0.7518, -10]" in section.paragraph
    table = tour.render.verification_section(checked, on_photo=False).extra_html
    assert table.count("<tr>") == 1 + len(checked.rows)  # header + one row per claim
    assert "<code>r4.max.fails.gelu</code>" in table and "reworded claim" in table


@pytest.mark.parametrize(
    "claim_id",
    ["r4.max.fails.silu", "r4.max.commutes.tanh", "r4.max.fails.gelu", "r4.max.cutoff.softplus"],
)
def test_a_missing_claim_raises_naming_its_id(monkeypatch, claim_id):
    monkeypatch.setattr(results, "all_claims", _claims_without(claim_id))
    rows = tour.compute.verification(None).rows
    with pytest.raises(results.MissingClaimError, match=re.escape(repr(claim_id))):
        tour.compute.activations(rows)


def test_a_missing_claim_stops_the_tour_and_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(results, "all_claims", _claims_without("r4.max.commutes.relu"))
    with pytest.raises(results.MissingClaimError, match=r"'r4\.max\.commutes\.relu'"):
        tour.build_tour(tmp_path / "report", quick=True, progress=False)
    assert list(tmp_path.iterdir()) == []  # no report, no temporary folder


# ---------------------------------------------------------------------------------------------
# The new figures' data, against witnesses of their own


def test_result_6_matrices_are_the_derivative_by_finite_differences():
    """C_l B_l (and the efficient form) equal ∂y_L/∂A_l by central differences of the MLP."""
    from cnnmath.mlp import MLP

    rows = [{"id": i, "passed": True} for i in (tour.compute.LITERAL_ID, tour.compute.FINITE_ID)]
    data = tour.compute.backprop(rows)
    net = MLP(list(data.sizes), activation=data.activation, seed=0)
    x = np.random.default_rng(1).uniform(-1.0, 1.0, data.sizes[0])
    h = 1e-6
    assert len(data.C) == len(data.sizes) - 2
    for l, (C, B, eff) in enumerate(zip(data.C, data.B, data.efficient), start=1):
        assert np.array_equal(C, np.diag(np.diag(C)))  # C_l is diagonal
        A = net.A[l - 1]
        numeric = np.zeros_like(A)
        for i, j in np.ndindex(A.shape):
            A[i, j] += h
            up = float(net.forward(x))
            A[i, j] -= 2 * h
            down = float(net.forward(x))
            A[i, j] += h
            numeric[i, j] = (up - down) / (2 * h)
        assert rel_error(C @ B, numeric) < 1e-7
        assert rel_error(eff, numeric) < 1e-7
    assert data.difference < 1e-15


def test_result_6_needs_its_claims():
    with pytest.raises(results.MissingClaimError, match="r6.backprop.finite_differences"):
        tour.compute.backprop([{"id": tour.compute.LITERAL_ID, "passed": True}])


def test_receptive_field_boxes_of_the_digits_cnn():
    """By hand from the lenet stack (3×3 pad 1, 3×3 pad 1, pool 2, 3×3 pad 1, pool 2):
    unit (1, 1) of each layer reads rows/cols [top, bottom]."""
    data = tour.compute.fields()
    boxes = {name: box for name, _, _, box in data.layers}
    assert boxes == {
        "0": (0, 0, 2, 2),  # rows 1 ± 1
        "2": (-1, -1, 3, 3),  # 1 ± 2
        "4": (0, 0, 5, 5),  # pool cell 1 = conv rows 2..3, each ± 2
        "5": (-2, -2, 7, 7),  # pool cells 0..2 → conv rows 0..5, ± 2
        "7": (0, 0, 11, 11),  # pool cells 2..3 → conv5 rows 2..3 → pool4 1..4 → 2..9, ± 2
    }
    assert data.digit.shape == (8, 8) and 0 <= data.label <= 9


def test_out_under_a_file_names_the_option(tmp_path):
    """A parent that is no folder is refused by the builder's own check: the message still
    names --out, not the library's parameter."""
    (tmp_path / "notes.txt").write_text("a file")
    proc = cnnmath_cli("tour", "--quick", "--out", "notes.txt/report", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("cnnmath tour: error: --out: "), proc.stderr
    assert "build_tour" not in proc.stderr and "out_dir" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
