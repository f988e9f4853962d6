"""Images larger than memory on disk: Zarr stores and tiled (Big)TIFF files as dask arrays,
written whole or not at all.

Reading is lazy: :func:`open_array` returns a dask array whose blocks are read from the
file only when a task needs them (a Zarr chunk, or a TIFF region read through tifffile's
Zarr view, the file opened by the task itself so the graph can travel to other processes).

Writing is atomic: :func:`save_array` computes the array into a temporary store (a
``.NAME.XXXX.part`` folder or file beside the target) and renames it onto the target only
when every block has been written; when a task fails — or the run is interrupted — the
temporary store is removed and the target is left as it was (absent, or the previous
complete store). A reader therefore sees a complete result or none, never a half-written
one. The work runs in this process (dask's threads) or, given ``scheduler`` (an address
``tcp://HOST:PORT`` or a ``distributed.Client``), on that cluster, with a progress bar on
stderr either way.

Layout: an image is (H, W) (one channel) or (C, H, W) with C ≤ 4 channels first, as
:func:`cnnmath.images.load_image` returns; a TIFF stored as (H, W, C) (RGB samples
interleaved) is presented channels first. Integer samples become float32 in [0, 1]
(q / (2^bits − 1)); float samples are taken as they are.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ._files import (
    UnwritableDirectory,
    default_dir_mode,
    default_file_mode,
    sigterm_cleans_up,
)
from ._optional import require

__all__ = [
    "ZARR_SUFFIXES",
    "TIFF_SUFFIXES",
    "array_format",
    "compute",
    "is_array_path",
    "open_array",
    "save_array",
    "filter_array",
    "scheduler_client",
    "wants_lazy",
]

ZARR_SUFFIXES = (".zarr",)
TIFF_SUFFIXES = (".tif", ".tiff")


def array_format(path: str | os.PathLike[str]) -> str | None:
    """ "zarr", "tiff" or None, from the path's suffix (a folder holding ``zarr.json`` or
    ``.zarray`` is Zarr whatever its name).

    >>> array_format("scan.zarr"), array_format("a/b.TIF"), array_format("x.png")
    ('zarr', 'tiff', None)
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in ZARR_SUFFIXES or (p / "zarr.json").is_file() or (p / ".zarray").is_file():
        return "zarr"
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    return None


def is_array_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a Zarr store or a TIFF file (:func:`array_format`)."""
    return array_format(path) is not None


def wants_lazy(input_path: str, output_path: str, scheduler: Any = None) -> bool:
    """Whether a filter from ``input_path`` to ``output_path`` goes through dask: when a
    scheduler is named, when either path is a Zarr store, or when the input is a TIFF
    that only tifffile reads whole-image-free (tiled, BigTIFF, or float samples); an
    ordinary striped 8/16-bit TIFF or any other picture is filtered in memory."""
    if scheduler is not None or "zarr" in (array_format(input_path), array_format(output_path)):
        return True
    if array_format(input_path) != "tiff" or not os.path.isfile(input_path):
        return False
    try:
        tifffile = require("tifffile", "dask", "reading a TIFF lazily")
    except ImportError:
        return False
    try:
        with _tifffile_log_held(tifffile), tifffile.TiffFile(input_path) as tif:
            page = tif.pages.first
            return bool(tif.is_bigtiff or page.is_tiled or page.dtype.kind == "f")
    except Exception:  # not a TIFF tifffile reads: the in-memory path reports it
        return False


@contextlib.contextmanager
def _tifffile_log_held(tifffile: Any) -> Iterator[None]:
    """Hold back what tifffile logs (``tifffile.logger()``) from this thread while a file's
    metadata is read: on success it is logged after all, in order; when the read fails it is
    dropped, since the error raised says what is wrong (a junk file would otherwise print
    tifffile's "invalid offset to first page" line on stderr before the clean ValueError).
    Other threads' records pass as they come."""
    log = tifffile.logger()
    me = threading.get_ident()
    held: list[logging.LogRecord] = []

    def hold(record: logging.LogRecord) -> bool:
        if record.thread != me:
            return True
        held.append(record)
        return False

    log.addFilter(hold)
    try:
        yield
    finally:
        log.removeFilter(hold)
    for record in held:  # (not reached when the read raised)
        log.handle(record)


# ---------------------------------------------------------------------------------- reading


class _TiffRegion:
    """A TIFF series as an array-like for ``dask.array.from_array``: every ``[...]`` opens
    the file and reads that region only (through tifffile's Zarr view), so the object is
    small, picklable, and holds no open file between tasks."""

    def __init__(self, path: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self.path = path
        self.shape = shape
        self.dtype = dtype
        self.ndim = len(shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        tifffile = require("tifffile", "dask", "reading a TIFF lazily")
        zarr = require("zarr", "dask", "reading a TIFF lazily")
        with (  # series 0 at full resolution (a pyramid's store is a group of its levels)
            _undecodable(self.path),
            tifffile.imread(self.path, aszarr=True, series=0, level=0) as store,
        ):
            return np.asarray(zarr.open(store, mode="r")[index])


class _ZarrRegion:
    """A Zarr array for ``dask.array.from_array`` whose reads that fail to decode (a damaged
    chunk) raise a ValueError naming the store, and whose reads from a store that is gone
    (moved or deleted after it was opened) raise FileNotFoundError: Zarr itself reads a
    missing chunk as the fill value (as a store written without its empty chunks holds it),
    so without its metadata file every block would read as zeros."""

    def __init__(self, path: str, z: Any) -> None:
        self.path = path
        self.z = z
        self.shape = tuple(z.shape)
        self.dtype = z.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        if not any(os.path.isfile(os.path.join(self.path, m)) for m in _ZARR_METADATA):
            raise FileNotFoundError(
                f"open_array: path: the Zarr store '{self.path}' is gone (moved or deleted "
                "after it was opened)"
            )
        with _undecodable(self.path):
            return np.asarray(self.z[index])


_ZARR_METADATA = ("zarr.json", ".zarray")  # an array's metadata file: Zarr 3, Zarr 2


@contextlib.contextmanager
def _undecodable(path: str) -> Iterator[None]:
    """A block's read that fails — a chunk or tile whose bytes do not decode (the codecs
    raise RuntimeError, zlib.error, ValueError, …) — as a ValueError naming the file: the
    metadata read at open, the damage is found only when a task reads the block."""
    try:
        yield
    except (MemoryError, FileNotFoundError, PermissionError):
        raise  # not damage: the store went away, or cannot be read, or memory ran out
    except Exception as exc:
        raise ValueError(
            f"open_array: path: '{path}' holds a block that cannot be read: the file is "
            f"damaged or truncated ({type(exc).__name__}: {exc})"
        ) from exc


#: a TIFF series' axes (tifffile's letters) read as an image: rows Y, columns X, and
#: samples S or channels C; any other axis (Z, T, pages I or Q, …) is a stack, refused
_IMAGE_AXES = ("YX", "YXS", "SYX", "CYX")


def _tiff_array(path: str) -> tuple[Any, str]:
    """The first series of a TIFF as a dask array, and its axes (tifffile's letters)."""
    tifffile = require("tifffile", "dask", "reading a TIFF lazily")
    try:
        with _tifffile_log_held(tifffile), tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype, axes = tuple(series.shape), series.dtype, series.axes
            page = series.pages[0]
            tile = (page.tilelength, page.tilewidth) if page.is_tiled else (page.rowsperstrip, 0)
    except (tifffile.TiffFileError, ValueError, IndexError) as exc:
        raise ValueError(f"open_array: path: '{path}' is not a readable TIFF ({exc})") from None
    # blocks of whole tiles (or strips), about 2048 pixels a side
    rows = max(1, tile[0]) * max(1, 2048 // max(1, tile[0]))
    cols = max(1, tile[1]) * max(1, 2048 // max(1, tile[1])) if tile[1] else 2048
    chunks = tuple(
        rows if a == "Y" else cols if a == "X" else n for a, n in zip(axes, shape, strict=True)
    )
    return _lazy_region(_TiffRegion(path, shape, dtype), chunks, "tiff"), axes


def _lazy_region(region: Any, chunks: tuple[int, ...], kind: str) -> Any:
    """A region object (``_TiffRegion``, ``_ZarrRegion``: each read opens what it needs) as a
    dask array of ``chunks``, named for the file's contents as of now."""
    da = require("dask.array", "dask", "reading lazily")
    return da.from_array(
        region,
        chunks=chunks,
        lock=False,
        asarray=True,
        meta=np.empty((0,) * region.ndim, region.dtype),
        name=f"{kind}-{_tokenize_path(region.path)}",
    )


def _tokenize_path(path: str) -> str:
    """A name for a file's contents as of now: its path, size and modification time."""
    dask_base = require("dask.base", "dask", "reading lazily")
    st = os.stat(path)
    return str(dask_base.tokenize(os.path.abspath(path), st.st_size, st.st_mtime_ns))


def open_array(path: str | os.PathLike[str]) -> Any:
    """A Zarr store or a TIFF file as a lazy dask array (C, H, W), float, channels first.

    ``path``: a Zarr array (``.zarr`` folder, zarr 2 or 3) holding (H, W) or (C, H, W), or a
    TIFF (tiled or striped, BigTIFF or classic) whose first series is (H, W), (H, W, C) or
    (C, H, W); C in 1–4 (gray, gray + alpha, RGB, RGBA). Integer samples q of b bits become
    float32 q / (2^b − 1) in [0, 1]; float32/float64 samples are kept. Nothing is read but
    the metadata: every block is read when a task needs it.

    Raises FileNotFoundError when ``path`` does not exist, ValueError (naming the path) for a
    file that is not a readable array of such a shape, TypeError for other sample types. A
    chunk or tile whose bytes do not decode is found only when a task reads it: computing
    the array then raises ValueError naming the path.
    """
    text = os.fspath(path)
    fmt = array_format(text)
    if not os.path.exists(text):
        raise FileNotFoundError(f"open_array: path: no such file or store: '{text}'")
    if fmt == "zarr":
        zarr = require("zarr", "dask", "reading a Zarr store")
        try:
            z = zarr.open_array(text, mode="r")
        except Exception as exc:  # zarr raises several types for a foreign folder
            raise ValueError(
                f"open_array: path: '{text}' is not a readable Zarr array ({exc})"
            ) from None
        x = _lazy_region(_ZarrRegion(text, z), z.chunks, "zarr")
        axes = "YX" if x.ndim == 2 else "CYX"
    elif fmt == "tiff":
        x, axes = _tiff_array(text)
        while len(axes) > 2 and x.shape[0] == 1 and axes[0] not in "YX":  # a single plane
            x, axes = x[0], axes[1:]
        if axes not in _IMAGE_AXES:
            raise ValueError(
                f"open_array: path: '{text}' holds a stack of shape {x.shape} along the axes "
                f"{axes} (tifffile's letters: Z depth, T time, I or Q pages, …), not one "
                f"image: expected the axes {', '.join(_IMAGE_AXES)} (rows, columns and up to "
                f"4 channels); save the plane to read as its own file"
            )
    else:
        raise ValueError(
            f"open_array: path: expected a Zarr store ({', '.join(ZARR_SUFFIXES)}) or a TIFF "
            f"file ({', '.join(TIFF_SUFFIXES)}), got '{text}'"
        )
    if x.dtype.kind in "uif" and not x.dtype.isnative:  # big-endian (older Zarr, N5)
        x = x.astype(x.dtype.newbyteorder("="))
    if axes.endswith("S") and x.ndim == 3:  # RGB interleaved: channels first
        x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or not 1 <= x.shape[0] <= 4:
        raise ValueError(
            f"open_array: path: expected an image (H, W), (H, W, C) or (C, H, W) with C in "
            f"1-4, got an array of shape {x.shape} (axes {axes}) in '{text}'"
        )
    if x.dtype.kind in "ui":
        if x.dtype.kind == "i" or x.dtype.itemsize > 2:
            raise TypeError(
                f"open_array: path: expected uint8, uint16, float32 or float64 samples, got "
                f"{x.dtype} in '{text}'"
            )
        scale = float(2 ** (8 * x.dtype.itemsize) - 1)
        x = x.astype(np.float32) / np.float32(scale)
    elif x.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"open_array: path: expected uint8, uint16, float32 or float64 samples, got "
            f"{x.dtype} in '{text}'"
        )
    return x


# ---------------------------------------------------------------------------------- running


@contextlib.contextmanager
def scheduler_client(scheduler: Any = None, timeout: float = 30.0) -> Iterator[Any]:
    """None (run in this process), a ``distributed.Client`` (used as it is), or an address
    ``tcp://HOST:PORT`` of a running ``dask scheduler`` (a client is opened for the block
    and closed after it). Yields the client or None."""
    if scheduler is None:
        yield None
        return
    distributed = require("distributed", "dask", "--scheduler")
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if not isinstance(scheduler, str) or not scheduler:
        raise TypeError(
            f"scheduler: expected an address like 'tcp://127.0.0.1:8786' or a "
            f"distributed.Client, got {scheduler!r}"
        )
    _check_address(distributed, scheduler)
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"scheduler: could not reach a dask scheduler at '{scheduler}' within "
            f"{timeout:g} s ({exc}); start one with `dask scheduler`"
        ) from None
    try:
        yield client
    finally:
        client.close()


def _check_address(distributed: Any, scheduler: str) -> None:
    """A ValueError naming ``scheduler`` where its host or port does not parse. Checked
    before a Client is made: one that fails on its address stays this process's default
    client, and every later ``compute`` would wait on it for ever."""
    try:
        scheme, location = distributed.comm.parse_address(scheduler)
        if scheme in ("tcp", "tls"):
            distributed.comm.parse_host_port(location, 8786)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"scheduler: expected an address like 'tcp://127.0.0.1:8786', got {scheduler!r} ({exc})"
        ) from None


class _Bar:
    """A one-line progress bar on a stream: ``[#####     ] 12/40 tasks  3.1 s``."""

    def __init__(self, stream: Any, label: str, width: int = 30) -> None:
        self.stream, self.label, self.width = stream, label, width
        self.start = time.perf_counter()
        self.last = -1.0

    def show(self, done: int, total: int, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        frac = done / total if total else 1.0
        fill = int(round(self.width * frac))
        self.stream.write(
            f"\r{self.label} [{'#' * fill}{' ' * (self.width - fill)}] {done}/{total} tasks "
            f"{now - self.start:6.1f} s"
        )
        if final:
            self.stream.write("\n")
        self.stream.flush()


def _local_bar(bar: _Bar | None) -> Any:
    """A dask callback driving ``bar`` from the in-process scheduler (a null context when
    there is no bar)."""
    if bar is None:
        return contextlib.nullcontext()
    callbacks = require("dask.callbacks", "dask", "the progress bar")

    class Progress(callbacks.Callback):  # type: ignore[name-defined]
        def _start_state(self, dsk: Any, state: Any) -> None:
            self.total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
            self.done = 0

        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker: Any) -> None:
            self.done += 1
            assert bar is not None
            bar.show(self.done, self.total)

        def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
            assert bar is not None
            if not errored:
                bar.show(self.total, self.total, final=True)
            else:
                bar.stream.write("\n")

    return Progress()


def _idle(dask_worker: Any) -> bool:
    """Run on a worker: whether no task thread of it is still running."""
    return not dask_worker.state.executing


def _settle(client: Any, futures: list[Any], timeout: float = 120.0) -> None:
    """After a failure: cancel what has not run, then wait (bounded) until no worker runs a
    task any more — a task already running cannot be stopped, and it would write into the
    temporary store after it is removed."""
    client.cancel(futures)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(client.run(_idle).values()):
                return
        except Exception:  # a worker gone: nothing of it left to wait for
            return
        time.sleep(0.1)


def compute(collections: list[Any], client: Any = None, progress: Any = None) -> list[Any]:
    """Compute dask collections here (a pool of threads) or on ``client``'s cluster;
    ``progress``: a text stream for the bar (e.g. ``sys.stderr``) or None. Returns the
    results. When a task fails, the exception is raised only once no other task of the
    run is still running (so nothing writes after the caller cleans up)."""
    dask = require("dask", "dask", "compute")
    bar = _Bar(progress, "cnnmath") if progress is not None else None
    if client is None:
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        # dask's threads are the parallelism: BLAS threads inside each would oversubscribe
        with (
            threadpool_limits(limits=1, user_api="blas"),
            ThreadPoolExecutor(os.cpu_count() or 1) as pool,
            _local_bar(bar),
        ):
            # leaving the pool's block waits for every running task, even after a failure
            return list(dask.compute(*collections, scheduler="threads", pool=pool))
    distributed = require("distributed", "dask", "compute")
    persisted = client.persist(collections)
    futures = distributed.futures_of(persisted)
    try:
        while bar is not None:
            done = sum(f.done() for f in futures)
            bar.show(done, len(futures), final=done == len(futures))
            if done == len(futures) or any(f.status == "error" for f in futures):
                break
            time.sleep(0.1)
        return list(client.compute(persisted, sync=True))
    except BaseException:
        _settle(client, futures)
        raise
    finally:
        for f in futures:
            f.release()


# ---------------------------------------------------------------------------------- writing


def _regular(x: Any) -> Any:
    """x rechunked so every chunk but the last along each axis has one size (what Zarr
    stores), when it is not so already."""
    if all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in x.chunks):
        return x
    return x.rechunk(tuple(max(c) for c in x.chunks))


def _temporary_beside(target: Path, directory: bool) -> Path:
    """A new ``.NAME.XXXX.part`` folder or file beside ``target``; a folder where it cannot
    be made is named in the error (the temporary name means nothing to the user)."""
    prefix = f".{target.name[:40]}."
    try:
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".part", dir=target.parent))
            os.chmod(tmp, default_dir_mode())
            return tmp
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=target.parent)
    except OSError as exc:
        if not (isinstance(exc, PermissionError) or exc.errno == errno.EROFS):
            raise
        raise UnwritableDirectory(
            f"save_array: path: the folder '{target.parent}' is not writable "
            f"({exc.strerror or type(exc).__name__})"
        ) from None
    os.close(fd)
    return Path(name)


def _replace(tmp: Path, target: Path) -> None:
    """Move ``tmp`` onto ``target``; an existing Zarr folder there is set aside first and
    removed after (a folder cannot be renamed over a non-empty one); where the new one
    cannot be moved in, the old one is moved back, so the target is never left missing."""
    if tmp.is_dir() and target.is_dir():
        old = Path(
            tempfile.mkdtemp(prefix=f".{target.name[:40]}.", suffix=".old", dir=target.parent)
        )
        os.rmdir(old)
        os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.replace(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _check_target(target: Path, fmt: str) -> None:
    if target.is_symlink():  # replaced atomically, a link would lose its target's data
        raise ValueError(
            f"save_array: path: '{target}' is a symbolic link; give the path it points to"
        )
    if target.exists() and fmt == "zarr" and not target.is_dir():
        raise ValueError(f"save_array: path: '{target}' exists and is not a Zarr store")
    if target.is_dir() and (
        fmt != "zarr"
        or array_format(target) != "zarr"
        or not (any((target / n).is_file() for n in ("zarr.json", ".zarray")))
    ):
        raise IsADirectoryError(
            f"save_array: path: '{target}' is a folder but not a Zarr array; it is left alone"
        )
    if not target.parent.is_dir():
        raise FileNotFoundError(f"save_array: path: the folder '{target.parent}' does not exist")


def _tiff_tiles(x: Any, tile: int, client: Any, bar: _Bar | None) -> Iterator[np.ndarray]:
    """The tiles of x (C, H, W), plane by plane and row of tiles by row, each band of
    ``tile`` rows computed when the writer reaches it."""
    C, H, W = x.shape
    bands = [(c, r) for c in range(C) for r in range(0, H, tile)]
    for n, (c, r) in enumerate(bands):
        band = x[c, r : r + tile]
        block = band.compute() if client is None else client.compute(band).result()
        if bar is not None:
            bar.show(n + 1, len(bands), final=n + 1 == len(bands))
        for j in range(0, W, tile):
            yield np.ascontiguousarray(block[:, j : j + tile])


def save_array(
    x: Any,
    path: str | os.PathLike[str],
    *,
    scheduler: Any = None,
    progress: Any = None,
    tile: int = 512,
) -> Path:
    """Compute the dask array ``x`` (H, W) or (C, H, W) into a Zarr store or a tiled BigTIFF,
    whole or not at all; return the path written.

    The format follows the suffix (:func:`array_format`). Zarr: one chunk per block of x
    (rechunked to a regular grid when it is not one), written by the tasks themselves, in
    parallel. TIFF: tiles of ``tile`` × ``tile`` pixels (a multiple of 16), BigTIFF, one
    plane per channel (gray, or RGB/RGBA planar), computed one band of tiles at a time so
    at most one band is held here. Either way the data goes to a temporary
    ``.NAME.XXXX.part`` beside ``path`` and is renamed onto ``path`` only when complete; on
    any failure the temporary store is removed and the exception raised — ``path`` is then
    as it was before. An existing Zarr store at ``path`` is replaced; a folder that is not
    one is refused. Ctrl-C (KeyboardInterrupt) and SIGTERM (as ``timeout``, Slurm or
    Kubernetes stop a job) count as failures: the temporary store is removed, after the
    tasks still running have finished, and then a SIGTERM ends the process as it would have
    (``_files.sigterm_cleans_up``: only from the main thread, and only where SIGTERM has its
    default action — a program's own SIGTERM handler is left in place).

    ``scheduler``: None (this process), an address or a ``distributed.Client``
    (:func:`scheduler_client`); ``progress``: a stream for the progress bar, or None.
    """
    da = require("dask.array", "dask", "save_array")
    if not isinstance(x, da.Array):
        raise TypeError(f"save_array: x: expected a dask.array.Array, got {type(x).__name__}")
    if (
        x.ndim not in (2, 3)
        or any(math.isnan(s) for s in x.shape)
        or 0 in x.shape
        or (x.ndim == 3 and x.shape[0] > 4)
    ):  # what open_array reads back
        raise ValueError(
            f"save_array: x: expected a non-empty shape (H, W) or (C, H, W) with C in 1-4, got "
            f"{x.shape}"
        )
    if x.dtype not in (np.uint8, np.uint16, np.float32, np.float64):  # open_array's samples
        raise TypeError(
            f"save_array: x: expected uint8, uint16, float32 or float64 values, got {x.dtype}"
        )
    if isinstance(tile, (bool, np.bool_)) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"save_array: tile: expected an int, got {tile!r}")
    target = Path(os.path.abspath(os.fspath(path)))
    fmt = array_format(target) if not target.is_dir() else "zarr"
    if fmt is None:
        raise ValueError(
            "save_array: path: expected a name ending in "
            f"{', '.join(ZARR_SUFFIXES + TIFF_SUFFIXES)}, got '{path}'"
        )
    _check_target(target, fmt)
    if fmt == "tiff" and (tile <= 0 or tile % 16):
        raise ValueError(f"save_array: tile: expected a positive multiple of 16, got {tile}")
    with sigterm_cleans_up():  # (a SIGTERM, as Ctrl-C, removes the temporary store)
        tmp = _temporary_beside(target, directory=fmt == "zarr")
        try:
            _write(x, tmp, fmt, scheduler, progress, tile)
            _replace(tmp, target)
        except BaseException:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise
    return target


def _write(x: Any, tmp: Path, fmt: str, scheduler: Any, progress: Any, tile: int) -> None:
    """Compute x into the temporary store ``tmp`` (see :func:`save_array`)."""
    da = require("dask.array", "dask", "save_array")
    with scheduler_client(scheduler) as client:
        if fmt == "zarr":
            shutil.rmtree(tmp)  # to_zarr creates the store itself
            writes = da.to_zarr(_regular(x), str(tmp), compute=False)
            compute([writes], client, progress)
            return
        tifffile = require("tifffile", "dask", "writing a TIFF")
        x3 = x if x.ndim == 3 else x[None]
        C = x3.shape[0]
        bar = _Bar(progress, "cnnmath") if progress is not None else None
        tiles = _tiff_tiles(x3, tile, client, bar)
        shape = (x3.shape[1], x3.shape[2]) if C == 1 else tuple(x3.shape)
        extra: dict[str, Any] = {"photometric": "minisblack"}
        if C in (3, 4):
            extra = {"photometric": "rgb", "planarconfig": "separate"}
            if C == 4:
                extra["extrasamples"] = ("unassalpha",)
        elif C == 2:
            extra = {"photometric": "minisblack", "planarconfig": "separate"}
        tifffile.imwrite(
            tmp, tiles, shape=shape, dtype=x3.dtype, tile=(tile, tile), bigtiff=True, **extra
        )
        os.chmod(tmp, default_file_mode())


# ---------------------------------------------------------------------------------- filters


def _conv(weight: np.ndarray, padding: Any, dtype: Any) -> Any:
    """A bias-free Conv2d holding ``weight`` (C_out, C_in, f1, f2)."""
    from . import nn

    c_out, c_in, f1, f2 = weight.shape
    conv = nn.Conv2d(c_in, c_out, (f1, f2), padding=padding, bias=False, dtype=dtype)
    conv.weight.data[...] = weight.astype(dtype)
    return conv


def filter_array(
    x: Any,
    operator: str,
    *,
    weights: Any = None,
    magnitude: bool = False,
    k: int = 2,
    kernel: Any = None,
    padding: int | str = "same",
    scale: str = "range",
) -> tuple[Any, tuple[str, ...]]:
    """:func:`cnnmath.filters.filter_image` on a dask array (C, H, W) too large for memory:
    the same operators, written as networks and run by :func:`cnnmath.tiled.apply`, so each
    block is computed from its input grown by the operator's halo and equals the whole
    image's result.

    x : (C, H, W) float32/float64 in [0, 1], C = 1 (gray), 2 (gray, alpha), 3 (RGB) or 4
        (RGBA), e.g. from :func:`open_array`. The operators and options are filter_image's:
        gradient = result 3's 1×1 convolution (colour) then the 3×3 forward differences
        (Y1 | Y2 side by side, or ``magnitude``); grayscale (alpha kept); avgpool and
        maxpool (k×k, stride k, every channel); conv (``kernel`` per colour channel, alpha
        dropped). ``scale`` maps values to [0, 1] as :func:`cnnmath.filters.to_pixels`;
        "minmax" needs the result's minimum and maximum first, a pass of its own.

    Returns (pixels, notes): a lazy (C', H', W') array of x's dtype — alpha, where kept, as
    its last channel — and filter_image's notes.
    """
    from . import filters, nn, tiled
    from ._checks import positive_int

    func = "filter_array"
    da = require("dask.array", "dask", func)
    if not isinstance(x, da.Array) or x.ndim != 3 or not 1 <= x.shape[0] <= 4:
        raise ValueError(
            f"{func}: x: expected a dask array (C, H, W) with C in 1-4, got "
            f"{getattr(x, 'shape', type(x).__name__)}"
        )
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{func}: x: expected float32 or float64, got {x.dtype}")
    if operator not in filters.OPERATORS:
        raise ValueError(f"{func}: operator: expected one of {filters.OPERATORS}, got {operator!r}")
    if scale not in filters.SCALES:
        raise ValueError(f"{func}: scale: expected one of {tuple(filters.SCALES)}, got {scale!r}")
    dt = x.dtype
    x = x.rechunk({0: -1})
    C = x.shape[0]
    gray_input, has_alpha = C <= 2, C in (2, 4)
    notes: list[str] = []
    alpha = None
    bounds = (0.0, 1.0)
    if operator in ("gradient", "grayscale"):
        w_rgb = filters.luma_weights(filters.BT601 if weights is None else weights, func=func)
        luma = _conv(np.array(w_rgb, np.float64).reshape(1, 3, 1, 1), 0, dt)
    if operator == "gradient":
        layers = [_conv(filters.finite_difference(), 1, dt)]
        if gray_input:
            source = x[:1]
            if has_alpha:
                notes.append("alpha channel dropped (the gradient is of the gray channel)")
        else:
            source = x[:3]
            if has_alpha:
                notes.append("alpha channel dropped")
            layers.insert(0, luma)
            notes.append(
                "colour input converted to grayscale with "
                f"{filters._weights_label(weights, w_rgb)} luma weights (result 3: a 1x1 "
                "convolution) before taking differences"
            )
        y = tiled.apply(nn.Sequential(*layers), source)
        y1, y2 = y[0:1], y[1:2]
        plane = (0.0, 1.0) if gray_input else filters._kernel_bounds(w_rgb)
        bounds = filters._gradient_bounds(plane, magnitude)
        if magnitude:
            y = da.sqrt(y1 * y1 + y2 * y2)
        else:
            notes.append("output: Y1 (vertical differences) left, Y2 (horizontal) right")
            y = da.concatenate([y1, y2], axis=2)
    elif operator == "grayscale":
        alpha = x[-1:] if has_alpha else None
        if gray_input:
            notes.append("input is already gray: written unchanged")
            y = x[:1]
        else:
            y = tiled.apply(luma, x[:3])
            bounds = filters._kernel_bounds(w_rgb)
    elif operator in ("avgpool", "maxpool"):
        k = positive_int("k", k, func=func)
        H, W = x.shape[1:]
        if k > H or k > W:
            raise ValueError(
                f"{func}: k: the window {k}x{k} is larger than the image ({H}x{W} pixels)"
            )
        if H % k or W % k:
            notes.append(
                f"{H % k} row(s) and {W % k} column(s) at the bottom/right dropped "
                f"({H}x{W} is not a multiple of k={k})"
            )
        pool = nn.AvgPool2d(k) if operator == "avgpool" else nn.MaxPool2d(k)
        pooled = tiled.apply(pool, x)
        y, alpha = (pooled[:-1], pooled[-1:]) if has_alpha else (pooled, None)
    else:  # conv: each colour channel alone, as a batch of one-channel images
        if kernel is None:
            raise ValueError(f"{func}: kernel: the conv operator needs a 2-D kernel, got None")
        w = filters.image_kernel(kernel, func=func)
        filters._check_kernel_fits(w, x.shape[1:], padding, func=func)
        colour = x[:-1] if has_alpha else x
        if has_alpha:
            notes.append("alpha channel dropped")
        y = tiled.apply(_conv(w[None, None], padding, dt), colour[:, None])[:, 0]
        bounds = filters._kernel_bounds(w)
    if scale == "minmax":
        lo, hi = (float(v) for v in da.compute(y.min(), y.max()))
        pixels = (y - lo) / (hi - lo) if hi > lo else da.full_like(y, 0.5)
        pixels = da.clip(pixels, 0.0, 1.0)
    else:
        pixels = y.map_blocks(filters.to_pixels, bounds, scale, dtype=dt)
    if alpha is not None:
        pixels = da.concatenate([pixels, alpha], axis=0)
    return pixels.astype(dt), tuple(notes)
