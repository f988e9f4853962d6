"""``cnnmath train``: output format, exit codes, files, and resumption through the CLI.

Runs use the hidden ``--limit`` option (a few dozen training images) so each takes a second
or two; the full recipe is measured outside the tests.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import cnnmath.train
from cnnmath import weights
from cnnmath.cli import main
from cnnmath.models import lenet
from helpers import interrupted_at_batch

pytest.importorskip("sklearn")
pytest.importorskip("safetensors")

ACCURACY_LINE = re.compile(r"test accuracy (0\.\d{3}|1\.000)")


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "cnnmath", "train", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_quiet_run_prints_exactly_the_accuracy_line():
    done = cli("--epochs", "1", "--limit", "64", "--quiet")
    assert done.returncode == 0, done.stderr
    assert ACCURACY_LINE.fullmatch(done.stdout.strip())
    assert done.stdout.count("\n") == 1
    assert done.stderr == ""


def test_epoch_lines_then_accuracy(capsys, tmp_path):
    path = tmp_path / "w.safetensors"
    assert (
        main(["train", "--epochs", "2", "--limit", "64", "--seed", "3", "--save", str(path)]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch 1/2  loss ") and lines[1].startswith("epoch 2/2  loss ")
    assert lines[-2] == f"weights saved to {path}"
    assert ACCURACY_LINE.fullmatch(lines[-1])
    # the saved weights give the printed accuracy
    model = lenet(0)
    weights.load(model, path)
    from cnnmath.data import load_digits

    X, y = load_digits("test")
    assert f"test accuracy {cnnmath.train.evaluate(model, X, y):.3f}" == lines[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "--epochs: expected a whole number >= 1, got 0"),
        (["--epochs", "-3"], "--epochs: expected a whole number >= 1, got -3"),
        (["--epochs", "many"], "--epochs: expected a whole number >= 1, got 'many'"),
        (["--seed", "-1"], "--seed: expected a whole number >= 0, got -1"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, message):
    done = cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert "Traceback" not in done.stderr


def test_save_into_missing_directory_exits_2_and_writes_nothing(tmp_path):
    target = tmp_path / "missing" / "w.safetensors"
    done = cli("--epochs", "1", "--limit", "32", "--quiet", "--save", str(target))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "missing").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [None, b"garbage, not a checkpoint"])
def test_resume_from_missing_or_corrupt_file_exits_2(tmp_path, capsys, content):
    path = tmp_path / "run.ckpt"
    if content is not None:
        path.write_bytes(content)
    assert main(["train", "--epochs", "1", "--limit", "32", "--quiet", "--resume", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert err.startswith("cnnmath train: error: --resume: ")


def test_resume_from_an_image_names_the_option_and_says_what_it_expected(tmp_path, capsys):
    path = tmp_path / "photo.png"  # the PNG signature read as a header length: far too long
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200))
    assert main(["train", "--epochs", "1", "--limit", "32", "--quiet", "--resume", str(path)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"cnnmath train: error: --resume: {path}: not a valid safetensors")
    assert "first 8 bytes give a header of" in line and "codec" not in line
    assert line.endswith("expected a checkpoint written by --checkpoint")


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, capsys):
    common = ["train", "--epochs", "3", "--limit", "96", "--seed", "2", "--quiet"]
    full = tmp_path / "full.safetensors"
    assert main([*common, "--save", str(full)]) == 0
    full_line = capsys.readouterr().out.strip()

    # the second run is interrupted (Ctrl-C) in its third epoch: 96 images = 2 batches/epoch
    ckpt = tmp_path / "run.ckpt"
    with interrupted_at_batch(6):
        assert main([*common, "--checkpoint", str(ckpt)]) == 130
    assert "interrupted" in capsys.readouterr().err

    interrupted = tmp_path / "interrupted.ckpt"
    interrupted.write_bytes(ckpt.read_bytes())  # the resumed run below writes on ckpt
    resumed = tmp_path / "resumed.safetensors"
    assert main([*common, "--resume", str(ckpt), "--save", str(resumed)]) == 0
    assert capsys.readouterr().out.strip() == full_line
    a, b = weights.load_state_dict(full), weights.load_state_dict(resumed)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)

    # resuming with another --epochs would change the schedule: refused
    assert (
        main(
            [
                "train",
                "--epochs",
                "4",
                "--limit",
                "96",
                "--seed",
                "2",
                "--quiet",
                "--resume",
                str(ckpt),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(f"cnnmath train: error: --resume: {ckpt} comes from a run of 3 epochs")
    assert "this one has --epochs 4" in err and err.rstrip().endswith("resume with --epochs 3")

    # resumed without --epochs: the checkpoint's 3, not the recipe's default
    again = tmp_path / "again.safetensors"
    plain = ["train", "--limit", "96", "--seed", "2", "--quiet"]
    assert main([*plain, "--resume", str(interrupted), "--save", str(again)]) == 0
    assert capsys.readouterr().out.strip() == full_line
    c = weights.load_state_dict(again)
    for key in a:
        np.testing.assert_array_equal(a[key], c[key], err_msg=key)


# ---------------------------------------------------------------------------------------------
# Every output checked before any training (issue 9, findings 2 and 9); crafted checkpoints
# refused through the CLI (finding 3). Without --quiet an epoch line would show any training.

QUICK = ["train", "--epochs", "1", "--limit", "32"]


def one_error_line(capsys):
    captured = capsys.readouterr()
    assert captured.out == "", "training started: " + captured.out  # no epoch line
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("cnnmath train: error: ")
    return lines[0]


@pytest.mark.parametrize("option", ["--save", "--checkpoint"])
@pytest.mark.parametrize(
    "target, pattern",
    [
        ("{tmp}", r"{option}: '{tmp}' is a directory; give a file name"),
        (".", r"{option}: expected a file path, got '\.', which names a directory"),
        ("", r"{option}: expected a file path, got an empty string"),
        ("{tmp}/missing/w.st", r"{option}: output directory does not exist: {tmp}/missing"),
        ("{tmp}/plain.txt/w.st", r"{option}: output directory is not a directory: {tmp}/plain"),
        ("{tmp}/sub/", r"{option}: expected a file path, got '{tmp}/sub/', which names a dir"),
        ("/proc/cnnmath-w.st", r"{option}: output directory is not writable: /proc"),
    ],
    ids=["directory", "dot", "empty", "missing-folder", "file-as-folder", "slash", "unwritable"],
)
def test_unusable_output_paths_are_refused_before_training(
    tmp_path, capsys, monkeypatch, option, target, pattern
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain.txt").write_text("a file")
    path = target.format(tmp=tmp_path)
    assert main([*QUICK, option, path]) == 2
    line = one_error_line(capsys)
    assert re.search(pattern.format(tmp=re.escape(str(tmp_path)), option=option), line), line
    assert ".cnnmath-write-test" not in line and ".part" not in line and ".tmp" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]  # nothing left behind


def test_save_and_checkpoint_to_one_file_is_refused_before_training(tmp_path, capsys):
    same = tmp_path / "run.st"
    assert main([*QUICK, "--save", str(same), "--checkpoint", str(same)]) == 2
    line = one_error_line(capsys)
    assert f"--save and --checkpoint name the same file, {same}" in line
    assert not same.exists()
    # the same file reached through another spelling is the same file
    (tmp_path / "sub").mkdir()
    other = tmp_path / "sub" / ".." / "run.st"
    assert main([*QUICK, "--save", str(same), "--checkpoint", str(other)]) == 2
    assert "name the same file" in one_error_line(capsys)


def test_save_over_the_resumed_checkpoint_is_refused_before_training(tmp_path, capsys):
    ckpt = tmp_path / "run.ckpt"
    assert main([*QUICK, "--epochs", "2", "--quiet", "--checkpoint", str(ckpt)]) == 0
    capsys.readouterr()
    before = ckpt.read_bytes()
    assert main([*QUICK, "--epochs", "2", "--resume", str(ckpt), "--save", str(ckpt)]) == 2
    line = one_error_line(capsys)
    assert "--save and --resume (where checkpoints go without --checkpoint) name the same" in line
    assert ckpt.read_bytes() == before


@pytest.mark.parametrize(
    "field, value, pattern",
    [
        ("run", "null", r"metadata 'run': expected a JSON object"),
        ("epoch", "-2", r"metadata 'epoch': expected a whole number >= 0, got '-2'"),
        ("rng", '{"bit_generator": "PCG64"}', r"metadata 'rng': .*expected the keys"),
        ("history", "5", r"metadata 'history': expected a JSON array"),
    ],
)
def test_crafted_checkpoint_metadata_exits_2_naming_file_and_field(
    tmp_path, capsys, field, value, pattern
):
    ckpt = tmp_path / "run.ckpt"
    assert main([*QUICK, "--quiet", "--checkpoint", str(ckpt)]) == 0
    capsys.readouterr()
    tensors, meta = weights.read(ckpt)
    weights.save(tensors, ckpt, metadata={**meta, field: value})
    assert main([*QUICK, "--resume", str(ckpt)]) == 2
    line = one_error_line(capsys)
    assert f"--resume: {ckpt}" in line and re.search(pattern, line), line
