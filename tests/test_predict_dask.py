"""``cnnmath predict MODEL DIR_OR_GLOB``: image collections streamed through
``cnnmath.tiled.stream`` — on threads in this process, and with ``--scheduler`` on a real
cluster (a ``dask scheduler`` + two ``dask worker`` processes started on 127.0.0.1 by the
fixture of ``test_filter_zarr_cli``, always stopped).

Witness: the same command on the same images named one by one as plain files, which runs
in batches in this process (its preprocessing is checked by hand in ``test_predict_cli``);
a collection must give the same files, in the same order, with the same classes and
scores (float32: ≤ 1e-5 relative)."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from cnnmath import models, nn, weights
from cnnmath.cli import main
from helpers import assert_close

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("safetensors")
pytest.importorskip("distributed")
import test_filter_zarr_cli  # noqa: E402

cluster = test_filter_zarr_cli.cluster  # its module-scoped fixture, reused here

CLASSES = 7
SIZE = ("--size", "12", "12")


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """(weights file, folder): resnet20 weights with BatchNorm statistics off their defaults,
    and a folder of PNGs of different sizes and modes (gray, RGB, RGBA) in which a text file
    and a subfolder must be passed over."""
    folder = tmp_path_factory.mktemp("collection")
    rng = np.random.default_rng(11)
    model = models.resnet20(num_classes=CLASSES, seed=3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[...] = rng.normal(0, 0.2, m.num_features)
            m.running_var[...] = rng.uniform(0.5, 2, m.num_features)
    weights.save(model, folder.parent / f"{folder.name}.safetensors")
    shapes = [(9, 14, 3), (16, 10, 1), (12, 12, 4), (20, 7, 3), (5, 5, 3), (13, 18, 1)]
    for i, shape in enumerate(shapes):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[shape[2]]
        Image.fromarray(pixels[..., 0] if shape[2] == 1 else pixels, mode=mode).save(
            folder / f"img{i:02d}.png"
        )
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    (folder / "sub.png").mkdir()  # a directory with an image's name: not a file of the set
    return folder.parent / f"{folder.name}.safetensors", folder


def predict(capsys, *args):
    argv = [*args, "--arch", "resnet20", "--num-classes", CLASSES, *SIZE, "--top", CLASSES]
    status = main(["predict", *map(str, argv), "--json", "--quiet"])
    out = capsys.readouterr()
    assert status == 0, out.err
    return [json.loads(line) for line in out.out.splitlines()]


def plain(capsys, model, folder):
    files = sorted(str(folder / f) for f in os.listdir(folder) if f.startswith("img"))
    assert len(files) == 6
    return predict(capsys, model, *files, "--batch-size", 4)


def assert_same(got, want):
    assert [g["file"] for g in got] == [w["file"] for w in want]
    for g, w in zip(got, want):
        assert [t["class"] for t in g["top"]] == [t["class"] for t in w["top"]]
        assert_close([t["score"] for t in g["top"]], [t["score"] for t in w["top"]], np.float32)
        assert_close(
            [t["probability"] for t in g["top"]], [t["probability"] for t in w["top"]], np.float32
        )


def test_directory_and_glob_in_process_equal_the_plain_files(collection, capsys):
    model, folder = collection
    want = plain(capsys, model, folder)
    # every image its own scores, so that a result printed under another file would show
    by_class = [sorted((t["class"], t["score"]) for t in w["top"]) for w in want]
    scores = np.array([[score for _, score in row] for row in by_class])
    gaps = np.abs(scores[:, None] - scores[None]).max(axis=2) + np.eye(len(scores))
    assert gaps.min() > 1e-3 * np.abs(scores).max()
    assert_same(predict(capsys, model, folder), want)
    assert_same(predict(capsys, model, folder / "img*.png"), want)
    # a collection beside a plain file: each argument expanded in place, the order kept
    first, rest = want[0]["file"], want[1:]
    got = predict(capsys, model, folder / "img0[1-5].png", first)
    assert_same(got, [*rest, want[0]])


def test_directory_on_a_scheduler_and_two_workers_equals_the_plain_files(
    collection, cluster, capsys
):
    address, client = cluster
    model, folder = collection
    want = plain(capsys, model, folder)
    ran = executed(client)
    assert_same(predict(capsys, model, folder, "--scheduler", address), want)
    assert executed(client) - ran >= len(want)  # one task (at least) per image, on the workers
    # plain files with --scheduler go to the workers too
    ran = executed(client)
    assert_same(predict(capsys, model, *[w["file"] for w in want], "--scheduler", address), want)
    assert executed(client) - ran >= len(want)
    assert len(client.scheduler_info()["workers"]) == 2


def executed(client):
    """How many tasks the cluster's workers have run so far."""
    return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


def test_segmentation_masks_on_a_scheduler_equal_the_plain_files(
    collection, cluster, tmp_path, capsys
):
    """A per-pixel model (its output (B, K, H, W)): the areas and the mask files from the
    cluster — the logits computed on the workers, resized to each image's size here — are
    those of the plain files run in batches, byte for byte; their correctness against torch
    is checked in test_predict_segmentation."""
    pytest.importorskip("onnx")
    pytest.importorskip("cnnmath.onnx.load")
    from cnnmath.onnx.save import save

    address, _ = cluster
    _, folder = collection
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=1, rng=1), nn.ReLU(), nn.Conv2d(6, 4, 1, rng=2)
    )
    save(net, tmp_path / "seg.onnx", np.zeros((1, 3, 12, 12), np.float32))
    files = sorted(str(folder / f) for f in os.listdir(folder) if f.startswith("img"))
    runs = {}
    for name, images, extra in [
        ("plain", files, ["--batch-size", "4"]),
        ("cluster", [str(folder)], ["--scheduler", address]),
    ]:
        status = main(["predict", str(tmp_path / "seg.onnx"), *images, *SIZE, "--json",
                       "--quiet", "--masks", str(tmp_path / name), *extra])  # fmt: skip
        out = capsys.readouterr()
        assert status == 0, out.err
        runs[name] = [json.loads(line) for line in out.out.splitlines()]
    assert [r["file"] for r in runs["cluster"]] == files
    for got, want in zip(runs["cluster"], runs["plain"]):
        assert got["areas"] == want["areas"] and got["size"] == want["size"]
        assert got["mask"] == str(tmp_path / "cluster" / os.path.basename(got["file"]))
        with open(got["mask"], "rb") as a, open(want["mask"], "rb") as b:
            assert a.read() == b.read()
    with Image.open(runs["cluster"][1]["mask"]) as im:  # img01: 16 x 10, gray
        assert im.mode == "P" and im.size == (10, 16)
    assert any(len(r["areas"]) > 1 for r in runs["plain"])  # not one flat class each


def test_progress_bar_counts_images_on_stderr(collection, capsys):
    pytest.importorskip("tqdm")
    model, folder = collection
    status = main(["predict", str(model), str(folder), "--arch", "resnet20", "--num-classes",
                   str(CLASSES), *SIZE])  # fmt: skip
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "0/6 [" in out.err and "image/s" in out.err  # counted in images, not batches
    assert out.out.count("img") == 6


@pytest.mark.parametrize(
    "argument, pattern",
    [
        ("{empty}", r"IMAGE .*empty: the directory has no image files"),
        ("{empty}/*.png", r"IMAGE .*\*\.png: no file matches the pattern"),
        ("{folder}/*.jpg", r"IMAGE .*\*\.jpg: no file matches the pattern"),
    ],
)
def test_empty_collection_is_one_line_and_exit_2(argument, pattern, collection, tmp_path, capsys):
    model, folder = collection
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no pictures here", encoding="utf-8")
    image = argument.format(empty=tmp_path / "empty", folder=folder)
    status = main(["predict", str(model), image, "--arch", "resnet20", "--quiet"])
    out = capsys.readouterr()
    assert status == 2
    assert out.out == ""
    assert out.err.count("\n") == 1 and "Traceback" not in out.err
    assert re.search(pattern, out.err), out.err
