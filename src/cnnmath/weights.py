"""Weights on disk: safetensors files with PyTorch's ``state_dict`` names (never pickle).

A model's ``state_dict()`` maps PyTorch's parameter names (``"0.weight"``, ``"3.bias"`` in a
``Sequential``) to arrays of PyTorch's shapes, so one file serves both libraries::

    # PyTorch → cnnmath
    safetensors.torch.save_file(torch_model.state_dict(), "lenet.safetensors")
    cnnmath.weights.load(model, "lenet.safetensors")

    # cnnmath → PyTorch
    cnnmath.weights.save(model, "lenet.safetensors")
    torch_model.load_state_dict(safetensors.torch.load_file("lenet.safetensors"))

The safetensors format is an 8-byte little-endian header length, a JSON header (each
tensor's dtype, shape and byte range, plus an optional ``"__metadata__"`` map of strings)
and the raw little-endian bytes: loading it runs no code, unlike a pickle.

Files are written atomically: the bytes go to a temporary file in the destination's
directory, which is then renamed over the destination (``os.replace``), so a reader — or a
run interrupted half-way — sees the old file or the new one, never a partial one. The header
is written with its keys (tensor names, the metadata's keys) in sorted order, so the same
weights and metadata always give the same bytes (safetensors' own writer orders the
metadata differently from run to run).

dtype policy on ``load``: a floating-point array in the file is cast to the dtype of the
model's parameter it loads into (float64 file → float32 model is rounded), as
``torch.nn.Module.load_state_dict`` copies with a cast; a non-float array into a float
parameter (or the reverse) is refused with a ``TypeError`` naming the key.

Needs the ``weights`` extra: ``pip install "cnnmath[weights]"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ._checks import output_file
from ._files import atomic_output, read_regular
from ._optional import require
from .nn import key_mismatch

__all__ = ["Loaded", "load", "load_state_dict", "read", "save", "write_atomically"]


#: The header key safetensors keeps for the metadata map: no tensor may have this name.
_RESERVED = "__metadata__"


def _safetensors_numpy():
    return require("safetensors.numpy", "weights", "reading and writing weights")


def _as_state_dict(model_or_state_dict: Any, func: str) -> dict[str, np.ndarray]:
    if isinstance(model_or_state_dict, Mapping):
        state = dict(model_or_state_dict)
    elif callable(getattr(model_or_state_dict, "state_dict", None)):
        state = dict(model_or_state_dict.state_dict())
    else:
        raise TypeError(
            f"{func}: model_or_state_dict: expected a model with state_dict() or a mapping "
            f"of names to arrays, got {type(model_or_state_dict).__name__}"
        )
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"{func}: state dict keys must be str, got {key!r}")
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"{func}: state dict entry {key!r}: expected a numpy.ndarray, got "
                f"{type(value).__name__}"
            )
    return state


def _check_metadata(metadata: Any, func: str) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise TypeError(
            f"{func}: metadata: expected a dict of str to str (encode other values as JSON), "
            f"got {metadata!r:.200}"
        )
    return dict(metadata)


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + ``os.replace``.

    ``path`` is checked first (``cnnmath._checks.output_file``: its folder exists and is
    writable, it is no directory and no symlink loop; a symlink is followed to its target);
    on any failure the temporary file is removed and ``path`` is left as it was. The file
    gets the mode a plain ``open()`` would give it (0o666 less the umask), also when it
    replaces an existing one.
    """
    target = output_file("path", path, func="write_atomically")
    with atomic_output(target, suffix=".tmp") as f:
        f.write(data)


def save(
    model_or_state_dict: Any,
    path: str | os.PathLike,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write a model's ``state_dict()`` (or a dict of name → array) to a safetensors file.

    Parameters
    ----------
    model_or_state_dict : a model (anything with ``state_dict()``) or a mapping of str → ndarray.
    path : destination; its directory must exist. Replaced atomically if it exists.
    metadata : optional str → str map stored in the header's ``"__metadata__"`` (encode other
        values as JSON).

    Arrays are stored with their own dtype and shape (made C-contiguous); nothing is pickled.
    The header's keys are sorted, so identical weights and metadata give identical files.
    The path is checked before anything is serialised (see ``write_atomically``). A tensor
    named ``"__metadata__"`` is refused (``ValueError``): the format reserves that name for
    the header's metadata, so ``read`` could not read the file back.
    """
    st = _safetensors_numpy()
    state = _as_state_dict(model_or_state_dict, "save")
    if _RESERVED in state:
        raise ValueError(
            f"save: model_or_state_dict: the tensor name {_RESERVED!r} is reserved by the "
            "safetensors format (it holds the header's metadata; pass metadata= for that); "
            "give the tensor another name"
        )
    meta = _check_metadata(metadata, "save")
    target = output_file("path", path, func="save")
    # np.ascontiguousarray would turn a 0-d array (an optimiser's step count) into shape (1,)
    tensors = {k: np.asarray(v, order="C") for k, v in sorted(state.items())}
    write_atomically(target, _sorted_header(st.save(tensors, metadata=meta)))


def _sorted_header(serialized: bytes) -> bytes:
    """The same safetensors bytes with the JSON header's keys sorted (metadata included).

    The data section is untouched: its order (by alignment, then name) is already fixed,
    and the offsets in the header are relative to it. The header is padded with spaces to
    a multiple of 8 bytes, as safetensors pads it, so the data stays aligned.
    """
    n = int.from_bytes(serialized[:8], "little")
    header = json.loads(serialized[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + serialized[8 + n :]


#: safetensors' names of the float formats NumPy has no dtype for, in words
_DTYPE_WORDS = {"BF16": "bfloat16", "F8_E4M3": "float8 e4m3", "F8_E5M2": "float8 e5m2"}


def _numpy_lacks(dtype: Any) -> bool:
    """A safetensors dtype NumPy cannot hold: bfloat16 and the 8-, 6- and 4-bit floats."""
    return isinstance(dtype, str) and (dtype == "BF16" or dtype.startswith(("F8_", "F6_", "F4")))


#: The first bytes of a zip archive's first member (torch.save's format since PyTorch 1.6).
_ZIP_MAGIC = b"PK\x03\x04"


def _pytorch_checkpoint(raw: bytes) -> str:
    """What a file PyTorch wrote is, in words, or "" when it is not one: a zip archive (its
    first member ``NAME/data.pkl``: ``torch.save``'s format; another zip: TorchScript or
    ``.npz``) or a pickle of protocol 2 to 5 (opcode PROTO, byte 0x80, then the protocol:
    ``torch.save(..., _use_new_zipfile_serialization=False)``). Read from the magic bytes
    alone — nothing is unpickled or unzipped. A safetensors file's JSON header starts at byte
    8 with "{", which neither format has there, so a valid file is never taken for one."""
    if raw[8:9] == b"{":
        return ""
    if raw[:4] == _ZIP_MAGIC:
        # local file header: the name's length at bytes 26-27, the name from byte 30
        length = int.from_bytes(raw[26:28], "little")
        first = raw[30 : 30 + length].decode("utf-8", "replace")
        if first.endswith("data.pkl"):
            return "a PyTorch checkpoint (torch.save's zip archive, a pickle inside)"
        return (
            f"a zip archive (first member {first!r}: a PyTorch or TorchScript file, or "
            "NumPy's .npz)"
        )
    if raw[:1] == b"\x80" and raw[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return (
            f"a Python pickle (protocol {raw[1]}: PyTorch's legacy torch.save format, "
            "_use_new_zipfile_serialization=False)"
        )
    return ""


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: (``{name: array}``, the header's ``"__metadata__"`` or ``{}``),
    the arrays in the order the file stores them (by data offset), the same on every run.

    The file is read once, so the arrays and the metadata come from the same version of it.
    A file that is not valid safetensors (garbage, truncated, inconsistent header) raises
    ``ValueError`` naming the path; so does a PyTorch ``torch.save`` file (a zip archive or a
    pickle, told by its first bytes and never unpickled: the message says how to convert it
    once), a bfloat16 or float8 tensor (NumPy has no such
    dtype: the message says how to convert it); a missing file ``FileNotFoundError``, a directory
    ``IsADirectoryError``. A path that is not a regular file (a FIFO, whose reading would
    block, or a device such as ``/dev/zero``, which never ends) raises ``ValueError`` naming
    ``path`` before anything opens it.
    """
    return _read(path, who=None)


def _read(
    path: str | os.PathLike, *, who: str | None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``read``, its errors starting "WHO: " when ``who`` is given (a caller's function and
    argument, "fit: resume"), else "read: path: " (file errors) or the path (content)."""
    st = _safetensors_numpy()
    name = os.fspath(path)
    if who is None:
        raw = read_regular("path", path, func="read", expected="a safetensors file")
    else:
        raw = read_regular(who, path, expected="a safetensors file")
    prefix = "" if who is None else f"{who}: "

    def corrupt(exc: Exception) -> ValueError:
        return ValueError(
            f"{prefix}{name}: not a valid safetensors weights file (corrupt or truncated): {exc}"
        )

    pytorch = _pytorch_checkpoint(raw)
    if pytorch:
        raise ValueError(
            f"{prefix}{name}: {pytorch}, not a safetensors file; cnnmath never unpickles "
            "(loading a pickle runs whatever code it holds). Convert it once, in PyTorch: load "
            "it there (torch.load, model.load_state_dict), then safetensors.torch.save_file("
            "{k: v.contiguous() for k, v in model.state_dict().items()}, 'model.safetensors') "
            'and load that file (docs/models.md, "torchvision\'s weights, without pickle")'
        )
    if len(raw) < 8:
        raise corrupt(ValueError(f"{len(raw)} bytes, fewer than the 8 of the header length"))
    header_len = int.from_bytes(raw[:8], "little")
    if header_len > len(raw) - 8:
        raise corrupt(
            ValueError(
                f"its first 8 bytes give a header of {header_len} bytes, more than the "
                f"{len(raw) - 8} that follow them"
            )
        )
    try:
        header = json.loads(raw[8 : 8 + header_len].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except UnicodeDecodeError as exc:
        raise corrupt(ValueError(f"the header is not UTF-8 JSON text ({exc.reason})")) from exc
    except Exception as exc:
        raise corrupt(exc) from exc
    narrow = {
        k: v["dtype"]
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and _numpy_lacks(v.get("dtype"))
    }
    if narrow:
        kinds = sorted(set(narrow.values()))
        raise ValueError(
            f"{prefix}{name}: tensor(s) {list(narrow)} are stored as "
            f"{' and '.join(_DTYPE_WORDS.get(d, d) for d in kinds)}, which NumPy cannot "
            "hold; save them as float32 from PyTorch "
            "({k: v.float() for k, v in state_dict.items()})"
        )
    try:
        tensors = st.load(raw)
    except Exception as exc:  # safetensors raises its own SafetensorError (an Exception)
        raise corrupt(exc) from exc
    metadata = header.get("__metadata__") or {}
    stored = sorted(tensors, key=lambda k: (header[k]["data_offsets"][0], k))  # not hash order
    return {k: np.array(tensors[k]) for k in stored}, dict(metadata)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file as a dict name → ndarray (see ``read`` for errors)."""
    return read(path)[0]


def _at_graph_keys(
    model: Any, tensors: dict[str, np.ndarray], own: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The file's arrays keyed as ``model`` holds them: a key the model lacks that a loaded
    ONNX graph's ``initializer_names`` maps to one of its own keys (and that the file does
    not also give, and that the graph holds as read) is read at that key; so is a key the
    file has that is no initializer (a BatchNorm's ``num_batches_tracked``), renamed as its
    module's initializers are ("layer1.0.bn." → "layer1_0_bn.")."""
    names = getattr(model, "initializer_names", None)
    if not isinstance(names, dict):
        return tensors
    views: set[str] = getattr(model, "held_as_views", set())
    modules: dict[str, str] = {}  # the file's module prefix -> the graph's
    for name, key in names.items():
        (head, _, last), (target, _, own_last) = name.rpartition("."), key.rpartition(".")
        if head and target and last == own_last:
            modules.setdefault(head, target)
    keyed: dict[str, np.ndarray] = {}
    for key, value in tensors.items():
        head, _, last = key.rpartition(".")
        target = names.get(key, f"{modules[head]}.{last}" if head in modules else None)
        moved = key not in own and key not in views and target in own
        if moved and target is not None and target not in tensors and target not in keyed:
            keyed[target] = value
        else:
            keyed[key] = value
    return keyed


class Loaded(NamedTuple):
    """What ``load`` did: keys the model has but the file lacks, the reverse, and the metadata."""

    missing_keys: list[str]
    unexpected_keys: list[str]
    metadata: dict[str, str]


def load(model: Any, path: str | os.PathLike, strict: bool = True) -> Loaded:
    """Load a safetensors file (ours or ``safetensors.torch.save_file``'s) into ``model``.

    Every key of the file must name one of ``model.state_dict()``'s entries and have its
    shape; with ``strict=True`` (default) the two key sets must be equal. A missing key, an
    extra key or a wrong shape raises ``ValueError`` naming the key(s) and the file. Floating
    arrays are cast to the parameter's dtype (as PyTorch's ``load_state_dict``); a non-float
    array for a float parameter, or the reverse, raises ``TypeError``. Nothing is changed in
    the model unless every check passes.

    A graph ``cnnmath.onnx.load`` read holds each of the file's initializers at a key of its
    own ("layer1_0_conv1.weight" for PyTorch's "layer1.0.conv1.weight": its
    ``initializer_names``); a file keyed by the exporter's names (the PyTorch model's own
    ``state_dict``, exported with its BatchNorms kept) loads into it at those keys, except
    an initializer the graph holds in another form (``held_as_views``: a MatMul's weight
    transposed by its Linear), which stays a key of the file the model lacks.

    Returns ``Loaded(missing_keys, unexpected_keys, metadata)``.
    """
    if not callable(getattr(model, "load_state_dict", None)):
        raise TypeError(
            f"load: model: expected a model with state_dict()/load_state_dict(), got "
            f"{type(model).__name__}"
        )
    name = os.fspath(path)
    tensors, metadata = read(path)
    own = model.state_dict()
    tensors = _at_graph_keys(model, tensors, own)
    missing, unexpected, mismatch = key_mismatch(own, tensors)
    if strict and mismatch:
        raise ValueError(
            f"load: {name} does not match the model: {mismatch} (the model has {len(own)} "
            f"keys, the file {len(tensors)})"
        )
    converted: dict[str, np.ndarray] = {}
    for key, want in own.items():  # in the model's order, so the first bad key is reported
        if key not in tensors:
            continue
        value = tensors[key]
        if value.shape != want.shape:
            raise ValueError(
                f"load: {name}: key {key!r}: expected shape {want.shape}, got {value.shape}"
            )
        if value.dtype != want.dtype:
            if not (
                np.issubdtype(value.dtype, np.floating) and np.issubdtype(want.dtype, np.floating)
            ):
                raise TypeError(
                    f"load: {name}: key {key!r}: expected dtype {want.dtype}, got "
                    f"{value.dtype} (only floating-point arrays are cast)"
                )
            value = value.astype(want.dtype)
        converted[key] = value
    model.load_state_dict(converted, strict=strict)
    return Loaded(missing, unexpected, metadata)
