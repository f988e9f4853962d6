"""Convolution arithmetic, drawn from the op itself: which input cells each output cell reads.

The classic animations of convolution arithmetic are drawn by hand, and some are wrong.
Here the picture is *measured*: :func:`read_map` feeds the real op (``cnnmath.ops.conv2d``,
``max_pool2d`` or ``conv_transpose2d``) one one-hot image per input cell, all in one batch,
with a filter of ones, and records which output cells respond. Output cell (i, j) reads
input cell (a, b) exactly when the one at (a, b) reaches it, so the map is the op's own
dependency structure; the windows the picture draws (the ops' taps, 0-based here)

    conv, pool:  output (i, j) reads X̃[s·i + d·u, s·j + d·v],  0 ≤ u, v < k
                 (X̃ is X with p cells of padding on every side)
    transposed:  input (a, b) spreads into Y[s·a + d·u − p, s·b + d·v − p]

are checked against that map before anything is drawn; a disagreement raises instead of
drawing a wrong picture. Output sizes (per axis, input size n):

    conv, pool:  floor((n + 2p − d(k − 1) − 1)/s) + 1
    transposed:  (n − 1)s − 2p + d(k − 1) + 1

The transposed convolution is the adjoint of the convolution: its map is
the convolution's map read backwards, which is how the picture shows it — each input cell
spreading into a window of the output, the cells cut off by p drawn outside the output.

:func:`write_pictures` writes an animated GIF (one frame per output cell, or per input cell
for the transposed case) and a PNG strip of its frames — all of them up to STRIP_FRAMES (9),
else a sample of 9 that keeps the first, the last and the centre cell's (:func:`strip_frames`),
each panel labelled "frame n of N" with its cell — each file whole or not at all. Needs
Pillow (``pip install "cnnmath[image]"``).

The pictures are for reading, so their size is bounded, and with it the time and memory a
call takes (at most about 2 s and 160 MB on a 2-core machine, most of it Pillow's GIF
encoding); the limits are checked before anything is probed or drawn, and an input outside
them raises ``ValueError`` naming the argument(s), the range and the value given:

    size          1..MAX_SIZE (32) cells per side
    kernel        1..MAX_KERNEL (32)      stride    1..MAX_STRIDE (32)
    padding       0..MAX_PADDING (16)     dilation  1..MAX_DILATION (32)
    frames        at most MAX_FRAMES (100): output cells H_out·W_out for conv and pool,
                  input cells H·W for transposed (one frame each)
    drawn grid    at most MAX_GRID (64) cells per side, padding ring included: for
                  transposed the uncropped output (H − 1)·s + d(k − 1) + 1 (conv and pool
                  stay within it by the bounds above)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import output_file, positive_int
from ._files import atomic_output
from ._optional import require

__all__ = [
    "KINDS",
    "MAX_DILATION",
    "MAX_FRAMES",
    "MAX_GRID",
    "MAX_KERNEL",
    "MAX_PADDING",
    "MAX_SIZE",
    "MAX_STRIDE",
    "ReadMap",
    "frames",
    "read_map",
    "strip_frames",
    "write_pictures",
]

#: The ops that can be drawn: convolution, max pooling, transposed convolution.
KINDS = ("conv", "pool", "transposed")

#: The largest input side drawn: a picture of more cells is unreadable, and the probe holds
#: (H·W)² numbers.
MAX_SIZE = 32

#: The largest kernel, stride and dilation: the largest input side (a 32 × 32 kernel on a
#: 32 × 32 input is a dense layer, one frame); the frames and the drawn grid bound the rest.
MAX_KERNEL = MAX_STRIDE = MAX_DILATION = MAX_SIZE

#: The largest padding: half the largest side, so a padded input is at most MAX_GRID a side.
MAX_PADDING = MAX_SIZE // 2

#: The most frames in the animation (output cells for conv/pool, input cells for transposed):
#: 10×10 cells, 70 s of animation at 0.7 s a frame. Drawing and GIF-encoding a frame costs
#: up to about 15 ms, so this bounds a call to about 2 s.
MAX_FRAMES = 100

#: The largest side of a drawn grid, its padding ring included (at that size a cell is 6
#: pixels, the smallest drawn). Conv and pool stay within it (H + 2p <= 32 + 2·16); it bounds
#: the transposed output, (H − 1)·s + d(k − 1) + 1 before the padding crops it.
MAX_GRID = 2 * MAX_SIZE

#: The ranges of the op's arguments, (lowest, highest).
_RANGES = {
    "kernel": (1, MAX_KERNEL),
    "stride": (1, MAX_STRIDE),
    "padding": (0, MAX_PADDING),
    "dilation": (1, MAX_DILATION),
}

#: The most frames in the PNG strip: every frame of an animation of at most this many (a 3×3
#: output whole), else a sample (:func:`strip_frames`: the first, the last and the centre).
STRIP_FRAMES = 9


@dataclass(frozen=True)
class ReadMap:
    """The measured dependency structure of one op on an H×W input (0-based coordinates).

    kind : "conv", "pool" or "transposed".
    size, kernel, stride, padding, dilation : (H, W) and the op's arguments (one int each,
        the same for both axes).
    out_size : (H_out, W_out), the shape of the op's output.
    reads : bool array (H_out, W_out, H, W); ``reads[i, j, a, b]`` is True exactly when
        output cell (i, j) depends on input cell (a, b) — measured by one-hot probing.
    formula : the output-size formula with the numbers filled in, one line per axis.
    """

    kind: str
    size: tuple[int, int]
    kernel: int
    stride: int
    padding: int
    dilation: int
    out_size: tuple[int, int]
    reads: np.ndarray
    formula: str

    def taps(self, cell: tuple[int, int]) -> list[tuple[int, int]]:
        """The window of ``cell`` as the formula draws it, coordinates possibly outside the
        grid (in the padding): for conv/pool the input cells that output ``cell`` reads
        (in X's coordinates, so the padding is at −p..−1 and H..H+p−1); for transposed the
        output cells that input ``cell`` spreads into (cut-off ones at < 0 or ≥ H_out)."""
        k, s, p, d = self.kernel, self.stride, self.padding, self.dilation
        shift = -p
        return [
            (s * cell[0] + d * u + shift, s * cell[1] + d * v + shift)
            for u in range(k)
            for v in range(k)
        ]


def _out_size(kind: str, n: int, k: int, s: int, p: int, d: int) -> int:
    if kind == "transposed":
        return (n - 1) * s - 2 * p + d * (k - 1) + 1
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _formula(kind: str, size: tuple[int, int], k: int, s: int, p: int, d: int) -> str:
    lines = []
    for axis, n in zip("HW", size):
        out = _out_size(kind, n, k, s, p, d)
        if kind == "transposed":
            lines.append(
                f"{axis}_out = ({axis} − 1)·s − 2p + d(k − 1) + 1 = "
                f"({n} − 1)·{s} − 2·{p} + {d}·({k} − 1) + 1 = {out}"
            )
        else:
            lines.append(
                f"{axis}_out = floor(({axis} + 2p − d(k − 1) − 1)/s) + 1 = "
                f"floor(({n} + 2·{p} − {d}·({k} − 1) − 1)/{s}) + 1 = {out}"
            )
    return "\n".join(lines)


def _probe(kind: str, H: int, W: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """Run the real op on H·W one-hot images at once; (H_out, W_out, H, W) of responses."""
    from . import ops

    one_hot = np.eye(H * W).reshape(H * W, 1, H, W)
    ones = np.ones((1, 1, k, k))
    if kind == "conv":
        y = ops.conv2d(one_hot, ones, stride=s, padding=p, dilation=d)
    elif kind == "pool":
        y = ops.max_pool2d(one_hot, k, stride=s, padding=p, dilation=d)
    else:
        y = ops.conv_transpose2d(one_hot, ones, stride=s, padding=p, dilation=d)
    assert isinstance(y, np.ndarray)
    Ho, Wo = y.shape[2:]
    return (y[:, 0] != 0).transpose(1, 2, 0).reshape(Ho, Wo, H, W)


def _check_limits(
    kind: str, size: Any, kernel: Any, stride: Any, padding: Any, dilation: Any
) -> tuple[tuple[int, int], int, int, int, int, tuple[int, int]]:
    """Every limit of the module docstring, from the arguments alone (no probing, no
    drawing); returns ((H, W), k, s, p, d, (H_out, W_out)) or raises naming the argument."""
    func = "explain"
    if kind not in KINDS:
        raise ValueError(f"{func}: kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"{func}: size: expected (H, W), got {size!r}")
    H, W = (positive_int(f"size[{i}]", n, func=func, maximum=MAX_SIZE) for i, n in enumerate(size))
    args = dict(kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    k, s, p, d = (
        positive_int(name, args[name], func=func, minimum=low, maximum=high)
        for name, (low, high) in _RANGES.items()
    )
    if kind == "pool" and p > k // 2:  # max_pool2d's rule: every window holds a real cell
        raise ValueError(
            f"{func}: padding: expected at most half the kernel for pool (k // 2 = {k // 2}), "
            f"got {p} for kernel {k}"
        )
    out = (_out_size(kind, H, k, s, p, d), _out_size(kind, W, k, s, p, d))
    given = f"size {H}×{W}, kernel {k}, stride {s}, padding {p}, dilation {d}"
    if min(out) < 1:
        span = d * (k - 1) + 1
        if kind == "transposed":  # (n − 1)·s + d(k − 1) + 1 cells before the crop of 2p
            raise ValueError(
                f"{func}: padding: expected at most half the transposed output before its "
                f"crop, ((n − 1)·s + d(k − 1)) / 2, got an output of {out[0]}×{out[1]} "
                f"({given})"
            )
        raise ValueError(
            f"{func}: kernel, dilation, padding: expected a window that fits, got an output of "
            f"{out[0]}×{out[1]} (window span d(k − 1) + 1 = {span} on a {H}×{W} input with "
            f"padding {p}; {given})"
        )
    if kind == "transposed":
        if H * W > MAX_FRAMES:
            raise ValueError(
                f"{func}: size: expected at most {MAX_FRAMES} input cells H·W for transposed "
                f"(one frame each), got {H}×{W} = {H * W}"
            )
        grid = max(out) + 2 * p  # (n − 1)·s + d(k − 1) + 1: the output before the crop
        if grid > MAX_GRID:
            raise ValueError(
                f"{func}: size, stride, kernel, dilation: expected a transposed output of at "
                f"most {MAX_GRID} cells per side with its padding ring, (n − 1)·s + d(k − 1) "
                f"+ 1, got {grid} ({given})"
            )
    elif out[0] * out[1] > MAX_FRAMES:
        raise ValueError(
            f"{func}: size, kernel, stride, padding, dilation: expected at most {MAX_FRAMES} "
            f"output cells H_out·W_out (one frame each), got {out[0]}×{out[1]} = "
            f"{out[0] * out[1]} ({given}); a smaller size or a larger stride draws fewer"
        )
    return (H, W), k, s, p, d, out


def read_map(
    kind: str,
    size: tuple[int, int],
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> ReadMap:
    """Measure which input cells each output cell of ``kind`` reads, by one-hot probing.

    Parameters
    ----------
    kind : "conv" (``conv2d``), "pool" (``max_pool2d``) or "transposed"
        (``conv_transpose2d``), one input and one output channel.
    size : (H, W), the input's side lengths, 1..MAX_SIZE (32) each.
    kernel, stride, dilation : ints 1..32 (MAX_KERNEL, MAX_STRIDE, MAX_DILATION);
        padding : int 0..16 (MAX_PADDING; pooling allows at most k // 2, as PyTorch
        does, checked here with the other limits).

    The picture has one frame per output cell (conv, pool) or input cell (transposed): at
    most MAX_FRAMES (100) of them. The transposed output before the padding crops it,
    (H − 1)·s + d(k − 1) + 1, is at most MAX_GRID (64) per side. An argument outside these
    limits, or a window that does not fit, raises ``ValueError`` (``TypeError`` for a
    non-int) naming it, before anything is probed.

    Returns
    -------
    :class:`ReadMap` with ``reads`` of shape (H_out, W_out, H, W). Before returning, the
    map is compared with the windows of the formula (:meth:`ReadMap.taps`) restricted to
    the grid; a difference raises ``RuntimeError`` naming the cell.

    >>> m = read_map("conv", (4, 4), kernel=3, padding=1, stride=2)
    >>> m.out_size, int(m.reads[0, 0].sum()), int(m.reads[1, 1].sum())
    ((2, 2), 4, 9)
    """
    (H, W), k, s, p, d, out = _check_limits(kind, size, kernel, stride, padding, dilation)
    reads = _probe(kind, H, W, k, s, p, d)
    if reads.shape[:2] != out:
        raise RuntimeError(f"explain: the op's output is {reads.shape[:2]}, the formula's {out}")
    result = ReadMap(kind, (H, W), k, s, p, d, out, reads, _formula(kind, (H, W), k, s, p, d))
    _check_against_formula(result)
    return result


def _formula_map(m: ReadMap) -> np.ndarray:
    """The map the drawn windows imply, (H_out, W_out, H, W)."""
    H, W = m.size
    Ho, Wo = m.out_size
    want = np.zeros((Ho, Wo, H, W), dtype=bool)
    if m.kind == "transposed":
        for a in range(H):
            for b in range(W):
                for i, j in m.taps((a, b)):
                    if 0 <= i < Ho and 0 <= j < Wo:
                        want[i, j, a, b] = True
    else:
        for i in range(Ho):
            for j in range(Wo):
                for a, b in m.taps((i, j)):
                    if 0 <= a < H and 0 <= b < W:
                        want[i, j, a, b] = True
    return want


def _check_against_formula(m: ReadMap) -> None:
    diff = np.argwhere(_formula_map(m) != m.reads)
    if len(diff):
        i, j, a, b = (int(v) for v in diff[0])
        raise RuntimeError(
            f"explain: the {m.kind} op and the drawn window disagree: output ({i}, {j}) "
            f"{'reads' if m.reads[i, j, a, b] else 'does not read'} input ({a}, {b})"
        )


# ---------------------------------------------------------------------------------------------
# Pictures

_WHITE, _GRID, _PAD = (255, 255, 255), (90, 90, 90), (225, 225, 225)
_READ, _READ_PAD = (66, 133, 244), (170, 200, 250)  # window cells: in the grid / in padding
_CURRENT, _DONE = (244, 160, 0), (255, 228, 170)


def _cell_px(m: ReadMap) -> int:
    H, W = m.size
    Ho, Wo = m.out_size
    ring = m.padding
    largest = max(H + 2 * ring, W + 2 * ring, Ho + 2 * ring, Wo + 2 * ring)
    return int(np.clip(360 // largest, 6, 28))


def _grid(
    draw: Any,
    origin: tuple[int, int],
    shape: tuple[int, int],
    ring: int,
    cell: int,
    colours: dict[tuple[int, int], tuple[int, int, int]],
) -> None:
    """Cells (r, c) for −ring ≤ r < rows + ring: the ring in gray, ``colours`` on top."""
    x0, y0 = origin
    rows, cols = shape
    for r in range(-ring, rows + ring):
        for c in range(-ring, cols + ring):
            inside = 0 <= r < rows and 0 <= c < cols
            fill = colours.get((r, c), _WHITE if inside else _PAD)
            left, top = x0 + (c + ring) * cell, y0 + (r + ring) * cell
            draw.rectangle(
                [left, top, left + cell, top + cell],
                fill=fill,
                outline=_GRID if inside else (185, 185, 185),
            )


def _paint(
    draw: Any,
    origin: tuple[int, int],
    shape: tuple[int, int],
    ring: int,
    cell: int,
    colours: dict[tuple[int, int], tuple[int, int, int]],
) -> None:
    """Refill the insides of the cells in ``colours`` on a grid :func:`_grid` drew: the
    pixels :func:`_grid` with these ``colours`` draws (the outlines stay as they were)."""
    x0, y0 = origin
    rows, cols = shape
    for (r, c), fill in colours.items():
        if -ring <= r < rows + ring and -ring <= c < cols + ring:
            left, top = x0 + (c + ring) * cell, y0 + (r + ring) * cell
            draw.rectangle([left + 1, top + 1, left + cell - 1, top + cell - 1], fill=fill)


def frames(m: ReadMap) -> list[Any]:
    """The animation: one PIL image per output cell (conv, pool) or input cell (transposed).

    Left the input, right the output. Conv/pool: the output cell being computed in orange,
    the input cells it reads in blue (light blue where its window lies in the padding, the
    gray ring). Transposed: the input cell in orange, the output cells it spreads into in
    blue (light blue where the padding p cuts them off, the gray ring around the output).

    ``m`` is held to :func:`read_map`'s limits (at most MAX_FRAMES frames, grids of at most
    MAX_GRID cells a side): a :class:`ReadMap` built by hand outside them raises
    ``ValueError`` before anything is drawn.
    """
    _check_drawable(m)
    Image = require("PIL.Image", "image", "explain's pictures")
    ImageDraw = require("PIL.ImageDraw", "image", "explain's pictures")
    cell = _cell_px(m)
    H, W = m.size
    Ho, Wo = m.out_size
    p = m.padding
    in_ring, out_ring = (0, p) if m.kind == "transposed" else (p, 0)
    margin, gap, label = 10, 3 * cell + 10, 22
    left_w, left_h = (W + 2 * in_ring) * cell, (H + 2 * in_ring) * cell
    right_w, right_h = (Wo + 2 * out_ring) * cell, (Ho + 2 * out_ring) * cell
    width = margin + left_w + gap + right_w + margin + 1
    height = label + max(left_h, right_h) + margin + 1
    names = {"conv": "conv2d", "pool": "max_pool2d", "transposed": "conv_transpose2d"}
    caption = f"{names[m.kind]}  k={m.kernel} s={m.stride} p={p} d={m.dilation}"
    left_org, right_org = (margin, label), (margin + left_w + gap, label)

    # The caption and the two empty grids are the same in every frame: drawn once, and each
    # frame repaints only its coloured cells (up to 2·64² cells a grid, k² coloured ones).
    blank = Image.new("RGB", (width, height), _WHITE)
    draw = ImageDraw.Draw(blank)
    draw.text((margin, 4), f"{caption}   input {H}x{W} -> output {Ho}x{Wo}", fill=(0, 0, 0))
    _grid(draw, left_org, (H, W), in_ring, cell, {})
    _grid(draw, right_org, (Ho, Wo), out_ring, cell, {})

    images = []
    sources = [(a, b) for a in range(H) for b in range(W)]
    targets = [(i, j) for i in range(Ho) for j in range(Wo)]
    for n, current in enumerate(sources if m.kind == "transposed" else targets):
        image = blank.copy()
        draw = ImageDraw.Draw(image)
        window = {t: (_READ if _inside(t, m) else _READ_PAD) for t in m.taps(current)}
        if m.kind == "transposed":
            _paint(draw, left_org, (H, W), in_ring, cell, {current: _CURRENT})
            _paint(draw, right_org, (Ho, Wo), out_ring, cell, window)
        else:
            done = {t: _DONE for t in targets[:n]}
            _paint(draw, left_org, (H, W), in_ring, cell, window)
            _paint(draw, right_org, (Ho, Wo), out_ring, cell, {**done, current: _CURRENT})
        mid = label + max(left_h, right_h) // 2
        arrow_x = margin + left_w + gap // 2
        draw.line([arrow_x - cell, mid, arrow_x + cell, mid], fill=_GRID, width=2)
        draw.polygon(
            [(arrow_x + cell, mid - 5), (arrow_x + cell + 7, mid), (arrow_x + cell, mid + 5)],
            fill=_GRID,
        )
        images.append(image)
    return images


def _check_drawable(m: ReadMap) -> None:
    """The limits of :func:`read_map`, for a map that may have been built by hand."""
    size, *_, out = _check_limits(m.kind, m.size, m.kernel, m.stride, m.padding, m.dilation)
    shape = getattr(m.reads, "shape", None)
    if tuple(m.out_size) != out or shape != (*out, *size):
        raise ValueError(
            f"explain: m: expected out_size {out} and reads of shape {(*out, *size)} for "
            f"these arguments, got {m.out_size} and {shape}"
        )


def _inside(t: tuple[int, int], m: ReadMap) -> bool:
    rows, cols = m.out_size if m.kind == "transposed" else m.size
    return 0 <= t[0] < rows and 0 <= t[1] < cols


def _animated(m: ReadMap) -> tuple[int, int]:
    """The grid the animation walks, one frame per cell in row-major order: the output
    (H_out, W_out) for conv and pool, the input (H, W) for transposed."""
    return m.size if m.kind == "transposed" else m.out_size


def strip_frames(m: ReadMap) -> list[int]:
    """The frames of :func:`frames` that the PNG strip shows, 0-based and in order.

    Every frame when there are at most :data:`STRIP_FRAMES` (9) of them. Otherwise 9 frames:
    ``round(t·(N − 1)/8)`` for t = 0..8 (evenly spaced, the first and the last cell
    included), the one nearest to the centre cell (⌊rows/2⌋, ⌊cols/2⌋) of the animated grid
    replaced by that cell's frame when the spacing misses it — the centre is where a window
    lies wholly inside the image, the case a learner most needs beside the corners. (For an
    odd × odd grid the spacing already hits it: the centre's index is (N − 1)/2.)

    >>> strip_frames(read_map("conv", (7, 7), 3, padding=1))  # 49 frames, centre (3, 3) = 24
    [0, 6, 12, 18, 24, 30, 36, 42, 48]
    """
    rows, cols = _animated(m)
    n = rows * cols
    if n <= STRIP_FRAMES:
        return list(range(n))
    picks = [int(round(t)) for t in np.linspace(0, n - 1, STRIP_FRAMES)]
    centre = (rows // 2) * cols + cols // 2
    if centre not in picks:
        inner = range(1, STRIP_FRAMES - 1)  # the first and the last stay
        picks[min(inner, key=lambda t: abs(picks[t] - centre))] = centre
    return sorted(set(picks))


def _strip(m: ReadMap, images: list[Any]) -> Any:
    """The frames ``strip_frames(m)`` side by side, each over a line naming it: "frame n of
    N: output (i, j)" (1-based frame, 0-based cell as in the picture; "input" for
    transposed)."""
    Image = require("PIL.Image", "image", "explain's pictures")
    ImageDraw = require("PIL.ImageDraw", "image", "explain's pictures")
    picks = strip_frames(m)
    cols = _animated(m)[1]
    role = "input" if m.kind == "transposed" else "output"
    w, h = images[0].size
    band = 18
    strip = Image.new("RGB", (w * len(picks), h + band), _WHITE)
    draw = ImageDraw.Draw(strip)
    for n, index in enumerate(picks):
        strip.paste(images[index], (n * w, band))
        cell = divmod(index, cols)
        label = f"frame {index + 1} of {len(images)}: {role} ({cell[0]}, {cell[1]})"
        draw.text((n * w + 10, 4), label, fill=(0, 0, 0))
    return strip


def write_pictures(
    m: ReadMap, gif: str | os.PathLike[str], png: str | os.PathLike[str] | None = None
) -> tuple[Path, Path]:
    """Write the animation of :func:`frames` to ``gif`` and a strip of the frames
    :func:`strip_frames` picks (all, up to ``STRIP_FRAMES``; else 9 with the first, the last
    and the centre cell's), each under a line "frame n of N: output (i, j)", to ``png``
    (default: ``gif`` with the suffix .png).

    Both files are written to temporary names and renamed into place only when both are
    complete: a failure leaves neither half-written (an earlier file stays as it was). A
    map outside :func:`read_map`'s limits raises ``ValueError`` before anything is drawn.
    Returns the two paths written.
    """
    gif_path = output_file("output", gif, func="explain")
    png_path = output_file(
        "png", gif_path.with_suffix(".png") if png is None else png, func="explain"
    )
    if gif_path == png_path:
        raise ValueError(f"explain: output: the GIF and the PNG strip would both be {gif_path}")
    images = frames(m)
    strip = _strip(m, images)
    with atomic_output(gif_path) as gif_file, atomic_output(png_path) as png_file:
        images[0].save(
            gif_file,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=700,
            loop=0,
        )
        strip.save(png_file, format="PNG")
    return gif_path, png_path
