"""docs/porting.md: its code runs as shown and does what the page says, and every cnnmath
name its table points to exists."""

import contextlib
import functools
import importlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "porting.md"


def test_the_examples_run_and_do_what_the_page_says():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert len(blocks) == 4
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


def test_a_model_class_of_ones_own_is_pytorchs_block():
    """The Graph subclass of "A model class of your own": PyTorch's keys (as it prints), and
    the outputs and gradients of the PyTorch class it ports, its weights loaded."""
    torch = pytest.importorskip("torch")
    block_code = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)[3]
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(block_code, namespace)
    assert out.getvalue().strip() == "['conv1.weight', 'bn1.weight', 'bn1.bias']"

    class TorchBlock(torch.nn.Module):
        def __init__(self, channels):
            super().__init__()
            conv = functools.partial(torch.nn.Conv2d, channels, channels, 3, padding=1, bias=False)
            self.conv1, self.bn1 = conv(), torch.nn.BatchNorm2d(channels)
            self.conv2, self.bn2 = conv(), torch.nn.BatchNorm2d(channels)

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + x)

    ours, theirs = namespace["Block"](8).double(), TorchBlock(8).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 8, 6, 6))
    G = np.random.default_rng(2).standard_normal((2, 8, 6, 6))
    tx = torch.from_numpy(x).requires_grad_()
    ty = theirs(tx)
    ty.backward(torch.from_numpy(G))
    y = ours(x)
    gx = ours.backward(G)
    assert np.abs(y - ty.detach().numpy()).max() < 1e-12
    assert np.abs(gx - tx.grad.numpy()).max() < 1e-12
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert np.abs(p.grad - tp.grad.numpy()).max() < 1e-12, name


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
