"""This machine's cache sizes, and the convolution engine's block budgets derived from them.

The engine cuts its work into chunks sized to stay in cache (``ops/_conv_engine/_blocks.py``), as
do pooling (its blocks of planes) and the threaded copies (``ops/_windows.py``). The
sizes are read once, at import, from Linux's sysfs
(``/sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}``), else from
``os.sysconf`` where the platform names the caches there, else they fall back to the
machine the budgets were measured on (``FALLBACK``: 512 KiB of L2 per core, 32 MiB of L3).

The budgets depend on the cache sizes only, never on the thread count: the blocks they cut
are the blocks every thread count runs, so a result's bits never depend on the threads.
The timings behind each factor are in docs/performance.md ("How a convolution is computed").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

KiB, MiB = 1 << 10, 1 << 20
SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")


class Caches(NamedTuple):
    """Bytes of L2 (per core) and L3 (the last level, shared) cache."""

    l2: int
    l3: int


FALLBACK = Caches(512 * KiB, 32 * MiB)  # where the budgets were measured


def _size(text: str) -> int | None:
    """'512K', '32768K', '1M', '1048576' as bytes; None for anything else."""
    text = text.strip().upper()
    scale = {"K": KiB, "M": MiB, "G": 1 << 30}.get(text[-1:], 1)
    digits = text[:-1] if scale != 1 else text
    if not digits.isdigit() or int(digits) == 0:
        return None
    return int(digits) * scale


def _from_sysfs(root: Path) -> dict[int, int]:
    """{level: bytes} of the data or unified caches listed under ``root``."""
    sizes: dict[int, int] = {}
    try:
        entries = sorted(root.glob("index*"))
    except OSError:
        return sizes
    for entry in entries:
        try:
            level = int((entry / "level").read_text().strip())
            kind = (entry / "type").read_text().strip()
            size = _size((entry / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and size is not None:
            sizes[level] = max(size, sizes.get(level, 0))
    return sizes


def _from_sysconf() -> dict[int, int]:
    """{level: bytes} from ``os.sysconf`` where the platform names the caches (glibc's)."""
    sizes = {}
    for level, name in ((2, "SC_LEVEL2_CACHE_SIZE"), (3, "SC_LEVEL3_CACHE_SIZE")):
        if name in getattr(os, "sysconf_names", {}):
            try:
                value = int(os.sysconf(name))
            except (OSError, ValueError):
                continue
            if value > 0:
                sizes[level] = value
    return sizes


def read_caches(root: Path = SYSFS) -> Caches:
    """The L2 and L3 sizes: sysfs, else sysconf, else ``FALLBACK``, per level. A machine
    without an L3 counts its L2 as the last level."""
    found = {**_from_sysconf(), **_from_sysfs(root)}
    l2 = found.get(2, FALLBACK.l2)
    l3 = found.get(3, l2 if 2 in found else FALLBACK.l3)
    return Caches(l2, l3)


class Budgets(NamedTuple):
    """The engine's cache budgets (bytes, except ``shifted_columns``)."""

    chunk_bytes: int  # a window buffer per chunk (im2col, im2row, dots' channel blocks)
    taps_chunk_bytes: int  # the elementwise methods' accumulator (taps, planes)
    scatter_bytes: int  # scatter's product per chunk
    shifted_columns: int  # shifted's accumulator columns per block
    pool_block_bytes: int  # pooling's input per block of (batch, channel) planes
    copy_block_bytes: int  # a threaded copy's block


#: A window chunk is at least this big: below it the chunk's products grow thin and its
#: per-chunk work shows (measured best on a 512 KiB-L2 machine, where it spills into L3).
CHUNK_FLOOR = 2 * MiB

#: A pooling block is at most this big: four L2s where the L2 is small (the 512 KiB-L2
#: machine's best), but a 2 MiB-L2 machine's four L2s (8 MiB) left a ResNet activation in one
#: block, on one thread, and each pass slower (docs/performance.md, "Pooling blocks").
POOL_BLOCK_CAP = 2 * MiB


def budgets(caches: Caches) -> Budgets:
    """The budgets for these caches, as multiples of the per-core L2 (clamped to
    [128 KiB, 4 MiB], so a misread size cannot make a degenerate block): a window chunk
    one L2 but at least ``CHUNK_FLOOR`` (and at most a quarter of the L3, but never below
    one L2), the others fractions or multiples of the L2. On FALLBACK they are the measured
    constants: chunk 2 MiB, taps 256 KiB, scatter 4 MiB, 8192 shifted columns, a pooling
    block 2 MiB (four L2s, at most ``POOL_BLOCK_CAP``) and a copy block 512 KiB."""
    l2 = min(max(caches.l2, 128 * KiB), 4 * MiB)
    return Budgets(
        chunk_bytes=min(max(l2, CHUNK_FLOOR), max(caches.l3 // 4, l2)),
        taps_chunk_bytes=l2 // 2,
        scatter_bytes=8 * l2,
        shifted_columns=l2 // 64,
        pool_block_bytes=min(4 * l2, POOL_BLOCK_CAP),
        copy_block_bytes=l2,
    )


CACHES = read_caches()
BUDGETS = budgets(CACHES)
