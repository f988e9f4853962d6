"""Building the report: compute each part, render it, write the folder, move it into place.

The report is built in a temporary folder beside ``out_dir`` and moved into place at the end,
so a failed or interrupted run leaves no half-written report (and an existing report stays
as it was). An existing ``out_dir`` is replaced only when it is empty or an earlier tour
(it holds the marker file ``.cnnmath-tour``): never a folder of someone's files.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .. import __version__
from .._checks import writable_directory
from .._files import default_dir_mode
from . import compute, render

DEFAULT_DIR = "cnnmath-tour"
MARKER = ".cnnmath-tour"

__all__ = ["DEFAULT_DIR", "MARKER", "build_tour"]


class _Progress:
    """Progress lines on stderr: "[2/6] result 3: grayscale ... 0.4 s"; silent when quiet."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.step = total, enabled, 0
        self.start = time.perf_counter()

    def begin(self, what: str) -> float:
        self.step += 1
        if self.enabled:
            print(f"tour: [{self.step}/{self.total}] {what} ...", file=sys.stderr, flush=True)
        return time.perf_counter()

    def done(self, started: float) -> float:
        seconds = time.perf_counter() - started
        if self.enabled:
            print(f"tour:       done in {seconds:.1f} s", file=sys.stderr, flush=True)
        return seconds

    def note(self, text: str) -> None:
        if self.enabled:
            print(f"tour:       {text}", file=sys.stderr, flush=True)


def _check_destination(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir: '{out}' exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(
            f"out_dir: '{out}' exists and is not a cnnmath tour report (no {MARKER} file); "
            "choose another folder, the tour only replaces its own reports"
        )


def _move_into_place(built: Path, out: Path) -> None:
    """Replace ``out`` by ``built``: two renames in one folder; the old report is removed last."""
    os.chmod(built, default_dir_mode())  # mkdtemp made it private
    if not out.exists():
        os.replace(built, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name[:40]}-old-", dir=out.parent))
    old.rmdir()  # a fresh name; rename needs it free
    os.replace(out, old)
    try:
        os.replace(built, out)
    except BaseException:
        os.replace(old, out)  # put the previous report back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _make_parent(out: Path) -> None:
    """Create ``out``'s parent folders, after checking that the nearest one that exists is a
    writable folder: errors name that folder, never a temporary path."""
    existing = out.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    writable_directory("out_dir", existing, func="build_tour")
    out.parent.mkdir(parents=True, exist_ok=True)


def _sections(folder: Path, quick: bool, progress: bool, steps: _Progress) -> list[render.Section]:
    """Each step computes its data (:mod:`.compute`), then renders it (:mod:`.render`); the
    sections come out in the results' own order (1, 2, 3, 4, 6), then the digits CNN."""
    from ..images import sample_image

    t = steps.begin("loading the photograph; result 1: its gradient and its filter's picture")
    photo = sample_image()
    pictures = compute.arithmetic()
    result_1 = render.gradient_section(compute.gradient(photo), folder)
    result_1.paragraph += render.arithmetic_sentence(pictures.result_1, "result 1's filters")
    result_1.figures += render.arithmetic_figures(
        pictures.result_1, folder, "result1-filter", "result 1's 3×3 filter"
    )
    result_1.seconds = steps.done(t)

    t = steps.begin(f"result 2: {compute.POOL_K}×{compute.POOL_K} average pooling by convolution")
    result_2 = render.pooling_section(compute.pooling(photo), folder)
    k = compute.ARITHMETIC_K
    result_2.paragraph += render.arithmetic_sentence(
        pictures.result_2, f"the filter for k = {k}"
    ) + (
        " <i>Uses:</i> the same convolution as result 1, with a stride: each output cell "
        "reads its own block, and the blocks tile the input without overlap."
    )
    result_2.figures += render.arithmetic_figures(
        pictures.result_2, folder, "result2-filter", f"result 2's {k}×{k} stride-{k} filter"
    )
    result_2.seconds = steps.done(t)

    t = steps.begin("result 3: grayscale")
    result_3 = render.grayscale_section(compute.grayscale(photo), folder)
    result_3.paragraph += (
        " <i>Used by:</i> result 1, whose filters take one channel, runs on this luma."
    )
    result_3.seconds = steps.done(t)

    t = steps.begin("results 1-4 and 6: checking every claim")
    checked = compute.verification(None if quick else photo, steps.note)
    if checked.failed:  # said even with progress off: the report shows it too, in red
        print(
            f"tour: warning: {len(checked.failed)} claim(s) FAILED: "
            + "; ".join(r["id"] for r in checked.failed),
            file=sys.stderr,
            flush=True,
        )
    verification = render.verification_section(checked, on_photo=not quick)
    verification.seconds = steps.done(t)

    t = steps.begin("result 4: activations and max pooling")
    result_4 = render.activation_section(
        compute.activations(checked.rows), folder, on_photo=not quick
    )
    result_4.paragraph += (
        " <i>Used by:</i> the digits CNN below, which applies ReLU before each max pooling: "
        "by this result, the same as after it."
    )
    result_4.seconds = steps.done(t)

    t = steps.begin("result 6: backpropagation as Jacobians")
    result_6 = render.backprop_section(compute.backprop(checked.rows), folder)
    result_6.seconds = steps.done(t)

    t = steps.begin("receptive fields of the digits CNN")
    fields = render.fields_section(compute.fields(), folder)
    fields.seconds = steps.done(t)

    t = steps.begin("training the digits CNN")
    training = render.training_section(compute.training(quick, progress), folder)
    training.seconds = steps.done(t)
    return [result_1, result_2, result_3, result_4, result_6, fields, training, verification]


#: The steps of :func:`_sections`, for the progress lines "[i/STEPS]".
STEPS = 8


def build_tour(
    out_dir: str | os.PathLike[str] = DEFAULT_DIR, *, quick: bool = False, progress: bool = True
) -> Path:
    """Run the results on the photograph, train briefly, write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : the report's folder (created if missing, with its parents); an existing one
        is replaced only if it is empty or an earlier tour report.
    quick : a faster, smaller run (for tests and a first look): the CNN trains for
        ``TRAINING_RUN[True]`` = 3 epochs on all 1,437 training images instead of the
        full recipe of ``cnnmath train`` (40 epochs), and the claims are checked on random
        tensors only.
    progress : print each step and its time on stderr.

    Returns
    -------
    The path of ``index.html`` inside ``out_dir``.

    Before any work, ``out_dir``'s nearest existing parent must be a writable folder:
    otherwise ``PermissionError`` "output directory is not writable: DIR" (``FileNotFoundError``
    / ``NotADirectoryError`` likewise), naming that folder. A claim the report needs that is
    missing from the verification (its id renamed or gone) raises
    :class:`cnnmath.results.MissingClaimError` naming the id, and no report is written.

    Needs the ``image``, ``plot`` and ``data`` extras (Pillow, matplotlib, scikit-learn):
    ``pip install "cnnmath[all]"``.
    """
    started = time.perf_counter()
    out = Path(os.path.realpath(out_dir))  # a symlinked folder: replace the target's report
    _check_destination(out)
    _make_parent(out)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{out.name[:40]}-building-", dir=out.parent))
    except OSError as exc:  # its message would name the temporary folder
        raise PermissionError(
            f"out_dir: output directory is not writable: {out.parent} "
            f"({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        sections = _sections(folder, quick, progress, _Progress(STEPS, progress))
        html = render.page(sections, time.perf_counter() - started, quick)
        (folder / "index.html").write_text(html, encoding="utf-8")
        (folder / MARKER).write_text(f"cnnmath {__version__} tour report\n", encoding="utf-8")
        _check_destination(out)  # still ours to replace?
        _move_into_place(folder, out)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return out / "index.html"
