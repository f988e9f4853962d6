"""``cnnmath explain conv|pool|transposed --size H W --kernel K ...``: convolution arithmetic,
drawn by probing the real op.

Prints the output-size formula with the numbers filled in and writes an animated GIF and a
PNG strip beside it (see ``cnnmath.explain``); the paths written go to stdout last.
"""

from __future__ import annotations

import argparse

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
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The op, --size H W, --kernel, --stride, --padding, --dilation, -o."""
    from ..explain import KINDS, MAX_SIZE

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("kind", choices=KINDS, help="the op to draw")
    parser.add_argument(
        "--size",
        nargs=2,
        type=whole_number(1),
        metavar=("H", "W"),
        default=[5, 5],
        help=f"input height and width, at most {MAX_SIZE} each (default 5 5)",
    )
    parser.add_argument("--kernel", type=whole_number(1), default=3, metavar="K", help="default 3")
    parser.add_argument("--stride", type=whole_number(1), default=1, metavar="S", help="default 1")
    parser.add_argument("--padding", type=whole_number(0), default=0, metavar="P", help="default 0")
    parser.add_argument(
        "--dilation", type=whole_number(1), default=1, metavar="D", help="default 1"
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
    from ..explain import read_map, write_pictures

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
    print(gif)
    print(png)
    return 0
