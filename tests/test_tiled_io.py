"""Zarr and TIFF as lazy dask arrays, written whole or not at all, and the filters run block
by block on them. Witnesses: the NumPy arrays written with zarr/tifffile directly, and
``cnnmath.filters.filter_image`` on the whole image in memory."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnmath import filters
from helpers import assert_close

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")
from cnnmath import tiled_io  # noqa: E402


def listing(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_save_then_open_gives_the_same_array(tmp_path, suffix, channels):
    x = np.random.default_rng(channels).random((channels, 70, 45)).astype(np.float32)
    path = tmp_path / f"a{suffix}"
    tiled_io.save_array(da.from_array(x, chunks=(channels, 32, 20)), path, tile=32)
    y = tiled_io.open_array(path)
    assert isinstance(y, da.Array)
    np.testing.assert_array_equal(y.compute(), x)
    assert listing(tmp_path) == [path.name]  # no temporary left beside it
    # read back by the libraries themselves, not by us
    raw = (
        np.asarray(zarr.open_array(path, mode="r")) if suffix == ".zarr" else tifffile.imread(path)
    )
    np.testing.assert_array_equal(raw.reshape(x.shape), x)
    if suffix == ".tif":
        with tifffile.TiffFile(path) as tif:
            assert tif.is_bigtiff and tif.pages.first.is_tiled


def test_interleaved_uint8_tiff_is_read_channels_first_in_0_1(tmp_path):
    q = np.random.default_rng(1).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", q, photometric="rgb", tile=(16, 16))
    y = tiled_io.open_array(tmp_path / "rgb.tif")
    assert y.shape == (3, 50, 40) and y.dtype == np.float32
    assert_close(y.compute(), (q.transpose(2, 0, 1) / 255.0).astype(np.float32), np.float32)


def test_a_pyramidal_tiff_is_read_at_full_resolution(tmp_path):
    """A whole-slide scan's layout: the image, tiled, with a half-size level in a SubIFD;
    open_array gives the full-resolution image, as tifffile reads it."""
    q = np.random.default_rng(5).integers(0, 256, (96, 80), dtype=np.uint8)
    path = tmp_path / "slide.ome.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(q, subifds=1, tile=(32, 32), metadata={"axes": "YX"})
        tif.write(q[::2, ::2], subfiletype=1, tile=(32, 32))
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series[0].levels) == 2
    y = tiled_io.open_array(path)
    assert y.shape == (1, 96, 80)
    assert_close(y.compute()[0], (tifffile.imread(path) / 255.0).astype(np.float32), np.float32)


@pytest.mark.parametrize(
    "name, shape, options, axes",
    [
        ("z.tif", (3, 20, 16), {"imagej": True, "metadata": {"axes": "ZYX"}}, "ZYX"),
        ("t.tif", (2, 20, 16), {"imagej": True, "metadata": {"axes": "TYX"}}, "TYX"),
        ("pages.tif", (2, 20, 16), {"photometric": "minisblack"}, "QYX"),
        ("z.ome.tif", (3, 20, 16), {"metadata": {"axes": "ZYX"}}, "ZYX"),
    ],
)
def test_a_tiff_stack_is_refused_not_read_as_channels(tmp_path, name, shape, options, axes):
    """Depth slices, time points or pages are not colour channels: refused, naming the path
    and the axes; a one-page file of the same kind, or channels, is read."""
    tifffile.imwrite(tmp_path / name, np.zeros(shape, np.uint8), **options)
    with tifffile.TiffFile(tmp_path / name) as tif:
        assert tif.series[0].axes == axes
    with pytest.raises(ValueError, match=rf"'.*{name}' holds a stack .* axes {axes} "):
        tiled_io.open_array(tmp_path / name)
    tifffile.imwrite(tmp_path / "one.tif", np.ones((1, 20, 16), np.uint8))
    assert tiled_io.open_array(tmp_path / "one.tif").shape == (1, 20, 16)
    tifffile.imwrite(tmp_path / "c.tif", np.ones(shape, np.uint8), imagej=True,
                     metadata={"axes": "CYX"})  # fmt: skip
    assert tiled_io.open_array(tmp_path / "c.tif").shape == shape


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">u2"])
def test_a_big_endian_zarr_is_read_in_native_order(tmp_path, dtype):
    x = np.random.default_rng(6).random((12, 10)).astype(np.float32)
    q = (x * 65535).astype(np.uint16) if dtype == ">u2" else x
    zarr.create_array(tmp_path / "b.zarr", shape=x.shape, chunks=(5, 5), dtype=dtype,
                      zarr_format=2)[:] = q  # fmt: skip
    assert zarr.open_array(tmp_path / "b.zarr", mode="r").dtype == np.dtype(dtype)
    y = tiled_io.open_array(tmp_path / "b.zarr")
    assert y.dtype.isnative and y.dtype == (np.float64 if dtype == ">f8" else np.float32)
    want = q / np.float32(65535) if dtype == ">u2" else q
    np.testing.assert_array_equal(y.compute()[0], want.astype(y.dtype))


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_zarr_store_gone_after_open_is_an_error_not_zeros(tmp_path, zarr_format):
    import shutil

    path = tmp_path / "gone.zarr"
    zarr.create_array(path, shape=(8, 8), chunks=(4, 4), dtype="float32",
                      zarr_format=zarr_format)[:] = 1  # fmt: skip
    lazy = tiled_io.open_array(path)
    np.testing.assert_array_equal(lazy.compute(), np.ones((1, 8, 8), np.float32))
    shutil.rmtree(path)
    with pytest.raises(FileNotFoundError, match=r"the Zarr store '.*gone\.zarr' is gone"):
        lazy.compute(scheduler="synchronous")


@pytest.mark.parametrize("address", ["tcp://host:", "tcp://host:port"])
def test_a_malformed_scheduler_address_is_named_and_leaves_no_default_client(address):
    """(A Client that failed on its address stayed the default one, and the next compute
    waited on it for ever.)"""
    distributed = pytest.importorskip("distributed")
    with (
        pytest.raises(ValueError, match=rf"scheduler: expected an address like .*got '{address}'"),
        tiled_io.scheduler_client(address, timeout=1),
    ):
        pass
    with pytest.raises(ValueError, match="No clients found"):
        distributed.default_client()


def test_uint16_zarr_is_scaled_by_65535(tmp_path):
    q = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 500
    zarr.create_array(tmp_path / "q.zarr", shape=q.shape, chunks=(5, 5), dtype="uint16")[:] = q
    y = tiled_io.open_array(tmp_path / "q.zarr").compute()
    assert_close(y[0], (q / 65535.0).astype(np.float32), np.float32)


def failing(block, block_info=None):
    """Raise on one block in the middle of the grid: the write has started, and stops."""
    if block_info[0]["chunk-location"][-2:] == (2, 1):
        raise RuntimeError("a task failed mid-write")
    return block


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_a_task_failing_mid_write_leaves_no_output(tmp_path, suffix):
    x = da.from_array(np.random.default_rng(2).random((100, 64)), chunks=(16, 32))
    path = tmp_path / f"out{suffix}"
    with pytest.raises(RuntimeError, match="mid-write"):
        tiled_io.save_array(x.map_blocks(failing, dtype=x.dtype), path, tile=16)
    assert listing(tmp_path) == []  # neither the output nor a half-written temporary


def test_a_failed_rewrite_keeps_the_previous_complete_store(tmp_path):
    x = np.random.default_rng(3).random((64, 64))
    path = tmp_path / "out.zarr"
    tiled_io.save_array(da.from_array(x, chunks=16), path)
    with pytest.raises(RuntimeError):
        tiled_io.save_array(da.from_array(-x, chunks=16).map_blocks(failing, dtype=x.dtype), path)
    assert listing(tmp_path) == ["out.zarr"]
    np.testing.assert_array_equal(tiled_io.open_array(path).compute()[0], x)
    tiled_io.save_array(da.from_array(2 * x, chunks=16), path)  # a good rewrite replaces it
    np.testing.assert_array_equal(tiled_io.open_array(path).compute()[0], 2 * x)
    assert listing(tmp_path) == ["out.zarr"]


def test_a_rewrite_interrupted_as_it_moves_in_keeps_the_previous_store(tmp_path, monkeypatch):
    """The old store is set aside before the new one is renamed onto the path; an interrupt
    (or a failed rename) between the two puts the old one back."""
    x = np.random.default_rng(4).random((32, 32))
    path = tmp_path / "out.zarr"
    tiled_io.save_array(da.from_array(x, chunks=16), path)
    rename = os.replace

    def interrupted(src, dst):
        if str(src).endswith(".part") and Path(dst) == path:
            raise KeyboardInterrupt
        rename(src, dst)

    monkeypatch.setattr(tiled_io.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tiled_io.save_array(da.from_array(-x, chunks=16), path)
    monkeypatch.undo()
    assert listing(tmp_path) == ["out.zarr"]
    np.testing.assert_array_equal(tiled_io.open_array(path).compute()[0], x)


def test_refusals(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep.txt").write_text("mine")
    x = da.zeros((8, 8), chunks=4)
    with pytest.raises(IsADirectoryError, match="not a Zarr array; it is left alone"):
        tiled_io.save_array(x, tmp_path / "folder")
    assert listing(tmp_path / "folder") == ["keep.txt"]
    with pytest.raises(ValueError, match=r"expected a name ending in \.zarr, \.tif, \.tiff"):
        tiled_io.save_array(x, tmp_path / "a.png")
    with pytest.raises(FileNotFoundError, match="no such file or store"):
        tiled_io.open_array(tmp_path / "missing.zarr")
    zarr.create_array(tmp_path / "5d.zarr", shape=(1, 1, 1, 4, 4), dtype="float32")
    with pytest.raises(ValueError, match=r"expected an image .* got an array of shape"):
        tiled_io.open_array(tmp_path / "5d.zarr")
    zarr.create_array(tmp_path / "i.zarr", shape=(4, 4), dtype="int32")
    with pytest.raises(TypeError, match="expected uint8, uint16, float32 or float64 samples"):
        tiled_io.open_array(tmp_path / "i.zarr")
    zarr.create_array(tmp_path / "s.zarr", shape=(4, 4), dtype="int16")
    with pytest.raises(TypeError, match="float64 samples, got int16"):
        tiled_io.open_array(tmp_path / "s.zarr")
    for tile in (0, 20):  # a TIFF's tiles: positive multiples of 16
        with pytest.raises(
            ValueError, match=rf"tile: expected a positive multiple of 16, got {tile}"
        ):
            tiled_io.save_array(x, tmp_path / "t.tif", tile=tile)
    assert not (tmp_path / "t.tif").exists()
    zarr.create_array(tmp_path / "h.zarr", shape=(4, 4), dtype="float16")
    with pytest.raises(TypeError, match="float64 samples, got float16"):
        tiled_io.open_array(tmp_path / "h.zarr")


@pytest.mark.parametrize("name", ["x.zarr", "x.tif"])
def test_save_refuses_what_open_cannot_read_before_writing(tmp_path, name):
    """Five channels (open_array reads C in 1-4) and an empty image were written, or failed
    inside tifffile with a message naming nothing; a float tile failed in NumPy. Nothing is
    left on disk."""
    for x, match in (
        (da.zeros((5, 20, 20)), r"save_array: x: expected a non-empty shape .* C in 1-4"),
        (da.zeros((1, 0, 5)), r"save_array: x: expected a non-empty shape"),
    ):
        with pytest.raises(ValueError, match=match):
            tiled_io.save_array(x, tmp_path / name)
    for dtype in ("float16", "int32", "bool"):
        with pytest.raises(TypeError, match=rf"save_array: x: expected uint8, .* got {dtype}"):
            tiled_io.save_array(da.zeros((20, 20), dtype=dtype), tmp_path / name)
    for tile in (16.0, True):
        with pytest.raises(TypeError, match=r"save_array: tile: expected an int"):
            tiled_io.save_array(da.zeros((20, 20)), tmp_path / name, tile=tile)
    assert listing(tmp_path) == []


def test_save_through_a_symlink_names_the_link(tmp_path):
    tiled_io.save_array(da.zeros((8, 8), chunks=4), tmp_path / "real.zarr")
    (tmp_path / "link.zarr").symlink_to(tmp_path / "real.zarr")
    with pytest.raises(ValueError, match=r"link\.zarr' is a symbolic link; give the path"):
        tiled_io.save_array(da.ones((8, 8), chunks=4), tmp_path / "link.zarr")
    assert not tiled_io.open_array(tmp_path / "real.zarr").any()


LAYOUTS = {1: ("L",), 2: ("L", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
CASES = [
    ("gradient", {}),
    ("gradient", {"magnitude": True, "scale": "abs"}),
    ("gradient", {"weights": (0.5, 0.25, 0.25), "scale": "minmax"}),
    ("gradient", {"weights": (1.0, -0.5, 0.25)}),  # the range follows the weights
    ("gradient", {"weights": (1.0, 1.0, 1.0), "magnitude": True}),
    ("grayscale", {}),
    ("avgpool", {"k": 3}),
    ("maxpool", {"k": 2}),
    ("conv", {"kernel": np.array([[1.0, 0, -1], [2, 0, -2]]), "padding": 2, "scale": "clip"}),
    ("conv", {"kernel": np.ones((5, 1)), "padding": "same"}),
]


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize(("operator", "options"), CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_filter_array_equals_filter_image(channels, operator, options, dtype):
    rng = np.random.default_rng(channels)
    x = rng.random((channels, int(rng.integers(30, 60)), int(rng.integers(30, 60)))).astype(dtype)
    chunks = (1, int(rng.integers(5, 20)), int(rng.integers(5, 20)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the poolings rechunk onto multiples of k
        pixels, notes = tiled_io.filter_array(da.from_array(x, chunks=chunks), operator, **options)
    want = filters.filter_image(x, LAYOUTS[channels], operator, **options)
    expected = want.pixels if want.alpha is None else np.concatenate([want.pixels, want.alpha])
    got = pixels.compute(scheduler="synchronous")
    assert got.dtype == dtype
    assert got.shape == expected.shape
    assert_close(got, expected, dtype)
    assert notes == want.notes


@pytest.mark.parametrize(("operator", "options"), [("maxpool", {"k": 4}), ("avgpool", {"k": 4})])
def test_minmax_scaling_where_a_chunk_holds_no_whole_window(operator, options):
    # 23 × 19 in chunks of 4 × 5: the last rows and columns hold no whole 4 × 4 window, so
    # their chunks have no output (an empty chunk would break dask's min and max)
    x = np.random.default_rng(0).random((1, 23, 19))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels, _ = tiled_io.filter_array(
            da.from_array(x, chunks=(1, 4, 5)), operator, scale="minmax", **options
        )
    assert 0 not in pixels.chunks[1] + pixels.chunks[2]
    want = filters.filter_image(x, LAYOUTS[1], operator, scale="minmax", **options).pixels
    assert_close(pixels.compute(scheduler="synchronous"), want, np.float64)


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_a_damaged_block_is_an_error_naming_the_file_and_writes_nothing(tmp_path, suffix):
    x = np.random.default_rng(4).random((64, 64)).astype(np.float32)
    source = tmp_path / f"in{suffix}"
    if suffix == ".zarr":
        zarr.create_array(source, shape=x.shape, chunks=(32, 32), dtype="float32")[:] = x
        chunk = max(
            (p for p in source.rglob("*") if p.is_file() and "zarr" not in p.name),
            key=lambda p: p.stat().st_size,
        )
        chunk.write_bytes(b"garbage")  # the metadata stays readable: only a task finds it
    else:
        tifffile.imwrite(source, x, tile=(32, 32), compression="zlib")
        with tifffile.TiffFile(source) as tif:
            page = tif.pages.first
            offset, count = page.dataoffsets[1], page.databytecounts[1]
        data = bytearray(source.read_bytes())
        data[offset : offset + count] = b"\xff" * count
        source.write_bytes(bytes(data))
    y = tiled_io.open_array(source)  # lazy: nothing decoded yet
    out = tmp_path / "out.zarr"
    with pytest.raises(ValueError, match=rf"'{source}' holds a block that cannot be read"):
        tiled_io.save_array(y, out)
    assert listing(tmp_path) == [source.name]


def test_an_unwritable_folder_is_named_not_the_temporary(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".out.zarr.x.part"))

    monkeypatch.setattr(tiled_io.tempfile, "mkdtemp", refuse)
    monkeypatch.setattr(tiled_io.tempfile, "mkstemp", refuse)
    x = da.zeros((8, 8), chunks=4)
    for name in ("out.zarr", "out.tif"):
        with pytest.raises(PermissionError, match=r"the folder '.*' is not writable") as info:
            tiled_io.save_array(x, tmp_path / name, tile=16)
        assert ".part" not in str(info.value)
    assert listing(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# SIGTERM during a save (s45 L2), tifffile's log on a junk file (s45 L3)

_SAVE_SLOWLY = """
import sys, time
import numpy as np, dask.array as da
from cnnmath import tiled_io

def slow(block):
    time.sleep(0.05)
    return block

x = da.zeros((1, 1024, 1024), chunks=(1, 64, 64), dtype=np.float32).map_blocks(slow)
tiled_io.save_array(x, sys.argv[1], tile=64)
print("finished")
"""


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_sigterm_mid_save_removes_the_temporary_and_ends_as_sigterm_does(tmp_path, suffix):
    """A script killed with SIGTERM (``timeout``, Slurm, Kubernetes) mid-save leaves neither
    the target nor the hidden ``.NAME.XXXX.part`` store, and still dies of SIGTERM."""
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / f"result{suffix}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    job = subprocess.Popen(
        [sys.executable, "-c", _SAVE_SLOWLY, str(target)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(n.endswith(".part") for n in listing(folder)):  # the save has begun
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()
            time.sleep(0.02)
        time.sleep(0.3)  # some blocks written
        job.send_signal(signal.SIGTERM)
        out, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == -signal.SIGTERM, (job.returncode, out, err)
    assert "finished" not in out
    assert listing(folder) == []


def test_a_save_leaves_sigterm_as_it_found_it(tmp_path):
    """The handler is installed only while the save runs, and not over the program's own."""
    import signal

    seen = []

    def look(block):
        seen.append(signal.getsignal(signal.SIGTERM))
        return block

    x = da.zeros((1, 8, 8), chunks=(1, 8, 8), dtype=np.float32).map_blocks(look)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    seen.clear()  # (map_blocks ran it once to learn its output's type)
    tiled_io.save_array(x, tmp_path / "a.zarr")
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert seen and all(callable(h) for h in seen)  # during the save: ours

    def own(signum, frame):
        raise SystemExit(3)

    previous = signal.signal(signal.SIGTERM, own)
    try:
        seen.clear()
        tiled_io.save_array(x, tmp_path / "b.zarr")
        assert seen and all(h is own for h in seen)
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_junk_tiff_is_one_clean_error_with_nothing_logged(tmp_path, capfd, caplog):
    """tifffile logs "invalid offset to first page" for a junk file; the ValueError says it
    all, so nothing reaches stderr or the log before it."""
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00garbage" * 10)
    with caplog.at_level("DEBUG"), pytest.raises(ValueError, match="is not a readable TIFF"):
        tiled_io.open_array(junk)
    assert not tiled_io.wants_lazy(str(junk), str(tmp_path / "out.png"))  # the CLI's probe
    assert caplog.records == []
    assert capfd.readouterr().err == ""


def test_what_tifffile_logs_about_a_file_that_reads_is_still_logged(tmp_path, caplog):
    """Held back while the metadata is read, tifffile's records of a file that then opens
    are logged after all: one logged by hand from inside the read comes out once."""
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    real = tifffile.TiffFile.__init__

    def noisy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        tifffile.logger().warning("odd tag, read anyway")

    with caplog.at_level("WARNING", logger="tifffile"):
        tifffile.TiffFile.__init__ = noisy
        try:
            x = tiled_io.open_array(path)
        finally:
            tifffile.TiffFile.__init__ = real
    assert x.shape == (1, 8, 8)
    assert [r.getMessage() for r in caplog.records] == ["odd tag, read anyway"]
