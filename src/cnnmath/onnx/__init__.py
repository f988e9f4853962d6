"""ONNX in and out: ``load`` turns an ONNX file into a :class:`cnnmath.nn.Graph` that runs,
shows its nodes (``walk``) and trains; ``save`` writes a cnnmath model as ONNX.

Both need the ``onnx`` package (``pip install "cnnmath[onnx]"``) for the protobuf format only:
cnnmath executes the graph itself.
"""

from __future__ import annotations

from .load import load

try:  # save.py is written by the export side; load works without it
    from .save import save
except ImportError as _missing:  # pragma: no cover - only while save.py is absent
    _reason = str(_missing)

    def save(*args: object, **kwargs: object) -> None:  # type: ignore[misc]
        """Unavailable: cnnmath.onnx.save could not be imported."""
        raise ImportError(f"cnnmath.onnx.save is unavailable: {_reason}")


__all__ = ["load", "save"]
