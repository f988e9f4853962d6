"""``cnnmath predict --resize N --center-crop S``: torchvision's evaluation preprocessing
(``T.Resize``, ``T.CenterCrop``, ``T.ToTensor``, ``T.Normalize``) on PNG files the tests
write, run through a small PyTorch network exported to ONNX; the witness is that network on
torchvision's tensors. The top classes are the same and the scores agree to float32
rounding (a float resize, ``--size``'s way, is off by far more: the last test)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnmath.cli import main
from torchvision_helper import import_torchvision

Image = pytest.importorskip("PIL.Image")

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SHAPES = [(50, 77), (81, 45), (47, 53), (33, 33), (40, 90)]  # (H, W): landscape, portrait, odd


def predict(capsys, *args):
    status = main(["predict", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """(torch, torchvision's transforms, the network, its ONNX file, the image files)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    tv = import_torchvision()
    folder = tmp_path_factory.mktemp("eval")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 10),
    ).eval()
    path = folder / "net.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter says it is the legacy one
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False)
    rng = np.random.default_rng(3)
    files = []
    for k, (H, W) in enumerate(SHAPES):
        i, j = np.mgrid[0:H, 0:W]
        smooth = 128 + 90 * np.sin(i[..., None] / 5.0 + np.arange(3)) * np.cos(j[..., None] / 9.0)
        q = np.clip(smooth + rng.integers(-50, 51, (H, W, 3)), 0, 255).astype(np.uint8)
        files.append(str(folder / f"img{k}.png"))
        Image.fromarray(q).save(files[-1])
    return torch, tv.transforms, net, path, files


def torch_logits(setting, resize, crop, max_size=None):
    torch, T, net, _, files = setting
    crops = [] if crop is None else [T.CenterCrop(crop)]
    pipeline = T.Compose(
        [T.Resize(resize, max_size=max_size), *crops, T.ToTensor(), T.Normalize(MEAN, STD)]
    )
    with torch.no_grad():
        rows = []
        for f in files:
            with Image.open(f) as im:
                rows.append(net(pipeline(im.convert("RGB"))[None])[0].double().numpy())
    return np.stack(rows)


def assert_same_top(out, files, logits, k=5, atol=2e-5):
    lines = out.splitlines()
    assert len(lines) == len(files)
    for line, f, z in zip(lines, files, logits, strict=True):
        report = json.loads(line)
        assert report["file"] == f
        want = np.argsort(-z, kind="stable")[:k]
        assert [t["class"] for t in report["top"]] == list(want)
        got = np.array([t["score"] for t in report["top"]])
        assert np.abs(got - z[want]).max() <= atol, (got, z[want])


@pytest.mark.parametrize(
    "resize, crop",
    [(40, 32), (24, 32), (37, 32)],  # (24, 32): every image smaller than the crop, padded
    ids=["resize40-crop32", "smaller-than-crop", "odd-margins"],
)
@pytest.mark.parametrize("batch", [1, 16])
def test_resize_and_center_crop_give_the_torch_pipelines_top_k(
    setting, capsys, resize, crop, batch
):
    _, _, _, model, files = setting
    status, out, err = predict(
        capsys,
        model,
        *files,
        "--resize",
        resize,
        "--center-crop",
        crop,
        "--batch-size",
        batch,
        "--json",
        "--quiet",
    )
    assert status == 0, err
    assert_same_top(out, files, torch_logits(setting, resize, crop))


def test_resize_to_an_exact_size_is_torchvisions(setting, capsys):
    """--resize H W: T.Resize((H, W)), 8-bit samples rounded (then no crop)."""
    _, _, _, model, files = setting
    status, out, err = predict(capsys, model, *files, "--resize", 32, 32, "--json", "--quiet")
    assert status == 0, err
    assert_same_top(out, files, torch_logits(setting, (32, 32), 32))


@pytest.mark.parametrize("batch", [1, 3, 16])
def test_resize_alone_keeps_each_images_aspect_ratio(setting, capsys, batch):
    """--resize 32 without a crop: images of several shapes, each run at its own (a batch
    holds the consecutive images of one shape)."""
    _, _, _, model, files = setting
    status, out, err = predict(
        capsys, model, *files, "--resize", 32, "--batch-size", batch, "--json", "--quiet"
    )
    assert status == 0, err
    assert_same_top(out, files, torch_logits(setting, 32, None))


@pytest.mark.parametrize("crop", [None, 16])
def test_max_size_limits_the_longer_side_as_torchvision(setting, capsys, crop):
    """--resize 30 --max-size 40: T.Resize(30, max_size=40); the images of aspect ratio above
    4/3 (77 x 50, 90 x 40, 81 x 45) have their longer side cut to 40, the others keep 30 on
    the shorter side."""
    _, _, _, model, files = setting
    crops = [] if crop is None else ["--center-crop", crop]
    status, out, err = predict(
        capsys, model, *files, "--resize", 30, "--max-size", 40, *crops, "--json", "--quiet"
    )
    assert status == 0, err
    assert_same_top(out, files, torch_logits(setting, 30, crop, max_size=40))
    if crop is None:  # the limit changes what the model sees: not the plain --resize 30
        with pytest.raises(AssertionError):
            assert_same_top(out, files, torch_logits(setting, 30, None))


def test_max_size_bounds_the_memory_check(setting, tmp_path, capsys):
    """A 16 x 4096 strip with --resize 10000 would be 10000 x 2560000 pixels, refused before
    any resize; with --max-size 10001 it is 39 x 10001 (torchvision's size), and runs."""
    _, T, _, model, _ = setting
    strip = tmp_path / "strip.png"
    Image.fromarray(np.full((16, 4096, 3), 90, np.uint8)).save(strip)
    status, out, err = predict(capsys, model, strip, "--resize", 10000, "--quiet")
    assert status == 2 and "3x10000x2560000 pixels would need about" in err, err
    with Image.open(strip) as im:
        want = T.Resize(10000, max_size=10001)(im).size[::-1]
    assert want == (39, 10001)
    status, out, err = predict(capsys, model, strip, "--resize", 10000, "--max-size", 10001)
    assert status == 0, err


def test_a_collection_streams_to_the_same_reports(setting, capsys):
    _, _, _, model, files = setting
    folder = str(Path(files[0]).parent)
    status, out, err = predict(
        capsys, model, folder, "--resize", 40, "--center-crop", 32, "--json", "--quiet"
    )
    assert status == 0, err
    assert_same_top(out, files, torch_logits(setting, 40, 32))


def test_size_resizes_as_floats_and_differs_from_torchvision(setting, capsys):
    """--size keeps its float resize: after --size 40 40 and the crop, the scores move by more
    than the float32 rounding --resize 40 40 is held to."""
    _, _, _, model, files = setting
    logits = torch_logits(setting, (40, 40), 32)
    status, out, err = predict(
        capsys, model, *files, "--size", 40, 40, "--center-crop", 32, "--json", "--quiet"
    )
    assert status == 0, err
    with pytest.raises(AssertionError):
        assert_same_top(out, files, logits)
    status, out, err = predict(
        capsys, model, *files, "--resize", 40, 40, "--center-crop", 32, "--json", "--quiet"
    )
    assert status == 0, err
    assert_same_top(out, files, logits)


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--size", 8, 8, "--resize", 8], r"--size and --resize: give one"),
        (["--resize", 8, 8, 8], r"--resize: expected one number N or two, H W, got 3"),
        (["--center-crop", 1, 2, 3], r"--center-crop: expected one number N or two, H W, got 3"),
        (["--max-size", 40], r"--max-size: limits the longer side after --resize N .*no --resize"),
        (["--resize", 8, 9, "--max-size", 40], r"--max-size: .*got --resize 8 9"),
        (["--resize", 40, "--max-size", 40], r"--max-size: expected more than --resize's 40"),
        (["--size", 8, 8, "--max-size", 40], r"--max-size: .*got no --resize"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(setting, capsys, args, pattern):
    _, _, _, model, files = setting
    status, out, err = predict(capsys, model, files[0], *args, "--quiet")
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert re.search(pattern, err), err


def test_a_segmentation_with_a_crop_reports_the_crop(setting, tmp_path, capsys):
    """With --center-crop a segmentation model's classes are of the crop, at the crop's size
    (the pixels the model saw): the mask is 16 x 16, the argmax of its logits resized
    bilinearly from 8 x 8, on torchvision's tensor."""
    torch, T, _, _, files = setting
    torch.manual_seed(1)
    seg = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 1),
    ).eval()
    for p in seg.parameters():
        torch.nn.init.normal_(p, 0, 1.5)
    model = tmp_path / "seg.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(seg, (torch.zeros(1, 3, 16, 16),), str(model), dynamo=False)
    masks = tmp_path / "masks"
    status, out, err = predict(capsys, model, files[0], "--resize", 18, "--center-crop", 16,
                               "--masks", masks, "--json", "--quiet")  # fmt: skip
    assert status == 0, err
    report = json.loads(out)
    assert report["size"] == [16, 16]
    pipeline = T.Compose([T.Resize(18), T.CenterCrop(16), T.ToTensor(), T.Normalize(MEAN, STD)])
    with Image.open(files[0]) as im, torch.no_grad():
        logits = seg(pipeline(im.convert("RGB"))[None]).double()
    up = torch.nn.functional.interpolate(logits, size=(16, 16), mode="bilinear")[0].numpy()
    ordered = np.sort(up, axis=0)
    clear = ordered[-1] - ordered[-2] > 1e-4  # not a near tie
    with Image.open(masks / "img0.png") as im:
        labels = np.asarray(im)
    assert labels.shape == (16, 16) and clear.mean() > 0.9
    np.testing.assert_array_equal(labels[clear], up.argmax(axis=0)[clear])


def test_a_resize_the_memory_cannot_hold_is_refused_naming_it(setting, capsys, monkeypatch):
    import cnnmath.commands.predict as command
    from helpers import set_everywhere

    _, _, _, model, files = setting
    set_everywhere(monkeypatch, command, "memory_limit", lambda: 2**20)  # 1 MiB available
    status, out, err = predict(capsys, model, files[0], "--resize", 4000, "--quiet")
    assert status == 2 and out == "" and err.count("\n") == 1, err
    # files[0] is 50 x 77: the shorter side 4000, the longer ⌊4000 · 77 / 50⌋ = 6160
    assert "--resize 4000: one image of 3x4000x6160 pixels would need" in err


def test_a_pth_model_is_named_with_its_conversion(setting, tmp_path, capsys):
    torch, _, net, _, files = setting
    model = tmp_path / "r18.pth"
    torch.save(net.state_dict(), model)
    status, out, err = predict(capsys, model, files[0], "--arch", "resnet18", "--quiet")
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert "a PyTorch checkpoint (torch.save)" in err and "safetensors.torch.save_file(" in err
