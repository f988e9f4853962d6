"""docs/scale.md: the recipe "Tiling the spatial part of a classifier" runs as written and
prints what the page says it prints; the table of refusals names layers that ``tiled.apply``
does refuse, each with a reason."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

from cnnmath import nn

da = pytest.importorskip("dask.array")
from cnnmath import tiled  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "scale.md"


def _section(heading):
    text = DOC.read_text("utf-8")
    assert heading in text, f"docs/scale.md has no section {heading!r}"
    return text.split(heading, 1)[1].split("\n### ", 1)[0]


def test_the_spatial_part_recipe_prints_what_the_page_says():
    section = _section("### Tiling the spatial part of a classifier")
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    claimed = re.search(r"prints `(.*?)` and `(.*?)`", section)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {})
    assert out.getvalue().splitlines() == [claimed.group(1), claimed.group(2)]


LISTED_REFUSALS = [  # one layer of each row of the table, in a network that tiles otherwise
    nn.ConvTranspose2d(2, 2, 2, stride=2),
    nn.Upsample(scale_factor=2),
    nn.PixelShuffle(2),
    nn.Flatten(),
    nn.AdaptiveAvgPool2d(1),
    nn.GroupNorm(1, 2),
    nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"),
    nn.Conv2d(2, 2, 3, padding=1, padding_mode="replicate"),
    nn.ReflectionPad2d(1),
    nn.ReplicationPad2d(1),
    nn.CircularPad2d(1),
    nn.Narrow(2, 0, 4),
]


@pytest.mark.parametrize("layer", LISTED_REFUSALS, ids=lambda m: repr(m)[:40])
def test_every_listed_layer_is_refused_on_tiles_naming_it(layer):
    name = type(layer).__name__
    assert f"`{name}" in _section("### What tiling refuses, and why")
    net = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), layer).eval()
    x = da.zeros((1, 2, 16, 16), chunks=(1, 2, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=rf"node '1' \({name}\)"):
        tiled.apply(net, x)
