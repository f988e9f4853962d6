"""The tour's rendering: records of :mod:`cnnmath.tour.compute` in, figures and HTML out.

Figures use matplotlib's object API with the Agg canvas (no pyplot, no global backend
change) and are written as PNG into the report's folder; each ``*_section`` function returns
a :class:`Section` (heading, paragraph, figures, extra HTML), and :func:`page` joins them
into one self-contained page: inline CSS, relative links, no script, nothing fetched.
"""

from __future__ import annotations

import html
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._optional import require
from . import compute

__all__ = [
    "Section",
    "activation_section",
    "arithmetic_figures",
    "backprop_section",
    "fields_section",
    "gradient_section",
    "grayscale_section",
    "page",
    "pooling_section",
    "training_section",
    "verification_section",
]


@dataclass
class Section:
    """One part of the report: a heading, a paragraph (HTML), figures, extra HTML."""

    anchor: str
    title: str
    paragraph: str
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, alt text)
    extra_html: str = ""
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# Figures


def _figure(width: float, height: float) -> Any:
    Figure = require("matplotlib.figure", "plot", "the tour's figures").Figure
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, folder: Path, name: str) -> str:
    fig.savefig(folder / name, format="png", dpi=100)
    return name


def _hwc(x: np.ndarray) -> np.ndarray:
    return np.clip(x.transpose(1, 2, 0), 0.0, 1.0)


def _signed_panel(fig: Any, ax: Any, y: np.ndarray, title: str, limit: float) -> None:
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
# Results 1-3


def gradient_section(data: compute.Gradient, folder: Path) -> Section:
    """Result 1: the photograph and its two difference channels."""
    photo, limit = data.photo, data.limit
    fig = _figure(13.5, 5.2)
    axes = fig.subplots(1, 3)
    axes[0].imshow(_hwc(photo), interpolation="nearest")
    axes[0].set_title(f"the photograph X ({photo.shape[2]}×{photo.shape[1]}, RGB)", fontsize=10)
    axes[0].set_axis_off()
    _signed_panel(fig, axes[1], data.y1, "Y1[i,j] = X[i+1,j] − X[i,j]  (vertical)", limit)
    _signed_panel(fig, axes[2], data.y2, "Y2[i,j] = X[i,j+1] − X[i,j]  (horizontal)", limit)
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
        f"array slicing, the convolution's largest error is {_fmt(data.error)}."
    )
    return Section(
        "result-1",
        "Result 1 — the image gradient as a convolution",
        paragraph,
        [(name, "the photograph and its two gradient channels Y1 and Y2")],
    )


def grayscale_section(data: compute.Grayscale, folder: Path) -> Section:
    """Result 3: BT.601 and BT.709 luma and where they differ."""
    fig = _figure(13.5, 5.2)
    axes = fig.subplots(1, 3)
    for ax, y, title in (
        (axes[0], data.y601, "BT.601: 0.299 R + 0.587 G + 0.114 B"),
        (axes[1], data.y709, "BT.709: 0.2126 R + 0.7152 G + 0.0722 B"),
    ):
        ax.imshow(y, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    _signed_panel(fig, axes[2], data.difference, "BT.601 − BT.709", data.limit)
    name = _save(fig, folder, "result3-grayscale.png")
    paragraph = (
        "<b>Result 3: RGB to grayscale is a 1×1 convolution.</b> A filter of shape "
        "(1, 3, 1, 1) mixes the three channels at every pixel and nothing else: with the "
        "ITU-R BT.601 weights (0.299, 0.587, 0.114) it computes Y′ = 0.299 R + 0.587 G + "
        "0.114 B. The weights sum to 1, so white stays white (in float64 the sum is "
        f"{data.white!r}); the original's 0.581 for green was a typo that would turn white 255 "
        "into 253.5. Other standards are one argument away: BT.709 (HDTV) weighs green "
        "more and blue less; the right panel shows where the two disagree (at most "
        f"{data.limit:.3f}). Applied to gamma-encoded pixels as files store them, this is luma "
        "Y′, not linear-light luminance. Against the weighted sum written directly, the "
        f"convolution's largest error is {_fmt(data.error)}."
    )
    return Section(
        "result-3",
        "Result 3 — grayscale as a 1×1 convolution",
        paragraph,
        [(name, "BT.601 and BT.709 grayscale of the photograph and their difference")],
    )


def pooling_section(data: compute.Pooling, folder: Path) -> Section:
    """Result 2: average pooling by convolution, by avg_pool2d, and their difference."""
    k, err = data.k, data.error
    fig = _figure(13.5, 5.2)
    axes = fig.subplots(1, 3)
    for ax, y, title in (
        (axes[0], data.by_conv, f"conv2d with δ(c,d)/k², stride k = {k}"),
        (axes[1], data.by_pool, f"avg_pool2d, window and stride {k}"),
    ):
        ax.imshow(_hwc(y), interpolation="nearest")
        ax.set_title(f"{title}  ({y.shape[2]}×{y.shape[1]})", fontsize=10)
        ax.set_axis_off()
    shown = axes[2].imshow(
        data.difference, cmap="magma", vmin=0.0, vmax=max(err, 1e-16), interpolation="nearest"
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


# ---------------------------------------------------------------------------------------------
# Result 4


def _counterexample_html(counterexample: Mapping[str, Any]) -> str:
    def value(v: Any) -> str:
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


def activation_section(data: compute.ActivationFacts, folder: Path, on_photo: bool) -> Section:
    """Result 4: the table of activations and their claims, the counterexamples, a figure."""
    table_rows = []
    for row in data.table:
        measured = ("difference " if row.non_decreasing else "gap ") + _fmt(row.measured)
        table_rows.append(
            [
                f"<code>{html.escape(row.name)}</code>",
                html.escape(row.formula),
                "yes" if row.non_decreasing else "no",
                "commutes" if row.non_decreasing else "does not commute",
                measured,
                _verdict(row.passed),
            ]
        )
    extra = _table(
        ["σ", "formula", "non-decreasing", "σ(maxpool X) vs maxpool(σ X)", "measured", "verdict"],
        table_rows,
    )
    examples = [row.counterexample for row in data.table if row.counterexample is not None]
    if examples:
        items = "".join(f"<li>{_counterexample_html(ce)}</li>" for ce in examples)
        extra += (
            f'<p class="small">Counterexamples found (one 2×2 window each):</p><ul>{items}</ul>'
        )

    fig = _figure(9.0, 4.2)
    ax = fig.subplots()
    for name, values, non_decreasing, dip in data.curves:
        ax.plot(data.x, values, "-" if non_decreasing else "--", label=name, linewidth=1.6)
        if dip is not None:
            ax.plot([dip[0]], [dip[1]], "o", color="black", markersize=4)
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

    identities = data.identities
    if identities and all(e == 0 for e in identities):
        agreement = "the two sides are exactly equal, bit for bit"
    elif identities and all(e is not None for e in identities):
        agreement = f"the largest difference is {max(e for e in identities if e is not None):.1e}"
    else:
        agreement = "see the verification table"
    ce = data.example
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
    if data.cut_off_gap is not None:
        example += (
            " One exception is floating point's, not the mathematics': softplus computed as "
            "PyTorch does (x itself above 20) drops by about 2.1e-9 at 20, so a window holding "
            f"values on both sides of 20 breaks the identity by up to "
            f"{data.cut_off_gap:.2g} (the table's cut-off claim); below 20 it is exact."
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


# ---------------------------------------------------------------------------------------------
# Training and the verification table


def training_section(data: compute.Training, folder: Path) -> Section:
    """The training curve (loss, held-out accuracy per epoch) and the model."""
    rows = data.history
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
    epochs, n_train = data.epochs, data.n_train
    paragraph = (
        "<b>Training a small CNN, in NumPy alone.</b> A LeNet-style network — convolutions, "
        "max pooling and ReLU, then dense layers, every backward pass the closed form of "
        "the ops above — learns scikit-learn's 8×8 handwritten digits (ten classes) from "
        f"{n_train} training images for {epochs} epoch{'s' if epochs != 1 else ''} (Adam, "
        "learning rate annealed to 0). The curves show the training loss falling and the "
        "accuracy on 360 held-out images rising; at the end it classifies "
        f"<b>{100 * data.test_accuracy:.1f}%</b> of them right. "
        + (
            "This is <code>cnnmath train</code>'s recipe, seed 0; with <code>--save</code> "
            "that command also writes the weights as safetensors."
            if epochs == data.full_epochs and n_train == 1437
            else "This is a short run to show the loop working: <code>cnnmath train</code> runs "
            f"the full recipe ({data.full_epochs} epochs) and saves the weights as safetensors."
        )
    )
    extra = (
        f"<details><summary>the model</summary><pre>{html.escape(data.model_repr)}</pre></details>"
    )
    return Section(
        "training",
        "Training the digits CNN",
        paragraph,
        [(name, "training loss and held-out accuracy per epoch")],
        extra,
    )


# ---------------------------------------------------------------------------------------------
# Pictures of the filters (cnnmath.explain), result 6, receptive fields


def arithmetic_figures(m: Any, folder: Path, stem: str, what: str) -> list[tuple[str, str]]:
    """Write ``explain``'s animation and strip of read-map ``m`` as STEM.gif, STEM.png;
    return them as (file name, alt text) figures, the strip first."""
    from ..explain import write_pictures

    gif, png = write_pictures(m, folder / f"{stem}.gif", folder / f"{stem}.png")
    return [
        (png.name, f"which input cells {what} reads, output cell by output cell (frames)"),
        (gif.name, f"which input cells {what} reads, animated"),
    ]


def arithmetic_sentence(m: Any, what: str) -> str:
    """One sentence on the picture of ``m``: it was measured, and its output-size formula."""
    H, W = m.size
    formula = html.escape(m.formula.splitlines()[0])
    return (
        f" The pictures below show {what} on a {H}×{W} input ({m.kernel}×{m.kernel} window, "
        f"stride {m.stride}, padding {m.padding}): blue, the input cells the orange output "
        "cell reads (light blue where its window lies in the padding, the gray ring). They "
        "are measured, not drawn by hand: <code>cnnmath explain</code> runs "
        "<code>conv2d</code> on one one-hot image per input cell and marks a cell read "
        f"exactly when its one reaches the output; <code>{formula}</code>."
    )


def backprop_section(data: compute.Backprop, folder: Path) -> Section:
    """Result 6: C_l, B_l, the literal C_l B_l beside the efficient ∂y_L/∂A_l, per layer."""
    hidden = len(data.C)
    fig = _figure(14.0, 2.9 * hidden + 0.4)
    axes = np.atleast_2d(fig.subplots(hidden, 5))
    for row, l in enumerate(range(1, hidden + 1)):
        C, B, lit, eff = data.C[row], data.B[row], data.literal[row], data.efficient[row]
        scale = max(float(np.abs(lit).max()), 1e-300)
        panels = (
            (C, f"C_{l} = diag(σ'_{l})  ({C.shape[0]}×{C.shape[1]})", None),
            (B, f"B_{l} = (∂y_L/∂y_{l})ᵀ y_{l - 1}ᵀ  ({B.shape[0]}×{B.shape[1]})", None),
            (lit, f"literal C_{l} B_{l}", scale),
            (eff, f"efficient δ_{l} ⊗ y_{l - 1}", scale),
        )
        for ax, (a, title, limit) in zip(axes[row], panels):
            bound = limit if limit is not None else max(float(np.abs(a).max()), 1e-300)
            _signed_panel(fig, ax, a, title, bound)
        diff = np.abs(lit - eff)
        shown = axes[row, 4].imshow(
            diff, cmap="magma", vmin=0.0, vmax=max(float(diff.max()), 1e-16)
        )
        axes[row, 4].set_title(f"|literal − efficient| (max {float(diff.max()):.1e})", fontsize=10)
        axes[row, 4].set_axis_off()
        fig.colorbar(shown, ax=axes[row, 4], shrink=0.8)
    name = _save(fig, folder, "result6-backprop.png")
    sizes = "–".join(str(n) for n in data.sizes)
    claims = _table(
        ["claim", "id", "largest error", "verdict"],
        [
            [
                html.escape(str(r.get("claim", ""))),
                f"<code>{html.escape(str(r['id']))}</code>",
                _fmt(r.get("max_abs_error")),
                _verdict(bool(r["passed"])),
            ]
            for r in data.claims
        ],
    )
    paragraph = (
        "<b>Result 6: backpropagation through an MLP, as Jacobians.</b> For "
        "y_l = σ(A_l y_{l−1} + b_l) and a scalar output y_L = A_L y_{L−1} + b_L, the "
        "derivative by a weight matrix is the product ∂y_L/∂A_l = C_l B_l of "
        "C_l = diag(σ'(A_l y_{l−1} + b_l)) and B_l = (∂y_L/∂y_l)ᵀ y_{l−1}ᵀ, where the row "
        "∂y_L/∂y_l = A_L diag(σ'_{L−1}) A_{L−1} ··· diag(σ'_{l+1}) A_{l+1} is the chain "
        f"rule. Drawn here for an MLP of sizes {sizes} with {data.activation} (seed 0), one row "
        "per hidden layer: the diagonal C_l, the outer product B_l, the product computed "
        "literally with the diagonal matrix, and the efficient form the library trains with "
        "(elementwise δ_l = ∂y_L/∂y_l ∗ σ'_l, then the outer product δ_l ⊗ y_{l−1}, a batch "
        "at a time, no diagonal matrix). They agree to "
        f"{_fmt(data.difference)}; both agree with central finite differences (the claims "
        "below). <i>Uses:</i> the dense layers at the end of the digits CNN below are such an "
        "MLP, and its training runs these products in their efficient form."
    )
    return Section(
        "result-6",
        "Result 6 — backpropagation as products of Jacobians",
        paragraph,
        [(name, "C_l, B_l, their product and the efficient gradient for each hidden layer")],
        claims,
    )


def fields_section(data: compute.Fields, folder: Path) -> Section:
    """The digits CNN's receptive fields, drawn on a test digit, and the table."""
    n = len(data.layers)
    fig = _figure(2.7 * n + 0.4, 3.2)
    axes = np.atleast_1d(fig.subplots(1, n))
    Rectangle = require("matplotlib.patches", "plot", "the tour's figures").Rectangle
    reach = max(max(-t, -l, b - 7, r - 7) for _, _, _, (t, l, b, r) in data.layers)
    for ax, (name, layer, shape, (top, left, bottom, right)) in zip(axes, data.layers):
        ax.imshow(data.digit, cmap="gray_r", vmin=0.0, vmax=1.0, extent=(-0.5, 7.5, 7.5, -0.5))
        ax.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5),
                right - left + 1,
                bottom - top + 1,
                fill=True,
                alpha=0.25,
                color="C0",
                linewidth=2,
            )
        )
        ax.add_patch(Rectangle((-0.5, -0.5), 8, 8, fill=False, color="0.4", linestyle="--"))
        ax.set_xlim(-0.5 - reach, 7.5 + reach)
        ax.set_ylim(7.5 + reach, -0.5 - reach)
        size = bottom - top + 1
        ax.set_title(
            f"node {name}: {layer} → {'×'.join(map(str, shape))}\n"
            f"unit {data.unit}: field {size}×{size}",
            fontsize=9,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    name = _save(fig, folder, "receptive-fields.png")
    paragraph = (
        "<b>What each layer of the digits CNN sees.</b> A unit of a convolution or pooling "
        "layer depends on the input only inside its receptive field, which grows layer by "
        "layer by the recurrences j_l = j_{l−1} s_l, r_l = r_{l−1} + d_l (f_l − 1) j_{l−1} "
        "(<code>cnnmath.receptive_field</code>). Each panel shades the field of unit "
        f"{data.unit} of one layer on a test digit (a {data.label}); the dashed square is the "
        "8×8 image, and the field reaches past it into the zero padding. After the second "
        "pooling one unit sees 12×12 cells — more than the whole digit — so the dense layers "
        "that follow decide from every pixel. The tests check these fields against the "
        "support of the gradient of one unit. <i>Uses:</i> the windows are result 1's "
        "3×3 padded convolutions and max pooling; a ReLU before each pooling is, by result "
        "4, the same as one after it."
    )
    extra = f"<pre>{html.escape(data.table)}</pre>"
    return Section(
        "receptive-fields",
        "Receptive fields of the digits CNN",
        paragraph,
        [(name, "receptive fields of one unit per layer of the digits CNN")],
        extra,
    )


def verification_section(data: compute.Verification, on_photo: bool) -> Section:
    """The table of every claim: id, statement (and detail), error, verdict; and the notes."""
    table_rows, classes = [], []
    for row in data.rows:
        cell = html.escape(row["claim"])
        if row.get("detail"):
            cell += f'<div class="small">{html.escape(row["detail"])}</div>'
        table_rows.append(
            [
                f"<code>{html.escape(row['id'])}</code>",
                cell,
                _fmt(row["max_abs_error"]),
                _verdict(row["passed"]),
            ]
        )
        classes.append("" if row["passed"] else "failed")
    passed = sum(row["passed"] for row in data.rows)
    notes_html = "".join(f'<p class="small">note: {html.escape(n)}</p>' for n in data.notes)
    paragraph = (
        "<b>Every claim, checked.</b> <code>cnnmath verify</code> turns each result into "
        "claims and checks them on random tensors (fixed seeds, float64)"
        + (" and on the photograph" if on_photo else "")
        + ". An identity passes when its error, max|got − want| / max|want|, is at most "
        "1e-12 (result 6 against finite differences: 1e-7); a claim that something does "
        "<i>not</i> hold passes when a counterexample shows a real gap, and the error "
        "column then gives that gap. Result 6 is backpropagation through an MLP written "
        "as products of Jacobians, both literally (with the diagonal matrices diag(σ′)) and "
        f"efficiently, a batch at a time. Each claim has a stable id (its first word is the "
        f"result). <b>{passed} of {len(data.rows)} claims pass.</b>"
    )
    extra = _table(["id", "claim", "error", "verdict"], table_rows, classes) + notes_html
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


def page(sections: Sequence[Section], seconds: float, quick: bool) -> str:
    """The whole HTML page: title, contents, the sections in order, a footer."""
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
