"""The tour: every result of SPEC.md run on the bundled photograph, as one offline HTML page.

``build_tour(out_dir)`` computes, on matplotlib's sample photograph (Grace Hopper, 512×600),

1. result 1 — the two forward-difference channels Y1, Y2 of the image's luma;
2. result 3 — the luma Y′ (BT.601, and BT.709 beside it);
3. result 2 — average pooling as a strided convolution, next to ``avg_pool2d``, and the
   difference between the two;
4. result 4 — which activations commute with max pooling, with a counterexample for those
   that do not;
5. a short training run of the digits CNN (loss and held-out accuracy per epoch);
6. the verification table of every claim (``cnnmath.results``), results 1–4 and 6;

and writes ``out_dir/index.html`` with PNG figures (matplotlib, Agg, no pyplot state) and one
paragraph of explanation each. The page is self-contained: relative links only, inline CSS,
no script, nothing fetched — it works from the file system, offline.

The report is built in a temporary folder beside ``out_dir`` and moved into place at the end,
so a failed or interrupted run leaves no half-written report (and an existing report stays
as it was). An existing ``out_dir`` is replaced only when it is empty or an earlier tour
(it holds the marker file ``.cnnmath-tour``): never a folder of someone's files.
"""

from __future__ import annotations

import contextlib
import html
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from ._files import default_dir_mode
from ._optional import require
from .train import RECIPE

DEFAULT_DIR = "cnnmath-tour"
MARKER = ".cnnmath-tour"
POOL_K = 8  # result 2's window on the photograph: 600×512 → 75×64

__all__ = ["DEFAULT_DIR", "MARKER", "build_tour"]


@dataclass
class Section:
    """One part of the report: a heading, a paragraph (HTML), figures, extra HTML."""

    anchor: str
    title: str
    paragraph: str
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, alt text)
    extra_html: str = ""
    seconds: float = 0.0


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


# ---------------------------------------------------------------------------------------------
# Figures (matplotlib's object API with the Agg canvas: no pyplot, no global backend change)


def _figure(width: float, height: float):
    Figure = require("matplotlib.figure", "plot", "the tour's figures").Figure
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig, folder: Path, name: str) -> str:
    fig.savefig(folder / name, format="png", dpi=100)
    return name


def _hwc(x: np.ndarray) -> np.ndarray:
    return np.clip(x.transpose(1, 2, 0), 0.0, 1.0)


def _signed_panel(fig, ax, y: np.ndarray, title: str, limit: float) -> None:
    """A signed image in a diverging map centred on 0 (blue < 0 < red), with a colour bar."""
    shown = ax.imshow(y, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    fig.colorbar(shown, ax=ax, shrink=0.8)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "0" if value == 0 else f"{value:.2e}"


# ---------------------------------------------------------------------------------------------
# The sections


def _gradient_section(photo: np.ndarray, folder: Path) -> Section:
    from .filters import image_gradient, to_grayscale

    luma = to_grayscale(photo)
    y1, y2 = image_gradient(luma)
    # SPEC's closed form, written with slicing: an independent check of the convolution
    padded = np.pad(luma[0], ((0, 1), (0, 1)))
    err1 = float(np.abs(y1[0] - (padded[1:, :-1] - padded[:-1, :-1])).max())
    err2 = float(np.abs(y2[0] - (padded[:-1, 1:] - padded[:-1, :-1])).max())
    interior = np.concatenate([np.abs(y1[0, :-1]).ravel(), np.abs(y2[0, :, :-1]).ravel()])
    limit = float(np.quantile(interior, 0.99))
    fig = _figure(13.5, 5.2)
    axes = fig.subplots(1, 3)
    axes[0].imshow(_hwc(photo), interpolation="nearest")
    axes[0].set_title(f"the photograph X ({photo.shape[2]}×{photo.shape[1]}, RGB)", fontsize=10)
    axes[0].set_axis_off()
    _signed_panel(fig, axes[1], y1[0], "Y1[i,j] = X[i+1,j] − X[i,j]  (vertical)", limit)
    _signed_panel(fig, axes[2], y2[0], "Y2[i,j] = X[i,j+1] − X[i,j]  (horizontal)", limit)
    name = _save(fig, folder, "result1-gradient.png")
    paragraph = (
        "<b>Result 1: finite differences are a convolution.</b> Correlating a one-channel "
        "image with the two 3×3 filters w1 = [[0,0,0],[0,−1,0],[0,1,0]] and "
        "w2 = [[0,0,0],[0,−1,1],[0,0,0]], zero padding 1, stride 1, gives exactly the "
        "forward differences Y1 (down the rows: horizontal edges light up) and Y2 (across "
        "the columns: vertical edges) — together a discrete image gradient. The photograph "
        "was first turned into gray with result 3 (the filters have one input channel). Red "
        "is a rise, blue a fall, white no change (colour scale ±"
        f"{limit:.2f}, the 99th percentile of |Y|). Along the last row and column the "
        "padding supplies X = 0, so there Y = −X. Against the differences written with "
        f"array slicing, the convolution's largest error is {_fmt(max(err1, err2))}."
    )
    return Section(
        "result-1",
        "Result 1 — the image gradient as a convolution",
        paragraph,
        [(name, "the photograph and its two gradient channels Y1 and Y2")],
    )


def _grayscale_section(photo: np.ndarray, folder: Path) -> Section:
    from .filters import BT601, BT709, to_grayscale

    y601 = to_grayscale(photo, BT601)[0]
    y709 = to_grayscale(photo, BT709)[0]
    direct = BT601[0] * photo[0] + BT601[1] * photo[1] + BT601[2] * photo[2]
    err = float(np.abs(y601 - direct).max())
    difference = y601 - y709
    limit = max(float(np.abs(difference).max()), 1e-12)
    fig = _figure(13.5, 5.2)
    axes = fig.subplots(1, 3)
    for ax, y, title in (
        (axes[0], y601, "BT.601: 0.299 R + 0.587 G + 0.114 B"),
        (axes[1], y709, "BT.709: 0.2126 R + 0.7152 G + 0.0722 B"),
    ):
        ax.imshow(y, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    _signed_panel(fig, axes[2], difference, "BT.601 − BT.709", limit)
    name = _save(fig, folder, "result3-grayscale.png")
    white = sum(BT601)
    paragraph = (
        "<b>Result 3: RGB to grayscale is a 1×1 convolution.</b> A filter of shape "
        "(1, 3, 1, 1) mixes the three channels at every pixel and nothing else: with the "
        "ITU-R BT.601 weights (0.299, 0.587, 0.114) it computes Y′ = 0.299 R + 0.587 G + "
        "0.114 B. The weights sum to 1, so white stays white (in float64 the sum is "
        f"{white!r}); the original's 0.581 for green was a typo that would turn white 255 "
        "into 253.5. Other standards are one argument away: BT.709 (HDTV) weighs green "
        "more and blue less; the right panel shows where the two disagree (at most "
        f"{limit:.3f}). Applied to gamma-encoded pixels as files store them, this is luma "
        "Y′, not linear-light luminance. Against the weighted sum written directly, the "
        f"convolution's largest error is {_fmt(err)}."
    )
    return Section(
        "result-3",
        "Result 3 — grayscale as a 1×1 convolution",
        paragraph,
        [(name, "BT.601 and BT.709 grayscale of the photograph and their difference")],
    )


def _pooling_section(photo: np.ndarray, folder: Path) -> Section:
    from .filters import average_pool_by_conv
    from .ops import avg_pool2d

    k = POOL_K
    by_conv = average_pool_by_conv(photo, k)
    by_pool = avg_pool2d(photo, k)
    difference = np.abs(by_conv - by_pool).max(axis=0)
    err = float(difference.max())
    fig = _figure(13.5, 5.2)
    axes = fig.subplots(1, 3)
    for ax, y, title in (
        (axes[0], by_conv, f"conv2d with δ(c,d)/k², stride k = {k}"),
        (axes[1], by_pool, f"avg_pool2d, window and stride {k}"),
    ):
        ax.imshow(_hwc(y), interpolation="nearest")
        ax.set_title(f"{title}  ({y.shape[2]}×{y.shape[1]})", fontsize=10)
        ax.set_axis_off()
    shown = axes[2].imshow(
        difference, cmap="magma", vmin=0.0, vmax=max(err, 1e-16), interpolation="nearest"
    )
    axes[2].set_title(f"|difference|, max over channels (largest {err:.1e})", fontsize=10)
    axes[2].set_axis_off()
    fig.colorbar(shown, ax=axes[2], shrink=0.8)
    name = _save(fig, folder, "result2-pooling.png")
    paragraph = (
        "<b>Result 2: average pooling is a strided convolution.</b> The filter "
        "w[c,d,a,b] = δ(c,d)/k² (δ the Kronecker delta: output channel c reads only input "
        "channel c) with stride k and no padding averages each k×k block of each channel — "
        f"exactly k×k average pooling. Here k = {k} on the colour photograph: the "
        "convolution (left) and <code>avg_pool2d</code> (middle) agree to rounding; the "
        f"right panel maps their difference, at most {err:.1e}"
        + (
            " — here none at all: both sum the same numbers in the same order."
            if err == 0
            else ", a few units in the last place of float64 (the two add the same numbers in "
            "different orders)."
        )
    )
    return Section(
        "result-2",
        "Result 2 — average pooling as a strided convolution",
        paragraph,
        [(name, "average pooling by convolution, by avg_pool2d, and their difference")],
    )


def _counterexample_html(counterexample: dict) -> str:
    def value(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(u) for u in v) + "]"
        return str(v)

    if all(isinstance(v, dict) for v in counterexample.values()):
        return "<br>".join(
            f"<b>{html.escape(str(k))}</b>: {_counterexample_html(v)}"
            for k, v in counterexample.items()
        )
    return ", ".join(
        f"{html.escape(str(k))} = {html.escape(value(v))}" for k, v in counterexample.items()
    )


def _table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _verdict(passed: bool) -> str:
    return '<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>'


def _activation_section(rows: list[dict], folder: Path, on_photo: bool) -> Section:
    from .ops.activations import ACTIVATIONS

    by_claim = {row["claim"]: row for row in rows if row["result"] == 4}
    table_rows = []
    for act in ACTIVATIONS.values():
        claim = (
            f"max pooling commutes with {act.name}"
            if act.non_decreasing
            else f"max pooling does not commute with {act.name}"
        )
        row = by_claim.get(claim)
        if row is None:
            continue
        measured = ("difference " if act.non_decreasing else "gap ") + _fmt(row["max_abs_error"])
        table_rows.append(
            [
                f"<code>{html.escape(act.name)}</code>",
                html.escape(act.formula),
                "yes" if act.non_decreasing else "no",
                "commutes" if act.non_decreasing else "does not commute",
                measured,
                _verdict(row["passed"]),
            ]
        )
    examples = [
        row
        for row in rows
        if row["result"] == 4
        and "counterexample" in row
        and row["claim"].startswith("max pooling does not commute")
    ]
    extra = _table(
        ["σ", "formula", "non-decreasing", "σ(maxpool X) vs maxpool(σ X)", "measured", "verdict"],
        table_rows,
    )
    if examples:
        items = "".join(
            f"<li>{_counterexample_html(row['counterexample'])}</li>" for row in examples
        )
        extra += (
            f'<p class="small">Counterexamples found (one 2×2 window each):</p><ul>{items}</ul>'
        )

    fig = _figure(9.0, 4.2)
    ax = fig.subplots()
    t = np.linspace(-4.0, 2.5, 651)
    for name in ("relu", "sigmoid", "tanh", "gelu", "silu", "mish"):
        act = ACTIVATIONS.get(name)
        if act is None:
            continue
        style = "-" if act.non_decreasing else "--"
        ax.plot(t, act.f(t), style, label=name, linewidth=1.6)
        if act.minimum_at is not None:
            m = act.minimum_at
            ax.plot([m], [float(act.f(np.array(m)))], "o", color="black", markersize=4)
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.axvline(0, color="0.6", linewidth=0.8)
    ax.set_ylim(-1.2, 2.5)
    ax.set_xlabel("x")
    ax.set_ylabel("σ(x)")
    ax.set_title(
        "non-decreasing (solid) and non-monotone (dashed) activations; dots: dips", fontsize=10
    )
    ax.legend(ncols=2, fontsize=9)
    name = _save(fig, folder, "result4-activations.png")
    identities = [
        r["max_abs_error"]
        for r in rows
        if r["result"] == 4 and r["claim"].startswith("max pooling commutes with")
    ]
    if identities and all(e == 0 for e in identities):
        agreement = "the two sides are exactly equal, bit for bit"
    elif identities and all(e is not None for e in identities):
        agreement = f"the largest difference is {max(identities):.1e}"
    else:
        agreement = "see the verification table"
    gelu = next((r for r in examples if r["counterexample"].get("activation") == "gelu"), None)
    if gelu is not None:
        ce = gelu["counterexample"]
        window = (
            "["
            + ", ".join("[" + ", ".join(f"{v:.4g}" for v in row) + "]" for row in ce["window"])
            + "]"
        )
        example = (
            f" For GELU, the window {html.escape(window)} has maximum "
            f"{ce['max_pool']:.4f} (GELU's dip), so σ(max N) = {ce['sigma_of_max_pool']:.4f}, "
            f"while max σ(N) = {ce['max_pool_of_sigma']:.3g}: the two orders disagree."
        )
    else:
        example = ""
    cut_off = next((r for r in rows if r["result"] == 4 and "cut-off" in r["claim"]), None)
    if cut_off is not None and cut_off["max_abs_error"] is not None:
        example += (
            " One exception is floating point's, not the mathematics': softplus computed as "
            "PyTorch does (x itself above 20) drops by about 2.1e-9 at 20, so a window holding "
            f"values on both sides of 20 breaks the identity by up to "
            f"{cut_off['max_abs_error']:.2g} (the table's cut-off claim); below 20 it is exact."
        )
    paragraph = (
        "<b>Result 4: max pooling commutes with non-decreasing activations.</b> In every "
        "window N, max σ(N) = σ(max N) when σ keeps order, so <code>relu(maxpool(x))</code> "
        "equals <code>maxpool(relu(x))</code> — and the first costs k² times fewer "
        "activations for a k×k window with stride k. Each identity below was checked on "
        "random tensors"
        + (" and on the photograph's luma stretched to [−4, 4]" if on_photo else "")
        + ", for several windows, strides and −∞ paddings: "
        + agreement
        + ". GELU, SiLU and "
        "Mish are not monotone: they dip below zero (the dots) and rise again to the left, "
        "so a window holding the dip and a value far below it breaks the identity."
        + example
        + " The rule also fails when pooling pads with zeros and σ(0) ≠ 0, and for average "
        "pooling with any σ that is not affine (Jensen): those claims are in the "
        "verification table below."
    )
    return Section(
        "result-4",
        "Result 4 — max pooling commutes with non-decreasing σ",
        paragraph,
        [(name, "activation functions, the non-monotone ones dashed")],
        extra,
    )


#: (epochs, training images or None for all 1,437): the full recipe of ``cnnmath train``
#: (about 11 s on one core), and a quick run for tests and a first look
TRAINING_RUN = {False: (RECIPE["epochs"], None), True: (2, 480)}


def _train(quick: bool, progress: bool):
    """Train the digits CNN briefly; return (history rows, test accuracy, model, epochs, n)."""
    from . import train
    from .data import load_digits

    epochs, limit = TRAINING_RUN[quick]
    n_train = len(load_digits("train")[1]) if limit is None else limit
    with contextlib.redirect_stdout(sys.stderr):  # epoch lines are progress: stdout stays clean
        model, history, test_accuracy = train.train_digits(
            epochs=epochs, seed=0, progress=progress, limit=limit
        )
    return [dict(r) for r in history], float(test_accuracy), repr(model), epochs, n_train


def _training_section(quick: bool, progress: bool, folder: Path) -> Section:
    full_epochs = RECIPE["epochs"]
    rows, test_accuracy, model_repr, epochs, n_train = _train(quick, progress)
    epochs_axis = [r["epoch"] for r in rows]
    fig = _figure(10.0, 3.8)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs_axis, [r["loss"] for r in rows], "o-", label="training loss")
    if all("val_loss" in r for r in rows):
        ax_loss.plot(epochs_axis, [r["val_loss"] for r in rows], "s--", label="held-out loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy (label smoothing 0.1)")
    ax_loss.legend(fontsize=9)
    ax_loss.set_title("loss", fontsize=10)
    ax_acc.plot(
        epochs_axis,
        [100 * r["val_accuracy"] for r in rows],
        "o-",
        color="C2",
        label="held-out accuracy",
    )
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(0, 100)
    ax_acc.set_title("held-out accuracy", fontsize=10)
    for ax in (ax_loss, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)
    name = _save(fig, folder, "training-curve.png")
    paragraph = (
        "<b>Training a small CNN, in NumPy alone.</b> A LeNet-style network — convolutions, "
        "max pooling and ReLU, then dense layers, every backward pass the closed form of "
        "the ops above — learns scikit-learn's 8×8 handwritten digits (ten classes) from "
        f"{n_train} training images for {epochs} epoch{'s' if epochs != 1 else ''} (Adam, "
        "learning rate annealed to 0). The curves show the training loss falling and the "
        "accuracy on 360 held-out images rising; at the end it classifies "
        f"<b>{100 * test_accuracy:.1f}%</b> of them right. "
        + (
            "This is <code>cnnmath train</code>'s recipe, seed 0; with <code>--save</code> "
            "that command also writes the weights as safetensors."
            if epochs == full_epochs and n_train == 1437
            else "This is a short run to show the loop working: <code>cnnmath train</code> runs "
            f"the full recipe ({full_epochs} epochs) and saves the weights as safetensors."
        )
    )
    extra = f"<details><summary>the model</summary><pre>{html.escape(model_repr)}</pre></details>"
    return Section(
        "training",
        "Training the digits CNN",
        paragraph,
        [(name, "training loss and held-out accuracy per epoch")],
        extra,
    )


def _verification_section(rows: list[dict], notes: list[str]) -> Section:
    table_rows, classes = [], []
    for row in rows:
        cell = html.escape(row["claim"])
        if row.get("detail"):
            cell += f'<div class="small">{html.escape(row["detail"])}</div>'
        table_rows.append(
            [str(row["result"]), cell, _fmt(row["max_abs_error"]), _verdict(row["passed"])]
        )
        classes.append("" if row["passed"] else "failed")
    passed = sum(row["passed"] for row in rows)
    notes_html = "".join(f'<p class="small">note: {html.escape(n)}</p>' for n in notes)
    paragraph = (
        "<b>Every claim, checked.</b> <code>cnnmath verify</code> turns each result into "
        "claims and checks them on random tensors (fixed seeds, float64)"
        + (" and on the photograph" if not notes else "")
        + ". An identity passes when its error, max|got − want| / max|want|, is at most "
        "1e-12 (result 6 against finite differences: 1e-7); a claim that something does "
        "<i>not</i> hold passes when a counterexample shows a real gap, and the error "
        "column then gives that gap. Result 6 is backpropagation through an MLP written "
        "as products of Jacobians, both literally (with the diagonal matrices diag(σ′)) and "
        f"efficiently, a batch at a time. <b>{passed} of {len(rows)} claims pass.</b>"
    )
    extra = _table(["result", "claim", "error", "verdict"], table_rows, classes) + notes_html
    return Section("verification", "The verification table", paragraph, [], extra)


# ---------------------------------------------------------------------------------------------
# The page

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.5; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
p.lead { color: #555; margin-top: 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
tr.failed { background: #fee; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #c00; font-weight: bold; }
.small { font-size: 0.85em; color: #666; }
code, pre { background: #f6f6f6; padding: 0 0.2em; }
pre { padding: 0.6em; overflow-x: auto; }
nav ol { columns: 2; }
footer { margin-top: 3em; font-size: 0.85em; color: #666; border-top: 1px solid #ddd; }
"""


def _page(sections: list[Section], seconds: float, quick: bool) -> str:
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    parts = []
    for s in sections:
        figures = "".join(
            f'<figure><img src="{html.escape(name)}" alt="{html.escape(alt)}"></figure>'
            for name, alt in s.figures
        )
        parts.append(
            f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>'
            f"<p>{s.paragraph}</p>{figures}{s.extra_html}</section>"
        )
    versions = f"cnnmath {__version__}, NumPy {np.__version__}, Python {platform.python_version()}"
    command = "cnnmath tour --quick" if quick else "cnnmath tour"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cnnmath {__version__} tour">
<title>cnnmath tour — the mathematics of convolutional networks, executed</title>
<style>{_CSS}</style>
</head>
<body>
<h1>cnnmath tour</h1>
<p class="lead">The mathematics of convolutional networks, executed and checked: each result
of the exercises run on a photograph (Grace Hopper, from matplotlib's sample data), a small
CNN trained in NumPy alone, and every claim verified.</p>
<nav><ol>{toc}</ol></nav>
{"".join(parts)}
<footer>Made by <code>{command}</code> in {seconds:.1f} s with {html.escape(versions)}.
Conventions as PyTorch's: layout (N, C, H, W), cross-correlation (filters not flipped).
This page is self-contained: it needs no network.</footer>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# Building in a temporary folder, then moving it into place


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
    from .images import check_writable_directory

    existing = out.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    check_writable_directory(existing, func="build_tour", name="out_dir")
    out.parent.mkdir(parents=True, exist_ok=True)


def build_tour(
    out_dir: str | os.PathLike = DEFAULT_DIR, *, quick: bool = False, progress: bool = True
) -> Path:
    """Run the results on the photograph, train briefly, write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : the report's folder (created if missing, with its parents); an existing one
        is replaced only if it is empty or an earlier tour report.
    quick : a faster, smaller run (for tests and a first look): the CNN trains for
        ``TRAINING_RUN[True]`` = 2 epochs on 480 of the 1,437 training images instead of
        the full recipe of ``cnnmath train`` (40 epochs on all of them), and the claims
        are checked on random tensors only.
    progress : print each step and its time on stderr.

    Returns
    -------
    The path of ``index.html`` inside ``out_dir``.

    Before any work, ``out_dir``'s nearest existing parent must be a writable folder:
    otherwise ``PermissionError`` "output directory is not writable: DIR" (``FileNotFoundError``
    / ``NotADirectoryError`` likewise), naming that folder.

    Needs the ``image``, ``plot`` and ``data`` extras (Pillow, matplotlib, scikit-learn):
    ``pip install "cnnmath[all]"``.
    """
    started = time.perf_counter()
    out = Path(os.path.realpath(out_dir))  # a symlinked folder: replace the target's report
    _check_destination(out)
    from .images import sample_image

    _make_parent(out)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{out.name[:40]}-building-", dir=out.parent))
    except OSError as exc:  # its message would name the temporary folder
        raise PermissionError(
            f"out_dir: output directory is not writable: {out.parent} "
            f"({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        steps = _Progress(6, progress)
        t = steps.begin("loading the photograph; result 1: its gradient")
        photo = sample_image()
        results_1 = _gradient_section(photo, folder)
        results_1.seconds = steps.done(t)
        t = steps.begin("result 3: grayscale")
        results_3 = _grayscale_section(photo, folder)
        results_3.seconds = steps.done(t)
        t = steps.begin(f"result 2: {POOL_K}×{POOL_K} average pooling by convolution")
        results_2 = _pooling_section(photo, folder)
        results_2.seconds = steps.done(t)
        t = steps.begin("results 1-4 and 6: checking every claim")
        rows, notes = _verify(photo if not quick else None, steps)
        verification = _verification_section(rows, notes)
        verification.seconds = steps.done(t)
        t = steps.begin("result 4: activations and max pooling")
        results_4 = _activation_section(rows, folder, on_photo=not quick)
        results_4.seconds = steps.done(t)
        t = steps.begin("training the digits CNN")
        training = _training_section(quick, progress, folder)
        training.seconds = steps.done(t)
        sections = [results_1, results_3, results_2, results_4, training, verification]
        page = _page(sections, time.perf_counter() - started, quick)
        (folder / "index.html").write_text(page, encoding="utf-8")
        (folder / MARKER).write_text(f"cnnmath {__version__} tour report\n", encoding="utf-8")
        _check_destination(out)  # still ours to replace?
        _move_into_place(folder, out)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return out / "index.html"


def _verify(photo: np.ndarray | None, steps: _Progress) -> tuple[list[dict], list[str]]:
    from . import results

    notes = (
        []
        if photo is not None
        else ["quick run: the claims were checked on random tensors only, not on the photograph"]
    )
    claims = results.all_claims()
    rows = []
    last = time.perf_counter()
    for i, claim in enumerate(claims, start=1):
        rows.append(results.run_claim(claim, photo))
        if time.perf_counter() - last > 2.0:
            steps.note(f"{i}/{len(claims)} claims checked")
            last = time.perf_counter()
    failed = [row for row in rows if not row["passed"]]
    if failed:  # said even with progress off: the report shows it too, in red
        print(
            f"tour: warning: {len(failed)} claim(s) FAILED: "
            + "; ".join(r["claim"] for r in failed),
            file=sys.stderr,
            flush=True,
        )
    return rows, notes
