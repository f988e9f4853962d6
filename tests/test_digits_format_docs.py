"""The format of the bundled digits, as README and ``train`` / ``predict --help`` state it
(review s45 learner f3): light ink up to 1 on a dark background of 0, each digit filling the
8×8 image's height, so that a digit drawn dark on white is known to need inverting.

Witness: scikit-learn's own ``load_digits`` (counts 0..16), read here without cnnmath.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cnnmath.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def help_text(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_the_stated_format_is_scikit_learns():
    datasets = pytest.importorskip("sklearn.datasets")
    images = datasets.load_digits().images / 16  # (1797, 8, 8), as cnnmath's pixels / 16
    assert images.min() == 0 and images.max() == 1  # values in [0, 1], strokes reaching 1
    values, counts = np.unique(images, return_counts=True)
    assert values[np.argmax(counts)] == 0  # the background is dark: 0 is the commonest value
    assert images[:, :, [0, -1]].mean() < 0.02 < 0.3 < images.mean()  # dark margins, light ink
    assert (images[:, 0].max(axis=1) > 0).all() and (images[:, -1].max(axis=1) > 0).all()


@pytest.mark.parametrize("where", ["README", "train", "predict"])
def test_readme_and_help_say_light_ink_on_dark_and_how_to_invert(capsys, where):
    text = (
        " ".join(README.read_text(encoding="utf-8").split())
        if where == "README"
        else help_text(capsys, where)
    )
    assert re.search(r"light ink,? \(?(values )?up to 1", text), where
    assert re.search(r"dark background[ ,(]+0", text), where
    assert "8x8" in text or "8×8" in text
    assert "PIL.ImageOps.invert" in text
