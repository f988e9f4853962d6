"""``cnnmath predict`` on segmentation models: per-pixel logits (B, K, H, W) resized to each
image's own size, the argmax per pixel, the areas printed and the masks written.

Witnesses, independent of predict's code: PyTorch's ``F.interpolate(logits, size,
mode="bilinear", align_corners=False).argmax(1)`` of logits computed here — by ``F.conv2d`` on
the model's own weights (float64), or by torch's network itself for an ONNX file torch
exported — on the preprocessing redone by hand (Pillow's bilinear resize called directly,
ImageNet's statistics); the masks are read back with Pillow and their areas counted with
``numpy.bincount``; the palette is checked against PASCAL VOC's published class colours.
Every refusal: one line on stderr, exit 2, nothing printed and no mask (nor folder) left.
"""

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
torch = pytest.importorskip("torch")
F = torch.nn.functional

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]).reshape(3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1)
CLASSES = 5
SIZE = (16, 16)  # --size; the tiny network's output is half of it: (8, 8)
#: the images' own sizes (H, W): larger, smaller and equal to --size, one not square
SHAPES = {"wide": (20, 30), "small": (11, 9), "same": (16, 16)}
#: PASCAL VOC's class colours (background, aeroplane, bicycle, bird, boat) and 255's
VOC = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128)}


def tiny_segmenter(classes=CLASSES, seed=0):
    """Conv 3x3 stride 2 → ReLU → Conv 1x1: class logits per pixel at half the input's size,
    float64 so that the witness can agree to rounding."""
    rng = np.random.default_rng(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, rng=0, dtype=np.float64),
        nn.ReLU(),
        nn.Conv2d(8, classes, 1, rng=1, dtype=np.float64),
    )
    for p in net.parameters():  # large enough that every class wins somewhere
        p.data[...] = rng.normal(0, 1.5, p.data.shape)
    return net


def torch_logits(net, x):
    """The tiny network's logits (B, K, h, w) computed by PyTorch from its weights."""
    w1, b1, w2, b2 = (torch.from_numpy(np.asarray(p.data)) for p in net.parameters())
    h = F.relu(F.conv2d(torch.from_numpy(x), w1, b1, stride=2, padding=1))
    return F.conv2d(h, w2, b2)


def preprocess(path, size=SIZE):
    """predict's documented preprocessing, by hand: pixels / 255 (C, H, W), Pillow's bilinear
    resize of each channel as 32-bit floats, ImageNet's statistics."""
    with Image.open(path) as im:
        x = np.asarray(im.convert("RGB"), np.float64).transpose(2, 0, 1) / 255
    if x.shape[1:] != tuple(size):
        planes = [
            np.asarray(Image.fromarray(c.astype(np.float32)).resize(size[::-1], Image.BILINEAR))
            for c in x
        ]
        x = np.stack(planes).astype(np.float64)
    return (x - IMAGENET_MEAN) / IMAGENET_STD


def witness(logits, size):
    """(labels (H, W), top-2 gap (H, W)): torch's bilinear resize of the logits, argmax."""
    z = F.interpolate(torch.as_tensor(logits, dtype=torch.float64)[None], size=size,
                      mode="bilinear", align_corners=False)[0]  # fmt: skip
    top2 = torch.topk(z, 2, dim=0).values
    return z.argmax(0).numpy(), (top2[0] - top2[1]).numpy()


def assert_labels(got, want, gap, tie):
    """got == want wherever the two best classes are more than ``tie`` apart; those
    near-ties (where rounding may pick either) are few."""
    assert got.shape == want.shape
    decided = gap > tie
    assert decided.mean() > 0.99, "too many near-ties for the comparison to mean anything"
    np.testing.assert_array_equal(got[decided], want[decided])


def read_mask(path):
    with Image.open(path) as im:
        assert im.mode == "P"
        palette = np.array(im.getpalette(), np.uint8).reshape(-1, 3)
        return np.asarray(im).copy(), palette


def predict(capsys, *args):
    status = main(["predict", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


def assert_refused(status, out, err, pattern):
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(pattern, err), err


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """(model.onnx, the tiny network, {name: image path}): random RGB pictures of SHAPES."""
    pytest.importorskip("onnx")
    pytest.importorskip("cnnmath.onnx.load")
    from cnnmath.onnx.save import save

    folder = tmp_path_factory.mktemp("scene")
    net = tiny_segmenter()
    save(net, folder / "seg.onnx", np.zeros((1, 3, *SIZE)))
    rng = np.random.default_rng(3)
    (folder / "images").mkdir()
    files = {}
    for name, (H, W) in SHAPES.items():
        # smooth blobs rather than noise: regions of one class, as in a photograph
        coarse = rng.integers(0, 256, (3, 3, 3)).astype(np.uint8)
        picture = Image.fromarray(coarse).resize((W, H), Image.BILINEAR)
        noisy = np.clip(np.asarray(picture, int) + rng.integers(-40, 41, (H, W, 3)), 0, 255)
        files[name] = str(folder / "images" / f"{name}.png")
        Image.fromarray(noisy.astype(np.uint8)).save(files[name])
    return folder / "seg.onnx", net, files


def expected(net, files):
    """{path: (labels, gap)} from the witness."""
    out = {}
    for path in files:
        logits = torch_logits(net, preprocess(path)[None])[0]
        out[path] = witness(logits, SHAPES[os.path.basename(path)[:-4]])
    return out


def test_masks_are_the_argmax_of_the_bilinearly_resized_logits(scene, tmp_path, capsys):
    model, net, files = scene
    paths = list(files.values())
    masks = tmp_path / "made" / "masks"  # two folders that do not exist yet
    status, out, err = predict(capsys, model, *paths, *("--size", *SIZE), "--masks", masks,
                               "--batch-size", 2, "--quiet")  # fmt: skip
    assert status == 0, err
    assert sorted(os.listdir(masks)) == ["same.png", "small.png", "wide.png"]
    want = expected(net, paths)
    assert len(out.splitlines()) == 3 + sum(len(np.unique(w[0])) for w in want.values())
    lines = iter(out.splitlines())
    line = next(lines)
    for path in paths:
        mask = masks / os.path.basename(path)
        labels, palette = read_mask(mask)
        assert labels.shape == SHAPES[os.path.basename(path)[:-4]]  # the image's own size
        assert_labels(labels, *want[path], tie=1e-9)
        assert len(palette) == 256 and all(tuple(palette[k]) == c for k, c in VOC.items())
        # the report: "PATH -> MASK", then the classes present, largest area first
        assert line == f"{path} -> {mask}"
        counts = np.bincount(labels.ravel(), minlength=CLASSES)
        present = sorted(np.flatnonzero(counts), key=lambda c: (-counts[c], c))
        assert len(present) >= 2  # the comparison is not of one flat colour
        for rank, c in enumerate(present, start=1):
            assert next(lines).split() == [str(rank), f"{counts[c] / labels.size:.4f}", "class",
                                           str(c)]  # fmt: skip
        line = next(lines, None)
    assert line is None


def test_every_class_and_the_resize_matter(scene):
    """The witness is not trivial: the images have several classes, and the labels at the
    image's size differ from the network's output merely repeated (nearest-neighbour)."""
    _, net, files = scene
    seen = set()
    for path in files.values():
        logits = torch_logits(net, preprocess(path)[None])[0]
        labels, _ = witness(logits, SHAPES[os.path.basename(path)[:-4]])
        seen |= set(np.unique(labels).tolist())
        nearest = F.interpolate(logits[None], size=labels.shape, mode="nearest")[0].argmax(0)
        if labels.shape != SIZE:
            assert (nearest.numpy() != labels).any()
    assert len(seen) >= 3


def test_json_areas_labels_and_top(scene, tmp_path, capsys):
    model, net, files = scene
    paths = list(files.values())
    names = tmp_path / "voc.txt"
    names.write_text("background\naeroplane\nbicycle\nbird\nboat\n", encoding="utf-8")
    status, out, err = predict(capsys, model, *paths, *("--size", *SIZE), "--json", "--top", 2,
                               "--labels", names, "--quiet")  # fmt: skip
    assert status == 0, err
    want = expected(net, paths)
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in records] == paths
    for record, path in zip(records, paths):
        labels, gap = want[path]
        H, W = labels.shape
        assert record["size"] == [H, W] and record["mask"] is None  # no --masks: none written
        counts = np.bincount(labels.ravel(), minlength=CLASSES)
        order = sorted(np.flatnonzero(counts), key=lambda c: (-counts[c], c))[:2]
        assert [a["class"] for a in record["areas"]] == order
        assert [a["label"] for a in record["areas"]] == [
            ["background", "aeroplane", "bicycle", "bird", "boat"][c] for c in order
        ]
        assert [a["pixels"] for a in record["areas"]] == [int(counts[c]) for c in order]
        assert [a["fraction"] for a in record["areas"]] == [counts[c] / (H * W) for c in order]
        assert (gap > 1e-9).all()  # no near-tie, so the counts must match exactly
    assert not list(tmp_path.glob("*.png"))


def test_json_names_the_mask_written(scene, tmp_path, capsys):
    model, _, files = scene
    status, out, err = predict(capsys, model, files["wide"], *("--size", *SIZE), "--json",
                               "--masks", tmp_path / "m", "--quiet")  # fmt: skip
    assert status == 0, err
    record = json.loads(out)
    assert record["mask"] == str(tmp_path / "m" / "wide.png")
    labels, _ = read_mask(record["mask"])
    assert sum(a["pixels"] for a in record["areas"]) == labels.size == 20 * 30
    for area in record["areas"]:
        assert area["pixels"] == int((labels == area["class"]).sum())


def test_a_collection_streams_to_the_same_masks_and_areas(scene, tmp_path, capsys):
    """The tiled.stream path (a directory: one task per image, on threads) against the plain
    files run in batches: the same JSON and the same mask files, byte for byte."""
    model, net, files = scene
    folder = os.path.dirname(files["wide"])
    plain = sorted(files.values())  # a directory's order
    args = ("--size", *SIZE, "--json", "--quiet")
    status, batched, err = predict(capsys, model, *plain, *args, "--masks", tmp_path / "a")
    assert status == 0, err
    status, streamed, err = predict(capsys, model, folder, *args, "--masks", tmp_path / "b")
    assert status == 0, err
    assert [json.loads(r)["file"] for r in streamed.splitlines()] == plain
    strip = [{**json.loads(r), "mask": None} for r in batched.splitlines()]
    assert [{**json.loads(r), "mask": None} for r in streamed.splitlines()] == strip
    for path in plain:
        name = os.path.basename(path)
        got = (tmp_path / "b" / name).read_bytes()
        assert got == (tmp_path / "a" / name).read_bytes()
    want = expected(net, plain)
    for path in plain:
        assert_labels(read_mask(tmp_path / "b" / os.path.basename(path))[0], *want[path], 1e-9)


def test_classes_resized_a_few_at_a_time_and_ties_to_the_lower_index(
    scene, tmp_path, capsys, monkeypatch
):
    """A large image's classes are resized a group at a time (here one at a time, the
    budget made tiny) with the running maximum kept: the same labels; and where two classes
    tie exactly (class 3 a copy of class 1) the lower index wins, as torch's argmax says."""
    pytest.importorskip("onnx")
    from cnnmath.commands import predict as command
    from cnnmath.onnx.save import save

    _, _, files = scene
    net = tiny_segmenter()
    classifier = list(net.parameters())[2:]  # the 1x1 convolution's weight and bias
    for p in classifier:
        p.data[3] = p.data[1]
    save(net, tmp_path / "twins.onnx", np.zeros((1, 3, *SIZE)))
    set_everywhere(monkeypatch, command, "_RESIZE_CHUNK", 1)
    paths = list(files.values())
    status, out, err = predict(capsys, tmp_path / "twins.onnx", *paths, *("--size", *SIZE),
                               "--masks", tmp_path / "m", "--quiet")  # fmt: skip
    assert status == 0, err
    seen = set()
    for path in paths:
        got, _ = read_mask(tmp_path / "m" / os.path.basename(path))
        want, _ = witness(torch_logits(net, preprocess(path)[None])[0], got.shape)
        np.testing.assert_array_equal(got, want)  # float64 both: ties exact, the rest apart
        seen |= set(np.unique(got).tolist())
    assert 1 in seen and 3 not in seen


def test_round_trip_from_pytorch_through_onnx(tmp_path, capsys):
    """A segmentation network in PyTorch — a stride-2 encoder, a 1x1 classifier and a
    bilinear upsample back to the input's size, as torchvision's heads end — exported to
    ONNX; PyTorch's own logits on the preprocessing done by hand are the witness."""
    pytest.importorskip("onnx")
    pytest.importorskip("cnnmath.onnx.load")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
                torch.nn.BatchNorm2d(8),
                torch.nn.ReLU(),
                torch.nn.Conv2d(8, 6, 1),
            )

        def forward(self, x):
            y = self.body(x)
            return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.body[1].running_mean.uniform_(-0.2, 0.2)
        net.body[1].running_var.uniform_(0.5, 2.0)
    net.eval()
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter says it is the legacy one
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (torch.zeros(1, 3, 12, 12),), str(path), dynamo=False)
    rng = np.random.default_rng(8)
    shapes = [(17, 23), (9, 12)]
    files = []
    for i, (H, W) in enumerate(shapes):
        files.append(str(tmp_path / f"p{i}.png"))
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(files[-1])
    # the upsample's output size, batch included, is a constant of the file: (1, 6, 12, 12),
    # so the file is run one image at a time (a batch of 2 would blend the two images) and
    # only at 12 x 12
    status, out, err = predict(capsys, path, *files, "--size", 16, 16, "--quiet")
    assert_refused(status, out, err, r"the file fixes its input at 12x12 pixels .* and --size "
                   r"16 16 gives 16x16; give --size 12 12")  # fmt: skip
    status, out, err = predict(capsys, path, *files, "--size", 12, 12, "--masks",
                               tmp_path / "masks", "--batch-size", 2, "--quiet")  # fmt: skip
    assert status == 0, err
    for file, shape in zip(files, shapes):
        x = preprocess(file, (12, 12))[None].astype(np.float32)
        with torch.no_grad():
            logits = net(torch.from_numpy(x))[0].double()
        labels, gap = witness(logits, shape)
        got, _ = read_mask(tmp_path / "masks" / os.path.basename(file))
        # float32 in two implementations: near-ties decided by rounding are left out
        assert_labels(got, labels, gap, tie=1e-4 * float(logits.abs().max()))
    assert out.count(" -> ") == 2


def test_fcn_resnet50_from_safetensors(tmp_path, capsys):
    """--arch fcn_resnet50 with its default 21 classes (torchvision's), at a small --size;
    the witness is the model's own logits in eval mode (not folded) resized by torch."""
    pytest.importorskip("safetensors")
    model = models.fcn_resnet50(seed=1)
    weights.save(model, tmp_path / "fcn.safetensors")
    rng = np.random.default_rng(2)
    file = str(tmp_path / "street.png")
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(file)
    status, out, err = predict(capsys, tmp_path / "fcn.safetensors", file, "--arch",
                               "fcn_resnet50", "--size", 32, 32, "--masks", tmp_path / "m",
                               "--json", "--quiet")  # fmt: skip
    assert status == 0, err
    model.eval()
    logits = model(preprocess(file, (32, 32))[None].astype(np.float32))[0]
    assert logits.shape == (21, 32, 32)
    labels, gap = witness(logits, (40, 50))
    got, _ = read_mask(tmp_path / "m" / "street.png")
    assert_labels(got, labels, gap, tie=1e-4 * float(np.abs(logits).max()))
    record = json.loads(out)
    assert sum(a["pixels"] for a in record["areas"]) == 40 * 50


# -- refusals -------------------------------------------------------------------------------


def test_a_classifier_with_masks_is_refused_and_writes_nothing(tmp_path, capsys):
    pytest.importorskip("onnx")
    from cnnmath.onnx.save import save

    classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4, rng=0))
    save(classifier, tmp_path / "cls.onnx", np.zeros((1, 3, 4, 4), np.float32))
    image = str(tmp_path / "a.png")
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(image)
    status, out, err = predict(capsys, tmp_path / "cls.onnx", image, "--size", 4, 4,
                               "--masks", tmp_path / "masks", "--quiet")  # fmt: skip
    assert_refused(status, out, err, r"--masks .*masks: MODEL .*cls\.onnx is a classifier.*"
                   r"\(B, classes, H, W\)")  # fmt: skip
    assert not (tmp_path / "masks").exists()
    # without --masks it still classifies
    status, out, err = predict(capsys, tmp_path / "cls.onnx", image, "--size", 4, 4, "--quiet")
    assert status == 0 and out.startswith(image + "\n  1  ")


def test_more_than_256_classes_refuse_masks_but_print_areas(tmp_path, capsys):
    pytest.importorskip("onnx")
    from cnnmath.onnx.save import save

    wide = tiny_segmenter(classes=300)
    save(wide, tmp_path / "wide.onnx", np.zeros((1, 3, *SIZE)))
    image = str(tmp_path / "a.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (9, 9, 3), np.uint8)).save(image)
    status, out, err = predict(capsys, tmp_path / "wide.onnx", image, *("--size", *SIZE),
                               "--masks", tmp_path / "masks", "--quiet")  # fmt: skip
    assert_refused(status, out, err, r"--masks .*: the model has 300 classes; .* at most 256")
    assert not (tmp_path / "masks").exists()
    status, out, err = predict(capsys, tmp_path / "wide.onnx", image, *("--size", *SIZE),
                               "--json", "--quiet")  # fmt: skip
    assert status == 0, err
    logits = torch_logits(wide, preprocess(image)[None])[0]
    labels, _ = witness(logits, (9, 9))
    areas = json.loads(out)["areas"]
    assert sorted(a["class"] for a in areas) == sorted(np.unique(labels).tolist())


def test_one_channel_per_pixel_is_refused(tmp_path, capsys):
    pytest.importorskip("onnx")
    from cnnmath.onnx.save import save

    save(tiny_segmenter(classes=1), tmp_path / "one.onnx", np.zeros((1, 3, *SIZE)))
    image = str(tmp_path / "a.png")
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(image)
    status, out, err = predict(capsys, tmp_path / "one.onnx", image, "--quiet")
    assert_refused(status, out, err, r"MODEL .*per-pixel output has 1 channel; expected .* K >= 2")


def test_nan_logits_are_refused_and_write_no_mask(tmp_path, capsys):
    pytest.importorskip("onnx")
    from cnnmath.onnx.save import save

    broken = tiny_segmenter()
    list(broken.parameters())[3].data[2] = np.nan  # class 2's bias
    save(broken, tmp_path / "nan.onnx", np.zeros((1, 3, *SIZE)))
    image = str(tmp_path / "a.png")
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(image)
    status, out, err = predict(capsys, tmp_path / "nan.onnx", image, "--masks", tmp_path / "m",
                               "--quiet")  # fmt: skip
    assert_refused(status, out, err, r"MODEL .*nan\.onnx: gave NaN or infinite logits for "
                   r"IMAGE .*a\.png")  # fmt: skip
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "names, pattern",
    [
        (
            ["a/cat.png", "b/cat.png"],
            r"IMAGE .*a/cat\.png and IMAGE .*b/cat\.png would both "
            r"write the mask .*cat\.png",
        ),  # fmt: skip
        (["a/cat.png", "a/cat.jpg"], r"IMAGE .*cat\.png and IMAGE .*cat\.jpg would both"),
        (
            ["a/Cat.png", "b/cAT.png"],
            r"IMAGE .*a/Cat\.png and IMAGE .*cAT\.png would both write .*m/Cat\.png ",
        ),
    ],
)
def test_two_images_to_one_mask_are_refused_before_any_work(
    scene, names, pattern, tmp_path, capsys
):
    model, _, files = scene
    paths = []
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        paths.append(str(tmp_path / name))
        Image.open(files["small"]).save(paths[-1])
    status, out, err = predict(capsys, model, *paths, "--masks", tmp_path / "m", "--quiet")
    assert_refused(status, out, err, r"^cnnmath predict: error: --masks .*m: " + pattern)
    assert not (tmp_path / "m").exists()


def test_one_file_named_twice_writes_its_mask_once(scene, tmp_path, capsys):
    """The same file twice, or through a link of the same name in another folder: one
    image, one mask (not a clash), reported each time."""
    model, _, files = scene
    (tmp_path / "b").mkdir()
    os.symlink(files["small"], tmp_path / "b" / "small.png")
    paths = [files["small"], files["small"], str(tmp_path / "b" / "small.png")]
    status, out, err = predict(capsys, model, *paths, *("--size", *SIZE), "--masks",
                               tmp_path / "m", "--quiet")  # fmt: skip
    assert status == 0, err
    assert os.listdir(tmp_path / "m") == ["small.png"] and out.count(" -> ") == 3


def test_a_mask_that_would_replace_an_input_is_refused(scene, tmp_path, capsys):
    model, _, files = scene
    folder = os.path.dirname(files["small"])
    before = open(files["small"], "rb").read()
    status, out, err = predict(capsys, model, files["small"], "--masks", folder, "--quiet")
    assert_refused(status, out, err, r"--masks .*: the mask of IMAGE .*small\.png would "
                   r"replace the input file")  # fmt: skip
    assert open(files["small"], "rb").read() == before


@pytest.mark.parametrize(
    "target, pattern",
    [
        ("{file}", r"--masks: output directory is not a directory"),
        ("{file}/sub", r"--masks: output directory is not a directory: .*a\.txt \(to make"),
    ],
)
def test_masks_folder_that_cannot_be_made_is_refused_first(
    scene, target, pattern, tmp_path, capsys
):
    model, _, files = scene
    (tmp_path / "a.txt").write_text("a file, not a folder", encoding="utf-8")
    where = target.format(file=tmp_path / "a.txt")
    status, out, err = predict(capsys, model, files["small"], "--masks", where, "--quiet")
    assert_refused(status, out, err, pattern)


def test_labels_and_top_are_checked_against_the_classes(scene, tmp_path, capsys):
    model, _, files = scene
    names = tmp_path / "three.txt"
    names.write_text("a\nb\nc\n", encoding="utf-8")
    status, out, err = predict(capsys, model, files["small"], "--labels", names,
                               "--masks", tmp_path / "m", "--quiet")  # fmt: skip
    assert_refused(status, out, err, r"--labels .*: has 3 labels; the model has 5 outputs")
    status, out, err = predict(capsys, model, files["small"], "--top", 6, "--quiet")
    assert_refused(status, out, err, r"--top 6: the model has only 5 classes")
    assert not (tmp_path / "m").exists()


def test_a_failure_mid_run_leaves_whole_masks_only(scene, tmp_path, capsys, monkeypatch):
    """The second mask's write fails half-way: the first mask stays whole, the second is not
    there, no temporary file is left, and only the first image's report was printed."""
    model, _, files = scene
    paths = [files["wide"], files["small"]]
    calls = []
    real_save = Image.Image.save

    def flaky_save(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 2:
            fp.write(b"half a file")
            raise OSError("disk full")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", flaky_save)
    status, out, err = predict(capsys, model, *paths, *("--size", *SIZE), "--masks",
                               tmp_path / "m", "--quiet")  # fmt: skip
    assert status == 2 and "disk full" in err and err.count("\n") == 1
    assert os.listdir(tmp_path / "m") == ["wide.png"]
    labels, _ = read_mask(tmp_path / "m" / "wide.png")
    assert labels.shape == SHAPES["wide"]
    assert out.startswith(f"{paths[0]} -> ") and paths[1] not in out
