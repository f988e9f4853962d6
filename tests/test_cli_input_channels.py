"""``predict`` and ``summary`` on the 1-channel digits ResNet-20 that ``cnnmath train --arch
resnet20 --save`` writes (review s45 learner f2): built for the channels of the file's first
convolution, or of ``summary``'s ``--input C H W``.

Witnesses: PyTorch's twin of ``resnet20`` (``test_graph_training.torch_resnet20``, written in
``torch.nn``) loads the same file with ``safetensors.torch`` and gives the probabilities and
parameter counts; a file of another network is still refused with the question about --arch.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from cnnmath import models, weights
from cnnmath.cli import main
from cnnmath.data import load_digits

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("safetensors")
pytest.importorskip("sklearn")


def run_cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture(scope="module")
def digits_resnet20(tmp_path_factory):
    """The file ``cnnmath train --arch resnet20 --save`` writes (a short run) and two test
    digits written as 8-bit PNGs, light ink on a dark background as the data set has them."""
    folder = tmp_path_factory.mktemp("r20")
    path = folder / "r20.safetensors"
    argv = ["train", "--arch", "resnet20", "--epochs", "1", "--limit", "64", "--quiet"]
    assert main([*argv, "--save", str(path)]) == 0
    X, _ = load_digits("test")
    pngs = []
    for i in (0, 1):
        pixels = np.round(X[i, 0] * 255).astype(np.uint8)
        pngs.append(folder / f"digit{i}.png")
        Image.fromarray(pixels, mode="L").save(pngs[-1])
    return path, pngs


def torch_twin(path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from test_graph_training import torch_resnet20

    net = torch_resnet20(torch, in_channels=1)
    net.load_state_dict({k: v.double() for k, v in load_file(str(path)).items()})
    return torch, net.eval()


def test_predict_runs_the_digits_resnet20_as_pytorch_does(digits_resnet20, capsys):
    path, pngs = digits_resnet20
    status, out, err = run_cli(
        capsys,
        "predict",
        path,
        *pngs,
        "--arch",
        "resnet20",
        "--size",
        8,
        8,
        "--mean",
        0,
        "--std",
        1,
        "--top",
        10,
        "--json",
        "--quiet",
    )
    assert status == 0, err
    torch, net = torch_twin(path)
    for line, png in zip(out.splitlines(), pngs, strict=True):
        x = torch.tensor(np.asarray(Image.open(png), np.float64) / 255)[None, None]
        with torch.no_grad():
            want = torch.softmax(net(x), dim=1)[0].numpy()
        got = np.zeros(10)
        for row in json.loads(line)["top"]:
            got[row["class"]] = row["probability"]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def parameter_total(text):
    return int(re.search(r"total parameters:\s+([\d,]+)", text).group(1).replace(",", ""))


@pytest.mark.parametrize("model", ["file", "resnet20"])
def test_summary_builds_resnet20_for_one_channel(digits_resnet20, capsys, model):
    path, _ = digits_resnet20
    arch = ["--arch", "resnet20"] if model == "file" else []
    status, out, err = run_cli(
        capsys, "summary", path if model == "file" else model, *arch, "--input", 1, 8, 8
    )
    assert status == 0, err
    _, net = torch_twin(path)
    assert parameter_total(out) == sum(p.numel() for p in net.parameters())
    assert re.search(r"^conv1\s+Conv2d\s+1×16×8×8\s+144\s", out, re.M)  # 16·1·3·3 weights


def test_a_cifar_resnet20_file_still_takes_three_channels(tmp_path, capsys):
    path = tmp_path / "cifar.safetensors"
    weights.save(models.resnet20(), path)
    status, out, err = run_cli(capsys, "summary", path, "--arch", "resnet20", "--input", 3, 32, 32)
    assert status == 0, err
    assert re.search(r"^conv1\s+Conv2d\s+1×16×32×32\s+432\s", out, re.M)  # 16·3·3·3 weights


@pytest.mark.parametrize(
    "argv, message",
    [
        (  # the file's channels win over --input's, and the forward pass says what it expected
            ["summary", "{r20}", "--arch", "resnet20", "--input", "3", "8", "8"],
            r"^cnnmath summary: error: --input: .*expected 1 channels on axis 1 \(in_channels=1\)",
        ),
        (  # a network without in_channels keeps its own
            ["summary", "resnet18", "--input", "1", "32", "32"],
            r"^cnnmath summary: error: --input: .*expected 3 channels",
        ),
        (
            ["summary", "{lenet}", "--arch", "resnet20", "--input", "1", "8", "8"],
            r"^cnnmath summary: error: load: .*does not match the model",
        ),
        (
            ["predict", "{lenet}", "{png}", "--arch", "resnet20", "--size", "8", "8"],
            r"^cnnmath predict: error: MODEL: .*is it the weights of --arch resnet20\?$",
        ),
    ],
)
def test_mismatched_files_are_still_refused(digits_resnet20, tmp_path, capsys, argv, message):
    r20, pngs = digits_resnet20
    lenet = tmp_path / "lenet.safetensors"
    weights.save(models.lenet(), lenet)
    names = {"{r20}": r20, "{lenet}": lenet, "{png}": pngs[0]}
    status, out, err = run_cli(capsys, *(names.get(a, a) for a in argv))
    assert status == 2 and out == ""
    assert re.search(message, err.strip()), err
