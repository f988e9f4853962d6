"""Bounded memory: conv2d and its backward on a (1, 1, 8192, 8192) float32 image with one 3×3
filter, each in a fresh process (``cnnmath.bench.memory``), stay under 1 GiB peak RSS.

The input alone is 256 MiB and the output another 256 MiB (the backward also holds the
output gradient and the input gradient), so the window buffers (a 3×3 im2col would be
2.25 GiB) must be built in chunks and the padded copies made in bands."""

import sys

import pytest

from cnnmath.bench import memory

GIB = 1024  # MiB


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
@pytest.mark.parametrize("which", ["forward", "backward"])
def test_conv_on_an_8192_square_image_stays_under_1_gib(which):
    peak = memory.peak_mib("cnnmath", which, 8192, timeout=120)
    assert peak is not None, "the measuring process failed"
    assert peak < GIB, f"{which}: peak RSS {peak:.0f} MiB"


@pytest.mark.skipif(sys.platform != "linux", reason="the execve quirk is Linux's")
def test_a_big_parent_does_not_inflate_the_child_peak():
    """Linux carries ru_maxrss across execve: measured that way, a child of a 1 GiB process
    reports at least 1 GiB whatever it does (this test failed so inside a long pytest run).
    The child's own high-water mark is what the measurement must read."""
    import numpy as np

    parent = np.ones(2**27)  # 1 GiB, touched, in this (the parent) process
    peak = memory.peak_mib("cnnmath", "forward", 512, timeout=120)
    assert parent[-1] == 1.0
    assert peak is not None and peak < 512, f"peak {peak:.0f} MiB for a 1 MiB image"
