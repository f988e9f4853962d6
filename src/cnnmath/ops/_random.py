"""The package's default random generator: what every ``rng=None`` draws from (a layer's
initial weights, ``nn.init``, dropout masks, a DataLoader's shuffle, ``random_split``),
and ``manual_seed``, which makes those draws reproducible, as ``torch.manual_seed`` does
for PyTorch's global generator.

There is one generator for the process, made at import from fresh OS entropy: until
``manual_seed`` is called, runs differ (NumPy's convention for an unseeded generator).
``manual_seed(s)`` resets that same generator object in place, so a layer that already
holds it (a Dropout made with ``rng=None``) draws from the new stream too. An explicit
``rng=`` (a seed or a ``numpy.random.Generator``) never touches it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_DEFAULT = np.random.default_rng()


def default_generator() -> np.random.Generator:
    """The generator an ``rng=None`` draws from (see the module docstring)."""
    return _DEFAULT


def manual_seed(seed: Any) -> np.random.Generator:
    """Seed the default generator, as ``torch.manual_seed(seed)``: from here on every draw
    made with ``rng=None`` follows from ``seed`` alone, so a script that calls it first
    builds the same weights, masks and batch orders on every run. ``seed`` an int in
    [−2⁶³, 2⁶⁴), a negative one read as seed + 2⁶⁴, as PyTorch reads it; returns the
    default generator (``numpy.random.Generator``, PCG64 seeded with that number).

    >>> import cnnmath
    >>> from cnnmath import nn
    >>> _ = cnnmath.manual_seed(0)
    >>> a = nn.Linear(3, 2).weight.data.copy()
    >>> _ = cnnmath.manual_seed(0)
    >>> bool((nn.Linear(3, 2).weight.data == a).all())
    True
    """
    expected = "an int in [-2**63, 2**64)"
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"manual_seed: seed: expected {expected}, got {type(seed).__name__} {seed!r}"
        )
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"manual_seed: seed: expected {expected}, got {seed}")
    _DEFAULT.bit_generator.state = type(_DEFAULT.bit_generator)(int(seed) % 2**64).state
    return _DEFAULT
