"""cnnmath.weights: safetensors files shared with PyTorch.

Witnesses: PyTorch (a LeNet built with torch.nn, saved and loaded with safetensors.torch)
for interoperability — the same file gives the same outputs in both libraries — and the
safetensors layout itself (8-byte little-endian header length + JSON header) read by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cnnmath import weights
from cnnmath.models import lenet
from helpers import fifo_never_hangs

pytest.importorskip("safetensors")

CHANNELS, HIDDEN = (4, 6, 8), 12  # a small LeNet keeps the tests fast


def small_lenet(seed=0, dtype=np.float32):
    return lenet(seed, channels=CHANNELS, hidden=HIDDEN, dtype=dtype)


def torch_lenet(torch):
    c1, c2, c3 = CHANNELS
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, c1, 3, padding=1),
        tnn.ReLU(),
        tnn.Conv2d(c1, c2, 3, padding=1),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(c2, c3, 3, padding=1),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(4 * c3, HIDDEN),
        tnn.ReLU(),
        tnn.Linear(HIDDEN, 10),
    )


def images(n=16, seed=1, dtype=np.float32):
    return np.random.default_rng(seed).random((n, 1, 8, 8)).astype(dtype)


def max_rel(got, want):
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


# ---------------------------------------------------------------------------------------------
# Round trips


def test_round_trip_cnnmath(tmp_path):
    a, b = small_lenet(0), small_lenet(1)
    x = images()
    assert not np.allclose(a(x), b(x))
    path = tmp_path / "w.safetensors"
    weights.save(a, path)
    result = weights.load(b, path)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(a(x), b(x))
    assert weights.load_state_dict(path).keys() == a.state_dict().keys()


def test_file_layout_is_safetensors_json_header(tmp_path):
    """Read the header by hand: no pickle, PyTorch's names, dtypes and shapes, metadata."""
    model = small_lenet()
    path = tmp_path / "w.safetensors"
    weights.save(model, path, metadata={"note": "hello", "n": json.dumps([1, 2])})
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert header.pop("__metadata__") == {"note": "hello", "n": "[1, 2]"}
    expected = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: tuple(v["shape"]) for k, v in header.items()} == expected
    assert {v["dtype"] for v in header.values()} == {"F32"}
    first = header["0.weight"]
    start, end = first["data_offsets"]
    stored = np.frombuffer(raw[8 + n + start : 8 + n + end], dtype="<f4")
    np.testing.assert_array_equal(stored, model.state_dict()["0.weight"].ravel())
    tensors, meta = weights.read(path)
    assert meta == {"note": "hello", "n": "[1, 2]"}


def test_torch_file_loads_here_with_same_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    tm = torch_lenet(torch).eval()
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(tm.state_dict(), str(path))
    model = small_lenet(5)
    weights.load(model, path)
    x = images()
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    assert max_rel(model(x), want) < 1e-5


def test_our_file_loads_in_torch_with_same_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    model = small_lenet(3)
    path = tmp_path / "ours.safetensors"
    weights.save(model, path)
    tm = torch_lenet(torch).eval()
    tm.load_state_dict(st_torch.load_file(str(path)), strict=True)
    x = images()
    with torch.no_grad():
        got = tm(torch.from_numpy(x)).numpy()
    assert max_rel(got, model(x)) < 1e-5


def test_float64_model_in_torch(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    model = small_lenet(2, dtype=np.float64)
    path = tmp_path / "f64.safetensors"
    weights.save(model, path)
    tm = torch_lenet(torch).double().eval()
    tm.load_state_dict(st_torch.load_file(str(path)))
    x = images(dtype=np.float64)
    with torch.no_grad():
        got = tm(torch.from_numpy(x)).numpy()
    assert max_rel(got, model(x)) < 1e-12


def test_state_dict_mapping_can_be_saved(tmp_path):
    state = {
        "a": np.arange(6, dtype=np.int32).reshape(2, 3),
        "b": np.ones((), np.float64),
        "c": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    }
    path = tmp_path / "d.safetensors"
    weights.save(state, path)
    back = weights.load_state_dict(path)
    assert back.keys() == state.keys()
    for k in state:
        assert back[k].dtype == state[k].dtype and back[k].shape == state[k].shape
        np.testing.assert_array_equal(back[k], state[k])


# ---------------------------------------------------------------------------------------------
# dtype policy: floats are cast to the parameter's dtype, other kinds refused


def test_float64_file_is_cast_into_float32_model(tmp_path):
    src = small_lenet(4, dtype=np.float64)
    path = tmp_path / "f64.safetensors"
    weights.save(src, path)
    dst = small_lenet(0)
    weights.load(dst, path)
    for k, v in dst.state_dict().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, src.state_dict()[k].astype(np.float32))


def test_integer_array_is_refused(tmp_path):
    state = {k: v.astype(np.int32) for k, v in small_lenet().state_dict().items()}
    path = tmp_path / "int.safetensors"
    weights.save(state, path)
    with pytest.raises(TypeError, match="key '0.weight': expected dtype float32, got int32"):
        weights.load(small_lenet(), path)


# ---------------------------------------------------------------------------------------------
# Mismatched keys and shapes: the error names the key, the model is left unchanged


def _mutated_file(tmp_path, mutate):
    state = small_lenet(7).state_dict()
    mutate(state)
    path = tmp_path / "m.safetensors"
    weights.save(state, path)
    return path


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda s: s.pop("2.bias"), r"missing key\(s\) \['2.bias'\]"),
        (lambda s: s.update(extra=np.zeros(2, np.float32)), r"unexpected key\(s\) \['extra'\]"),
        (
            lambda s: s.update({"0.weight": np.zeros((4, 1, 5, 5), np.float32)}),
            r"key '0.weight': expected shape \(4, 1, 3, 3\), got \(4, 1, 5, 5\)",
        ),
    ],
)
def test_mismatch_names_key_and_leaves_model_unchanged(tmp_path, mutate, pattern):
    path = _mutated_file(tmp_path, mutate)
    model = small_lenet(0)
    before = model.state_dict()
    with pytest.raises(ValueError, match=pattern) as info:
        weights.load(model, path)
    assert str(path) in str(info.value)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_non_strict_load_reports_keys(tmp_path):
    def mutate(s):
        s.pop("2.bias")
        s["extra"] = np.zeros(2, np.float32)

    path = _mutated_file(tmp_path, mutate)
    model = small_lenet(0)
    before = model.state_dict()["2.bias"].copy()
    result = weights.load(model, path, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model.state_dict()["2.bias"], before)
    np.testing.assert_array_equal(
        model.state_dict()["0.weight"], small_lenet(7).state_dict()["0.weight"]
    )


# ---------------------------------------------------------------------------------------------
# Corrupt and truncated files


@pytest.mark.parametrize(
    "make",
    [
        lambda raw: b"this is not a weights file at all, just text" * 3,
        lambda raw: raw[: len(raw) // 2],  # truncated in the data
        lambda raw: raw[:20],  # truncated in the header
        lambda raw: b"",
        lambda raw: raw[:8] + b"x" + raw[9:],  # header JSON broken
    ],
    ids=["garbage", "truncated-data", "truncated-header", "empty", "bad-json"],
)
def test_corrupt_files_are_clear_errors(tmp_path, make):
    good = tmp_path / "good.safetensors"
    weights.save(small_lenet(), good)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(make(good.read_bytes()))
    for call in (lambda: weights.load(small_lenet(), bad), lambda: weights.load_state_dict(bad)):
        with pytest.raises(ValueError, match="not a valid safetensors weights file") as info:
            call()
        assert str(bad) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        weights.load(small_lenet(), tmp_path / "nope.safetensors")


# ---------------------------------------------------------------------------------------------
# Atomic writes


def test_save_into_missing_directory_leaves_nothing(tmp_path):
    target = tmp_path / "no" / "such" / "w.safetensors"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        weights.save(small_lenet(), target)
    assert not (tmp_path / "no").exists()


def test_overwrite_is_atomic_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    weights.save(small_lenet(0), path)
    original = path.read_bytes()
    weights.save(small_lenet(1), path)  # a plain overwrite works
    assert path.read_bytes() != original
    assert os.listdir(tmp_path) == ["w.safetensors"]
    replaced = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        weights.save(small_lenet(2), path)
    assert path.read_bytes() == replaced  # the old file is intact
    assert os.listdir(tmp_path) == ["w.safetensors"]  # and the temporary file is gone


# ---------------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda p: weights.save(42, p), TypeError, "model_or_state_dict: expected a model"),
        (lambda p: weights.save({"a": [1, 2]}, p), TypeError, "'a': expected a numpy.ndarray"),
        (lambda p: weights.save({1: np.zeros(2)}, p), TypeError, "keys must be str"),
        (
            lambda p: weights.save({"a": np.zeros(2)}, p, metadata={"k": 1}),
            TypeError,
            "metadata: expected a dict of str to str",
        ),
        (lambda p: weights.load(object(), p), TypeError, "model: expected a model"),
        (
            lambda p: weights.save({"w": np.zeros(2), "__metadata__": np.zeros(2)}, p),
            ValueError,
            "^save: model_or_state_dict: the tensor name '__metadata__' is reserved",
        ),
    ],
)
def test_bad_arguments(tmp_path, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_saved_files_get_an_ordinary_files_mode(tmp_path):
    """mkstemp makes files private (0o600); a saved weights file has open()'s mode instead."""
    import os

    from cnnmath import weights

    reference_file = tmp_path / "plain"
    reference_file.write_bytes(b"")  # what open() gives under this process's umask
    want = os.stat(reference_file).st_mode & 0o777
    target = tmp_path / "w.safetensors"
    weights.save({"a": np.ones(2)}, target)
    assert os.stat(target).st_mode & 0o777 == want
    os.chmod(target, 0o640)  # overwriting a file also leaves an ordinary one
    weights.save({"a": np.zeros(2)}, target)
    assert os.stat(target).st_mode & 0o777 == want


def test_bfloat16_files_get_a_message_that_says_how_to_convert(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    from cnnmath import weights

    path = tmp_path / "bf16.safetensors"
    safetensors_torch.save_file({"w": torch.ones(2, dtype=torch.bfloat16)}, str(path))
    with pytest.raises(ValueError, match=r"\['w'\] are stored as bfloat16.*v\.float\(\)"):
        weights.read(path)


# ---------------------------------------------------------------------------------------------
# Hostile use (issue 9)

_SAVE_TWICE = """
import sys
import numpy as np
from cnnmath import weights
state = {name: np.arange(6, dtype=np.float32).reshape(2, 3) + i
         for i, name in enumerate(["z.weight", "a.bias", "m.running_mean", "b.weight"])}
state["step"] = np.array(3, dtype=np.int64)
metadata = {key: key.upper() for key in ["epoch", "lr", "run", "history", "seed", "arch"]}
weights.save(state, sys.argv[1], metadata=metadata)
"""


def test_identical_weights_give_byte_identical_files(tmp_path):
    """safetensors' writer orders the metadata by a per-process hash: two runs differed."""
    import subprocess
    import sys

    paths = [tmp_path / f"{i}.safetensors" for i in range(4)]
    for path in paths:  # separate processes: each its own hash seed
        subprocess.run([sys.executable, "-c", _SAVE_TWICE, str(path)], check=True, timeout=120)
    first = paths[0].read_bytes()
    assert all(path.read_bytes() == first for path in paths[1:])
    n = int.from_bytes(first[:8], "little")
    assert (8 + n) % 8 == 0  # the data stays 8-byte aligned
    header = json.loads(first[8 : 8 + n])
    assert list(header) == sorted(header)
    assert list(header["__metadata__"]) == sorted(header["__metadata__"])
    tensors, meta = weights.read(paths[0])
    assert meta == {key: key.upper() for key in ["epoch", "lr", "run", "history", "seed", "arch"]}
    np.testing.assert_array_equal(tensors["b.weight"], np.arange(6.0).reshape(2, 3) + 3)
    assert tensors["step"].shape == () and int(tensors["step"]) == 3


def test_sorted_files_load_in_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    state = {"w": np.arange(5, dtype=np.float64), "a": np.ones((2, 2), np.float32)}
    weights.save(state, tmp_path / "w.safetensors", metadata={"b": "1", "a": "2"})
    loaded = load_file(str(tmp_path / "w.safetensors"))
    assert torch.equal(loaded["w"], torch.arange(5, dtype=torch.float64))
    assert torch.equal(loaded["a"], torch.ones(2, 2))


@pytest.mark.parametrize("target", ["loop", "dir", "empty"])
def test_a_path_that_cannot_be_written_is_refused_before_serialising(tmp_path, target):
    (tmp_path / "loop").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop")
    (tmp_path / "dir").mkdir()
    path = {"loop": tmp_path / "loop", "dir": tmp_path / "dir", "empty": ""}[target]
    with pytest.raises((ValueError, IsADirectoryError), match=r"^save: path: "):
        weights.save({"a": np.zeros(2)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "loop", "loop2"]


# ---------------------------------------------------------------------------------------------
# Paths that are no regular file: refused before anything opens them


def test_a_fifo_is_refused_before_it_is_opened(tmp_path):
    with fifo_never_hangs(tmp_path / "pipe.safetensors") as path:
        with pytest.raises(ValueError, match=r"^read: path: '.*pipe\.safetensors' is a FIFO"):
            weights.load_state_dict(path)


def test_a_directory_and_a_missing_file_name_the_path(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"^read: path: '.*' is a directory, not a"):
        weights.read(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"^read: path: no such file: '.*nope'"):
        weights.read(tmp_path / "nope")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path):
    link = tmp_path / "zero.safetensors"
    link.symlink_to("/dev/zero")
    code = (
        "import resource, sys\n"  # should it read, it fails at 1 GiB instead of eating memory
        "resource.setrlimit(resource.RLIMIT_AS, (2**30 + 2**29,) * 2)\n"
        "from cnnmath import weights\n"
        "try:\n"
        "    weights.read(sys.argv[1])\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(link)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        f"read: path: '{link}' (a link to /dev/zero) is a character device, not a regular file"
    ), proc.stdout


def test_a_file_that_is_not_safetensors_says_why_in_words(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))  # its first 8 bytes: a huge length
    with pytest.raises(ValueError, match="not a valid safetensors weights file") as info:
        weights.read(path)
    assert "first 8 bytes give a header of" in str(info.value)
    assert "codec" not in str(info.value)
    path.write_bytes((8).to_bytes(8, "little") + b"\xff" * 8)  # not UTF-8 text
    with pytest.raises(ValueError, match="the header is not UTF-8 JSON text"):
        weights.read(path)


def test_metadata_naming_a_dtype_is_not_a_tensor(tmp_path):
    """The header's "__metadata__" entry is no tensor, whatever its values say."""
    path = tmp_path / "m.safetensors"
    weights.save({"w": np.ones(2, np.float32)}, path, metadata={"dtype": "BF16"})
    tensors, meta = weights.read(path)
    assert meta == {"dtype": "BF16"} and np.array_equal(tensors["w"], [1, 1])


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_float8_files_get_the_message_that_says_how_to_convert(tmp_path, dtype):
    """A valid float8 file (written by safetensors.torch) is not "corrupt": NumPy has no
    such dtype, and the message says so and how to convert."""
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "f8.safetensors"
    safetensors_torch.save_file({"q": torch.ones(2, dtype=getattr(torch, dtype))}, str(path))
    with pytest.raises(ValueError, match=r"\['q'\] are stored as float8 e[45]m[32].*v\.float"):
        weights.read(path)


def test_arrays_and_mismatched_keys_come_in_the_files_order_on_every_run(tmp_path):
    """read gives the arrays in the order the file stores them (the header's data offsets,
    read here with json), not the hash order of the reader's map, which changes from run to
    run; so a mismatch message lists the same keys in the same order each time."""
    path = tmp_path / "lenet.safetensors"
    weights.save(lenet(0), path)
    raw = path.read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    header.pop("__metadata__", None)
    stored = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    assert list(weights.read(path)[0]) == stored
    code = (
        "import sys\nfrom cnnmath import weights\nfrom cnnmath.models import resnet20\n"
        "try:\n    weights.load(resnet20(), sys.argv[1])\n"
        "except ValueError as e:\n    print(e)\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
        for _ in range(3)
    ]
    messages = {r.stdout for r in runs}
    assert len(messages) == 1 and "unexpected key(s) [" in runs[0].stdout
    listed = runs[0].stdout.split("unexpected key(s) ")[1].split("]")[0] + "]"
    assert json.loads(listed.replace("'", '"')) == stored[:8]
