"""docs/porting.md: its code runs as shown and does what the page says, and every cnnmath
name its table points to exists."""

import contextlib
import importlib
import io
import re
from pathlib import Path

import numpy as np

DOC = Path(__file__).resolve().parents[1] / "docs" / "porting.md"


def test_the_examples_run_and_do_what_the_page_says():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert len(blocks) == 3
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(blocks[0], namespace)
    accuracy = float(re.search(r"held-out accuracy (\S+)", out.getvalue()).group(1))
    assert accuracy > 0.95  # "above 0.95"
    assert np.isclose(namespace["opt"].lr, 0.0)  # the cosine ends at η_min = 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(blocks[1], namespace)
    first, last = map(float, re.search(r"loss (\S+) -> (\S+)", out.getvalue()).groups())
    assert 0.6 < first < 0.8 and last < 0.1  # "from about 0.7 to below 0.1"
    assert namespace["history"][-1]["train_accuracy"] is None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(blocks[2], namespace)
    main, aux = map(
        float, re.search(r"main head (\S+), auxiliary head (\S+)", out.getvalue()).groups()
    )
    assert main > 0.92 and aux > 0.88  # "about 0.95 … and 0.93"
    assert isinstance(namespace["g"](namespace["X_test"][:2]), tuple)


def test_every_name_in_the_table_exists():
    table = [line for line in DOC.read_text("utf-8").splitlines() if line.startswith("| ")]
    names = re.findall(r"`(cnnmath\.[\w.]+)", "\n".join(row.split(" | ")[1] for row in table[1:]))
    assert len(names) >= 12
    for name in names:
        parts = name.rstrip(".").split(".")
        obj = importlib.import_module(parts[0])
        for part in parts[1:]:
            obj = getattr(obj, part, None) or importlib.import_module(f"{obj.__name__}.{part}")
        assert obj is not None, name
    # "the same names": each PyTorch name the rows list after them exists here too
    for row in table[2:]:
        torch_side, ours = row.split(" | ")[0], row.split(" | ")[1]
        if "the same names" in ours:
            module = importlib.import_module(re.search(r"`(cnnmath(?:\.\w+)+)\.`", ours).group(1))
            for name in re.findall(r"`(?:\w+\.)*(\w+)`", torch_side):
                assert hasattr(module, name), (module.__name__, name)
