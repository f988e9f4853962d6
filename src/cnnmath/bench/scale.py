"""The large-image run of docs/scale.md: a 32768 × 32768 float32 image (4 GiB) in Zarr,
through a three-layer convolutional network, into Zarr, block by block — its time, the peak
memory of every process of the run together, and its numbers against the whole-image
computation on sampled tiles.

    python -m cnnmath.bench.scale [--size 32768] [--chunk 1024] [--dir /tmp/cnnmath-scale]

Not part of the test suite (it takes minutes and 8 GiB of disk). Steps:

1. the input, uniform random float32 from a fixed seed, is written to DIR/in.zarr (once;
   kept for later runs unless --fresh);
2. a fresh interpreter runs ``tiled_io.save_array(tiled.apply(net, open_array(in)),
   out)`` with dask's threads, while this process samples the resident set size of that
   process and all its descendants (psutil, every 50 ms) and keeps the peak of the sum;
3. for sampled output windows (the four corners, edges and random ones), the network is
   run in memory on the input window grown by a margin (8 > the field's half-width 3 on
   every side, the image's own edges where they are) and compared with what was written:
   the witness never sees the tiling.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MARGIN = 8  # > (receptive field size − 1)/2 = 3 of the network below


def network() -> Any:
    """Conv 3×3 (1→4) · ReLU · conv 3×3 (4→4) · ReLU · conv 3×3 (4→1), 'same' padding,
    float32, fixed seeds: field 7×7, jump 1."""
    from .. import nn

    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=0),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, rng=1),
        nn.ReLU(),
        nn.Conv2d(4, 1, 3, padding=1, rng=2),
    ).eval()


def make_input(path: Path, size: int, chunk: int) -> None:
    """Uniform random float32 (size, size) in Zarr chunks of ``chunk``², seed 0."""
    import dask.array as da

    from .. import tiled_io

    x = da.random.default_rng(0).random((size, size), chunks=chunk, dtype=np.float32)
    tiled_io.save_array(x, path)


def child(source: str, target: str) -> None:
    """What the measured process runs: the network over the Zarr input, into Zarr."""
    from .. import tiled, tiled_io

    x = tiled_io.open_array(source)  # (1, H, W)
    tiled_io.save_array(tiled.apply(network(), x), target, progress=sys.stderr)


def _tree_rss(proc: Any) -> int:
    import psutil  # type: ignore[import-untyped]

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(source: Path, target: Path) -> tuple[float, int]:
    """(seconds, peak bytes of the process tree's summed RSS) of the child run."""
    import psutil

    code = f"from cnnmath.bench.scale import child; child({str(source)!r}, {str(target)!r})"
    start = time.perf_counter()
    run = subprocess.Popen([sys.executable, "-c", code])
    proc = psutil.Process(run.pid)
    peak = 0
    while run.poll() is None:
        try:
            peak = max(peak, _tree_rss(proc))
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"scale: the run failed with status {run.returncode}")
    return seconds, peak


def windows(size: int, side: int, count: int, seed: int = 0) -> list[tuple[int, int]]:
    """Top-left corners of ``side``² windows: the four corners, two edge midpoints and
    ``count`` random ones."""
    last = size - side
    fixed = [(0, 0), (0, last), (last, 0), (last, last), (0, last // 2), (last // 2, 0)]
    rng = np.random.default_rng(seed)
    return fixed + [(int(a), int(b)) for a, b in rng.integers(0, last + 1, (count, 2))]


def check(source: Path, target: Path, side: int = 256, count: int = 6) -> float:
    """The largest relative error max|tiled − whole| / max|whole| over the sampled windows."""
    import zarr

    x = zarr.open_array(source, mode="r")
    y = zarr.open_array(target, mode="r")
    n = x.shape[-1]
    net = network()
    worst = 0.0
    for r, c in windows(n, side, count):
        r0, c0 = max(0, r - MARGIN), max(0, c - MARGIN)
        r1, c1 = min(n, r + side + MARGIN), min(n, c + side + MARGIN)
        crop = np.asarray(x[r0:r1, c0:c1], dtype=np.float32)
        want = net(crop[None, None])[0, 0, r - r0 : r - r0 + side, c - c0 : c - c0 + side]
        got = np.asarray(y[0, r : r + side, c : c + side])
        worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print one line of figures."""
    parser = argparse.ArgumentParser(prog="python -m cnnmath.bench.scale", description=__doc__)
    parser.add_argument("--size", type=int, default=32768, help="image side (default 32768)")
    parser.add_argument("--chunk", type=int, default=1024, help="Zarr chunk side (default 1024)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/cnnmath-scale"))
    parser.add_argument("--fresh", action="store_true", help="rewrite the input too")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    source, target = args.dir / f"in-{args.size}.zarr", args.dir / f"out-{args.size}.zarr"
    if args.fresh or not source.exists():
        t = time.perf_counter()
        make_input(source, args.size, args.chunk)
        print(f"input written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    shutil.rmtree(target, ignore_errors=True)
    seconds, peak = measure(source, target)
    error = check(source, target)
    gib = args.size * args.size * 4 / 2**30
    print(
        f"scale: {args.size}x{args.size} float32 ({gib:.3g} GiB) Zarr -> 3-layer conv net -> "
        f"Zarr, chunks {args.chunk}: {seconds:.1f} s, peak RSS of the run's processes "
        f"{peak / 2**20:.0f} MiB, sampled tiles max relative error {error:.2e}"
    )
    return 0 if error <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
