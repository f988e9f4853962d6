"""``cnnmath explore``: the record against the model's own forward pass, and the page in a real
headless Chromium — it loads with no console output, shows one panel per layer, a hover
highlights the receptive field that ``receptive_field`` gives (read from the DOM and measured
in a screenshot), and a click recomputes the weighted sum that cnnmath computed."""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnmath import explore, models, nn
from cnnmath.receptive import receptive_field

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)"
)

# (record index of the node, channel, i, j) hovered in the browser: conv, pool, conv, pool,
# and a dense layer (whole input)
HOVERS = [(1, 0, 0, 0), (3, 5, 6, 2), (5, 3, 2, 1), (6, 1, 3, 0), (8, 2, 1, 1), (10, 7, 0, 0)]


@pytest.fixture(scope="module")
def lenet_record():
    model = models.lenet(0, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 1, 8, 8))
    data = explore.explore_data(model, x, labels=["a", "b", "c"], title="lenet, seed 0")
    return model, x, data


@pytest.fixture(scope="module")
def page_file(lenet_record, tmp_path_factory):
    path = tmp_path_factory.mktemp("explore") / "index.html"
    path.write_text(explore.page_html(lenet_record[2]), encoding="utf-8")
    return path


def test_record_holds_every_layer_output_of_the_forward_pass(lenet_record):
    model, x, data = lenet_record
    layers = list(model)
    nodes = data["nodes"]
    assert len(nodes) == 1 + len(layers)
    assert nodes[0]["layer"] == "input" and nodes[0]["shape"] == [1, 8, 8]
    for k in range(1, len(nodes)):
        want = nn.Sequential(*layers[:k])(x)  # the model's own forward, up to layer k
        got = np.array(nodes[k]["values"]).reshape(want.shape)
        assert nodes[k]["shape"] == list(want.shape[1:])
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= 1e-5 * scale  # 6 significant digits
        assert nodes[k]["layer"] == type(layers[k - 1]).__name__
        assert nodes[k]["reads"] == [k - 1]


def test_record_carries_the_weights_and_geometry(lenet_record):
    model, _, data = lenet_record
    conv = data["nodes"][3]["op"]  # layer 2: Conv2d(16, 32, 3, padding=1)
    assert conv["kind"] == "conv" and conv["weight_shape"] == [32, 16, 3, 3]
    assert conv["stride"] == [1, 1] and conv["pad"] == [1, 1] and conv["groups"] == 1
    w = model[2].weight.data
    assert np.abs(np.array(conv["weight"]).reshape(w.shape) - w).max() <= 1e-6 * np.abs(w).max()
    assert data["nodes"][5]["op"]["kind"] == "maxpool"
    assert data["nodes"][12]["op"]["kind"] == "linear"


def test_too_large_a_record_is_refused(monkeypatch):
    monkeypatch.setattr(explore, "MAX_NUMBERS", 1000)
    with pytest.raises(ValueError, match="more than 1,000 numbers"):
        explore.explore_data(models.lenet(0), np.zeros((1, 1, 8, 8), np.float32))


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "action", "data") and value:
                self.urls.append(value)


def test_page_is_self_contained(page_file):
    page = page_file.read_text(encoding="utf-8")
    tags = _Tags()
    tags.feed(page)
    assert tags.urls == []  # nothing loaded: scripts and style are inline
    assert "http://" not in page and "https://" not in page and "url(" not in page
    assert "fetch(" not in page and "XMLHttpRequest" not in page


# ---------------------------------------------------------------------------------------------
# In a real browser


def browse(page: Path, fragment: str, tmp_path: Path, screenshot: Path | None = None):
    """Run headless Chromium on ``page#fragment``; return (DOM or None, console lines)."""
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        "--window-size=1400,1100",
    ]
    args.append(f"--screenshot={screenshot}" if screenshot else "--dump-dom")
    proc = subprocess.run(
        [*args, f"{page.as_uri()}#{fragment}"], capture_output=True, text=True, timeout=120
    )
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return (None if screenshot else proc.stdout), console


def _attr(dom: str, element_id: str, name: str) -> str | None:
    tag = re.search(rf'<[^>]*\bid="{element_id}"[^>]*>', dom)
    assert tag, element_id
    found = re.search(rf'\b{name}="([^"]*)"', tag.group(0))
    return None if found is None else found.group(1)


@needs_browser
def test_page_loads_without_console_output_and_shows_one_panel_per_layer(
    page_file, lenet_record, tmp_path
):
    dom, console = browse(page_file, "", tmp_path)
    assert console == []  # no error, no warning, no log line
    assert 'data-ready="1"' in dom
    assert _attr(dom, "errors", "hidden") is not None  # the error sink stayed hidden
    panels = re.findall(r'class="panel layer" data-node="(\d+)"', dom)
    assert panels == [str(k) for k in range(1, len(list(lenet_record[0])) + 1)]
    assert len(re.findall(r"<button", dom)) == 3  # one per input


def _expected_box(model, k, i, j):
    field = receptive_field(model, (1, 8, 8))[k]
    (top, bottom), (left, right) = field.interval(i, 0), field.interval(j, 1)
    return top, left, bottom, right


@needs_browser
def test_hover_highlights_the_receptive_field(page_file, lenet_record, tmp_path):
    model = lenet_record[0]
    seen = set()
    for k, c, i, j in HOVERS:
        dom, console = browse(page_file, f"hover={k},{c},{i},{j}", tmp_path)
        assert console == []
        assert _attr(dom, "input-panel", "data-hover") == f"{k},{c},{i},{j}"
        got = tuple(int(v) for v in _attr(dom, "input-panel", "data-field").split(","))
        assert got == _expected_box(model, k, i, j), (k, c, i, j)
        seen.add(got)
    assert len(seen) == len(HOVERS)  # each hover moved the highlight to a new region


@needs_browser
def test_the_highlight_drawn_is_the_field(page_file, lenet_record, tmp_path):
    """Screenshots without and with a hover: inside the input canvas, the pixels that change
    form exactly the field's rectangle (clipped to the image)."""
    from PIL import Image, ImageChops

    k, c, i, j = 5, 3, 2, 1  # MaxPool2d unit (2, 1): rows 2..7, columns 0..5
    before, after = tmp_path / "before.png", tmp_path / "after.png"
    browse(page_file, "input=0", tmp_path, screenshot=before)
    dom, _ = browse(page_file, f"hover={k},{c},{i},{j}", tmp_path)
    left, top, px = (float(v) for v in _attr(dom, "input-panel", "data-canvas").split(","))
    browse(page_file, f"hover={k},{c},{i},{j}", tmp_path, screenshot=after)
    box = (int(left), int(top), int(left) + 8 * int(px), int(top) + 8 * int(px))
    with Image.open(before) as a, Image.open(after) as b:
        diff = ImageChops.difference(a.convert("RGB").crop(box), b.convert("RGB").crop(box))
    changed = np.argwhere(np.asarray(diff).max(axis=2) > 0)
    (r0, c0), (r1, c1) = changed.min(axis=0), changed.max(axis=0)
    top_, left_, bottom_, right_ = _expected_box(lenet_record[0], k, i, j)
    p = int(px)
    cell = lambda v: int(v) // p  # noqa: E731
    assert (cell(r0), cell(c0), cell(r1), cell(c1)) == (
        max(top_, 0),
        max(left_, 0),
        min(bottom_, 7),
        min(right_, 7),
    )
    shutil.copy(after, tmp_path / "kept.png")


@needs_browser
def test_click_recomputes_the_weighted_sum(page_file, lenet_record, tmp_path):
    model, x, _ = lenet_record
    k, o, i, j = 3, 4, 0, 5  # node "2": Conv2d(16, 32, 3, padding=1), a border unit
    dom, console = browse(page_file, f"click={k},{o},{i},{j}", tmp_path)
    assert console == []
    assert _attr(dom, "detail", "data-unit") == f"{k},{o},{i},{j}"
    # the witness: the SPEC's sum written here with NumPy on the layer's input
    h = model[1](model[0](x[:1]))[0]  # (16, 8, 8), ReLU of the first convolution
    padded = np.pad(h, ((0, 0), (1, 1), (1, 1)))
    w, b = model[2].weight.data[o], model[2].bias.data[o]
    want = float((w * padded[:, i : i + 3, j : j + 3]).sum() + b)
    assert abs(float(_attr(dom, "detail", "data-sum")) - want) <= 1e-4 * max(1.0, abs(want))
    assert abs(float(_attr(dom, "detail", "data-value")) - want) <= 1e-5 * max(1.0, abs(want))
    assert "input channel 0: kernel w[4,0]" in dom


# ---------------------------------------------------------------------------------------------
# The command


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "cnnmath", "explore", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_cli_default_is_the_trained_digits_network(tmp_path):
    proc = cli("--images", "2", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    index = Path(proc.stdout.strip().splitlines()[-1])
    assert index == tmp_path / explore.DEFAULT_DIR / "index.html"
    page = index.read_text(encoding="utf-8")
    assert f"trained {explore.EPOCHS} epochs with seed 0" in page
    assert "digit 0" in page and "digit 1" in page and "digit 2" not in page
    assert sorted(p.name for p in index.parent.iterdir()) == ["index.html"]  # no temp left


def test_cli_safetensors_needs_arch_and_loads_the_weights(tmp_path):
    pytest.importorskip("safetensors")
    from cnnmath import weights

    model = models.lenet(3)
    weights.save(model, tmp_path / "mine.safetensors")
    proc = cli("mine.safetensors", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2 and "needs --arch" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    proc = cli("mine.safetensors", "--arch", "lenet", "--images", "1", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    data = page.split('id="explore-data">', 1)[1].split("</script>", 1)[0]
    import json

    record = json.loads(data)
    first = np.array(record["nodes"][1]["op"]["weight"])
    assert np.abs(first - model[0].weight.data.ravel()).max() <= 1e-6


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuchnet"], "expected a name of cnnmath.models"),
        (["lenet", "--arch", "lenet"], "only with a .safetensors MODEL"),
        (["--images", "11"], "expected 1 to 10"),
        (["lenet", "--input", "1", "8"], "expected 3 arguments"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_to_overwrite_a_page_it_did_not_write(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<html>my homepage</html>")
    proc = cli("lenet", "-o", "site", cwd=tmp_path)
    assert proc.returncode == 2 and "was not written by cnnmath explore" in proc.stderr
    assert (tmp_path / "site" / "index.html").read_text() == "<html>my homepage</html>"


# ---------------------------------------------------------------------------------------------
# Numbers the page cannot show, files that are no file: refused, naming the argument


def test_nan_or_inf_weights_are_refused_naming_the_tensor():
    model = models.lenet(0)
    model[2].weight.data[0, 0, 0, 0] = np.nan
    model[2].weight.data[1, 0, 0, 0] = np.inf
    x = np.zeros((1, 1, 8, 8), model[0].weight.data.dtype)
    with pytest.raises(ValueError, match=r"^explore: model: tensor '2\.weight' holds 2 NaN or inf"):
        explore.explore_data(model, x)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_outputs_that_overflow_are_refused_naming_the_node():
    conv = nn.Conv2d(1, 1, 3, padding=1, rng=0)
    big = np.finfo(conv.weight.data.dtype).max / 4  # finite, but nine of them sum past the max
    conv.weight.data[...] = big
    x = np.ones((2, 1, 4, 4), conv.weight.data.dtype)
    with pytest.raises(ValueError, match=r"node '0' \(Conv2d\) computes NaN or inf for 'input 1'"):
        explore.explore_data(nn.Sequential(conv), x)


def _explore(capsys, *args):
    from cnnmath.cli import main

    status = main(["explore", *map(str, args)])
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1, out
    return status, out.err


def test_cli_nan_weights_are_one_line_naming_model_and_tensor(tmp_path, capsys):
    pytest.importorskip("safetensors")
    from cnnmath import weights

    state = models.lenet(0).state_dict()
    state["0.weight"] = np.full_like(state["0.weight"], np.nan)
    weights.save(state, tmp_path / "nan.safetensors")
    path = tmp_path / "nan.safetensors"
    status, err = _explore(capsys, path, "--arch", "lenet", "-o", tmp_path / "out")
    assert status == 2 and "JSON" not in err
    assert err.startswith(f"cnnmath explore: error: MODEL '{path}': tensor '0.weight' holds ")
    assert "expected finite weights" in err and not (tmp_path / "out").exists()


def test_cli_missing_model_and_a_folder_named_index_html_name_the_argument(tmp_path, capsys):
    missing = tmp_path / "nothere.safetensors"
    status, err = _explore(capsys, missing, "--arch", "lenet", "-o", tmp_path / "out")
    assert status == 2 and err == f"cnnmath explore: error: MODEL: no such file: '{missing}'\n"
    (tmp_path / "site" / "index.html").mkdir(parents=True)
    status, err = _explore(capsys, "lenet", "-o", tmp_path / "site")
    index = tmp_path / "site" / "index.html"
    assert status == 2 and err.startswith(f"cnnmath explore: error: -o: '{index}' is a directory")
    assert "Errno" not in err and index.is_dir() and list(index.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Networks larger than the page


@pytest.fixture(scope="module")
def resnet18_record():
    model = models.resnet18().eval()
    x = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32)
    return model, x, explore.explore_data(model, x, title="resnet18")


def test_a_large_network_embeds_weights_up_to_the_budget(resnet18_record):
    """ResNet-18's 11.7 million weights do not fit: layers in walk order keep theirs until
    MAX_WEIGHTS, the rest say how many they left out; every node's values are still there
    (the last is the model's own output)."""
    model, x, data = resnet18_record
    modules = dict(model.named_modules())
    embedded, omitted = 0, []
    for node in data["nodes"][1:]:
        op = node["op"]
        if op["kind"] not in ("conv", "linear"):
            continue
        m = modules[node["name"]]
        size = m.weight.data.size + (0 if m.bias is None else m.bias.data.size)
        if op["weight"] is None:
            assert op["bias"] is None and op["omitted"] == size
            omitted.append(node["name"])
        else:
            embedded += size
            np.testing.assert_allclose(op["weight"], m.weight.data.ravel(), rtol=1e-5, atol=1e-7)
    assert 0 < embedded <= explore.MAX_WEIGHTS
    assert "layer4.1.conv2" in omitted and "conv1" not in omitted
    want = model(x)
    got = np.array(data["nodes"][-1]["values"][0])
    assert np.abs(got - want.ravel()).max() <= 1e-5 * np.abs(want).max()


@needs_browser
def test_click_on_a_layer_without_weights_says_so(resnet18_record, tmp_path):
    """The page draws such a layer and explains a click without a weighted sum, with no
    console output (no script error)."""
    _, _, data = resnet18_record
    k = next(i for i, n in enumerate(data["nodes"]) if n["name"] == "layer4.1.conv2")
    page = tmp_path / "index.html"
    page.write_text(explore.page_html(data), encoding="utf-8")
    dom, console = browse(page, f"click={k},5,0,0", tmp_path)
    assert console == []
    assert _attr(dom, "detail", "data-unit") == f"{k},5,0,0"
    assert _attr(dom, "detail", "data-sum") is None
    assert "2359296 weights are not embedded" in dom


def test_default_inputs_fit_the_page(tmp_path, monkeypatch):
    """Without --images or --input, a network too large for 6 inputs gets as many as fit,
    and one too large for a single 64×64 input is drawn at 32×32; given explicitly, the
    sizes are kept and refused when they cannot fit."""
    per_image_32 = sum(
        int(np.prod(row.shape)) for row in receptive_field(models.resnet18().eval(), (3, 32, 32))
    )
    monkeypatch.setattr(explore, "MAX_NUMBERS", explore.MAX_WEIGHTS + 2 * per_image_32 + 10)
    index = explore.build_explorer(tmp_path / "a", "resnet18")
    page = index.read_text(encoding="utf-8")
    assert '"labels":["photograph","photograph, mirrored"]' in page
    assert '"shape":[3,32,32]' in page and '"shape":[3,64,64]' not in page
    with pytest.raises(ValueError, match="more than .* numbers"):
        explore.build_explorer(tmp_path / "b", "resnet18", images=3, input_shape=(3, 32, 32))
    assert not (tmp_path / "b").exists()


def test_cli_input_the_model_cannot_read_names_the_option(tmp_path):
    proc = cli("lenet", "--input", "3", "8", "8", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("cnnmath explore: error: --images/--input: node '0' (Conv2d) ")
    assert "cannot read inputs of shape (3, 8, 8)" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_default_input_count_is_as_many_as_the_page_holds(tmp_path):
    """ResNet-20 by default: the page holds MAX_NUMBERS, less the weights it embeds, in
    inputs of 3×32×32 — measured on a one-input record, not taken from the code's estimate."""
    model = models.resnet20().eval()
    one = explore.explore_data(model, np.zeros((1, 3, 32, 32), np.float32))
    per_input = sum(len(n["values"][0]) for n in one["nodes"])
    embedded = sum(
        len(n["op"].get("weight") or ()) + len(n["op"].get("bias") or ()) for n in one["nodes"]
    )
    want = min(6, (explore.MAX_NUMBERS - embedded) // per_input)
    assert want == 5  # the case this test is about: fewer than 6, more than the old 4
    page = explore.build_explorer(tmp_path / "p", "resnet20").read_text(encoding="utf-8")
    labels = re.search(r'"labels":(\[[^]]*\])', page).group(1)
    assert len(json.loads(labels)) == want
