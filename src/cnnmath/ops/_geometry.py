"""Geometry shared by convolution and pooling: int-or-pair arguments, padding rules, output size.

One place for the arithmetic of the size conventions (PyTorch's) so the ops and their docs agree:

    out = floor((m + p_before + p_after - d (f - 1) - 1) / s) + 1

for an input of size m, kernel size f, stride s, dilation d.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from .._checks import int_pair

Pair = tuple[int, int]
Pads = tuple[Pair, Pair]  # ((top, bottom), (left, right))


def output_size(m: int, f: int, s: int, p_before: int, p_after: int, d: int = 1) -> int:
    """floor((m + p_before + p_after - d(f-1) - 1) / s) + 1 (may be <= 0: the caller checks)."""
    return (m + p_before + p_after - d * (f - 1) - 1) // s + 1


def same_pads(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """PyTorch's ``padding="same"`` per axis (stride 1): d(f − 1) in total, ``total // 2``
    before and the rest after — the extra zero of an even effective kernel after."""
    totals = [d * (f - 1) for f, d in zip(kernel, dilation)]
    return tuple((t // 2, t - t // 2) for t in totals)


def resolve_padding(padding: Any, kernel: Pair, dilation: Pair, stride: Pair, *, func: str) -> Pads:
    """Turn ``padding`` (int, pair, ``"valid"`` or ``"same"``) into ((top, bottom), (left, right)).

    ``"same"`` (stride 1 only) pads d(f-1) in total per axis, ``total // 2`` before and the
    rest after: for an even effective kernel the extra zero goes after, as PyTorch does.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"{func}: padding: 'same' needs stride 1, got stride={stride}; "
                    "give explicit padding for strided convolutions"
                )
            pads = same_pads(kernel, dilation)
            return pads[0], pads[1]
        raise ValueError(
            f"{func}: padding: expected an int, a pair, 'valid' or 'same', got {padding!r}"
        )
    ph, pw = int_pair("padding", padding, minimum=0, func=func)
    return (ph, ph), (pw, pw)


def check_output_size(
    in_hw: Pair, kernel: Pair, stride: Pair, pads: Pads, dilation: Pair, *, func: str
) -> Pair:
    """The output (height, width), or a ``ValueError`` if the kernel outgrows the padded input."""
    out = []
    axes = zip(("height", "width"), in_hw, kernel, stride, pads, dilation)
    for axis, m, f, s, (pb, pa), d in axes:
        span = d * (f - 1) + 1
        if span > m + pb + pa:
            raise ValueError(
                f"{func}: kernel_size: effective kernel {axis} {span} (size {f}, dilation {d}) "
                f"is larger than the padded input {axis} {m + pb + pa} "
                f"(input {m}, padding {pb}+{pa})"
            )
        out.append(output_size(m, f, s, pb, pa, d))
    return out[0], out[1]


class PhaseTaps(NamedTuple):
    """The kernel taps that reach one stride phase of the input gradient, along one axis.

    For input positions v = s·q + r (q = 0 .. positions-1) the taps a with s | (d·a - r - p) reach
    v from output i = q - t_a, t_a = (d·a - r - p)/s. They are a = first, first + step, ...
    (n_taps of them, step = s/gcd(s, d)) and their t_a advance by dilation = d/gcd(s, d).
    """

    positions: int  # how many input positions the phase holds
    first: int  # first tap a (0-based)
    step: int  # distance between successive taps
    n_taps: int  # 0 when no tap reaches this phase: its gradient is zero
    t_last: int  # t_a of the last tap
    dilation: int  # distance between successive t_a


def phase_taps(m: int, f: int, s: int, d: int, p_before: int, r: int) -> PhaseTaps:
    """Which taps of a size-f kernel (stride s, dilation d) reach input positions ≡ r (mod s).

    m is the unpadded input size, p_before the padding before it; see ``PhaseTaps``.
    """
    count = max(0, (m - r + s - 1) // s)
    g = math.gcd(s, d)
    step, dilation = s // g, d // g
    reaching = [a for a in range(min(f, step)) if (d * a - r - p_before) % s == 0]
    if not reaching or count == 0:
        return PhaseTaps(count, 0, step, 0, 0, dilation)
    first = reaching[0]
    n_taps = (f - 1 - first) // step + 1
    t_last = (d * (first + (n_taps - 1) * step) - r - p_before) // s
    return PhaseTaps(count, first, step, n_taps, t_last, dilation)
