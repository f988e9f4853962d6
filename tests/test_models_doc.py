"""docs/models.md: every model cnnmath builds is in its table, each parameter count it gives
is torchvision's published figure (its weights' metadata) or, for cnnmath's own models, the
model's, and its fine-tuning example runs and prints what the page says."""

import contextlib
import io
import re
from pathlib import Path

from cnnmath import models

DOC = Path(__file__).resolve().parents[1] / "docs" / "models.md"


def _rows():
    lines = [line for line in DOC.read_text("utf-8").splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:]]


def test_every_builder_is_in_the_table_and_every_table_name_is_a_builder():
    listed = [name for row in _rows() for name in re.findall(r"`(\w+)`", row[1])]
    # "`vgg11`, … and each `_bn`" names the batch-norm variants by their suffix
    expanded = {name for name in listed if not name.startswith("_")}
    expanded |= {f"{name}_bn" for name in listed if name.startswith("vgg")}
    assert set(models.__all__) == expanded


def test_parameter_counts_are_torchvisions_published_figures():
    from torchvision_helper import import_torchvision

    torchvision = import_torchvision()
    checked = 0
    for row in _rows():
        builders = re.findall(r"`(\w+)`", row[1])
        counts = re.findall(r"(\d[\d ]*\d)(?: \(`(\w+)`\)| \(10 classes\))?", row[2])
        for i, (digits, named) in enumerate(counts):
            name = named or builders[i]
            count = int(digits.replace(" ", ""))
            if "10 classes" in row[2]:  # cnnmath's own models
                assert getattr(models, name)().num_parameters() == count, name
            elif name == "inception_v3":  # torchvision publishes it with its aux classifier
                model = torchvision.models.inception_v3(aux_logits=False, init_weights=False)
                assert sum(p.numel() for p in model.parameters()) == count, name
                assert "27 161 264" in row[3]
                weights = torchvision.models.get_model_weights(name)
                assert next(iter(weights)).meta["num_params"] == 27_161_264
            elif name in ("fcn_resnet50", "deeplabv3_resnet50"):  # published with aux heads
                build = getattr(torchvision.models.segmentation, name)
                model = build(weights=None, weights_backbone=None, aux_loss=False)
                assert sum(p.numel() for p in model.parameters()) == count, name
                published = next(iter(torchvision.models.get_model_weights(name)))
                figure = f"{published.meta['num_params']:,}".replace(",", " ")
                assert f"{figure} for `{name}`" in row[3], name
            else:
                weights = torchvision.models.get_model_weights(name)
                assert next(iter(weights)).meta["num_params"] == count, name
            checked += 1
    assert checked >= 19


def test_the_fine_tuning_example_runs_as_the_page_says():
    (block,) = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(block, {})
    assert out.getvalue().split("\n")[:2] == ["(2, 5)", "(2, 1000)"]
    assert "prints `(2, 5)` and `(2, 1000)`" in DOC.read_text("utf-8")
