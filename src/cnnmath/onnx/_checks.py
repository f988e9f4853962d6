"""Refusals for untrusted ONNX files: parsing, tensor sizes, external data, cycles.

A model file is data a user hands us. It is parsed as a protobuf message (never unpickled,
never executed); every tensor's declared size is checked against the bytes it carries before
an array is made of them; external data is read only from regular files inside the model's
own directory; and the graph must be a DAG whose every value is defined once. Each refusal
is a ``ValueError`` whose message starts with ``cnnmath.onnx.load:`` and names what is wrong.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FUNC = "cnnmath.onnx.load"

#: ONNX's Pad modes in cnnmath.ops.pad's (PyTorch's) names; save writes the inverse.
PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}

# ONNX TensorProto.DataType -> (NumPy dtype, the typed field that holds the values)
_DTYPES: dict[int, tuple[Any, str]] = {
    1: (np.float32, "float_data"),
    2: (np.uint8, "int32_data"),
    3: (np.int8, "int32_data"),
    4: (np.uint16, "int32_data"),
    5: (np.int16, "int32_data"),
    6: (np.int32, "int32_data"),
    7: (np.int64, "int64_data"),
    9: (np.bool_, "int32_data"),
    10: (np.float16, "int32_data"),
    11: (np.float64, "double_data"),
}


def parse_model(data: bytes) -> Any:
    """The ModelProto of ``data``, or a ValueError for bytes that are not a whole ONNX model."""
    import onnx

    if not data:
        raise ValueError(f"{FUNC}: model: expected an ONNX protobuf, got 0 bytes")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError and friends: the bytes are not a model
        raise ValueError(
            f"{FUNC}: model: not a valid ONNX protobuf (malformed or truncated, "
            f"{len(data)} bytes): {err}"
        ) from None
    if not model.HasField("graph"):
        raise ValueError(f"{FUNC}: model: the protobuf holds no graph (not an ONNX model?)")
    return model


def _external_bytes(tensor: Any, base: Path | None) -> bytes:
    """The bytes of an externally stored tensor, read from a regular file under ``base``."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    where = f"tensor {tensor.name!r}"
    if base is None:
        raise ValueError(
            f"{FUNC}: {where}: its data is stored outside the model (external data), which "
            "needs the model's path; load the file by path, not as bytes"
        )
    location = info.get("location", "")
    rel = Path(location)
    if not location or rel.is_absolute() or ".." in rel.parts or location.startswith(("/", "\\")):
        raise ValueError(
            f"{FUNC}: {where}: external data location {location!r} leaves the model's directory "
            "(expected a relative path without '..')"
        )
    path = base
    for part in rel.parts:
        path = path / part
        if path.is_symlink():
            raise ValueError(
                f"{FUNC}: {where}: external data location {location!r} goes through a symbolic "
                "link; refused (it could point outside the model's directory)"
            )
    root = base.resolve()
    resolved = path.resolve()
    if root not in resolved.parents or not resolved.is_file():
        raise ValueError(
            f"{FUNC}: {where}: external data location {location!r} is not a regular file "
            "inside the model's directory"
        )
    try:
        offset = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise ValueError(f"{FUNC}: {where}: external data offset/length are not integers") from None
    size = resolved.stat().st_size
    beyond = length is not None and (length < 0 or offset + length > size)
    if offset < 0 or offset > size or beyond:  # no length: from the offset to the file's end
        raise ValueError(
            f"{FUNC}: {where}: external data range offset={offset} length={length} lies outside "
            f"the file {location!r} ({size} bytes)"
        )
    with open(resolved, "rb") as f:
        f.seek(offset)
        return f.read(size - offset if length is None else length)


def _type_name(code: int) -> str:
    """ONNX's name of element type ``code`` (FLOAT8E4M3FN, INT4, …) and the code."""
    import onnx

    try:
        return f"{onnx.TensorProto.DataType.Name(code)} ({code})"
    except ValueError:
        return str(code)


def tensor_array(tensor: Any, base: Path | None = None) -> np.ndarray:
    """A TensorProto as a fresh NumPy array, after checking that its declared shape and its
    data agree (a mismatch, a negative dimension or an unsupported type is refused)."""
    where = f"tensor {tensor.name!r}"
    if tensor.data_type not in _DTYPES:
        raise ValueError(
            f"{FUNC}: {where}: data type {_type_name(tensor.data_type)} is not supported "
            "(expected float32, float64, float16, bool or an 8-, 16-, 32- or 64-bit integer type)"
        )
    dtype, field = _DTYPES[tensor.data_type]
    dims = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in dims):
        raise ValueError(f"{FUNC}: {where}: negative dimension in its shape {dims}")
    count = 1
    for d in dims:
        count *= d
    itemsize = np.dtype(dtype).itemsize
    if tensor.data_location == 1:  # EXTERNAL
        raw = _external_bytes(tensor, base)
    elif tensor.HasField("raw_data"):
        raw = tensor.raw_data
    else:
        raw = None
    if raw is not None:
        if len(raw) != count * itemsize:
            raise ValueError(
                f"{FUNC}: {where}: declared shape {dims} ({count} values of {itemsize} bytes) "
                f"disagrees with its data ({len(raw)} bytes)"
            )
        return (
            np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(dims)
        )
    values = getattr(tensor, field)
    if len(values) != count:
        raise ValueError(
            f"{FUNC}: {where}: declared shape {dims} ({count} values) disagrees with its data "
            f"({len(values)} values)"
        )
    if tensor.data_type == 10:  # float16 travels as its bit patterns in int32_data
        return np.array(values, dtype=np.uint16).view(np.float16).reshape(dims)
    return np.array(values, dtype=dtype).reshape(dims)


def topological_order(nodes: Sequence[Any], defined: Iterable[str]) -> list[int]:
    """Indices of ``nodes`` in an order where each node follows the nodes that write its
    inputs; refuses a value written twice, a value read but never written, and a cycle."""
    writer: dict[str, int] = {}
    known = set(defined)
    for i, node in enumerate(nodes):
        for out in node.output:
            if not out:
                continue
            if out in writer or out in known:
                raise ValueError(
                    f"{FUNC}: node {node.name!r} ({node.op_type}): output {out!r} is already "
                    "defined (every value must be written once)"
                )
            writer[out] = i
    waiting = [0] * len(nodes)
    readers: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    for i, node in enumerate(nodes):
        for value in {v for v in node.input if v}:
            if value in writer:
                waiting[i] += 1
                readers[writer[value]].append(i)
            elif value not in known:
                raise ValueError(
                    f"{FUNC}: node {node.name!r} ({node.op_type}): input {value!r} is not a graph "
                    "input, an initializer or an output of any node"
                )
    ready = deque(i for i in range(len(nodes)) if waiting[i] == 0)
    order: list[int] = []
    while ready:
        i = ready.popleft()
        order.append(i)
        for j in readers[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    if len(order) != len(nodes):
        stuck = [nodes[i].name or nodes[i].op_type for i in range(len(nodes)) if waiting[i]]
        raise ValueError(
            f"{FUNC}: graph: the nodes {stuck[:5]} form a cycle (a graph must be a DAG)"
        )
    return order


def model_directory(path: str | os.PathLike[str]) -> Path:
    """The directory that external data of the model at ``path`` must stay inside."""
    return Path(os.path.abspath(path)).parent
