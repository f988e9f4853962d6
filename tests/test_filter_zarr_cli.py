"""``cnnmath filter`` on Zarr and tiled TIFF files, in-process and against a real cluster: a
``dask scheduler`` and two ``dask worker`` processes this module starts on 127.0.0.1 (ports
chosen by the scheduler, found through its scheduler file) and always stops.

Witness: ``cnnmath.filters.filter_image`` on the whole array in memory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnnmath import filters
from helpers import assert_close

zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")
distributed = pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))
START_TIMEOUT = 60


def cnnmath(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "cnnmath", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stop(procs):
    """SIGTERM each in turn, the last started first (the workers before their scheduler),
    waiting a bounded time, then SIGKILL what is left. Signalled all at once, a scheduler and
    two workers took ~8 s to exit; in turn, under half a second."""
    deadline = time.monotonic() + 15
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(address, client) of a scheduler + two single-threaded worker processes."""
    if not Path(DASK).exists():
        pytest.skip("the dask command is not installed beside this Python")
    folder = tmp_path_factory.mktemp("cluster")
    file = folder / "scheduler.json"
    common = ["--no-dashboard"]
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                 "--scheduler-file", str(file), *common],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while not file.exists() or not file.read_text().strip():
            if time.monotonic() > deadline or procs[0].poll() is not None:
                pytest.fail("the dask scheduler did not start within the timeout")
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written in one go, but be sure it is complete
        address = json.loads(file.read_text())["address"]
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [DASK, "worker", "--scheduler-file", str(file), "--nthreads", "1",
                     "--nworkers", "1", "--host", "127.0.0.1",
                     "--local-directory", str(folder), *common],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        with distributed.Client(address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
            yield address, client
    finally:
        stop(procs)


def gray_zarr(path, shape=(150, 130), chunks=(40, 48), seed=0):
    x = np.random.default_rng(seed).random(shape).astype(np.float32)
    zarr.create_array(path, shape=x.shape, chunks=chunks, dtype="float32")[:] = x
    return x


def test_gradient_zarr_to_zarr_on_the_cluster(tmp_path, cluster):
    address, client = cluster
    x = gray_zarr(tmp_path / "in.zarr")
    out = tmp_path / "out.zarr"
    proc = cnnmath("filter", "gradient", tmp_path / "in.zarr", "-o", out, "--scheduler", address)
    assert proc.returncode == 0, proc.stderr
    assert "tasks" in proc.stderr and f"wrote {out}" in proc.stderr  # the bar, the summary
    want = filters.filter_image(x[None].astype(np.float64), ("L",), "gradient").pixels
    got = np.asarray(zarr.open_array(out, mode="r"))
    assert got.shape == want.shape == (1, 150, 260)
    assert_close(got, want.astype(np.float32), np.float32)
    # the workers, not the command's own process, ran the tiles
    prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert any(p.startswith("cnnmath-tiled") for p in prefixes), prefixes
    assert sorted(os.listdir(tmp_path)) == ["in.zarr", "out.zarr"]


def test_rgb_tiled_tiff_magnitude_to_tiff_on_the_cluster(tmp_path, cluster):
    address, _ = cluster
    q = np.random.default_rng(1).integers(0, 256, (90, 70, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "in.tif", q, photometric="rgb", tile=(32, 32))
    out = tmp_path / "out.tif"
    proc = cnnmath(
        "filter", "gradient", tmp_path / "in.tif", "-o", out, "--magnitude", "--scheduler", address
    )
    assert proc.returncode == 0, proc.stderr
    assert "converted to grayscale" in proc.stderr
    x = (q.transpose(2, 0, 1) / 255.0).astype(np.float32)
    want = filters.filter_image(x, ("R", "G", "B"), "gradient", magnitude=True).pixels
    assert_close(tifffile.imread(out), want[0], np.float32)


def test_avgpool_zarr_to_tiff_in_process_by_default(tmp_path):
    x = gray_zarr(tmp_path / "in.zarr", shape=(101, 96), chunks=(33, 33))
    proc = cnnmath("filter", "avgpool", tmp_path / "in.zarr", "-o", tmp_path / "o.tif", "--k", "4")
    assert proc.returncode == 0, proc.stderr
    assert "1 row(s) and 0 column(s) at the bottom/right dropped" in proc.stderr
    assert "rechunked" in proc.stderr  # 33-row chunks moved onto multiples of k = 4
    want = filters.filter_image(x[None], ("L",), "avgpool", k=4).pixels
    assert_close(tifffile.imread(tmp_path / "o.tif"), want[0], np.float32)


def test_a_picture_output_for_a_zarr_input_is_refused(tmp_path):
    gray_zarr(tmp_path / "in.zarr", shape=(20, 20), chunks=(10, 10))
    proc = cnnmath("filter", "gradient", tmp_path / "in.zarr", "-o", tmp_path / "o.png")
    assert proc.returncode == 2
    assert "the output is a Zarr store (.zarr) or a tiled TIFF (.tif)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.zarr"]


def test_a_damaged_chunk_and_a_missing_output_folder_are_one_line_naming_the_argument(tmp_path):
    gray_zarr(tmp_path / "in.zarr", shape=(40, 40), chunks=(20, 20))
    out = tmp_path / "nowhere" / "o.zarr"
    proc = cnnmath("filter", "gradient", tmp_path / "in.zarr", "-o", out)
    assert proc.returncode == 2, proc.stderr
    assert f"-o: the folder '{out.parent}' does not exist" in proc.stderr
    chunk = max(
        (p for p in (tmp_path / "in.zarr").rglob("*") if p.is_file() and "zarr" not in p.name),
        key=lambda p: p.stat().st_size,
    )
    chunk.write_bytes(b"garbage")  # the metadata still reads: a task finds the damage
    for scale in ("abs", "minmax"):  # minmax reads every block before the write starts
        args = ("filter", "gradient", tmp_path / "in.zarr", "-o", tmp_path / "o.zarr")
        proc = cnnmath(*args, "--scale", scale)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"INPUT: '{tmp_path / 'in.zarr'}' holds a block that cannot be read" in proc.stderr
        assert sorted(os.listdir(tmp_path)) == ["in.zarr"]


def test_a_worker_killed_mid_run_is_survived(tmp_path, cluster):
    """A third worker joins, the command starts, and once the bar shows tasks done the new
    worker is killed (SIGKILL): its tasks are run again on the others, and the output is
    complete and right."""
    address, client = cluster
    data = tmp_path / "data"
    data.mkdir()
    x = gray_zarr(data / "in.zarr", shape=(1024, 1024), chunks=(64, 64), seed=3)
    victim = subprocess.Popen(
        [DASK, "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
         "--local-directory", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    out = data / "out.zarr"
    run = None
    try:
        client.wait_for_workers(3, timeout=START_TIMEOUT)
        run = subprocess.Popen(
            [sys.executable, "-m", "cnnmath", "filter", "gradient", str(data / "in.zarr"),
             "-o", str(out), "--scheduler", address],
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        seen = ""
        while "tasks" not in seen or " 0/" in seen[-40:]:
            char = run.stderr.read(1)
            if not char:
                break
            seen += char
        killed_mid_run = run.poll() is None and "#" * 30 not in seen
        victim.kill()
        rest = run.communicate(timeout=300)[1]
        assert run.returncode == 0, seen + rest
        assert killed_mid_run, "the run ended before the worker could be killed"
    finally:
        stop([victim] + ([run] if run is not None else []))
    want = filters.filter_image(x[None].astype(np.float64), ("L",), "gradient").pixels
    assert_close(np.asarray(zarr.open_array(out, mode="r")), want.astype(np.float32), np.float32)
    assert sorted(os.listdir(data)) == ["in.zarr", "out.zarr"]


def _png(path):
    from PIL import Image

    q = np.random.default_rng(2).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(q).save(path)
    return q.transpose(2, 0, 1) / 255.0


def test_a_picture_input_goes_to_a_zarr_store(tmp_path):
    """A .zarr output sends a PNG through dask, as the help says (it was refused as not a
    Zarr or TIFF input); the numbers are the in-memory filter's."""
    x = _png(tmp_path / "p.png")
    proc = cnnmath("filter", "gradient", tmp_path / "p.png", "-o", tmp_path / "out.zarr")
    assert proc.returncode == 0, proc.stderr
    want = filters.filter_image(x, ("R", "G", "B"), "gradient").pixels
    assert_close(np.asarray(zarr.open_array(tmp_path / "out.zarr", mode="r")), want, np.float64)
    assert sorted(os.listdir(tmp_path)) == ["out.zarr", "p.png"]
    from PIL import Image

    Image.open(tmp_path / "p.png").convert("P").save(tmp_path / "palette.png")
    proc = cnnmath("filter", "gradient", tmp_path / "palette.png", "-o", tmp_path / "o2.zarr")
    assert proc.returncode == 0 and "input: palette (P) expanded to RGB" in proc.stderr


def test_a_picture_input_runs_on_the_cluster(tmp_path, cluster):
    address, _ = cluster
    x = _png(tmp_path / "p.png")
    out = tmp_path / "out.tif"
    proc = cnnmath("filter", "avgpool", tmp_path / "p.png", "-o", out, "--scheduler", address)
    assert proc.returncode == 0, proc.stderr
    want = filters.filter_image(x, ("R", "G", "B"), "avgpool", k=2).pixels
    assert_close(tifffile.imread(out), want, np.float64)
    proc = cnnmath(
        "filter", "avgpool", tmp_path / "p.png", "-o", tmp_path / "o.png", "--scheduler", address
    )
    assert proc.returncode == 2 and "-o: through dask" in proc.stderr


def test_a_kernel_larger_than_a_zarr_image_names_kernel(tmp_path):
    """As in memory: the dask path said 'receptive_field: input_shape: node ...'."""
    gray_zarr(tmp_path / "in.zarr", shape=(3, 3), chunks=(2, 2))
    proc = cnnmath(
        "filter", "conv", tmp_path / "in.zarr", "-o", tmp_path / "o.zarr",
        "--kernel", "1,1,1,1,1", "--padding", "valid",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "error: --kernel: 1x5 is larger than the image (3x3 pixels)" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.zarr"]
