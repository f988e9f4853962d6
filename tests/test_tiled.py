"""tiled.apply against the whole image in memory: the same network on the computed array.

Random strided, dilated, padded and pooled networks and ResNet blocks on random (irregular)
chunkings; the witness is ``model(x)`` on the NumPy array, which never sees a tile. Every
seeded case runs twice: here with dask's synchronous scheduler, and on one module-scoped
``LocalCluster(processes=True, n_workers=2, threads_per_worker=1)`` (issue 14's bar), where
the cases go in batches, several arrays per ``client.compute``, to keep the file quick."""

import os
import warnings

import numpy as np
import pytest

from cnnmath import nn
from helpers import assert_close

da = pytest.importorskip("dask.array")
from cnnmath import tiled  # noqa: E402
from cnnmath.receptive import receptive_field  # noqa: E402

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Identity)


def random_net(rng, channels, size, dtype):
    """2-6 random conv/pool layers (kernels 1-5, strides 1-3, dilations 1-2, paddings up
    to past half the kernel, 'same'), activations between, output at least 2×2."""
    layers, c = [], channels
    for _ in range(rng.integers(2, 7)):
        kind = rng.choice(["conv", "conv", "max", "avg"])
        if kind == "conv":
            k, s, d = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
            p = "same" if s == 1 and rng.random() < 0.3 else int(rng.integers(0, k // 2 + 2))
            out = int(rng.integers(1, 4))
            layer = nn.Conv2d(c, out, k, stride=s, padding=p, dilation=d, rng=rng, dtype=dtype)
        else:
            k = int(rng.integers(1, 4))
            s, p = int(rng.integers(1, 4)), int(rng.integers(0, k // 2 + 1))
            layer = (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(k, stride=s, padding=p)
            out = c
        try:
            shape = receptive_field(nn.Sequential(*layers, layer), (channels, *size)).output.shape
        except ValueError:
            break
        if min(shape[1:]) < 2:
            break
        layers.append(layer)
        c = out
        if rng.random() < 0.5:
            layers.append(ACTIVATIONS[rng.integers(len(ACTIVATIONS))]())
    return nn.Sequential(*layers)


def random_chunks(rng, n):
    """A random partition of n into 1-5 pieces."""
    cuts = np.sort(
        rng.choice(np.arange(1, n), size=min(int(rng.integers(0, 5)), n - 1), replace=False)
    )
    edges = [0, *cuts.tolist(), n]
    return tuple(int(b - a) for a, b in zip(edges[:-1], edges[1:]))


def random_case(seed):
    """(tiled result, still lazy; the whole-image witness; dtype) for one seed: float64 for
    seeds below 80, float32 from 80."""
    dtype = np.float64 if seed < 80 else np.float32
    rng = np.random.default_rng(seed)
    size = (int(rng.integers(16, 41)), int(rng.integers(16, 41)))
    channels = int(rng.integers(1, 3))
    net = random_net(rng, channels, size, dtype)
    x = rng.standard_normal((2, channels, *size)).astype(dtype)
    chunks = (
        int(rng.integers(1, 3)),
        channels,
        random_chunks(rng, size[0]),
        random_chunks(rng, size[1]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiled.TiledRechunkWarning)
        y = tiled.apply(net, da.from_array(x, chunks=chunks))
    return y, net(x), dtype


def assert_equal_to_whole(got, want, dtype):
    assert got.dtype == want.dtype == dtype
    assert got.shape == want.shape
    assert_close(got, want, dtype)


RANDOM_SEEDS = range(110)  # 80 float64, 30 float32
RESNET_SEEDS = range(12)


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_tiled_equals_whole(seed):
    y, want, dtype = random_case(seed)
    assert_equal_to_whole(y.compute(scheduler="synchronous"), want, dtype)


def test_padding_is_applied_only_at_true_edges():
    """A seam through a 'same'-padded stack: zero-padding each tile (or the input once) would
    put zeros into the second layer's halo; the tiled result must not see them."""
    rng = np.random.default_rng(5)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=np.float64),
        nn.Conv2d(2, 1, 3, padding=1, rng=rng, dtype=np.float64),
    )
    x = rng.uniform(1.0, 2.0, (1, 1, 10, 10))
    y = tiled.apply(net, da.from_array(x, chunks=(1, 1, 5, 5))).compute(scheduler="synchronous")
    assert_close(y, net(x))
    wrong = np.concatenate([net(x[..., :5, :]), net(x[..., 5:, :])], axis=-2)
    assert np.abs(wrong - net(x)).max() > 1e-3  # the seam error a naive tiling makes


def test_misaligned_chunks_are_rechunked_and_said():
    net = nn.Sequential(
        nn.Conv2d(1, 1, 3, stride=2, padding=1, rng=0, dtype=np.float64), nn.MaxPool2d(2)
    )
    x = np.random.default_rng(0).standard_normal((1, 1, 24, 24))
    with pytest.warns(tiled.TiledRechunkWarning, match=r"multiples of the total jump \(4, 4\)"):
        y = tiled.apply(net, da.from_array(x, chunks=(1, 1, 7, 12)))
    # H boundaries 7, 14, 21 round to 8, 16, 20; output i (field centre 1 + 4i) goes to the
    # chunk holding its centre: boundaries ⌈(B − 1)/4⌉ = 2, 4, 5 of 6 outputs
    assert y.chunks[2:] == ((2, 2, 1, 1), (3, 3))
    assert_close(y.compute(scheduler="synchronous"), net(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # aligned: no warning
        tiled.apply(net, da.from_array(x, chunks=(1, 1, 8, 12)))


def test_unbatched_image():
    rng = np.random.default_rng(2)
    net = nn.Sequential(
        nn.Conv2d(3, 2, 5, stride=2, padding=2, rng=rng, dtype=np.float64), nn.ReLU()
    )
    x = rng.standard_normal((3, 20, 18))
    y = tiled.apply(net, da.from_array(x, chunks=(3, 6, 4)))
    assert y.ndim == 3
    assert_close(y.compute(scheduler="synchronous"), net(x))


def test_a_value_whose_widest_reader_comes_later_gets_that_readers_halo():
    """x read first by a ReLU (no halo) and later by a 7×7 convolution (3 rows each side):
    the tiles hold the union of what x's readers need."""
    rng = np.random.default_rng(7)
    g = nn.Graph()
    g.add(nn.ReLU(), "x", name="r")
    g.add(nn.Conv2d(1, 1, 7, padding=3, rng=rng, dtype=np.float64), "x", name="c")
    g.set_output(g.add(nn.Add(), "r", "c", name="s"))
    x = rng.standard_normal((1, 1, 20, 20))
    y = tiled.apply(g, da.from_array(x, chunks=(1, 1, 5, 5)))
    assert_close(y.compute(scheduler="synchronous"), g(x))


def test_channels_split_into_chunks_are_gathered_and_big_endian_is_read():
    """An array chunked along C (rechunked whole, with the warning) and one in big-endian
    order (computed in native order): both equal the network on the whole array."""
    rng = np.random.default_rng(8)
    net = nn.Sequential(nn.Conv2d(4, 2, 3, padding=1, rng=rng, dtype=np.float64))
    x = rng.standard_normal((1, 4, 12, 12))
    with pytest.warns(tiled.TiledRechunkWarning, match="axes \\[1\\]"):
        y = tiled.apply(net, da.from_array(x, chunks=(1, 2, 6, 6)))
    assert_close(y.compute(scheduler="synchronous"), net(x))
    y = tiled.apply(net, da.from_array(x.astype(">f8"), chunks=(1, 4, 6, 6)))
    assert y.dtype == np.float64 and y.dtype.isnative
    assert_close(y.compute(scheduler="synchronous"), net(x))


def test_chunked_only_along_batch_goes_through_map_blocks():
    rng = np.random.default_rng(3)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng, dtype=np.float64), nn.AvgPool2d(2))
    x = rng.standard_normal((4, 1, 10, 10))
    y = tiled.apply(net, da.from_array(x, chunks=(1, 1, 10, 10)))
    assert any(k.startswith("_run_whole") for k in y.__dask_graph__().layers)
    assert_close(y.compute(scheduler="synchronous"), net(x))


def test_task_graph_is_about_one_task_per_block():
    """Each output block reads its neighbour blocks directly: the graph has the input's
    tasks, one per output block and the model — within 5× (here about 1×) of map_blocks on
    the same chunks, where dask's map_overlap builds several times more."""
    rng = np.random.default_rng(4)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 5, padding=2, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2, 1, 3, padding=1, rng=rng, dtype=np.float64),
    )
    x = da.from_array(rng.standard_normal((2, 1, 64, 64)), chunks=(1, 1, 8, 8))
    y = tiled.apply(net, x)
    ratio = len(y.__dask_graph__()) / len(x.map_blocks(np.negative).__dask_graph__())
    overlap = len(x.map_overlap(np.negative, depth=(0, 0, 4, 4), boundary="none").__dask_graph__())
    assert ratio <= 1.01, ratio
    assert overlap / len(x.map_blocks(np.negative).__dask_graph__()) > 2 * ratio
    assert_close(y.compute(scheduler="synchronous"), net(x.compute()))


def test_halo_wider_than_a_chunk_reads_further_blocks():
    rng = np.random.default_rng(6)
    net = nn.Sequential(nn.Conv2d(1, 1, 7, padding=3, dilation=2, rng=rng, dtype=np.float64))
    x = rng.standard_normal((1, 1, 30, 30))
    y = tiled.apply(net, da.from_array(x, chunks=(1, 1, 3, 30)))
    assert_close(y.compute(scheduler="synchronous"), net(x))


@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("model", "array", "exc", "match"),
    [
        (
            "conv",
            da.zeros((1, 1, 4, 4)),
            TypeError,
            r"model_or_op: expected a cnnmath.nn.Module \(a model or a layer\), got str",
        ),
        (
            nn.Sequential(nn.ReLU()),
            np.zeros((1, 1, 4, 4)),
            TypeError,
            r"array: expected a dask.array.Array, got ndarray; wrap",
        ),
        (
            nn.Sequential(nn.ReLU()),
            da.zeros((4, 4)),
            ValueError,
            r"expected shape \(N, C, H, W\) or \(C, H, W\)",
        ),
        (
            nn.Sequential(nn.ReLU()),
            da.zeros((1, 4, 4), dtype=int),
            TypeError,
            "expected dtype float32 or float64, got int64",
        ),
        (
            nn.Sequential(nn.Conv2d(1, 1, 3)),
            da.zeros((1, 1, 4, 4)),
            TypeError,
            "expected the model's dtype float32, got float64",
        ),
        (  # a layer whose geometry tiles cannot follow: named by node, as tiled.apply's
            nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.ConvTranspose2d(1, 1, 2)),
            da.zeros((1, 1, 8, 8), dtype=np.float32),
            ValueError,
            r"^tiled\.apply: model: node '2' \(ConvTranspose2d\): ConvTranspose2d upsamples",
        ),
        (  # buffers only: the running statistics' dtype
            nn.BatchNorm2d(1, affine=False).eval(),
            da.zeros((1, 1, 4, 4)),
            TypeError,
            "expected the model's dtype float32, got float64",
        ),
        (
            nn.Sequential(nn.Conv2d(2, 1, 3, dtype=np.float64)),
            da.zeros((1, 1, 4, 4)),
            ValueError,
            "expected 2 channels",
        ),
        (  # H and W split: tiles (whole images per chunk run it: test_tiled_whole_images)
            nn.Sequential(nn.Conv2d(1, 1, 3, dtype=np.float64), nn.Flatten()),
            da.zeros((1, 1, 4, 4), chunks=(1, 1, 2, 2)),
            ValueError,
            r"node '1' \(Flatten\) reads the whole image",
        ),
        (  # no running statistics: it normalises by the batch's even in eval mode
            nn.Sequential(
                nn.Conv2d(1, 2, 3, dtype=np.float64),
                nn.BatchNorm2d(2, track_running_stats=False, dtype=np.float64),
            ).eval(),
            da.zeros((1, 1, 12, 12), chunks=(1, 1, 6, 6)),
            ValueError,
            r"node '1' \(BatchNorm2d\) reads the whole image",
        ),
    ],
)
def test_bad_input(model, array, exc, match):
    with pytest.raises(exc, match=match):
        tiled.apply(model, array)


def residual_block(rng, c, stride, dtype):
    """ResNet's basic block as a Graph (conv-ReLU-conv plus an identity or strided 1×1
    shortcut, summed, ReLU): the two paths have different halos."""
    g = nn.Graph()
    g.add(nn.Conv2d(c, c, 3, stride=stride, padding=1, rng=rng, dtype=dtype), "x", name="conv1")
    g.add(nn.ReLU(), "conv1", name="relu1")
    g.add(nn.Conv2d(c, c, 3, padding=1, rng=rng, dtype=dtype), "relu1", name="conv2")
    shortcut = "x"
    if stride > 1:
        g.add(nn.Conv2d(c, c, 1, stride=stride, rng=rng, dtype=dtype), "x", name="down")
        shortcut = "down"
    g.add(nn.Add(), "conv2", shortcut, name="add")
    g.add(nn.ReLU(), "add", name="relu2")
    g.set_output("relu2")
    return g


def resnet_case(seed):
    """A stem (7×7 stride-2 conv, 3×3 stride-2 max pool) and two random basic blocks:
    (tiled result, still lazy; witness; dtype)."""
    rng = np.random.default_rng(1000 + seed)
    dtype = np.float64 if seed % 3 else np.float32
    net = nn.Sequential(
        nn.Conv2d(2, 3, 7, stride=2, padding=3, rng=rng, dtype=dtype),
        nn.MaxPool2d(3, 2, 1),
        residual_block(rng, 3, int(rng.integers(1, 3)), dtype),
        residual_block(rng, 3, int(rng.integers(1, 3)), dtype),
    )
    size = (int(rng.integers(40, 70)), int(rng.integers(40, 70)))
    x = rng.standard_normal((1, 2, *size)).astype(dtype)
    return (*tiled_and_whole(net, x, rng), dtype)


def tiled_and_whole(net, x, rng):
    """(``tiled.apply`` of net on x chunked one image at a time and at random along H and W,
    still lazy; the witness net(x))."""
    chunks = (1, x.shape[1], random_chunks(rng, x.shape[2]), random_chunks(rng, x.shape[3]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiled.TiledRechunkWarning)
        y = tiled.apply(net, da.from_array(x, chunks=chunks))
    return y, net(x)


@pytest.mark.parametrize("seed", RESNET_SEEDS)
def test_resnet_blocks_tiled_equal_whole(seed):
    y, want, dtype = resnet_case(seed)
    assert_equal_to_whole(y.compute(scheduler="synchronous"), want, dtype)


# ---------------------------------------------------------------------------------------------
# The same seeded cases on a LocalCluster of two single-threaded worker processes

BATCH = 11  # cases per client.compute: one graph submission, both workers busy
CLUSTER_BATCHES = [
    *(("random", RANDOM_SEEDS[i : i + BATCH]) for i in range(0, len(RANDOM_SEEDS), BATCH)),
    ("resnet", RESNET_SEEDS),
]


def test_the_cluster_runs_at_least_100_seeded_cases_on_two_worker_processes(cluster_client):
    assert sum(len(seeds) for _, seeds in CLUSTER_BATCHES) >= 100
    pids = cluster_client.run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values()
    assert set(cluster_client.nthreads().values()) == {1}


@pytest.mark.parametrize(
    ("kind", "seeds"),
    CLUSTER_BATCHES,
    ids=[f"{k}{s.start}-{s.stop - 1}" for k, s in CLUSTER_BATCHES],
)
def test_tiled_equals_whole_on_a_local_cluster_of_processes(cluster_client, kind, seeds):
    cases = [(random_case if kind == "random" else resnet_case)(seed) for seed in seeds]
    futures = cluster_client.compute([y for y, _, _ in cases])
    results = cluster_client.gather(futures)
    for seed, got, (_, want, dtype) in zip(seeds, results, cases):
        try:
            assert_equal_to_whole(got, want, dtype)
        except AssertionError as exc:
            raise AssertionError(f"{kind} seed {seed}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# tiled.stream: a collection of images, one task each


def collection(folder, count, rng, shapes=((1, 9, 11), (1, 12, 8))):
    paths = []
    for k in range(count):
        x = rng.standard_normal(shapes[k % len(shapes)])
        path = folder / f"img{k:02d}.npy"
        np.save(path, x)
        paths.append(path)
    return paths


def small_net(rng):
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def test_stream_gives_every_image_its_own_output_in_order(tmp_path):
    rng = np.random.default_rng(20)
    paths = collection(tmp_path, 9, rng)
    net = small_net(rng)
    got = list(tiled.stream(net, (str(p) for p in paths), window=3))
    assert [p for p, _ in got] == [str(p) for p in paths]
    for path, y in got:
        assert_close(y, net(np.load(path)[None])[0])


def test_stream_reads_the_collection_no_further_ahead_than_its_window(tmp_path):
    paths = collection(tmp_path, 10, np.random.default_rng(21))
    read = []

    def lazily():
        for p in paths:
            read.append(p)
            yield p

    results = tiled.stream(small_net(np.random.default_rng(0)), lazily(), window=2)
    next(results)
    assert len(read) == 2  # the first two submitted, the first one yielded
    next(results)
    assert len(read) == 3
    assert len(list(results)) == 8


def test_stream_on_a_local_cluster_of_processes(cluster_client, tmp_path):
    rng = np.random.default_rng(22)
    paths = collection(tmp_path, 7, rng)
    net = small_net(rng)
    got = dict(tiled.stream(net, paths, scheduler=cluster_client))
    assert sorted(got) == sorted(map(str, paths))
    for path, y in got.items():
        assert_close(y, net(np.load(path)[None])[0])


def test_stream_names_the_image_that_failed(tmp_path):
    paths = collection(tmp_path, 3, np.random.default_rng(23))
    missing = tmp_path / "missing.npy"
    with pytest.raises(RuntimeError, match=r"image '.*missing.npy' failed: FileNotFoundError"):
        list(tiled.stream(small_net(np.random.default_rng(0)), [*paths, missing]))
    with pytest.raises(ValueError, match=r"window: expected an int >= 1, got 0"):
        list(tiled.stream(small_net(np.random.default_rng(0)), paths, window=0))


def test_no_output_block_is_empty():
    # 4 × 4 pooling, chunks of 4 and 5 on 23 × 19: the last chunks hold no whole window
    x = np.random.default_rng(0).standard_normal((1, 1, 23, 19))
    net = nn.MaxPool2d(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiled.TiledRechunkWarning)
        y = tiled.apply(net, da.from_array(x, chunks=(1, 1, 4, 5)))
    assert 0 not in y.chunks[2] + y.chunks[3]
    assert y.chunks[2:] == ((1, 1, 1, 1, 1), (1, 1, 2))
    assert float(y.max().compute(scheduler="synchronous")) == net(x).max()
    assert np.array_equal(y.compute(scheduler="synchronous"), net(x))


@pytest.mark.parametrize("size", [5, 6, 11, 12])
def test_ceil_mode_window_overhanging_the_input(size):
    # kernel 4 dilated by 2 spans 7 > 5: with ceil_mode the window that starts inside the
    # input still counts, so a 5 × 5 input gives one output (PyTorch's rule)
    net = nn.MaxPool2d(4, stride=3, dilation=2, ceil_mode=True)
    x = np.random.default_rng(size).standard_normal((1, 1, size, size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiled.TiledRechunkWarning)
        y = tiled.apply(net, da.from_array(x, chunks=(1, 1, 3, 4)))
    assert np.array_equal(y.compute(scheduler="synchronous"), net(x))


def _self_concat(dim):
    g = nn.Graph()
    g.add(nn.Conv2d(2, 2, 3, padding=1, rng=0, dtype=np.float64), "x", name="conv")
    g.add(nn.Concat(dim=dim), "conv", "x", name="cat")
    g.set_output("cat")
    return g


@pytest.mark.parametrize("dim", [0, 2, 3, -1, -2])
def test_concat_off_the_channels_is_refused(dim):
    """A Concat along the batch or a spatial axis does not keep pixels in place: its output
    is not tiles of its inputs' tiles, so it is refused instead of giving a wrong shape."""
    g = _self_concat(dim)
    x = np.arange(32, dtype=np.float64).reshape(1, 2, 4, 4)
    assert g(x).shape[dim % 4] == (2 if dim % 4 == 0 else 8)  # it runs untiled
    with pytest.raises(ValueError, match=rf"'cat' \(Concat\(dim={dim}\)\) joins inputs of"):
        receptive_field(g, x.shape)
    with pytest.raises(ValueError, match=rf"Concat\(dim={dim}\)"):
        tiled.apply(g, da.from_array(x, chunks=(1, 2, 2, 2)))


@pytest.mark.parametrize("dim", [1, -1])
def test_a_feature_concat_after_flatten_is_pointwise(dim):
    """Concat along the features of (B, F) values (torch.cat(..., dim=-1) after a Flatten)
    keeps every value in place: its field is the whole input, its shape the sum."""
    g = nn.Graph()
    g.add(nn.Flatten(), "x", name="flat")
    g.add(nn.Concat(dim=dim), "flat", "flat", name="cat")
    g.set_output("cat")
    out = receptive_field(g, (2, 3, 3)).output
    assert out.shape == g(np.zeros((1, 2, 3, 3))).shape[1:] == (36,) and out.whole


@pytest.mark.parametrize("dim", [1, -3])
def test_channel_concat_tiles_exactly(dim):
    g = _self_concat(dim)
    x = np.random.default_rng(0).standard_normal((1, 2, 9, 7))
    y = tiled.apply(g, da.from_array(x, chunks=(1, 2, 4, 3)))
    assert y.shape == (1, 4, 9, 7)
    assert_close(y.compute(scheduler="synchronous"), g(x))


# ---------------------------------------------------------------------------------------------
# ConvNeXt: blocks that run channels-last between two Permutes


def convnext_trunk(rng, dtype):
    """ConvNeXt's spatial part in small: its stem (4×4 stride-4 conv, LayerNorm2d), two
    CNBlocks (7×7 depthwise conv, Permute to (N, H, W, C), LayerNorm, Linear, GELU, Linear,
    Permute back, layer scale, residual), a downsample (LayerNorm2d, 2×2 stride-2 conv) and a
    third block; layer scales of 1 (torchvision's 1e-6 would hide the blocks)."""
    from cnnmath.models.convnext import CNBlock

    def block(c):
        b = CNBlock(c, 1.0, 0.0, rng=rng, dtype=dtype)
        for p in b.parameters():  # a random, not a fresh, LayerNorm and bias
            p.data[...] = rng.standard_normal(p.data.shape) * 0.5 + (
                p.data if p.data.ndim == 1 else 0
            )
        return b

    return nn.Sequential(
        nn.Conv2d(2, 6, 4, stride=4, rng=rng, dtype=dtype),
        nn.LayerNorm2d(6, dtype=dtype),
        block(6),
        block(6),
        nn.LayerNorm2d(6, dtype=dtype),
        nn.Conv2d(6, 8, 2, stride=2, rng=rng, dtype=dtype),
        block(8),
    ).eval()


@pytest.mark.parametrize("seed", range(4))
def test_convnext_blocks_tiled_equal_whole(seed):
    rng = np.random.default_rng(2000 + seed)
    dtype = np.float64 if seed % 2 else np.float32
    net = convnext_trunk(rng, dtype)
    size = (int(rng.integers(90, 140)), int(rng.integers(90, 140)))
    x = rng.standard_normal((2, 2, *size)).astype(dtype)
    y, want = tiled_and_whole(net, x, rng)
    assert len(y.chunks[2]) * len(y.chunks[3]) > 1  # tiles, not one block
    assert_equal_to_whole(y.compute(scheduler="synchronous"), want, dtype)


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        ([nn.Permute((0, 2, 3, 1))], r"output .* is channels-last"),
        (
            [nn.Permute((0, 1, 3, 2))],
            r"node '0' \(Permute\(dims=\[0, 1, 3, 2\]\)\) moves a spatial",
        ),
        (
            [nn.Permute((0, 2, 3, 1)), nn.Conv2d(4, 4, 3), nn.Permute((0, 3, 1, 2))],
            r"node '1' \(Conv2d\) runs on a channels-last value",
        ),
        # random masks in training mode: each tile would draw its own
        (
            [nn.Permute((0, 2, 3, 1)), nn.Dropout(0.5), nn.Permute((0, 3, 1, 2))],
            r"node '1' \(Dropout\) in training mode draws a random mask",
        ),
        (
            [nn.Conv2d(4, 4, 1), nn.StochasticDepth(0.5, "row")],
            r"node '1' \(StochasticDepth\).* in training mode draws a random mask",
        ),
    ],
)
def test_permutes_that_do_not_keep_pixels_in_place_are_refused(layers, match):
    x = da.zeros((1, 4, 12, 12), chunks=(1, 4, 6, 6), dtype=np.float32)
    with pytest.raises(ValueError, match=match):
        tiled.apply(nn.Sequential(*layers), x)


@pytest.mark.parametrize("seed", range(2))
def test_rms_norm_over_each_pixels_channels_tiles_as_the_whole_image(seed):
    """A channels-last RMSNorm(C) between the two Permutes (a modern block's normalisation) is
    pointwise: tiled equal to whole; RMSNorm over (C, H, W) is global and refused."""
    rng = np.random.default_rng(3000 + seed)
    dtype = np.float64 if seed % 2 else np.float32
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, rng=rng, dtype=dtype),
        nn.Permute((0, 2, 3, 1)),
        nn.RMSNorm(4, dtype=dtype),
        nn.Linear(4, 4, rng=rng, dtype=dtype),
        nn.Permute((0, 3, 1, 2)),
        nn.Conv2d(4, 2, 3, padding=1, rng=rng, dtype=dtype),
    ).eval()
    net[2].weight.data[...] = rng.uniform(0.5, 1.5, 4)
    x = rng.standard_normal((2, 2, 70, 90)).astype(dtype)
    y, want = tiled_and_whole(net, x, rng)
    assert len(y.chunks[2]) * len(y.chunks[3]) > 1
    assert_equal_to_whole(y.compute(scheduler="synchronous"), want, dtype)
    whole = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=dtype), nn.RMSNorm((4, 70, 90)))
    with pytest.raises(ValueError, match=r"rms_norm's statistics run over the whole image"):
        tiled.apply(whole, da.from_array(x, chunks=(2, 2, 35, 45)))
