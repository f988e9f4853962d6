"""receptive_field against the empirical field: the support of the gradient of one output
pixel, computed by the real layers' backward passes with positive weights and inputs (so no
term cancels and no ReLU is dead), on random stacks and on the models of cnnmath.models."""

import numpy as np
import pytest

from cnnmath import models, nn
from cnnmath.receptive import receptive_field

# non-saturating on positive inputs: a saturated tanh's derivative 1 − tanh² rounds to 0
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.SiLU, nn.Identity)


def random_stack(rng, channels=3, size=40):
    """A Sequential of 2-6 convolutions and poolings with random geometry (strides,
    dilations, paddings, 'same'), activations between; every output at least 2×2."""
    layers, c, n = [], channels, size
    for _ in range(rng.integers(2, 7)):
        kind = rng.choice(["conv", "conv", "max", "avg"])
        if kind == "conv":
            k, s, d = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
            p = "same" if s == 1 and rng.random() < 0.3 else int(rng.integers(0, k // 2 + 2))
            out = int(rng.integers(3, 7))
            layer = nn.Conv2d(c, out, k, stride=s, padding=p, dilation=d, rng=rng, dtype=np.float64)
        else:
            k = int(rng.integers(1, 4))
            s, p = int(rng.integers(1, 4)), int(rng.integers(0, k // 2 + 1))
            layer = (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(k, stride=s, padding=p)
            out = c
        trial = nn.Sequential(*layers, layer)
        try:
            shape = receptive_field(trial, (c, n, n)).output.shape
        except ValueError:  # the window outgrew the input: stop here
            break
        if shape[1] < 2:
            break
        layers.append(layer)
        c = out
        if rng.random() < 0.6:
            layers.append(ACTIVATIONS[rng.integers(len(ACTIVATIONS))]())
    return nn.Sequential(*layers)


def positive_weights(model, rng):
    """Positive weights, scaled by 1/fan-in."""
    for p in model.parameters():
        fan_in = np.prod(p.data.shape[1:]) if p.data.ndim > 1 else 1
        p.data[...] = rng.uniform(0.5, 1.0, p.data.shape) / fan_in


def empirical_boxes(prefix, input_shape, pixels, rng, trials):
    """For each output pixel (i, j): the bounding box (rows, cols, inclusive; None when
    empty) of the union over ``trials`` random positive inputs of the support of
    ∂y[:, i, j]/∂x — every channel of the pixel (the field does not depend on the channel,
    and each channel routes max pooling through its own argmax, so the union reaches every
    position a window can pick). One batch holds every (pixel, trial) pair."""
    batch = len(pixels) * trials
    # heavy-tailed positive inputs: one large pixel dominates its neighbourhood, so every
    # position of a max-pooling window wins for some input (with uniform inputs the windows
    # at a zero-padded edge would systematically lose)
    x = rng.lognormal(0.0, 3.0, (batch, *input_shape))
    y = prefix(x)
    g = np.zeros_like(y)
    for b in range(batch):
        i, j = pixels[b // trials]
        if y.ndim == 4:
            g[b, :, i, j] = 1.0
        else:
            g[b, :] = 1.0
    support = (prefix.backward(g) != 0).any(axis=1).reshape(len(pixels), trials, *input_shape[1:])
    boxes = []
    for hit in support.any(axis=1):
        rows, cols = np.nonzero(hit.any(axis=1))[0], np.nonzero(hit.any(axis=0))[0]
        boxes.append(((rows.min(), rows.max()), (cols.min(), cols.max())) if rows.size else None)
    return boxes


def check_every_layer(model, input_shape, rng, trials=12):
    """Every layer's field against the empirical one, at the corners and the central pixel.

    Where output pixel i's field lies inside the image, the support's bounding box must be
    the field exactly (its ends are reached by the chain of extreme taps, every position of
    which lies inside its layer). Where the field reaches past the image the support must
    lie within it (it may be smaller: a dilated kernel's gap, or padding, can straddle the
    border). Returns the number of exact comparisons."""
    fields = receptive_field(model, input_shape)
    assert len(fields) == len(list(model.walk())) + 1
    exact = 0
    for k, field in enumerate(fields[1:]):
        prefix = model[: k + 1]
        pooled = any(isinstance(m, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) for m in prefix)
        if len(field.shape) == 3 and not field.whole:
            h, w = field.shape[1:]
            centre = tuple(
                int(
                    np.clip(
                        round(((input_shape[a + 1] - 1) / 2 - field.start[a]) / field.jump[a]),
                        0,
                        n - 1,
                    )
                )
                for a, n in enumerate((h, w))
            )
            pixels = sorted({(0, 0), (h - 1, w - 1), centre})
        else:
            pixels = [(0, 0)]
        boxes = empirical_boxes(prefix, input_shape, pixels, rng, trials if pooled else 1)
        for pixel, got in zip(pixels, boxes):
            want = tuple(field.interval(pixel[a], a) for a in range(2))
            inside = all(0 <= lo and hi < input_shape[a + 1] for a, (lo, hi) in enumerate(want))
            where = (k, type(prefix[k]).__name__, pixel, got, want, str(fields))
            if inside:
                assert got == want, where
                exact += 1
            elif got is not None:  # None: the field lies wholly in the padding
                assert all(
                    lo <= g_lo and g_hi <= hi for (g_lo, g_hi), (lo, hi) in zip(got, want)
                ), where
    return exact


@pytest.mark.parametrize("seed", range(24))
def test_random_stacks_match_gradient_support(seed):
    rng = np.random.default_rng(seed)
    model = random_stack(rng)
    positive_weights(model, rng)
    assert check_every_layer(model, (3, 40, 40), rng) >= 2


SEQUENTIAL_MODELS = ["lenet"]  # flat Sequentials taking (1, 8, 8): checked layer by layer


@pytest.mark.parametrize("name", SEQUENTIAL_MODELS)
def test_every_layer_of_the_models_matches_gradient_support(name):
    rng = np.random.default_rng(1)
    model = getattr(models, name)(dtype=np.float64)
    model.eval()
    positive_weights(model, rng)
    assert check_every_layer(model, (1, 8, 8), rng, trials=12) > 0


def _trunk_prefixes(name):
    """The feature extractor of a torchvision-layout model, cut after a few stages (sharing
    the model's modules): ResNet after its stem, layer1 and layer2 (later fields outgrow any
    image small enough for a quick test, where only containment could be checked);
    MobileNetV2 after features.1, .3, .6, .13 and .18; ConvNeXt-T after its stem and its
    first stage (whose blocks run channels-last between two Permutes). Each prefix ends in a
    4-D feature map,
    so its field is finite; each costs a float64 forward + backward."""
    model = getattr(models, name)(dtype=np.float64).eval()
    if name.startswith("resnet"):
        stages = [model.conv1, model.bn1, model.relu, model.maxpool]
        stages += [model.layer1, model.layer2, model.layer3, model.layer4]
        cuts = (4, 5, 6)
    elif name.startswith("convnext"):  # the stem, then its first stage of three blocks
        stages = list(model.features)
        cuts = (1, 2)
    else:
        stages = list(model.features)
        cuts = (2, 4, 7, 14, 19)
    return model, [nn.Sequential(*stages[:k]) for k in cuts]


@pytest.mark.parametrize(
    ("name", "size", "trials"),
    [("resnet18", 112, 12), ("mobilenet_v2", 64, 4), ("convnext_tiny", 96, 2)],
)
def test_torchvision_models_fields_match_gradient_support(name, size, trials):
    """Issue 14: the fields printed for resnet18 and mobilenet_v2 are the empirical ones —
    exactly where a field fits in the image, containing the support where it reaches past.
    (Max pooling routes each window's gradient to one winner, so ResNet needs more random
    draws than MobileNetV2, which has none, for the support to reach every tap.)"""
    rng = np.random.default_rng(7)
    model, prefixes = _trunk_prefixes(name)
    positive_weights(model, rng)
    shape = (3, size, size)
    exact = 0
    for prefix in prefixes:
        field = receptive_field(prefix, shape).output
        h, w = field.shape[1:]
        centre = tuple(
            int(np.clip(round(((size - 1) / 2 - field.start[a]) / field.jump[a]), 0, n - 1))
            for a, n in enumerate((h, w))
        )
        pixels = [centre]  # the centre's field fits the image longest
        boxes = empirical_boxes(prefix, shape, pixels, rng, trials=trials)
        for pixel, got in zip(pixels, boxes):
            want = tuple(field.interval(pixel[a], a) for a in range(2))
            inside = all(0 <= lo and hi < size for lo, hi in want)
            if inside:
                assert got == want, (name, len(prefix), pixel, got, want)
                exact += 1
            else:
                assert got is not None and all(
                    lo <= g_lo and g_hi <= hi for (g_lo, g_hi), (lo, hi) in zip(got, want)
                ), (name, len(prefix), pixel, got, want)
    assert exact >= min(3, len(prefixes))  # these fit the image: compared exactly


def test_resnet_stem_field_is_eleven():
    """The stem of ResNet (7×7 stride-2 convolution, 3×3 stride-2 max pooling, paddings 3
    and 1): the literature's 11-pixel field, jump 4, centred on output 0's pixel 0."""
    stem = nn.Sequential(nn.Conv2d(3, 8, 7, stride=2, padding=3), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    out = receptive_field(stem, (1, 3, 224, 224)).output
    assert (out.size, out.jump, out.start, out.shape) == ((11, 11), (4, 4), (0, 0), (8, 56, 56))


def test_asymmetric_kernels_and_half_integer_start():
    layer = nn.Conv2d(1, 1, (2, 5), stride=(1, 3), padding=(0, 1))
    out = receptive_field(nn.Sequential(layer), (1, 9, 9)).output
    assert out.size == (2, 5) and out.jump == (1, 3) and out.start == (0.5, 1.0)
    assert out.interval(0, 0) == (0, 1) and out.interval(2, 1) == (5, 9)


def test_table_lists_every_node():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten())
    text = str(receptive_field(model, (1, 5, 5)))
    lines = text.splitlines()
    assert lines[0].split() == ["node", "layer", "output", "shape", "size", "jump", "start"]
    assert [ln.split()[1] for ln in lines[1:]] == ["-", "Conv2d", "ReLU", "Flatten"]
    assert "(whole)" in lines[-1] and "(whole)" not in lines[-2]
    assert repr(receptive_field(model, (1, 5, 5))) == text


def test_lookup_by_name():
    fields = receptive_field(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)), (1, 6, 6))
    assert fields["1"] is fields[2] is fields.output
    with pytest.raises(KeyError, match="no node named '7'"):
        fields["7"]


@pytest.mark.parametrize(
    ("model", "shape", "exc", "match"),
    [
        (
            nn.Sequential(nn.Conv2d(1, 1, 3)),
            (5, 5),
            ValueError,
            r"input_shape: expected \(C, H, W\)",
        ),
        (nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 0, 5), ValueError, r"input_shape\[1\]"),
        (nn.Sequential(nn.Conv2d(1, 1, 7)), (1, 5, 5), ValueError, "outgrows its input of size 5"),
        (nn.Sequential(nn.Dropout(0.5)), (1, 5, 5), ValueError, r"call model.eval\(\)"),
        ("conv", (1, 5, 5), TypeError, "model: expected a cnnmath.nn.Module, got str"),
        (
            nn.Sequential(nn.Upsample(scale_factor=2, mode="bicubic")),
            (1, 5, 5),
            ValueError,
            r"Upsample upsamples \(a fractional jump\)",
        ),
    ],
)
def test_bad_input(model, shape, exc, match):
    with pytest.raises(exc, match=match):
        receptive_field(model, shape)


def test_unknown_layer_is_named():
    class Warp(nn.Module):
        def forward_ctx(self, x):
            return x[..., ::-1], None

    with pytest.raises(ValueError, match="got Warp; its receptive field is unknown"):
        receptive_field(nn.Sequential(Warp()), (1, 4, 4))


def residual_block(rng, c, stride, dtype=np.float64):
    """ResNet's basic block as a Graph: conv3×3(stride) → ReLU → conv3×3, plus a shortcut
    (identity, or a strided 1×1 convolution), summed, then ReLU."""
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


def test_residual_graph_is_the_union_over_paths():
    """Stem and two residual blocks: the output's field against the gradient support of the
    whole graph (its backward adds the two paths' terms), at interior pixels."""
    rng = np.random.default_rng(9)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 5, stride=2, padding=2, rng=rng, dtype=np.float64),
        nn.MaxPool2d(3, 2, 1),
        residual_block(rng, 3, 1),
        residual_block(rng, 3, 2),
    )
    positive_weights(model, rng)
    fields = receptive_field(model, (2, 72, 72))
    out = fields.output
    # r = 5, then + (f − 1)·j per layer on the longest path: pool 2·2, block 1 2·4 + 2·4,
    # block 2 2·4 (its stride-2 conv, at the old jump) + 2·8
    r = 5 + 2 * 2 + 2 * 4 + 2 * 4 + 2 * 4 + 2 * 8
    assert (out.size, out.jump, out.start) == ((r, r), (8, 8), (0, 0))
    assert fields["2.add"].size == fields["2.conv2"].size  # the identity path lies inside
    pixels = [(3, 3), (3, 4), (4, 3)]
    for pixel, got in zip(pixels, empirical_boxes(model, (2, 72, 72), pixels, rng, 12)):
        want = tuple(out.interval(pixel[a], a) for a in range(2))
        assert all(0 <= lo and hi < 72 for lo, hi in want)
        assert got == want, (pixel, got, want)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_output_size_is_pytorchs_pooling_size(ceil_mode):
    torch = pytest.importorskip("torch")
    from cnnmath.receptive import AxisWindow

    checked = 0
    for n in range(1, 10):
        for k in range(1, 5):
            for s in range(1, 4):
                for d in range(1, 3):
                    for p in range(0, k // 2 + 1):
                        window = AxisWindow(k, s, p, p, d, ceil_mode)
                        x = torch.zeros(1, 1, n, 1)
                        try:
                            want = torch.nn.functional.max_pool2d(
                                x, (k, 1), (s, 1), (p, 0), (d, 1), ceil_mode
                            ).shape[2]
                        except RuntimeError:  # PyTorch refuses: the window outgrows the input
                            want = 0
                        assert window.output_size(n) == want, (n, k, s, d, p)
                        checked += want == 1 and n < d * (k - 1) + 1 - 2 * p
    assert checked > 0 if ceil_mode else checked == 0  # windows longer than the padded input


def test_batch_norm_without_running_statistics_reads_the_whole_image():
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, dtype=np.float64),
        nn.BatchNorm2d(2, track_running_stats=False, dtype=np.float64),
    ).eval()
    assert receptive_field(net, (1, 12, 12))[-1].whole
    assert not receptive_field(nn.Sequential(net[0], nn.BatchNorm2d(2)).eval(), (1, 12, 12))[
        -1
    ].whole


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "mobilenet_v2", "convnext_tiny"])
def test_every_printed_shape_is_the_computed_one(name):
    """Each node's output shape in the table is the shape its value has when the model's
    walk is run node by node (ResNet-20's option-A shortcuts add channels: 16 → 32;
    ConvNeXt's channels-last values inside its blocks are (H, W, C))."""
    model = getattr(models, name)().eval()
    shape = (3, 32, 32)
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    env = {"x": x}
    fields = receptive_field(model, shape)
    for node in model.walk():
        env[node.output] = node.module(*(env[v] for v in node.inputs))
        assert fields[node.name].shape == env[node.output].shape[1:], node.name


def test_prelu_and_batch_norm_1d_are_pointwise():
    """PReLU (one slope per channel) and BatchNorm1d in evaluation (running statistics) act
    value by value: their fields are their inputs', checked against the gradient's support;
    before, both were refused as unknown and blanked summary's field column."""
    rng = np.random.default_rng(3)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64),
        nn.PReLU(3, dtype=np.float64),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 2, 3, dtype=np.float64),
        nn.Flatten(),
        nn.Linear(2 * 4 * 4, 5, dtype=np.float64),
        nn.BatchNorm1d(5, dtype=np.float64),
    ).eval()
    positive_weights(model, rng)
    assert check_every_layer(model, (2, 12, 12), rng) >= 2
    fields = receptive_field(model, (2, 12, 12))
    assert fields["1"].size == fields["0"].size == (3, 3)
    assert fields["6"].whole and fields["6"].shape == (5,)


@pytest.mark.parametrize("output_size", [(None, 3), (2, None), (None, None)])
def test_adaptive_pooling_keeps_the_sizes_given_as_none(output_size):
    """AdaptiveAvgPool2d((None, k)) keeps the input's height: the printed shape is the one
    the forward pass gives (it raised a TypeError in receptive_field and summary)."""
    from cnnmath.summary import summary

    net = nn.Sequential(nn.Conv2d(1, 2, 3, dtype=np.float64), nn.AdaptiveAvgPool2d(output_size))
    y = net(np.zeros((1, 1, 10, 8)))  # pooled from 8×6: the sizes divide (exact windows)
    assert receptive_field(net, (1, 10, 8))["1"].shape == y.shape[1:]
    assert f"{'×'.join(map(str, y.shape))}" in str(summary(net, (1, 1, 10, 8)))


@pytest.mark.parametrize(
    ("pool", "input_shape"),
    [
        (nn.AdaptiveAvgPool2d((2, 4)), (2, 10, 14)),  # of 8×12: windows 4×3, stride 4×3
        (nn.AdaptiveAvgPool2d((8, 12)), (2, 10, 14)),  # the identity
        (nn.AdaptiveMaxPool2d((4, None)), (2, 18, 12)),  # of 16×10: windows 4×1
        (nn.AdaptiveAvgPool2d(1), (2, 10, 14)),  # the whole image
        (nn.AdaptiveAvgPool2d(6), (2, 9, 9)),  # 7 into 6: windows of 2 at steps of 1
        (nn.AdaptiveMaxPool2d((3, 6)), (2, 9, 15)),  # 7 into 3: 3 at steps of 2; 13 into 6
    ],
    ids=["avg-2x4", "avg-identity", "max-4xNone", "avg-1", "avg-7to6", "max-7to3-13to6"],
)
def test_adaptive_pooling_fields_match_gradient_support(pool, input_shape):
    """Adaptive pooling's fields are PyTorch's windows (⌊i·n/k⌋ … ⌈(i+1)·n/k⌉ − 1), not the
    whole image: a 2×4 pool of 8×12 reads 4×3 blocks. Checked against the gradient's support
    at the corners and the centre, through a convolution before and after."""
    rng = np.random.default_rng(11)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, dtype=np.float64),
        nn.ReLU(),
        pool,
        nn.Conv2d(3, 2, 1, dtype=np.float64),
    ).eval()
    positive_weights(model, rng)
    fields = receptive_field(model, input_shape)
    assert fields["2"].whole == (pool.output_size == 1)
    assert check_every_layer(model, input_shape, rng, trials=12) >= (2 if fields["2"].whole else 8)


def test_adaptive_pooling_to_one_row_reads_whole_columns():
    """(1, 3) of the 8×12 map of a 3×3 convolution on 10×14: the height's field is the whole
    image (10 rows, jump 0, centred at 4.5), the width's windows 4 wide (3 + 3 = 6 columns,
    jump 4, the first centred at 1 + 1.5)."""
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.AdaptiveAvgPool2d((1, 3)))
    field = receptive_field(model, (2, 10, 14))["1"]
    assert (field.size, field.jump, field.start, field.whole) == (
        (10, 6),
        (0, 4),
        (4.5, 2.5),
        False,
    )


def test_adaptive_pooling_whose_windows_differ_is_refused_with_the_sizes_that_fit():
    """5 positions into 3: PyTorch's windows [0, 2), [1, 4), [3, 5) are 2, 3 and 2 long at
    steps 1 and 2 — no one field; the message names the node and what to change (before:
    "(whole)", which was wrong)."""
    from cnnmath.summary import summary

    net = nn.Sequential(nn.Conv2d(1, 2, 3, dtype=np.float64), nn.AdaptiveAvgPool2d(3))
    with pytest.raises(
        ValueError,
        match=r"node '1' \(AdaptiveAvgPool2d\) pools 5 positions into 3: .* are \[2, 3\] long "
        r"at steps \[1, 2\]",
    ):
        receptive_field(net, (1, 7, 7))
    assert "2×3×3" in str(summary(net, (1, 1, 7, 7)))  # the summary keeps its shapes


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        (
            [nn.Permute([0, 1, 3, 2])],
            r"node '0' \(Permute\(dims=\[0, 1, 3, 2\]\)\) moves a spatial",
        ),
        (
            [nn.Permute([0, 2, 3, 1]), nn.Conv2d(4, 4, 3)],
            r"node '1' \(Conv2d\) runs on a channels-last",
        ),
        ([nn.Permute([0, 2, 3, 1]), nn.LayerNorm([5, 4])], r"node '1' \(LayerNorm\) runs on a"),
        (
            [nn.Permute([0, 2, 3, 1]), nn.Permute([0, 2, 3, 1])],
            r"node '1' \(Permute\(dims=\[0, 2, 3, 1\]\)\) moves a spatial",
        ),
    ],
)
def test_permutes_other_than_channels_last_and_back_are_refused(layers, match):
    with pytest.raises(ValueError, match=match):
        receptive_field(nn.Sequential(*layers), (4, 6, 5))


def test_shufflenet_units_channel_split_fields_match_gradient_support():
    """ShuffleNetV2's units: a stride-2 one, then stride-1 ones that split the channels with
    Narrow(1, …), keep one half and convolve the other. The split is pointwise: the field
    of the output (the union over the kept and the convolved halves) is the support's."""
    from cnnmath.models.shufflenet import InvertedResidual

    rng = np.random.default_rng(11)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, rng=rng, dtype=np.float64),
        InvertedResidual(8, 8, 2, rng=rng, dtype=np.float64),
        InvertedResidual(8, 8, 1, rng=rng, dtype=np.float64),
        InvertedResidual(8, 8, 1, rng=rng, dtype=np.float64),
    ).eval()
    positive_weights(net, rng)
    shape = (3, 40, 40)
    field = receptive_field(net, shape).output
    assert field.shape == (8, 10, 10) and field.size == (23, 23)
    pixel = (5, 5)  # its field, 4·5 ± 11 (size 23, jump 4), rows 9 … 31: inside the image
    (got,) = empirical_boxes(net, shape, [pixel], rng, trials=1)
    want = tuple(field.interval(pixel[a], a) for a in range(2))
    assert all(0 <= lo and hi < 40 for lo, hi in want)
    assert got == want
