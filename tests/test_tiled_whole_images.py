"""tiled.apply on arrays whose chunks hold whole images (H and W one chunk each, split along
N only), and ShuffleNetV2's channel split (``Narrow`` along C) tiled.

Whole images per chunk need no tile: a model with a global layer (adaptive pooling, a
classifier's Flatten and Linear, group norm) or a border of the image's own pixels runs
chunk by chunk as it is. The witness is ``model(x)`` on the NumPy array, one call on the
whole batch, which never sees a chunk. Where H or W is split the same models are refused,
and the rechunk the message names is checked to work."""

import re
import warnings

import numpy as np
import pytest

from cnnmath import models, nn
from cnnmath.receptive import receptive_field
from helpers import assert_close

da = pytest.importorskip("dask.array")
from cnnmath import tiled  # noqa: E402


def classifier(rng, dtype, padding_mode="reflect"):
    """A small classifier whose layers tiles cannot run: a reflect-padded convolution,
    group norm (per image statistics), adaptive pooling to 2×2, Flatten and Linear."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, padding_mode=padding_mode, rng=rng, dtype=dtype),
        nn.GroupNorm(2, 4, dtype=dtype),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 5, rng=rng, dtype=dtype),
    ).eval()


def test_whole_images_per_chunk_run_a_classifier_chunk_by_chunk():
    rng = np.random.default_rng(0)
    net = classifier(rng, np.float64)
    x = rng.standard_normal((5, 3, 12, 14))
    y = tiled.apply(net, da.from_array(x, chunks=(2, 3, 12, 14)))
    assert y.shape == (5, 5) and y.chunks == ((2, 2, 1), (5,))
    assert any(k.startswith("_run_whole") for k in y.__dask_graph__().layers)
    got = y.compute(scheduler="synchronous")
    assert_close(got, net(x))
    assert_close(y.compute(scheduler="threads"), got, factor=0)  # any scheduler: the same bits


def test_resnet18_whole_chunked_along_n_equals_the_whole_batch():
    """The reviewer's case (s45 L1): resnet18 on (3, 3, 64, 64) chunked (1, 3, 64, 64)."""
    model = models.resnet18(seed=0).eval()
    x = np.random.default_rng(1).standard_normal((3, 3, 64, 64)).astype(np.float32)
    y = tiled.apply(model, da.from_array(x, chunks=(1, 3, 64, 64)))
    assert y.chunks == ((1, 1, 1), (1000,))
    assert_close(y.compute(scheduler="synchronous"), model(x), np.float32)


def test_a_split_image_is_refused_naming_the_rechunk_that_runs_it():
    rng = np.random.default_rng(2)
    net = classifier(rng, np.float64, padding_mode="zeros")
    x = da.from_array(rng.standard_normal((2, 3, 12, 14)), chunks=(1, 3, 6, 14))
    with pytest.raises(ValueError) as info:
        tiled.apply(net, x)
    message = str(info.value)
    assert "node '1' (GroupNorm) reads the whole image" in message
    assert "map_blocks" in message and "spatial part of the network tiled" in message
    rechunk = re.search(r"array\.rechunk\((\{.*?\})\)", message)
    assert rechunk is not None
    y = tiled.apply(net, x.rechunk(eval(rechunk.group(1))))  # the message's own way out
    assert_close(y.compute(scheduler="synchronous"), net(x.compute()))


def test_a_reflect_border_alone_is_refused_on_tiles_and_run_on_whole_images():
    rng = np.random.default_rng(3)
    net = nn.Sequential(nn.ReflectionPad2d(2), nn.Conv2d(1, 2, 5, rng=rng, dtype=np.float64))
    x = rng.standard_normal((3, 1, 10, 9))
    with pytest.raises(ValueError, match=r"mode 'reflect'.*rechunk H and W whole"):
        tiled.apply(net, da.from_array(x, chunks=(1, 1, 5, 9)))
    y = tiled.apply(net, da.from_array(x, chunks=(1, 1, 10, 9)))
    assert y.chunks == ((1, 1, 1), (2,), (10,), (9,))
    assert_close(y.compute(scheduler="synchronous"), net(x))


def test_a_layer_that_mixes_the_images_needs_the_batch_in_one_chunk():
    """BatchNorm without running statistics normalises by the whole batch's: chunks of some
    of the images would each use their own, so it runs only with N in one chunk."""
    rng = np.random.default_rng(4)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, rng=rng, dtype=np.float64),
        nn.BatchNorm2d(3, track_running_stats=False, dtype=np.float64),
    ).eval()
    x = rng.standard_normal((4, 2, 8, 8))
    with pytest.raises(ValueError, match=r"every image of the batch.*rechunk\(\{0: -1\}\)"):
        tiled.apply(net, da.from_array(x, chunks=(2, 2, 8, 8)))
    per_chunk = np.concatenate([net(x[:2]), net(x[2:])])  # what map_blocks would have given
    assert not np.allclose(per_chunk, net(x))
    y = tiled.apply(net, da.from_array(x, chunks=(4, 2, 8, 8)))
    assert_close(y.compute(scheduler="synchronous"), net(x))


def test_unbatched_whole_image():
    """One (C, H, W) image in one chunk runs as it is when its output keeps the spatial
    axes; a head without them (Flatten on an image of no batch axis) asks for array[None]."""
    rng = np.random.default_rng(5)
    pooled = nn.Sequential(
        nn.Conv2d(2, 3, 3, rng=rng, dtype=np.float64), nn.AdaptiveMaxPool2d((2, 3))
    )
    x = rng.standard_normal((2, 10, 11))
    y = tiled.apply(pooled, da.from_array(x, chunks=(2, 10, 11)))
    assert y.shape == (3, 2, 3)
    assert_close(y.compute(scheduler="synchronous"), pooled(x))
    with pytest.raises(ValueError, match=r"give the array a batch axis \(array\[None\]\)"):
        tiled.apply(classifier(rng, np.float64), da.from_array(rng.standard_normal((3, 8, 8))))


# ---------------------------------------------------------------------------------------------
# ShuffleNetV2: the channel split Narrow(1, …)


def shuffle_unit(rng, c, dtype):
    """ShuffleNetV2's stride-1 unit in small: split the channels in halves (Narrow along
    dim 1), keep one, run the other through 1×1 conv, 3×3 depthwise conv, 1×1 conv, join
    (Concat) and shuffle the channels."""
    b = c // 2
    g = nn.Graph()
    g.add(nn.Narrow(1, 0, b), "x", name="x1")
    g.add(nn.Narrow(1, b, b), "x", name="x2")
    g.add(nn.Conv2d(b, b, 1, rng=rng, dtype=dtype), "x2", name="pw1")
    g.add(nn.ReLU(), "pw1", name="relu1")
    g.add(nn.Conv2d(b, b, 3, padding=1, groups=b, rng=rng, dtype=dtype), "relu1", name="dw")
    g.add(nn.Conv2d(b, b, 1, rng=rng, dtype=dtype), "dw", name="pw2")
    g.add(nn.Concat(1), "x1", "pw2", name="cat")
    g.add(nn.ChannelShuffle(2), "cat", name="shuffle")
    g.set_output("shuffle")
    return g


@pytest.mark.parametrize("seed", range(3))
def test_shufflenet_like_blocks_tile_as_the_whole_image(seed):
    rng = np.random.default_rng(100 + seed)
    dtype = np.float64 if seed < 2 else np.float32
    net = nn.Sequential(
        nn.Conv2d(2, 6, 3, stride=2, padding=1, rng=rng, dtype=dtype),
        shuffle_unit(rng, 6, dtype),
        nn.MaxPool2d(2),
        shuffle_unit(rng, 6, dtype),
    )
    x = rng.standard_normal((2, 2, 45, 38)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiled.TiledRechunkWarning)
        y = tiled.apply(net, da.from_array(x, chunks=(1, 2, 13, 11)))
    assert len(y.chunks[2]) * len(y.chunks[3]) > 1  # tiles, not one block
    got = y.compute(scheduler="synchronous")
    assert got.shape == net(x).shape == (2, 6, 11, 9)
    assert_close(got, net(x), dtype)


def test_shufflenet_v2_spatial_part_tiles_as_the_whole_image():
    m = models.shufflenet_v2_x0_5(seed=0).eval()
    spatial = nn.Sequential(m.conv1, m.maxpool, m.stage2, m.stage3)
    x = np.random.default_rng(6).standard_normal((1, 3, 72, 88)).astype(np.float32)
    y = tiled.apply(spatial, da.from_array(x, chunks=(1, 3, 32, 48)))
    assert len(y.chunks[2]) * len(y.chunks[3]) > 1
    assert_close(y.compute(scheduler="synchronous"), spatial(x), np.float32)


@pytest.mark.parametrize("dim", [1, -3])
def test_a_channel_narrow_is_pointwise_with_its_length_as_channels(dim):
    g = nn.Graph()
    g.add(nn.Conv2d(1, 5, 3, dtype=np.float64), "x", name="conv")
    g.add(nn.Narrow(dim, 1, 3), "conv", name="cut")
    g.set_output("cut")
    x = np.zeros((1, 1, 9, 8))
    fields = receptive_field(g, x.shape)
    assert fields["cut"].shape == g(x).shape[1:] == (3, 7, 6)
    assert fields["cut"].size == fields["conv"].size == (3, 3)


@pytest.mark.parametrize("dim", [0, 2, 3, -1])
def test_a_narrow_along_the_batch_or_space_is_refused(dim):
    net = nn.Sequential(nn.Conv2d(1, 2, 3, dtype=np.float64), nn.Narrow(dim, 0, 1))
    with pytest.raises(ValueError, match=rf"Narrow\(dim={dim}\) cuts along the batch or a"):
        tiled.apply(net, da.zeros((2, 1, 8, 8), chunks=(1, 1, 4, 4)))


@pytest.mark.parametrize(("dim", "mixes"), [(0, True), (-2, True), (1, False), (-1, False)])
def test_a_softmax_over_the_batch_needs_it_in_one_chunk(dim, mixes):
    """After a Flatten, (N, F): a softmax over dim 0 or −2 normalises across the images."""
    rng = np.random.default_rng(7)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng, dtype=np.float64), nn.Flatten())
    net.append(nn.Softmax(dim=dim))
    x = rng.standard_normal((4, 1, 6, 6))
    split = da.from_array(x, chunks=(2, 1, 6, 6))
    if mixes:
        with pytest.raises(ValueError, match=r"every image of the batch"):
            tiled.apply(net, split)
        split = split.rechunk({0: -1})
    assert_close(tiled.apply(net, split).compute(scheduler="synchronous"), net(x))


def test_a_batch_norm_in_training_mode_is_refused_even_with_the_batch_in_one_chunk():
    """In training mode a BatchNorm updates its running statistics at each forward: every
    compute of the result would move them again (as a second compute did), so it is
    refused, naming eval mode; in eval mode the same model runs, its statistics untouched."""
    rng = np.random.default_rng(6)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, rng=rng, dtype=np.float64), nn.BatchNorm2d(3, dtype=np.float64)
    )
    x = rng.standard_normal((4, 2, 8, 8))
    with pytest.raises(
        ValueError, match=r"node '1' \(BatchNorm2d\) is in training mode.*model\.eval\(\)"
    ):
        tiled.apply(net, da.from_array(x, chunks=(4, 2, 8, 8)))
    assert int(net[1].num_batches_tracked) == 0
    net.eval()
    y = tiled.apply(net, da.from_array(x, chunks=(4, 2, 4, 8)))
    assert_close(y.compute(scheduler="synchronous"), net(x))
    assert int(net[1].num_batches_tracked) == 0
