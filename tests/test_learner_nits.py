"""Small things a teacher met (review s45 learner f6): ``train --resume`` keeps the
checkpoint's seed as it keeps its epochs; ``filter`` gives sizes as H×W throughout;
``to_grayscale`` on a channels-last image names the transpose; ``verify --help`` says that
the JSON's ``max_abs_error`` is a relative error.

Witnesses: the uninterrupted run's weights for the resumed one; Pillow's own size of the
written file (W, H); NumPy's transpose of the channels-last image, which to_grayscale then
takes.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnmath import filters, weights
from cnnmath.cli import main


def run_cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_resume_takes_the_checkpoints_seed(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("safetensors")
    quick = ["--epochs", "1", "--limit", "64", "--quiet"]
    ckpt, full, resumed = (tmp_path / n for n in ("c.ckpt", "full.st", "resumed.st"))
    args = ["train", *quick, "--seed", "3", "--checkpoint", ckpt, "--save"]
    status, out, err = run_cli(capsys, *args, full)
    assert status == 0, err
    # the checkpoint is the finished run: resuming it trains no more, and its weights are
    # those of the run that wrote it (seed 3) — before, --seed's default 0 was refused
    status, out2, err = run_cli(
        capsys, "train", "--resume", ckpt, "--limit", "64", "--quiet", "--save", resumed
    )
    assert status == 0, err
    assert out2 == out
    want, got = weights.load_state_dict(full), weights.load_state_dict(resumed)
    assert want.keys() == got.keys()
    assert all(np.array_equal(want[k], got[k]) for k in want)
    status, _, err = run_cli(
        capsys, "train", "--resume", ckpt, "--limit", "64", "--quiet", "--seed", "0"
    )
    assert status == 2
    assert re.search(r"--resume: .* seed 3, this one has --seed 0; resume with --seed 3", err)


def test_filter_reports_sizes_as_height_by_width(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    out = tmp_path / "m.png"
    status, _, err = run_cli(capsys, "filter", "maxpool", tmp_path / "p.png", "-o", out, "--k", 3)
    assert status == 0, err
    with Image.open(out) as im:
        width, height = im.size  # Pillow's order: (W, H)
    assert (height, width) == (3, 4)
    assert "(10x12 is not a multiple of k=3)" in err  # the input, H×W
    assert f"wrote {out} (maxpool, {height}x{width} pixels, 3 channel(s)" in err


@pytest.mark.parametrize("shape, order", [((20, 30, 3), (2, 0, 1)), ((2, 20, 30, 4), (0, 3, 1, 2))])
def test_to_grayscale_names_the_transpose_for_channels_last(shape, order):
    x = np.random.default_rng(1).random(shape)
    with pytest.raises(ValueError, match=r"channels last.*" + re.escape(f"x.transpose{order}")):
        filters.to_grayscale(x)
    alpha = "drop" if shape[-1] == 4 else None
    filters.to_grayscale(np.transpose(x, order), alpha=alpha)  # the hint's call is accepted


def test_a_channels_first_mistake_gets_no_transpose_hint():
    with pytest.raises(ValueError) as error:
        filters.to_grayscale(np.zeros((5, 6, 7)))
    assert "transpose" not in str(error.value)


def test_verify_help_says_max_abs_error_is_relative(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "max_abs_error is the table's error column: relative for an identity" in text
