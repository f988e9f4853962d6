"""``python -m cnnmath.bench``: the benchmark against PyTorch (see ``cnnmath.bench.main``)."""

from . import main

raise SystemExit(main())
