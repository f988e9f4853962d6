"""``cnnmath explain conv|pool|transposed --size H W --kernel K ...``: convolution arithmetic,
drawn by probing the real op.

Prints the output-size formula with the numbers filled in and writes an animated GIF and a
PNG strip beside it (see ``cnnmath.explain``); then a line naming the frames the strip holds
(all, or 9 with the first, the last and the centre cell's), and the paths written, last.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._args import whole_number

NAME = "explain"
HELP = "draw which input cells each output cell reads (GIF + PNG strip), probed from the op"
ORDER = 15

_EPILOG = """\
The picture is measured, not drawn by hand: the op (conv2d, max_pool2d or conv_transpose2d)
runs on one one-hot image per input cell, and a cell is shown as read exactly when its one
reaches the output cell. "transposed" is drawn as the adjoint: each input cell spreads into a
window of the output (cells cut off by the padding drawn in the gray ring). Both files are
written whole or not at all. Needs Pillow: pip install "cnnmath[image]".

The PNG strip shows every frame of the GIF when there are at most {strip}; otherwise {strip}
of them, evenly spaced, always with the first, the last and the centre cell's (the window
wholly inside the image). Each panel is labelled "frame n of N: output (i, j)", and a line
before the paths says which frames the strip holds.

Limits, so that the picture stays readable and a run takes a few seconds at most (checked
before anything is probed or drawn; the error names the option and the range):
  --size H W        1..{size} each
  --kernel 1..{kernel}, --stride 1..{stride}, --padding 0..{padding}, --dilation 1..{dilation}
  frames            at most {frames}, one per output cell H_out*W_out for conv and pool,
                    one per input cell H*W for transposed
  transposed        the output before the padding crops it, (H - 1)*s + d*(k - 1) + 1
                    (and the same with W), at most {grid}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The op, --size H W, --kernel, --stride, --padding, --dilation, -o."""
    from ..explain import (
        KINDS,
        MAX_DILATION,
        MAX_FRAMES,
        MAX_GRID,
        MAX_KERNEL,
        MAX_PADDING,
        MAX_SIZE,
        MAX_STRIDE,
        STRIP_FRAMES,
    )

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG.format(
        size=MAX_SIZE,
        kernel=MAX_KERNEL,
        stride=MAX_STRIDE,
        padding=MAX_PADDING,
        dilation=MAX_DILATION,
        frames=MAX_FRAMES,
        grid=MAX_GRID,
        strip=STRIP_FRAMES,
    )
    parser.add_argument("kind", choices=KINDS, help="the op to draw")
    parser.add_argument(
        "--size",
        nargs=2,
        type=whole_number(1, MAX_SIZE),
        metavar=("H", "W"),
        default=[5, 5],
        help=f"input height and width, 1..{MAX_SIZE} each (default 5 5)",
    )
    for flag, metavar, low, high, default in (
        ("--kernel", "K", 1, MAX_KERNEL, 3),
        ("--stride", "S", 1, MAX_STRIDE, 1),
        ("--padding", "P", 0, MAX_PADDING, 0),
        ("--dilation", "D", 1, MAX_DILATION, 1),
    ):
        parser.add_argument(
            flag,
            type=whole_number(low, high),
            default=default,
            metavar=metavar,
            help=f"{low}..{high} (default {default})",
        )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT.gif",
        default=None,
        help="the animation; the strip goes beside it as OUT.png (default explain-KIND.gif)",
    )


def run(args: argparse.Namespace) -> int:
    """Probe, print the formula, write the two pictures, print their paths."""
    from ..explain import read_map, strip_frames, write_pictures

    m = read_map(
        args.kind,
        tuple(args.size),
        kernel=args.kernel,
        stride=args.stride,
        padding=args.padding,
        dilation=args.dilation,
    )
    gif, png = write_pictures(m, args.output or f"explain-{args.kind}.gif")
    print(m.formula)
    print(_strip_line(m, strip_frames(m)))
    print(gif)
    print(png)
    return 0


def _strip_line(m: Any, picks: list[int]) -> str:
    """``strip: all 9 frames`` or ``strip: frames 1, 4, ... of 25 (first, centre (2, 2),
    last)``: which of the GIF's frames the PNG holds, 1-based as its labels."""
    rows, cols = m.size if m.kind == "transposed" else m.out_size
    total = rows * cols
    if len(picks) == total:
        return f"strip: all {total} frames of the GIF"
    role = "input" if m.kind == "transposed" else "output"
    shown = ", ".join(str(i + 1) for i in picks)
    return (
        f"strip: frames {shown} of {total} (the first, the centre {role} cell "
        f"({rows // 2}, {cols // 2}) and the last included)"
    )
