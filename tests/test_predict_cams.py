"""``cnnmath predict --cams DIR``: each image under the Grad-CAM heat map of the class printed
first. The witness is Grad-CAM computed in PyTorch (float64) with hooks on the network that
was exported to ONNX, on the same input tensor (the PNG's pixels / 255, normalised: with
``--center-crop`` at the image's own size nothing is resized), laid over the image by
``attribution.overlay`` — the written PNG must hold those colours to one level of 255.
Then the default layer, Grad-CAM++, a collection on threads, and the refusals (nothing
written by any)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnmath.cli import main

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

MEAN = np.array([0.485, 0.456, 0.406]).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1)
SIDE = 32
N_IMAGES = 4


def predict(capsys, *args):
    status = main(["predict", *map(str, args), "--quiet"])
    out = capsys.readouterr()
    return status, out.out, out.err


def export(torch, net, path):
    with warnings.catch_warnings():  # the TorchScript exporter says it is the legacy one
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(1, 3, SIDE, SIDE, dtype=torch.float64),),
            str(path),
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch"}},
        )


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """(torch, the float64 network, its ONNX file, the ONNX names of its two ReLUs, images)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from cnnmath import onnx

    folder = tmp_path_factory.mktemp("cams")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 10),
    )
    with torch.no_grad():  # running statistics of their own, and classes far apart
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
        net[7].weight.mul_(20)
    net = net.double().eval()
    path = folder / "net.onnx"
    export(torch, net, path)
    relus = [n.name for n in onnx.load(path).walk() if type(n.module).__name__ == "ReLU"]
    assert len(relus) == 2
    rng = np.random.default_rng(7)
    images = folder / "images"
    images.mkdir()
    files = []
    for k in range(N_IMAGES):  # a red, green or blue ground with blocks: the classes differ
        q = np.clip(rng.integers(0, 50, (SIDE, SIDE, 3)) + 200 * np.eye(3)[k % 3], 0, 255)
        for _ in range(3):
            i, j = rng.integers(0, SIDE - 8, 2)
            q[i : i + 8, j : j + 8] = rng.integers(0, 256, 3)
        files.append(images / f"img{k}.png")
        Image.fromarray(q.astype(np.uint8)).save(files[-1])
    return torch, net, path, relus, files


def torch_cam(setting, file, module_index, plus_plus=False):
    """(heat map (H, W) in [0, 1], the top class) by PyTorch: hooks on net[module_index]."""
    torch, net, *_ = setting
    F = torch.nn.functional
    with Image.open(file) as im:
        pixels = np.asarray(im.convert("RGB"), dtype=np.float64) / 255
    x = torch.tensor((np.moveaxis(pixels, -1, 0) - MEAN) / STD)[None]
    kept = {}

    def hook(module, args, y):
        y.register_hook(lambda g: kept.__setitem__("g", g))
        kept["A"] = y

    handle = net[module_index].register_forward_hook(hook)
    try:
        scores = net(x)
        target = int(scores[0].argmax())
        scores[0, target].backward()
    finally:
        handle.remove()
    A, g = kept["A"].detach()[0], kept["g"][0]
    if plus_plus:
        g2 = g * g
        denominator = 2 * g2 + A.sum(dim=(1, 2), keepdim=True) * g2 * g
        a = torch.where(denominator != 0, g2 / torch.where(denominator != 0, denominator, 1), 0)
        alpha = (a * torch.relu(g)).sum(dim=(1, 2))
    else:
        alpha = g.mean(dim=(1, 2))
    raw = torch.relu((alpha[:, None, None] * A).sum(dim=0))
    m = F.interpolate(raw[None, None], size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    m = m[0, 0].numpy()
    span = m.max() - m.min()
    heatmap = (m - m.min()) / span if span > 0 else np.zeros_like(m)
    return heatmap, target, np.moveaxis(pixels, -1, 0)


def assert_pictures(setting, out_dir, module_index, plus_plus=False):
    """Each image's PNG in out_dir is the witness's heat map over the image; returns the
    top classes."""
    from cnnmath.attribution import overlay

    tops = []
    for file in setting[4]:
        heatmap, top, image = torch_cam(setting, file, module_index, plus_plus)
        expected = overlay(image, heatmap).astype(int)
        with Image.open(Path(out_dir) / file.name) as im:
            got = np.asarray(im.convert("RGB")).astype(int)
        assert np.abs(got - expected).max() <= 1, file.name
        tops.append(top)
    return tops


def test_named_layer_matches_pytorch(setting, tmp_path, capsys):
    _, _, model, relus, files = setting
    out = tmp_path / "cams"
    status, text, _ = predict(
        capsys, model, *files, "--center-crop", SIDE, "--cams", out, "--cam-layer", relus[0]
    )
    assert status == 0
    tops = assert_pictures(setting, out, 2)
    assert len(set(tops)) > 1  # the class differs between images: each has its own target
    heads = [line for line in text.splitlines() if not line.startswith(" ")]
    assert heads == [f"{f} -> {out / f.name}" for f in files]
    reported = [int(line.split("class ")[1]) for line in text.splitlines() if "  1  " in line]
    assert reported == tops


def test_default_layer_is_the_last_maps(setting, tmp_path, capsys):
    """The second ReLU: the last output of h*w > 1 before the pooling (16 x 16 here)."""
    _, _, model, _, files = setting
    out = tmp_path / "cams"
    status, text, _ = predict(capsys, model, *files, "--center-crop", SIDE, "--cams", out, "--json")
    assert status == 0
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["cam"] for r in records] == [str(out / f.name) for f in files]
    tops = assert_pictures(setting, out, 4)
    assert [r["top"][0]["class"] for r in records] == tops


def test_grad_cam_plus_plus_on_a_collection(setting, tmp_path, capsys):
    """A directory streams its images on threads; the pictures are Grad-CAM++'s."""
    _, _, model, relus, files = setting
    out = tmp_path / "cams"
    args = ("--center-crop", SIDE, "--cams", out, "--cam-layer", relus[1])
    status, _, _ = predict(capsys, model, files[0].parent, *args, "--cam-method", "gradcam++")
    assert status == 0
    assert_pictures(setting, out, 4, plus_plus=True)


def test_without_cams_the_output_is_unchanged(setting, tmp_path, capsys):
    _, _, model, _, files = setting
    status, text, _ = predict(capsys, model, files[0], "--center-crop", SIDE, "--json")
    assert status == 0
    assert list(json.loads(text)) == ["file", "top"]


def refused(capsys, *args, match):
    status, text, err = predict(capsys, *args)
    assert status == 2
    assert text == ""
    assert err.count("\n") == 1
    assert match in err, err
    return err


def test_a_bad_layer_name_lists_valid_ones(setting, tmp_path, capsys):
    _, _, model, relus, files = setting
    out = tmp_path / "cams"
    err = refused(
        capsys, model, files[0], "--cams", out, "--cam-layer", "layer9", match="--cam-layer layer9"
    )
    assert all(name in err for name in relus)
    assert not out.exists()


def test_a_folded_batch_norm_names_its_convolution(tmp_path, capsys):
    from cnnmath import models, weights

    path = tmp_path / "r20.safetensors"
    weights.save(models.resnet20(seed=0), path)
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    out = tmp_path / "cams"
    args = ("--arch", "resnet20", "--size", 32, 32, "--cams", out)
    err = refused(
        capsys, path, image, *args, "--cam-layer", "layer3.2.bn2", match="--cam-layer layer3.2.bn2"
    )
    assert "folds" in err and "'layer3.2.conv2'" in err
    assert not out.exists()
    status, _, _ = predict(capsys, path, image, *args, "--cam-layer", "layer3.2.conv2")
    assert status == 0 and (out / "a.png").is_file()


def test_a_segmentation_model_is_refused(setting, tmp_path, capsys):
    torch, *_, files = setting
    seg = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 3, 1))
    path = tmp_path / "seg.onnx"
    export(torch, seg.double().eval(), path)
    out = tmp_path / "cams"
    err = refused(capsys, path, files[0], "--cams", out, match=f"--cams {out}")
    assert "segmentation model" in err
    assert not out.exists()


def test_refused_with_a_scheduler(setting, tmp_path, capsys):
    _, _, model, _, files = setting
    out = tmp_path / "cams"
    args = (model, files[0], "--cams", out, "--scheduler", "tcp://127.0.0.1:1")
    refused(capsys, *args, match="--cams and --scheduler")
    assert not out.exists()


def test_colliding_names_and_inputs_are_refused(setting, tmp_path, capsys):
    _, _, model, _, files = setting
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.png").write_bytes(files[0].read_bytes())
    out = tmp_path / "cams"
    two = (tmp_path / "a" / "x.png", tmp_path / "b" / "x.png")
    err = refused(capsys, model, *two, "--cams", out, match=f"--cams {out}: IMAGE")
    assert "would both write" in err
    assert not out.exists()
    before = files[0].read_bytes()
    refused(capsys, model, files[0], "--cams", files[0].parent, match="would replace the input")
    assert files[0].read_bytes() == before


def test_cam_options_need_cams(setting, capsys):
    _, _, model, relus, files = setting
    refused(capsys, model, files[0], "--cam-layer", relus[0], match="--cam-layer: applies to")
    refused(capsys, model, files[0], "--cam-method", "gradcam++", match="--cam-method: applies")
