"""Every file cnnmath writes whole or not at all (weights, checkpoints, ONNX files, images,
pages) goes through ``_files.atomic_output``: a script killed with SIGTERM while one is being
written (``timeout``, Slurm, Kubernetes) leaves neither the target nor its hidden temporary
file, and still dies of SIGTERM; without the signal the file is written whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

_WRITE_SLOWLY = """
import sys, time
from cnnmath._files import atomic_output

with atomic_output(sys.argv[1]) as handle:
    handle.write(b"half")
    handle.flush()
    print("writing", flush=True)
    time.sleep(30)
    handle.write(b" and the rest")
print("finished", flush=True)
"""


def _run(target: Path, terminate: bool) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    script = _WRITE_SLOWLY if terminate else _WRITE_SLOWLY.replace("time.sleep(30)", "pass")
    job = subprocess.Popen(
        [sys.executable, "-c", script, str(target)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert job.stdout is not None
        assert job.stdout.readline() == "writing\n"
        if terminate:
            time.sleep(0.1)
            job.send_signal(signal.SIGTERM)
        out, _ = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
    return job.returncode, out


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_while_writing_leaves_nothing_and_ends_as_sigterm_does(tmp_path):
    target = tmp_path / "model.safetensors"
    status, out = _run(target, terminate=True)
    assert status == -signal.SIGTERM and "finished" not in out
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_without_the_signal_the_file_is_written_whole(tmp_path):
    target = tmp_path / "model.safetensors"
    status, out = _run(target, terminate=False)
    assert status == 0 and "finished" in out
    assert os.listdir(tmp_path) == ["model.safetensors"]
    assert target.read_bytes() == b"half and the rest"
