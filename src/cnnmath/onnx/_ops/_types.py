"""The element types a Cast (and ConstantOfShape's value) may have: ONNX type code ->
NumPy type, and back.
"""

from __future__ import annotations

import numpy as np

# The element types a Cast (and ConstantOfShape's value) may have: ONNX code -> NumPy type.
_CAST_TYPES = {1: np.float32, 11: np.float64, 7: np.int64, 6: np.int32, 9: np.bool_}
_FLOAT_TYPES = (1, 11)  # ONNX's FLOAT and DOUBLE
_ONNX_TYPES = {np.dtype(t): code for code, t in _CAST_TYPES.items()}
