"""Draw docs/img/halo.png for docs/scale.md (run: ``python docs/make_halo_figure.py``).

Needs the ``plot`` and ``dask`` extras. Everything drawn is computed by cnnmath: the chunk
grid after ``tiled.apply``'s alignment, the input region one output block reads (its plan),
and the receptive field of that block's first output pixel, checked against the support of
its gradient.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cnnmath import nn, receptive_field  # noqa: E402
from cnnmath.tiled import _plan_axis, _program  # noqa: E402

OUT = Path(__file__).resolve().parent / "img" / "halo.png"


def main() -> None:
    rng = np.random.default_rng(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 1, 3, padding=1, rng=rng, dtype=np.float64),
    )
    n, chunk = 48, 16
    program, field = _program(net, (1, n, n))
    bounds = list(range(0, n + 1, chunk))
    block = 1  # the middle block along each axis
    outs = [0, *(int(np.ceil((b - field.start[0]) / field.jump[0])) for b in bounds[1:-1])]
    outs.append(field.shape[1])
    plan = _plan_axis(program, 0, (outs[block], outs[block + 1]), bounds)
    a0 = plan.starts[program.input]
    b0 = a0 + sum(e - s for _, s, e in plan.blocks)

    # the empirical field of the block's first output pixel: support of its gradient
    for p in net.parameters():
        p.data[...] = np.abs(p.data) + 0.1
    support = np.zeros((n, n), bool)
    for _ in range(16):
        x = rng.lognormal(0.0, 3.0, (1, 1, n, n))
        y = net(x)
        g = np.zeros_like(y)
        g[0, 0, outs[block], outs[block]] = 1.0
        support |= net.backward(g)[0, 0] != 0
    lo, hi = field.interval(outs[block], 0)

    fig, ax = plt.subplots(figsize=(5, 5), dpi=90)
    ax.imshow(support, cmap="Greys", vmin=0, vmax=2, origin="upper", extent=(0, n, n, 0))
    for b in bounds[1:-1]:
        ax.axhline(b, color="0.6", lw=0.8)
        ax.axvline(b, color="0.6", lw=0.8)
    s = bounds[block]
    ax.add_patch(Rectangle((s, s), chunk, chunk, fill=False, ec="tab:blue", lw=2, label="chunk"))
    ax.add_patch(
        Rectangle(
            (a0, a0),
            b0 - a0,
            b0 - a0,
            fill=False,
            ec="tab:red",
            lw=2,
            ls="--",
            label=f"region read (halo {s - a0} before, {b0 - s - chunk} after)",
        )
    )
    ax.add_patch(
        Rectangle(
            (lo, lo),
            hi - lo + 1,
            hi - lo + 1,
            fill=False,
            ec="tab:green",
            lw=1.5,
            label=f"field of the block's first output ({field.size[0]}×{field.size[1]})",
        )
    )
    ax.set_title("One output block and the input it needs")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    ax.set_xlim(0, n)
    ax.set_ylim(n, 0)
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT)
    print(receptive_field(net, (1, n, n)))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
