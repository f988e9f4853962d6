"""``cnnmath predict``: end to end on PNG files the tests write, against predictions known
beforehand (a model whose class is the brightest channel) and against the preprocessing
redone here by hand; JSON output parsed; every bad input one line, exit 2, nothing printed."""

from __future__ import annotations

import json
import os
import re
import warnings

import numpy as np
import pytest

from cnnmath import models, nn, weights
from cnnmath.cli import main
from helpers import set_everywhere

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("safetensors")

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]).reshape(3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1)
GAIN = 10.0  # the brightest-channel model's logits: GAIN × the channel means


def write_png(path, pixels):
    """pixels (H, W, C) uint8 → PNG (mode from C)."""
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    Image.fromarray(pixels if pixels.shape[2] > 1 else pixels[..., 0], mode=mode).save(path)
    return str(path)


def solid(path, rgb, size=(6, 5)):
    return write_png(path, np.broadcast_to(np.uint8(rgb), (*size, len(rgb))).copy())


def brightest_channel_model():
    """logits = GAIN · (mean R, mean G, mean B): the class is the brightest channel."""
    linear = nn.Linear(3, 3, rng=0)
    linear.weight.data[...] = GAIN * np.eye(3, dtype=np.float32)
    linear.bias.data[...] = 0
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear)


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def predict(capsys, *args):
    status = main(["predict", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture
def onnx_model(tmp_path):
    pytest.importorskip("onnx")
    # predict reads .onnx through cnnmath.onnx.load, the import side's module
    pytest.importorskip("cnnmath.onnx.load")
    from cnnmath.onnx.save import save

    path = tmp_path / "bright.onnx"
    save(brightest_channel_model(), path, np.zeros((1, 3, 4, 4), np.float32))
    return path


@pytest.fixture
def colours(tmp_path):
    """Three solid images and the class each must get (the brightest channel)."""
    return [
        (solid(tmp_path / "red.png", (200, 30, 60)), 0),
        (solid(tmp_path / "green.png", (10, 250, 90)), 1),
        (solid(tmp_path / "blue.png", (0, 120, 121)), 2),
    ]


@pytest.fixture
def labels(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("red\ngreen\nblue\n", encoding="utf-8")
    return path


def test_onnx_model_predicts_the_brightest_channel_as_text(onnx_model, colours, labels, capsys):
    files = [f for f, _ in colours]
    status, out, err = predict(
        capsys,
        onnx_model,
        *files,
        "--labels",
        labels,
        "--size",
        4,
        4,
        "--mean",
        0,
        "--std",
        1,
        "--top",
        2,
        "--quiet",
    )
    assert status == 0, err
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 3 * 3  # a file line and two ranked lines per image
    names = ["red", "green", "blue"]
    for i, (path, cls) in enumerate(colours):
        head, first, second = lines[3 * i : 3 * i + 3]
        assert head == path
        rgb = np.array(Image.open(path).getpixel((0, 0)), np.float64) / 255
        p = softmax(GAIN * rgb)  # a solid image stays solid when resized
        order = np.argsort(-p, kind="stable")
        assert order[0] == cls
        assert first.split() == ["1", f"{p[cls]:.4f}", names[cls]]
        assert second.split() == ["2", f"{p[order[1]]:.4f}", names[order[1]]]


def test_json_lines_and_batches(onnx_model, colours, capsys):
    files = [f for f, _ in colours] * 2  # six images in batches of 4 and 2
    status, out, err = predict(
        capsys,
        onnx_model,
        *files,
        "--json",
        "--size",
        3,
        7,
        "--mean",
        0.5,
        "--std",
        2,
        "--batch-size",
        4,
        "--quiet",
    )
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in records] == files
    for record, (path, cls) in zip(records, colours * 2):
        rgb = np.array(Image.open(path).getpixel((0, 0)), np.float64) / 255
        logits = GAIN * (rgb - 0.5) / 2
        top = record["top"]
        assert len(top) == 3  # the default 5, capped at the model's 3 classes
        assert [t["class"] for t in top] == list(np.argsort(-logits, kind="stable"))
        assert top[0]["class"] == cls and top[0]["label"] is None
        assert np.allclose([t["score"] for t in top], logits[[t["class"] for t in top]], rtol=1e-5)
        p = softmax(logits)
        assert np.allclose([t["probability"] for t in top], p[[t["class"] for t in top]], rtol=1e-5)


def test_gray_and_alpha_images_meet_a_colour_model(onnx_model, tmp_path, capsys):
    # gray is repeated into R, G, B: all three logits equal, the first class wins the tie
    gray = write_png(tmp_path / "gray.png", np.full((5, 5, 1), 77, np.uint8))
    # alpha is dropped, whatever it holds
    rgba = write_png(
        tmp_path / "rgba.png", np.broadcast_to(np.uint8([0, 0, 200, 255]), (5, 5, 4)).copy()
    )
    status, out, err = predict(
        capsys, onnx_model, gray, rgba, "--json", "--size", 5, 5, "--mean", 0, "--std", 1, "--quiet"
    )
    assert status == 0, err
    g, a = (json.loads(line)["top"] for line in out.splitlines())
    assert [t["probability"] for t in g] == pytest.approx([1 / 3] * 3, rel=1e-6)
    assert g[0]["score"] == pytest.approx(GAIN * 77 / 255, rel=1e-6)
    assert a[0]["class"] == 2 and a[0]["score"] == pytest.approx(GAIN * 200 / 255, rel=1e-6)


def test_safetensors_with_arch_agrees_with_the_preprocessing_done_by_hand(tmp_path, capsys):
    model = models.resnet20(num_classes=6, seed=4)
    rng = np.random.default_rng(7)
    for m in model.modules():  # statistics off their defaults, so eval mode matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[...] = rng.normal(0, 0.2, m.num_features)
            m.running_var[...] = rng.uniform(0.5, 2, m.num_features)
    weights.save(model, tmp_path / "w.safetensors")
    pixels = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(3)]
    files = [write_png(tmp_path / f"img{i}.png", p) for i, p in enumerate(pixels)]
    status, out, err = predict(
        capsys,
        tmp_path / "w.safetensors",
        *files,
        "--arch",
        "resnet20",
        "--num-classes",
        6,
        "--size",
        8,
        8,
        "--top",
        3,
        "--json",
        "--batch-size",
        2,
        "--quiet",
    )
    assert status == 0, err
    # by hand: pixels/255 as (C, H, W), ImageNet's statistics, the model in eval mode
    x = np.stack([(p.transpose(2, 0, 1) / 255 - IMAGENET_MEAN) / IMAGENET_STD for p in pixels])
    model.eval()
    logits = model(x.astype(np.float32)).astype(np.float64)
    for line, z in zip(out.splitlines(), logits):
        top = json.loads(line)["top"]
        want = np.argsort(-z, kind="stable")[:3]
        assert [t["class"] for t in top] == list(want)
        assert np.allclose([t["probability"] for t in top], softmax(z)[want], rtol=1e-4)


def test_round_trip_from_pytorch_through_onnx(tmp_path, capsys):
    """The README's path: a PyTorch network exported to ONNX, classified by cnnmath predict;
    PyTorch's own outputs on the preprocessing done by hand are the witness."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("cnnmath.onnx.load")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 7),
    )
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
    net.eval()
    path = tmp_path / "net.onnx"
    # the TorchScript exporter: torch 2.13's default one needs onnxscript, not installed here
    with warnings.catch_warnings():  # it says it is the legacy one
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (torch.zeros(1, 3, 12, 12),), str(path), dynamo=False)
    rng = np.random.default_rng(8)
    pixels = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(3)]
    files = [write_png(tmp_path / f"p{i}.png", p) for i, p in enumerate(pixels)]
    status, out, err = predict(
        capsys, path, *files, "--size", 12, 12, "--top", 3, "--json", "--quiet"
    )
    assert status == 0, err
    x = np.stack([(p.transpose(2, 0, 1) / 255 - IMAGENET_MEAN) / IMAGENET_STD for p in pixels])
    with torch.no_grad():
        logits = net(torch.from_numpy(x.astype(np.float32))).double().numpy()
    for line, z in zip(out.splitlines(), logits, strict=True):
        top = json.loads(line)["top"]
        want = np.argsort(-z, kind="stable")[:3]
        assert [t["class"] for t in top] == list(want)
        assert np.allclose([t["score"] for t in top], z[want], rtol=1e-4, atol=1e-6)
        assert np.allclose([t["probability"] for t in top], softmax(z)[want], rtol=1e-4)


def test_progress_bar_goes_to_stderr_only(onnx_model, colours, capsys):
    pytest.importorskip("tqdm")
    files = [f for f, _ in colours]
    status, out, err = predict(
        capsys, onnx_model, *files, "--size", 4, 4, "--mean", 0, "--std", 1, "--top", 1
    )
    assert status == 0
    assert out.splitlines()[::2] == files  # stdout: the results alone
    assert "predict" in err and "batch" in err  # tqdm's bar, on stderr


def test_an_error_at_the_first_outputs_is_printed_without_a_bar(onnx_model, colours, capsys):
    """--top past the model's classes is found at the first outputs: with the bar asked for
    (no --quiet), stderr holds the error line alone, no bar drawn or cleared before it."""
    pytest.importorskip("tqdm")
    files = [f for f, _ in colours]
    status, out, err = predict(
        capsys, onnx_model, *files, "--size", 4, 4, "--mean", 0, "--std", 1, "--top", 4
    )
    assert status == 2 and out == ""
    assert "\r" not in err and err.count("\n") == 1
    assert err.startswith("cnnmath predict: error: --top 4: the model has only 3 classes")


# -- errors: one line on stderr, exit 2, nothing on stdout ------------------------------------


ERRORS = [
    (["{missing}", "{red}"], r"MODEL: no such file: '.*nothing\.onnx'"),
    (["{model}", "{red}", "{missing_png}"], r"IMAGE: no such file: '.*nope\.png'"),
    (["{model}", "{folder}"], r"IMAGE .*sub: the directory has no image files"),
    (
        ["{model}", "{truncated}", "--mean", "0", "--std", "1"],
        r"error: IMAGE: '.*truncated\.png' could not be decoded: the file is truncated",
    ),
    (["{model}", "{text_file}"], r"error: IMAGE: '.*notes\.txt' is not an image file"),
    (["{model}", "{red}", "--top", "0"], r"--top: expected a whole number >= 1, got 0"),
    (
        ["{model}", "{red}", "--top", "4", "--mean", "0", "--std", "1"],
        r"--top 4: the model has only 3 classes",
    ),
    (["{weights}", "{red}", "--arch", "vgg"], r"--arch: invalid choice: 'vgg'"),
    (
        ["{weights}", "{red}"],
        r"a \.safetensors file holds weights only; name the network with --arch",
    ),
    (  # the key lists are cut short (they ran to kilobytes) and the message asks about --arch
        ["{weights}", "{red}", "--arch", "resnet18", "--num-classes", "3"],
        r"^cnnmath predict: error: MODEL: load: .*w\.safetensors does not match the model: "
        r"missing key\(s\) \['layer2\.0\.downsample\.0\.weight', .{1,400}\] and \d+ more and "
        r"unexpected key\(s\) "
        r"\[.{1,400}\] and \d+ more \(the model has 122 keys, the file 116\); is it the weights "
        r"of --arch resnet18 with --num-classes 3\?$",
    ),
    (
        ["{lenet}", "{red}", "--arch", "resnet20"],
        r"error: MODEL: .* \(the model has 116 keys, the file 10\); is it the weights of "
        r"--arch resnet20\?$",
    ),
    (["{model}", "{red}", "--arch", "lenet"], r"--arch and --num-classes apply to \.safetensors"),
    (["{text_file}", "{red}"], r"expected a \.onnx file, or a \.safetensors file with --arch"),
    (
        ["{model}", "{red}", "--labels", "{two_labels}", "--mean", "0", "--std", "1"],
        r"--labels .*: has 2 labels; the model has 3 outputs",
    ),
    (["{model}", "{red}", "--labels", "{missing}"], r"--labels: no such file: '.*nothing"),
    (["{model}", "{red}", "--labels", "{tmp}"], r"--labels: '.*' is a directory, not a text"),
    (["{model}", "{red}", "--mean", "0", "0"], r"--mean: expected 1 or 3 values .*got 2"),
    (
        ["{lenet}", "{red}", "--arch", "lenet", "--size", "8", "8", "--mean", "0", "1"],
        r"--mean: expected 1 value \(the model takes 1-channel images\), got 2: 0\.0 1\.0$",
    ),
    (
        ["{lenet}", "{red}", "--arch", "lenet", "--size", "20", "20", "--mean", "0", "--std", "1"],
        r"MODEL .*lenet\.safetensors: failed on a batch of 1x20x20 images \(--size 20 20\): "
        r"Linear",
    ),
    (  # streamed (a collection): the image named
        [
            "{lenet}",
            "{images}",
            "--arch",
            "lenet",
            "--size",
            "20",
            "20",
            "--mean",
            "0",
            "--std",
            "1",
        ],
        r"MODEL .*lenet\.safetensors: failed on image '.*images.red\.png' as 1x20x20 "
        r"\(--size 20 20\): Linear",
    ),
    (["{model}", "{red}", "--std", "1", "0", "1"], r"--std: expected values > 0"),
    (["{model}", "{red}", "--mean", "nan"], r"--mean: expected a finite number, got 'nan'"),
    (["{model}", "{red}", "--size", "0", "3"], r"--size: expected a whole number >= 1, got 0"),
    (
        ["{lenet}", "{red}", "--arch", "lenet", "--size", "8", "8"],
        r"--mean: the model takes 1-channel images",
    ),
]


@pytest.mark.parametrize("args, pattern", ERRORS)
def test_bad_input_is_one_line_and_exit_2(args, pattern, request, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")
    (tmp_path / "two.txt").write_text("a\nb\n", encoding="utf-8")
    weights.save(models.resnet20(num_classes=3), tmp_path / "w.safetensors")
    weights.save(models.lenet(0), tmp_path / "lenet.safetensors")
    (tmp_path / "sub").mkdir()
    red = solid(tmp_path / "red.png", (200, 0, 0))
    with open(red, "rb") as f:
        (tmp_path / "truncated.png").write_bytes(f.read()[:50])  # the header, part of the data
    (tmp_path / "images").mkdir()
    solid(tmp_path / "images" / "red.png", (200, 0, 0))
    places = {
        "tmp": tmp_path,
        "folder": tmp_path / "sub",
        "truncated": tmp_path / "truncated.png",
        "missing": tmp_path / "nothing.onnx",
        "missing_png": tmp_path / "nope.png",
        "model": request.getfixturevalue("onnx_model") if "{model}" in args else None,
        "red": red,
        "text_file": tmp_path / "notes.txt",
        "two_labels": tmp_path / "two.txt",
        "weights": tmp_path / "w.safetensors",
        "lenet": tmp_path / "lenet.safetensors",
        "images": tmp_path / "images",
    }
    before = sorted(os.listdir(tmp_path))
    argv = ["predict", *(a.format(**places) for a in args), "--quiet"]
    try:
        status = main(argv)
    except SystemExit as exc:  # usage errors exit through argparse
        status = exc.code
    out = capsys.readouterr()
    assert status == 2
    assert out.out == ""
    assert out.err.count("\n") == 1 and "Traceback" not in out.err
    assert re.search(pattern, out.err), out.err
    assert sorted(os.listdir(tmp_path)) == before


def test_a_size_the_memory_cannot_hold_is_refused_before_any_image_is_resized(
    tmp_path, capsys, monkeypatch
):
    import cnnmath.commands.predict as command
    import cnnmath.images

    weights.save(models.lenet(0), tmp_path / "lenet.safetensors")
    red = solid(tmp_path / "red.png", (200, 0, 0))

    resize = cnnmath.images.resize

    def not_resized(*args, **kwargs):
        raise AssertionError("an image was resized before --size was checked")

    set_everywhere(monkeypatch, command, "memory_limit", lambda: 2**30)  # 1 GiB available
    monkeypatch.setattr(cnnmath.images, "resize", not_resized)
    argv = [tmp_path / "lenet.safetensors", red, "--arch", "lenet", "--mean", "0", "--std", "1"]
    status, out, err = predict(capsys, *argv, "--size", "20000", "20000", "--quiet")
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(
        "cnnmath predict: error: --size 20000 20000: one image of 1x20000x20000 pixels would need"
    )
    assert "1 GiB are available" in err
    monkeypatch.setattr(cnnmath.images, "resize", resize)
    status, out, err = predict(capsys, *argv, "--size", "8", "8", "--quiet")  # what fits runs
    assert status == 0 and out.startswith(red), err


def test_a_model_of_several_outputs_is_read_by_its_first(tmp_path, onnx_model, colours, capsys):
    """The brightest-channel classifier with its pooled colours returned as a second output
    (a 4-D (B, 3, 1, 1) that alone would read as a classifier of other scores): the report is
    the one-output file's, in batches and streamed from a directory."""
    from cnnmath.onnx.save import save

    g = nn.Graph()
    g.pool = nn.AdaptiveAvgPool2d(1)
    g.head = nn.Sequential(nn.Flatten(), brightest_channel_model()[2])
    pooled = g.add(g.pool, "x")
    g.set_output(g.add(g.head, pooled), g.add(nn.Tanh(), pooled, name="extra"))
    two = tmp_path / "two.onnx"
    save(g, two, np.zeros((1, 3, 4, 4), np.float32))
    files = [f for f, _ in colours]
    options = ["--size", 4, 4, "--mean", 0, "--std", 1, "--top", 3, "--json", "--quiet"]
    _, want, _ = predict(capsys, onnx_model, *files, *options)
    status, got, err = predict(capsys, two, *files, *options)
    assert status == 0, err
    assert got == want and len(got.splitlines()) == 3
    status, streamed, err = predict(capsys, two, tmp_path, *options)  # one task per image
    assert status == 0, err
    assert sorted(streamed.splitlines()) == sorted(want.splitlines())
