"""``Module.to``/``cpu`` and a layer's ``dtype`` as PyTorch's scripts pass them: the CPU
device changes nothing, another device is refused, and nothing that is not a float dtype
passes as float64 (NumPy compares a dtype equal to None)."""

import numpy as np
import pytest

from cnnmath import nn

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("device", ["cpu", "cpu:0", None, "torch-cpu"])
def test_the_cpu_device_changes_nothing(device):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    weight = model[0].weight
    device = torch.device("cpu") if device == "torch-cpu" else device
    assert model.to(device) is model and model.cpu() is model
    assert model[0].weight is weight and weight.dtype == np.float32
    assert model[1].running_mean.dtype == np.float32


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps", "torch-cuda"])
def test_other_devices_are_refused_by_name(device):
    model = nn.Linear(2, 2)
    device = torch.device("cuda") if device == "torch-cuda" else device
    with pytest.raises(ValueError, match=r"Linear.to: .*cnnmath computes with NumPy on the CPU"):
        model.to(device)
    assert model.weight.dtype == np.float32


@pytest.mark.parametrize("dtype", ["cpu", "float16", np.int64, "complex64"])
def test_a_layer_refuses_what_is_not_float32_or_float64(dtype):
    with pytest.raises(TypeError, match=r"Linear: dtype: expected float32 or float64"):
        nn.Linear(2, 2, dtype=dtype)


def test_dtype_none_is_torchs_default():
    assert nn.Conv2d(1, 1, 3, dtype=None).weight.dtype == np.float32
    assert torch.nn.Conv2d(1, 1, 3, dtype=None).weight.dtype == torch.float32


def test_torchs_dtypes_and_the_device_and_dtype_forms():
    """``to(torch.float64)``, ``to("cpu", dtype)``, ``to(device=..., dtype=...)`` and a
    layer's ``dtype=torch.float64``, as a ported script writes them."""
    model = nn.Linear(2, 2)
    assert model.to(torch.float64).weight.dtype == np.float64
    assert model.to("cpu", np.float32).weight.dtype == np.float32
    assert model.to(device=torch.device("cpu"), dtype=torch.float64).weight.dtype == np.float64
    assert nn.Conv2d(1, 1, 3, dtype=torch.float64).weight.dtype == np.float64
    with pytest.raises(TypeError, match=r"Linear.to: expected at most one dtype"):
        model.to(np.float32, dtype=np.float64)
    with pytest.raises(ValueError, match=r"Linear.to: 'cuda'"):
        model.to(device="cuda", dtype=np.float32)
    with pytest.raises(TypeError, match=r"expected float32 or float64, got torch.float16"):
        model.to(torch.float16)
