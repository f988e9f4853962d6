"""``cnnmath explain``: the probed read-map against the taps written out here, PyTorch, and
the adjoint; the pictures show exactly that map; files whole or not at all; one-line errors."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from cnnmath import explain

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

# (kind, size, kernel, stride, padding, dilation)
SAMPLES = [
    ("conv", (5, 5), 3, 1, 0, 1),
    ("conv", (5, 5), 3, 2, 1, 1),
    ("conv", (6, 7), 2, 3, 2, 1),
    ("conv", (7, 6), 3, 1, 1, 2),
    ("conv", (4, 4), 1, 2, 0, 1),
    ("conv", (8, 8), 2, 2, 0, 1),  # result 2's filter, k = 2
    ("pool", (4, 4), 2, 2, 0, 1),
    ("pool", (5, 6), 3, 2, 1, 1),
    ("pool", (7, 7), 2, 1, 1, 3),
    ("transposed", (3, 3), 3, 2, 1, 1),
    ("transposed", (3, 4), 2, 2, 0, 1),
    ("transposed", (4, 3), 3, 1, 0, 2),
    ("transposed", (2, 2), 3, 3, 1, 1),
]

# (arguments after "explain", a piece of the one error line)
ERROR_ARGS = [
    (["conv", "--size", "2", "2", "--kernel", "5"], "expected a window that fits"),
    (["conv", "--size", "0", "3"], "--size: expected a whole number from 1 to 32, got 0"),
    (["conv", "--size", "33", "3"], "--size: expected a whole number from 1 to 32, got 33"),
    (["conv", "--stride", "0"], "--stride: expected a whole number from 1 to 32, got 0"),
    (["conv", "--padding", "-1"], "--padding: expected a whole number from 0 to 16, got -1"),
    (["pool", "--kernel", "2", "--padding", "2"], "padding: expected at most half the kernel"),
    (["dense"], "invalid choice"),
    (
        ["transposed", "--size", "1", "1", "--kernel", "1", "--padding", "1"],
        "padding: expected at most half the transposed output",
    ),
]

# Refusals of the limits, run in-process (no drawing, no subprocess): (argv, error piece).
# The first two are the audit's: they ran for minutes (9,216 frames; a 640×640 output).
LIMIT_ARGS = [
    (
        ["conv", "--size", "32", "32", "--kernel", "1", "--padding", "32"],
        "argument --padding: expected a whole number from 0 to 16, got 32",
    ),
    (
        ["transposed", "--size", "32", "32", "--stride", "20", "--kernel", "20"],
        "expected at most 100 input cells H·W for transposed (one frame each), got 32×32",
    ),
    (["conv", "--kernel", "33"], "argument --kernel: expected a whole number from 1 to 32, got 33"),
    (["conv", "--kernel", "0"], "argument --kernel: expected a whole number from 1 to 32, got 0"),
    (
        ["conv", "--kernel", "3.5"],
        "argument --kernel: expected a whole number from 1 to 32, got '3.5'",
    ),
    (["conv", "--stride", "33"], "argument --stride: expected a whole number from 1 to 32, got 33"),
    (
        ["conv", "--padding", "17"],
        "argument --padding: expected a whole number from 0 to 16, got 17",
    ),
    (
        ["conv", "--dilation", "0"],
        "argument --dilation: expected a whole number from 1 to 32, got 0",
    ),
    (
        ["conv", "--dilation", "33"],
        "argument --dilation: expected a whole number from 1 to 32, got 33",
    ),
    (
        ["conv", "--size", "3", "33"],
        "argument --size: expected a whole number from 1 to 32, got 33",
    ),
    (
        ["conv", "--size", "32", "32", "--padding", "1"],
        "expected at most 100 output cells H_out·W_out (one frame each), got 32×32 = 1024",
    ),
    (["pool", "--size", "32", "32", "--kernel", "2"], "got 31×31 = 961"),
    (
        ["transposed", "--size", "11", "10"],
        "size: expected at most 100 input cells H·W for transposed (one frame each), got 11×10",
    ),
    (
        ["transposed", "--size", "10", "10", "--stride", "7", "--kernel", "2"],
        "expected a transposed output of at most 64 cells per side",
    ),
]


def literal_map(kind, size, k, s, p, d):
    """The SPEC's index formula, one output cell and one tap at a time (0-based)."""
    H, W = size
    if kind == "transposed":
        Ho, Wo = ((n - 1) * s - 2 * p + d * (k - 1) + 1 for n in size)
    else:
        Ho, Wo = ((n + 2 * p - d * (k - 1) - 1) // s + 1 for n in size)
    want = np.zeros((Ho, Wo, H, W), dtype=bool)
    for i, j, a, b, u, v in itertools.product(
        range(Ho), range(Wo), range(H), range(W), range(k), range(k)
    ):
        if kind == "transposed":
            hit = i == s * a + d * u - p and j == s * b + d * v - p
        else:
            hit = a == s * i + d * u - p and b == s * j + d * v - p
        if hit:
            want[i, j, a, b] = True
    return want


@pytest.mark.parametrize("kind, size, k, s, p, d", SAMPLES)
def test_read_map_is_the_index_formula(kind, size, k, s, p, d):
    m = explain.read_map(kind, size, k, stride=s, padding=p, dilation=d)
    want = literal_map(kind, size, k, s, p, d)
    assert m.reads.shape == want.shape and m.out_size == want.shape[:2]
    assert np.array_equal(m.reads, want)
    # the printed formula ends with the output size the op produced
    lines = m.formula.splitlines()
    assert [int(line.rsplit("= ", 1)[1]) for line in lines] == list(m.out_size)
    assert lines[0].startswith("H_out") and lines[1].startswith("W_out")


@pytest.mark.parametrize("kind, size, k, s, p, d", SAMPLES)
def test_read_map_against_pytorch(kind, size, k, s, p, d):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    H, W = size
    one_hot = torch.eye(H * W, dtype=torch.float64).reshape(H * W, 1, H, W)
    ones = torch.ones(1, 1, k, k, dtype=torch.float64)
    if kind == "conv":
        y = F.conv2d(one_hot, ones, stride=s, padding=p, dilation=d)
    elif kind == "pool":
        y = F.max_pool2d(one_hot, k, stride=s, padding=p, dilation=d)
    else:
        y = F.conv_transpose2d(one_hot, ones, stride=s, padding=p, dilation=d)
    Ho, Wo = y.shape[2:]
    want = (y[:, 0] != 0).numpy().transpose(1, 2, 0).reshape(Ho, Wo, H, W)
    m = explain.read_map(kind, size, k, stride=s, padding=p, dilation=d)
    assert np.array_equal(m.reads, want)


@pytest.mark.parametrize(
    "size, k, s, p, d", [((3, 3), 3, 2, 1, 1), ((4, 2), 2, 3, 0, 1), ((3, 5), 3, 1, 2, 2)]
)
def test_transposed_is_the_adjoint_map(size, k, s, p, d):
    """Input cell a spreads into output i exactly when the convolution of the output's size
    makes its cell a read cell i: the same relation, read backwards."""
    t = explain.read_map("transposed", size, k, stride=s, padding=p, dilation=d)
    c = explain.read_map("conv", t.out_size, k, stride=s, padding=p, dilation=d)
    assert c.out_size == size
    assert np.array_equal(t.reads, c.reads.transpose(2, 3, 0, 1))


def test_a_wrong_op_is_caught_before_drawing(monkeypatch):
    """If the op read a cell the drawn window does not show, read_map raises."""
    real = explain._probe

    def off_by_one(*args):
        reads = real(*args).copy()
        reads[0, 0] = ~reads[0, 0]
        return reads

    monkeypatch.setattr(explain, "_probe", off_by_one)
    with pytest.raises(RuntimeError, match=r"disagree: output \(0, 0\)"):
        explain.read_map("conv", (4, 4), 3)


def _cell_colour(frame, m, origin, ring, cell_rc):
    px = explain._cell_px(m)
    x = origin[0] + (cell_rc[1] + ring) * px + px // 2
    y = origin[1] + (cell_rc[0] + ring) * px + px // 2
    return frame.getpixel((x, y))[:3]


@pytest.mark.parametrize("kind, size, k, s, p, d", [SAMPLES[1], SAMPLES[7], SAMPLES[9]])
def test_every_gif_frame_shows_the_probed_map(tmp_path, kind, size, k, s, p, d):
    m = explain.read_map(kind, size, k, stride=s, padding=p, dilation=d)
    gif, png = explain.write_pictures(m, tmp_path / "a.gif")
    assert png == tmp_path / "a.png" and png.is_file()
    H, W = m.size
    Ho, Wo = m.out_size
    cell = explain._cell_px(m)
    in_ring = 0 if kind == "transposed" else p
    left_w = (W + 2 * in_ring) * cell
    left, right = (10, 22), (10 + left_w + 3 * cell + 10, 22)
    with Image.open(gif) as im:
        n_frames = im.n_frames
        assert n_frames == (H * W if kind == "transposed" else Ho * Wo)
        for n in range(n_frames):
            im.seek(n)
            frame = im.convert("RGB")
            if kind == "transposed":
                a, b = divmod(n, W)
                shown = {
                    (i, j)
                    for i in range(Ho)
                    for j in range(Wo)
                    if _cell_colour(frame, m, right, p, (i, j)) == explain._READ
                }
                want = {(i, j) for i, j in zip(*np.nonzero(m.reads[:, :, a, b]))}
            else:
                i, j = divmod(n, Wo)
                shown = {
                    (a, b)
                    for a in range(H)
                    for b in range(W)
                    if _cell_colour(frame, m, left, p, (a, b)) == explain._READ
                }
                want = {(a, b) for a, b in zip(*np.nonzero(m.reads[i, j]))}
            assert shown == want, f"frame {n}"
    with Image.open(png) as strip:
        assert strip.format == "PNG"
        assert strip.size[0] == min(explain.STRIP_FRAMES, n_frames) * frame.size[0]


# (kind, size, kernel, stride, padding): animated grids of 3×3 (every frame), 8×8, 5×5, 10×4
# and a transposed 4×4
STRIP_SAMPLES = [
    ("conv", (5, 5), 3, 2, 1),  # the README's example: the centre (1, 1) was left out
    ("conv", (8, 8), 3, 1, 1),
    ("pool", (6, 6), 2, 1, 0),
    ("conv", (10, 4), 1, 1, 0),
    ("transposed", (4, 4), 3, 1, 0),
    ("transposed", (3, 3), 3, 2, 1),
]


@pytest.mark.parametrize("kind, size, k, s, p", STRIP_SAMPLES)
def test_the_strip_shows_every_frame_or_the_first_the_centre_and_the_last(
    tmp_path, kind, size, k, s, p
):
    """Read off the PNG which cell each panel animates (the orange one): every cell in order
    when there are at most 9; else 9 in order, among them the first, the centre and the last
    cell of the animated grid (review s45 learner f4)."""
    m = explain.read_map(kind, size, k, stride=s, padding=p)
    gif, png = explain.write_pictures(m, tmp_path / "a.gif")
    H, W = m.size
    rows, cols = m.size if kind == "transposed" else m.out_size
    with Image.open(gif) as im:
        w, h = im.size
    cell = explain._cell_px(m)
    in_ring = 0 if kind == "transposed" else p
    left_w = (W + 2 * in_ring) * cell
    shown = []
    with Image.open(png) as strip:
        strip = strip.convert("RGB")
        band = strip.height - h
        assert band > 0 and strip.width % w == 0
        for n in range(strip.width // w):
            panel = strip.crop((n * w, band, (n + 1) * w, strip.height))
            origin = (10, 22) if kind == "transposed" else (10 + left_w + 3 * cell + 10, 22)
            ring = 0
            orange = [
                (i, j)
                for i in range(rows)
                for j in range(cols)
                if _cell_colour(panel, m, origin, ring, (i, j)) == explain._CURRENT
            ]
            assert len(orange) == 1, f"panel {n}"
            shown.append(orange[0])
    every = [(i, j) for i in range(rows) for j in range(cols)]
    if len(every) <= 9:
        assert shown == every
    else:
        assert len(shown) == 9 and shown == sorted(shown)
        assert {(0, 0), (rows // 2, cols // 2), (rows - 1, cols - 1)} <= set(shown)
    assert explain.strip_frames(m) == [every.index(c) for c in shown]


def test_cli_names_the_frames_of_a_sampled_strip(tmp_path):
    proc = cli("conv", "--size", "8", "8", "--padding", "1", "-o", "c.gif", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # 64 frames, 9 of them: round(t·63/8) + 1, frame 40 (cell (4, 7)) nearest the centre's
    # 37 (cell (4, 4)) and so replaced by it
    assert proc.stdout.splitlines()[2] == (
        "strip: frames 1, 9, 17, 25, 33, 37, 48, 56, 64 of 64 (the first, the centre output "
        "cell (4, 4) and the last included)"
    )


def test_pictures_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    m = explain.read_map("conv", (4, 4), 3, padding=1)
    (tmp_path / "a.gif").write_bytes(b"earlier")
    real_save = Image.Image.save

    def failing(self, fp, format=None, **kwargs):
        if format == "PNG":
            raise OSError(28, "No space left on device")
        return real_save(self, fp, format=format, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing)
    with pytest.raises(OSError, match="No space left"):
        explain.write_pictures(m, tmp_path / "a.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]  # no temporary left
    assert (tmp_path / "a.gif").read_bytes() == b"earlier"  # the earlier file untouched


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "cnnmath", "explain", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_cli_prints_the_formula_and_writes_both_files(tmp_path):
    proc = cli(
        "conv",
        "--size",
        "5",
        "6",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--padding",
        "1",
        "-o",
        "c.gif",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert (
        lines[0]
        == "H_out = floor((H + 2p − d(k − 1) − 1)/s) + 1 = floor((5 + 2·1 − 1·(3 − 1) − 1)/2) + 1 = 3"
    )
    assert lines[1].endswith("floor((6 + 2·1 − 1·(3 − 1) − 1)/2) + 1 = 3")
    assert lines[2:] == [
        "strip: all 9 frames of the GIF",
        str(tmp_path / "c.gif"),
        str(tmp_path / "c.png"),
    ]
    with Image.open(tmp_path / "c.gif") as im:
        assert im.format == "GIF" and im.n_frames == 9


@pytest.mark.parametrize("args, message", ERROR_ARGS)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def _main(argv, capsys):
    """``cnnmath explain ARGV`` in this process: (exit status, stderr lines)."""
    from cnnmath.cli import main

    try:
        status = main(["explain", *argv])
    except SystemExit as exc:  # argparse's usage errors
        status = exc.code
    return status, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("args, message", LIMIT_ARGS)
def test_cli_refuses_what_it_cannot_draw_quickly(tmp_path, monkeypatch, capsys, args, message):
    """One line naming the option, the range and the value; before any probe; no file."""
    monkeypatch.delenv("CNNMATH_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(explain, "_probe", _no_probe)
    status, err = _main(args, capsys)
    assert status == 2
    assert len(err) == 1 and err[0].startswith("cnnmath explain: error: "), err
    assert message in err[0], err
    assert list(tmp_path.iterdir()) == []


def _no_probe(*args):
    raise AssertionError("probed before the limits were checked")


def test_help_states_the_limits(capsys):
    from cnnmath.cli import main

    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for piece in (
        "input height and width, 1..32 each",
        "--kernel K 1..32 (default 3)",
        "--stride S 1..32 (default 1)",
        "--padding P 0..16 (default 0)",
        "--dilation D 1..32 (default 1)",
        "frames at most 100",
        "(H - 1)*s + d*(k - 1) + 1 (and the same with W), at most 64",
    ):
        assert piece in text


# (read_map's arguments, the exception, a piece of its message naming the argument)
API_REFUSALS = [
    (dict(kind="dense"), ValueError, "kind: expected one of conv, pool, transposed"),
    (dict(size=(5,)), ValueError, r"size: expected \(H, W\)"),
    (dict(size=(0, 5)), ValueError, "size\\[0\\]: expected an int from 1 to 32, got 0"),
    (dict(size=(5, 33)), ValueError, "size\\[1\\]: expected an int from 1 to 32, got 33"),
    (dict(size=(5, True)), TypeError, "size\\[1\\]: expected an int from 1 to 32, got bool"),
    (dict(kernel=0), ValueError, "kernel: expected an int from 1 to 32, got 0"),
    (dict(kernel=33), ValueError, "kernel: expected an int from 1 to 32, got 33"),
    (dict(kernel=3.0), TypeError, "kernel: expected an int from 1 to 32, got float"),
    (dict(stride=0), ValueError, "stride: expected an int from 1 to 32, got 0"),
    (dict(stride=40), ValueError, "stride: expected an int from 1 to 32, got 40"),
    (dict(padding=-1), ValueError, "padding: expected an int from 0 to 16, got -1"),
    (dict(padding=32), ValueError, "padding: expected an int from 0 to 16, got 32"),
    (dict(dilation=0), ValueError, "dilation: expected an int from 1 to 32, got 0"),
    (dict(dilation=np.int64(10**12)), ValueError, "dilation: expected an int from 1 to 32"),
    (dict(size=(2, 2), kernel=5), ValueError, "kernel, dilation, padding: expected a window"),
    (dict(size=(5, 5), kernel=3, dilation=3), ValueError, ".*dilation, padding: expected a window"),
    (
        dict(kind="pool", size=(5, 5), kernel=3, padding=2),
        ValueError,
        r"padding: expected at most half the kernel for pool \(k // 2 = 1\), got 2",
    ),
    (
        dict(kind="transposed", size=(5, 5), kernel=1, padding=3),
        ValueError,
        r"padding: expected at most half the transposed output before its crop",
    ),
    (
        dict(size=(11, 10), kernel=1),
        ValueError,
        "size, kernel, stride, padding, dilation: expected at most 100 output cells",
    ),
    (dict(kind="pool", size=(12, 12), kernel=2), ValueError, ".*got 11×11 = 121"),
    (
        dict(kind="transposed", size=(32, 32)),
        ValueError,
        "size: expected at most 100 input cells H·W for transposed",
    ),
    (
        dict(kind="transposed", size=(1, 10), stride=7, kernel=2),
        ValueError,
        "size, stride, kernel, dilation: expected a transposed output of at most 64 cells per "
        "side .* got 65",
    ),
    (
        dict(kind="transposed", size=(2, 2), kernel=16, dilation=5),
        ValueError,
        ".*got 77",
    ),
]


@pytest.mark.parametrize("changes, error, message", API_REFUSALS)
def test_read_map_refuses_outside_the_limits_before_probing(monkeypatch, changes, error, message):
    monkeypatch.setattr(explain, "_probe", _no_probe)
    args = dict(kind="conv", size=(5, 5), kernel=3, stride=1, padding=0, dilation=1) | changes
    with pytest.raises(error, match=f"^explain: {message}"):
        explain.read_map(**args)


@pytest.mark.parametrize(
    "kind, size, k, s, p, d",
    [
        ("conv", (10, 10), 1, 1, 0, 1),  # 100 frames, the most
        ("conv", (32, 32), 32, 32, 16, 1),  # size, kernel, stride, padding at their largest
        ("conv", (32, 32), 32, 1, 0, 1),  # a dense layer as a convolution: one frame
        ("conv", (32, 32), 2, 16, 1, 32),  # dilation at its largest
        ("conv", (32, 32), 10, 6, 16, 1),  # 100 frames from the largest padded input
        ("pool", (32, 32), 16, 5, 8, 1),
        ("transposed", (10, 10), 1, 7, 0, 1),  # 100 frames, output 64 a side
        ("transposed", (1, 1), 16, 1, 7, 4),  # 1 frame, output 47: 61 with its ring
    ],
)
def test_the_limits_themselves_are_accepted(kind, size, k, s, p, d):
    m = explain.read_map(kind, size, k, stride=s, padding=p, dilation=d)
    frames = m.size if kind == "transposed" else m.out_size
    assert frames[0] * frames[1] <= explain.MAX_FRAMES
    assert max(m.size) + 2 * m.padding <= explain.MAX_GRID
    assert max(m.out_size) + 2 * m.padding <= explain.MAX_GRID


def _hand_built(kind="conv", size=(11, 11), out=(11, 11)):
    reads = np.zeros((*out, *size), dtype=bool)
    return explain.ReadMap(kind, size, 1, 1, 0, 1, out, reads, "")


@pytest.mark.parametrize(
    "m, message",
    [
        (_hand_built(), "expected at most 100 output cells"),
        (_hand_built("transposed"), "expected at most 100 input cells"),
        (_hand_built(size=(3, 3), out=(4, 4)), "m: expected out_size \\(3, 3\\)"),
    ],
)
def test_pictures_of_a_hand_built_map_outside_the_limits_are_refused(tmp_path, m, message):
    with pytest.raises(ValueError, match=message):
        explain.frames(m)
    with pytest.raises(ValueError, match=message):
        explain.write_pictures(m, tmp_path / "a.gif")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind, size, k, s, p, d", [SAMPLES[1], SAMPLES[8], SAMPLES[9]])
def test_frames_are_the_full_redraw_of_each_frame(kind, size, k, s, p, d):
    """frames() draws the grids once and repaints the coloured cells: pixel for pixel the
    picture of drawing every cell of every frame afresh."""
    from PIL import ImageDraw

    m = explain.read_map(kind, size, k, stride=s, padding=p, dilation=d)
    got = explain.frames(m)
    cell = explain._cell_px(m)
    (H, W), (Ho, Wo) = m.size, m.out_size
    in_ring, out_ring = (0, p) if kind == "transposed" else (p, 0)
    left, right = (10, 22), (10 + (W + 2 * in_ring) * cell + 3 * cell + 10, 22)
    targets = [(i, j) for i in range(Ho) for j in range(Wo)]
    currents = [(a, b) for a in range(H) for b in range(W)] if kind == "transposed" else targets
    assert len(got) == len(currents)
    for n, current in enumerate(currents):
        want = got[n].copy()
        draw = ImageDraw.Draw(want)
        window = {
            t: (explain._READ if explain._inside(t, m) else explain._READ_PAD)
            for t in m.taps(current)
        }
        if kind == "transposed":
            explain._grid(draw, left, (H, W), in_ring, cell, {current: explain._CURRENT})
            explain._grid(draw, right, (Ho, Wo), out_ring, cell, window)
        else:
            done = {t: explain._DONE for t in targets[:n]}
            explain._grid(draw, left, (H, W), in_ring, cell, window)
            explain._grid(
                draw, right, (Ho, Wo), out_ring, cell, {**done, current: explain._CURRENT}
            )
        assert np.array_equal(np.asarray(want), np.asarray(got[n])), f"frame {n}"
