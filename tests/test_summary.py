"""cnnmath.summary and ``cnnmath summary``: counts against torchinfo on torchvision's own
networks, shapes and activation memory against torch forward hooks, receptive fields against
the recurrences worked by hand, and the model left as it was."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import cnnmath
from cnnmath import models, nn
from cnnmath.summary import summary
from torchvision_helper import import_torchvision

# -- error inputs ----------------------------------------------------------------------------
ERROR_INPUTS = [
    ((nn.ReLU(), (1, 2, 3, 4, 5)), ValueError, r"summary: input_shape: expected \(C, H, W\)"),
    ((nn.ReLU(), (1, 0, 3)), ValueError, r"summary: input_shape\[1\]: expected an int >= 1"),
    ((nn.ReLU(), (1, 2.5, 3)), TypeError, r"summary: input_shape\[1\]"),
    ((nn.ReLU(), 7), TypeError, r"summary: input_shape: expected a sequence"),
    (("lenet", (1, 8, 8)), TypeError, r"summary: model: expected a cnnmath.nn.Module, got str"),
    ((models.lenet(), (1, 2, 2)), ValueError, r"node '7' \(MaxPool2d\) cannot run"),
]


@pytest.mark.parametrize(("args", "exc", "pattern"), ERROR_INPUTS)
def test_error_inputs(args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        summary(*args)


# -- torchinfo on torchvision's networks -----------------------------------------------------
def _torchinfo_leaves(torch_model, stats):
    """torchinfo's leaf rows keyed by the module's path in the torch model (first call)."""
    names = {id(m): name for name, m in torch_model.named_modules()}
    out = {}
    for layer in stats.summary_list:
        if layer.is_leaf_layer and not layer.is_recursive:
            out.setdefault(names[id(layer.module)], layer)
    return out


@pytest.mark.parametrize(("arch", "size"), [("resnet18", 128), ("mobilenet_v2", 96)])
def test_counts_equal_torchinfo_on_torchvision(arch, size):
    torchinfo = pytest.importorskip("torchinfo")
    tv = import_torchvision()
    theirs_model = getattr(tv.models, arch)()
    theirs = torchinfo.summary(theirs_model, input_size=(2, 3, size, size), verbose=0)
    ours = summary(getattr(models, arch)(), (2, 3, size, size))

    assert ours.total_parameters == theirs.total_params
    assert ours.trainable_parameters == theirs.trainable_params
    assert ours.total_mult_adds == theirs.total_mult_adds
    assert ours.parameter_bytes == theirs.total_param_bytes
    assert ours.input_bytes == 2 * 3 * size * size * 4  # torchinfo adds the tensor object's size
    # torchinfo's forward/backward size: twice the outputs of the layers with parameters
    assert 2 * sum(r.output_bytes for r in ours.rows if r.parameters) == theirs.total_output_bytes

    # layer by layer, matched by torchvision's module names (the same in cnnmath.models)
    leaves = _torchinfo_leaves(theirs_model, theirs)
    with_params = [r for r in ours.rows if r.parameters]
    assert {r.name for r in with_params} == {n for n, lay in leaves.items() if lay.num_params}
    for row in with_params:
        layer = leaves[row.name]
        assert row.type == type(layer.module).__name__
        assert (row.parameters, row.mult_adds) == (layer.num_params, layer.macs), row.name
        assert list(row.output_shape) == layer.output_size, row.name
    assert ours.total_mult_adds > 0 and len(with_params) >= 41  # resnet18: 20 conv + 20 bn + fc


def test_transposed_conv_counts_equal_torchinfo():
    torch = pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    ours_model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1),
        nn.BatchNorm2d(8),
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, groups=2, bias=False),
    )
    theirs_model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, groups=2, bias=False),
    )
    theirs = torchinfo.summary(theirs_model, input_size=(3, 3, 10, 10), verbose=0)
    ours = summary(ours_model, (3, 3, 10, 10))
    assert ours.total_parameters == theirs.total_params
    assert ours.total_mult_adds == theirs.total_mult_adds
    assert [r.mult_adds for r in ours.rows] == [lay.macs for lay in theirs.summary_list[1:]]
    # the receptive field of a transposed convolution is not known: empty columns, and why
    assert all(r.field is None for r in ours.rows)
    assert "ConvTranspose2d" in ours.field_note and "ConvTranspose2d" in str(ours)
    assert ours.rows[2].groups == 2 and ours.rows[2].kernel == (4, 4)


# -- shapes and activation memory against torch forward hooks --------------------------------
def test_shapes_and_activation_bytes_equal_torch_hooks():
    torch = pytest.importorskip("torch")
    net = models.lenet()
    twin = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(256, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    assert [tuple(p.shape) for p in twin.parameters()] == [p.shape for p in net.parameters()]
    shapes = []
    for layer in twin:
        layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    twin(torch.zeros(5, 1, 8, 8))
    s = summary(net, (5, 1, 8, 8))
    assert [r.output_shape for r in s.rows] == shapes
    assert s.activation_bytes == 4 * sum(int(np.prod(sh)) for sh in shapes)
    assert s.total_parameters == sum(p.numel() for p in twin.parameters())
    assert s.input_bytes == 5 * 64 * 4


# -- receptive field, kernel, stride, groups -------------------------------------------------
def test_window_columns_and_receptive_field_by_hand():
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, stride=2, dilation=2, groups=2),
    )
    rows = summary(net, (2, 32, 32)).rows
    # r ← r + d(f−1)j, j ← js, c ← c + (d(f−1)/2 − p)j, from r = j = 1, c = 0:
    # conv 3/p1: r 3, j 1, c 0; pool 2: r 4, j 2, c 0.5; conv 3 s2 d2: r 12, j 4, c 4.5
    want = [((3, 3), (1, 1), (0, 0)), ((3, 3), (1, 1), (0, 0))]
    want += [((4, 4), (2, 2), (0.5, 0.5)), ((12, 12), (4, 4), (4.5, 4.5))]
    assert [(r.field.size, r.field.jump, r.field.start) for r in rows] == want
    assert [r.kernel for r in rows] == [(3, 3), None, (2, 2), (3, 3)]
    assert [r.stride for r in rows] == [(1, 1), None, (2, 2), (2, 2)]
    assert [r.groups for r in rows] == [1, None, None, 2]
    assert rows[3].output_shape == (1, 4, 6, 6)  # floor((16 − 4 − 1)/2) + 1 = 6
    assert rows[3].parameters == 4 * 2 * 9 + 4 and rows[3].mult_adds == 76 * 36


def test_flat_input_has_no_fields():
    s = summary(nn.Sequential(nn.Linear(6, 3), nn.ReLU()), (6,))
    assert s.rows[0].output_shape == (1, 3) and s.rows[0].mult_adds == 21
    assert s.rows[0].field is None and "no spatial axes" in s.field_note


# -- the model is left as it was -------------------------------------------------------------
def test_model_state_and_modes_unchanged():
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Dropout(0.5), nn.Flatten(), nn.Linear(12, 2)
    )
    net[1].running_mean[...] = 0.25
    before = {k: v.copy() for k, v in net.state_dict().items()}
    net.train()
    net[2].eval()  # a mixed state is restored as it was
    s = summary(net, (4, 1, 4, 4))
    assert [m.training for m in net.modules()] == [True, True, True, False, True, True]
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    # in evaluation mode the BatchNorm is pointwise: the field stays the convolution's 3×3
    assert s.rows[1].field.size == (3, 3) and not s.rows[1].field.whole


def test_shared_layer_counts_parameters_once_and_mult_adds_per_use():
    conv = nn.Conv2d(2, 2, 3, padding=1)
    net = nn.Sequential(conv, nn.ReLU(), conv)
    s = summary(net, (2, 5, 5))
    assert s.total_parameters == 2 * 2 * 9 + 2 == net.num_parameters()
    assert [r.parameters for r in s.rows] == [38, 0, 0]
    assert [r.mult_adds for r in s.rows] == [38 * 25, 0, 38 * 25]
    assert s.total_mult_adds == 2 * 38 * 25


def test_float64_model_counts_eight_bytes():
    s32 = summary(models.lenet(), (1, 8, 8))
    s64 = summary(models.lenet(dtype=np.float64), (1, 8, 8))
    assert s64.parameter_bytes == 2 * s32.parameter_bytes == 8 * s64.total_parameters
    assert s64.activation_bytes == 2 * s32.activation_bytes


def test_text_table_and_rows():
    s = cnnmath.summary(models.lenet(), (3, 1, 8, 8))
    text = str(s)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["layer", "type", "output", "shape", "params"]
    assert "RF size" in lines[0] and "jump" in lines[0] and "start" in lines[0]
    assert len([ln for ln in lines if ln.startswith(("0 ", "11 "))]) == 2
    assert f"total parameters:     {s.total_parameters:,}" in text
    assert f"total mult-adds:      {s.total_mult_adds:,}" in text
    assert "3×10" in lines[-9]  # the last layer's row, the batch first
    dicts = s.as_dicts()
    assert len(dicts) == 12 and dicts[0]["field_size"] == (3, 3)
    assert dicts[-1]["output_shape"] == (3, 10) and dicts[-1]["parameters"] == 650


# -- the command -----------------------------------------------------------------------------
def _main(argv, capsys):
    from cnnmath.cli import main

    try:
        status = main(argv)
    except SystemExit as exc:  # a usage error, reported by argparse
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_prints_the_table(capsys):
    status, out, _ = _main(
        ["summary", "resnet20", "--input", "3", "32", "32", "--batch", "2"], capsys
    )
    assert status == 0
    want = summary(models.resnet20(), (2, 3, 32, 32))
    assert "total parameters:     269,722" in out  # He et al.'s 0.27M
    assert f"total mult-adds:      {want.total_mult_adds:,}" in out
    assert "layer3.2.relu_1" in out and "input 2×3×32×32" in out


def test_cli_safetensors_with_arch(tmp_path, capsys):
    from cnnmath import weights

    path = tmp_path / "w.safetensors"
    weights.save(models.lenet(), path)
    status, out, _ = _main(
        ["summary", str(path), "--arch", "lenet", "--input", "1", "8", "8"], capsys
    )
    assert status == 0 and "total parameters:     40,394" in out

    weights.save(models.lenet(classes=3), path)  # the file does not fit the architecture
    status, _, err = _main(
        ["summary", str(path), "--arch", "lenet", "--input", "1", "8", "8"], capsys
    )
    assert status == 2 and "w.safetensors" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["nope", "--input", "1", "8", "8"], "MODEL: expected one of alexnet, convnext_base"),
        (["w.safetensors", "--input", "1", "8", "8"], "name its architecture with --arch"),
        (["w.safetensors", "--arch", "vgg", "--input", "1", "8", "8"], "--arch: expected one of"),
        (["missing.safetensors", "--arch", "lenet", "--input", "1", "8", "8"], "no such file"),
        (["lenet", "--arch", "lenet", "--input", "1", "8", "8"], "--arch: only for"),
        (["lenet", "--input", "8", "8"], "--input: expected C H W"),
        (["lenet", "--input", "1", "0", "8"], "expected a whole number >= 1, got 0"),
        (["lenet", "--input", "1", "2", "2"], "error: --input: node '7' (MaxPool2d) cannot run"),
        (["lenet", "--input", "1", "4", "4"], "error: --input: node '9' (Linear) cannot run"),
    ],
)
def test_cli_errors_are_one_line(argv, phrase, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.safetensors").write_bytes(b"")
    monkeypatch.delenv("CNNMATH_DEBUG", raising=False)
    status, _, err = _main(["summary", *argv], capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and phrase in lines[0], err


def test_cli_onnx_without_cnnmath_onnx(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cnnmath.onnx", None)  # importing it raises ImportError
    monkeypatch.delenv("CNNMATH_DEBUG", raising=False)
    status, _, err = _main(["summary", str(tmp_path / "m.onnx"), "--input", "1", "8", "8"], capsys)
    assert status == 2 and "needs cnnmath.onnx" in err


def test_cli_onnx_file_gives_the_models_counts(tmp_path, capsys):
    pytest.importorskip("onnx")
    from cnnmath import onnx as cnnmath_onnx

    net = models.lenet(seed=3).eval()
    path = tmp_path / "lenet.onnx"
    cnnmath_onnx.save(net, path, np.zeros((1, 1, 8, 8), np.float32))
    status, out, _ = _main(["summary", str(path), "--input", "1", "8", "8"], capsys)
    assert status == 0
    want = summary(net, (1, 8, 8))
    assert f"total parameters:     {want.total_parameters:,}" in out
    assert f"total mult-adds:      {want.total_mult_adds:,}" in out
    # the same receptive field at the output, whatever the ONNX graph names its nodes
    rows = summary(cnnmath_onnx.load(path), (1, 8, 8)).rows
    assert rows[-1].field.size == want.rows[-1].field.size == (16, 16)


def test_the_repl_shows_the_table_not_the_fields():
    """What the REPL shows (repr) is the printed table: its header, one line per layer and
    the totals; not the dataclass's dump of every row's fields."""
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))
    s = summary(net, (1, 8, 8))
    shown = repr(s)
    assert shown == str(s)
    assert shown.splitlines()[0].split()[:2] == ["layer", "type"]
    assert "LayerRow(" not in shown and "total parameters:     1,490" in shown  # 40 + 1450
