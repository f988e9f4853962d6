"""Draw the figures of docs/results.md into docs/img/ (run: ``python docs/make_figures.py``).

Needs the ``image`` and ``plot`` extras (Pillow, matplotlib): ``pip install "cnnmath[image,plot]"``.
Every picture is computed with cnnmath itself from the bundled photograph; PNGs are reduced to
a 256-colour palette so each stays well under 300 KB.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cnnmath import max_pool2d  # noqa: E402
from cnnmath.data import sample_image  # noqa: E402
from cnnmath.filters import average_pool_by_conv, image_gradient, to_grayscale  # noqa: E402
from cnnmath.ops.activations import ACTIVATIONS  # noqa: E402

OUT = Path(__file__).resolve().parent / "img"
DPI = 80


def _save(fig: plt.Figure, name: str) -> Path:
    """Render, reduce to a 256-colour palette (the pictures are smooth: no visible loss)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    buffer.seek(0)
    path = OUT / name
    with Image.open(buffer) as im:
        im.convert("RGB").quantize(256).save(path, optimize=True)
    return path


def _show(ax: plt.Axes, image: np.ndarray, title: str, **kwargs) -> None:
    ax.imshow(image, interpolation="nearest", **kwargs)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()


def gradient_figure(photo: np.ndarray) -> Path:
    """Result 3 then result 1: the photograph, its luma Y′, and the two difference channels."""
    luma = to_grayscale(photo)  # (1, 600, 512)
    y1, y2 = image_gradient(luma)  # each (1, 600, 512)
    limit = float(np.percentile(np.abs(np.concatenate([y1, y2])), 98))
    fig, axes = plt.subplots(1, 4, figsize=(14, 4.4))
    _show(axes[0], photo.transpose(1, 2, 0), "photograph X (R, G, B)")
    _show(axes[1], luma[0], "luma Y′ = 0.299R + 0.587G + 0.114B", cmap="gray", vmin=0, vmax=1)
    for ax, y, title in (
        (axes[2], y1, "Y1 = X[i+1, j] − X[i, j]  (vertical)"),
        (axes[3], y2, "Y2 = X[i, j+1] − X[i, j]  (horizontal)"),
    ):
        _show(ax, y[0], title, cmap="RdBu_r", vmin=-limit, vmax=limit)
    return _save(fig, "gradient.png")


def pooled_figure(photo: np.ndarray) -> Path:
    """Result 2: 8×8 average pooling as a strided convolution, beside 8×8 max pooling."""
    k = 8
    averaged = average_pool_by_conv(photo, k)  # (3, 75, 64)
    maxed = max_pool2d(photo, k)
    fig, axes = plt.subplots(1, 3, figsize=(10, 4.2))
    _show(axes[0], photo.transpose(1, 2, 0), "photograph, 600×512")
    _show(axes[1], averaged.transpose(1, 2, 0), f"conv with δ(c,d)/{k}², stride {k}: 75×64")
    _show(axes[2], maxed.transpose(1, 2, 0), f"max pooling {k}×{k} (for contrast)")
    return _save(fig, "pooled.png")


def dip_figure() -> Path:
    """Result 4: the dips of GELU, SiLU and Mish, and the window that breaks max pooling."""
    x = np.linspace(-6.0, 1.5, 751)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in ("gelu", "silu", "mish"):
        activation = ACTIVATIONS[name]
        (line,) = ax.plot(x, activation.f(x), label=name)
        a, b = activation.minimum_at, -6.0
        ax.plot([a], activation.f(np.array([a])), "o", color=line.get_color())
        ax.plot([b], activation.f(np.array([b])), "s", color=line.get_color())
    ax.plot(x, ACTIVATIONS["relu"].f(x), color="0.6", lw=1, ls="--", label="relu (monotone)")
    ax.axhline(0, color="0.8", lw=0.8)
    ax.set_ylim(-0.4, 1.0)
    ax.set_xlabel("x")
    ax.set_ylabel("σ(x)")
    ax.set_title(
        "window N = {dip ●, far below ■}: max N = ●, but max σ(N) = σ(■) > σ(●)", fontsize=10
    )
    ax.legend(loc="upper left")
    return _save(fig, "dips.png")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    photo = sample_image()
    for path in (gradient_figure(photo), pooled_figure(photo), dip_figure()):
        print(f"{path.relative_to(OUT.parent.parent)}: {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
