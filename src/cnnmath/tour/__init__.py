"""The tour: every result (docs/results.md) run on the bundled photograph, as one offline HTML page.

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

Three modules: :mod:`~cnnmath.tour.compute` returns every number and array as data (claims
found by their stable ids; a missing one raises, naming it), :mod:`~cnnmath.tour.render`
turns that data into figures and HTML, and :mod:`~cnnmath.tour.build` runs the steps and
writes the report atomically.
"""

from __future__ import annotations

from . import build, compute, render
from .build import DEFAULT_DIR, MARKER, build_tour
from .compute import POOL_K, TRAINING_RUN

__all__ = [
    "DEFAULT_DIR",
    "MARKER",
    "POOL_K",
    "TRAINING_RUN",
    "build",
    "build_tour",
    "compute",
    "render",
]
