"""Geometry shared by convolution and pooling: int-or-pair arguments, padding rules, output size.

One place for the arithmetic of SPEC.md's conventions so the ops and their docs agree:

    out = floor((m + p_before + p_after - d (f - 1) - 1) / s) + 1

for an input of size m, kernel size f, stride s, dilation d.
"""

from __future__ import annotations

from typing import Any

from .._checks import int_pair

Pair = tuple[int, int]
Pads = tuple[Pair, Pair]  # ((top, bottom), (left, right))


def output_size(m: int, f: int, s: int, p_before: int, p_after: int, d: int = 1) -> int:
    """floor((m + p_before + p_after - d(f-1) - 1) / s) + 1 (may be <= 0: the caller checks)."""
    return (m + p_before + p_after - d * (f - 1) - 1) // s + 1


def resolve_padding(padding: Any, kernel: Pair, dilation: Pair, stride: Pair, *, func: str) -> Pads:
    """Turn ``padding`` (int, pair, ``"valid"`` or ``"same"``) into explicit ((top, bottom), (left, right)).

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
            pads = []
            for f, d in zip(kernel, dilation):
                total = d * (f - 1)
                pads.append((total // 2, total - total // 2))
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
    for axis, m, f, s, (pb, pa), d in zip(("height", "width"), in_hw, kernel, stride, pads, dilation):
        span = d * (f - 1) + 1
        if span > m + pb + pa:
            raise ValueError(
                f"{func}: kernel_size: effective kernel {axis} {span} (size {f}, dilation {d}) "
                f"is larger than the padded input {axis} {m + pb + pa} "
                f"(input {m}, padding {pb}+{pa})"
            )
        out.append(output_size(m, f, s, pb, pa, d))
    return out[0], out[1]
