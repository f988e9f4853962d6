"""Argument types shared by the subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` accepting integers ``>= minimum`` (and ``<= maximum`` when
    given); the message gives the range and what was given.

    >>> whole_number(1)("3")
    3
    >>> whole_number(1, 16)("16")
    16
    """
    if maximum is None:
        expected = f"expected a whole number >= {minimum}"
    else:
        expected = f"expected a whole number from {minimum} to {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{expected}, got {value}")
        return value

    return parse
