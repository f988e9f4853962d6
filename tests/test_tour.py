"""``cnnmath tour``: the offline HTML report (quick mode), its links, and how it fails.

The full run is exercised once, as a user runs it (``python -m cnnmath tour --quick`` in a
subprocess, in a fresh working directory); the failure paths run in-process with one step
replaced by one that raises.
"""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("PIL")
pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
from PIL import Image  # noqa: E402

from cnnmath import tour  # noqa: E402

FIGURES = (
    "result1-gradient.png",
    "result3-grayscale.png",
    "result2-pooling.png",
    "result4-activations.png",
    "training-curve.png",
)
SECTIONS = ("result-1", "result-2", "result-3", "result-4", "training", "verification")


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
    return subprocess.run([sys.executable, "-m", "cnnmath", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


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
    for anchor in SECTIONS:
        assert anchor in links.ids
    # the verification table and result 4's counterexample made it onto the page
    assert "PASS" in page and "gelu" in page and "counterexample" in page.lower()
    assert "FAIL</span>" not in page


def test_a_failed_tour_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("step failed")

    monkeypatch.setattr(tour, "_grayscale_section", broken)  # after result 1's figure
    out = tmp_path / "report"
    with pytest.raises(RuntimeError, match="step failed"):
        tour.build_tour(out, quick=True, progress=True)
    assert list(tmp_path.iterdir()) == []  # no report, no half-built temporary folder
    assert "[1/6]" in capsys.readouterr().err  # progress was shown

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
    assert "exists and is not a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
