"""A PyTorch ``torch.save`` file given to ``weights.load``: named for what it is (a zip
archive, or a legacy pickle), with the one-time conversion to safetensors, never unpickled.

The files are written by torch itself (the witness), a small torch model's state_dict in the
current zip format and in the legacy pickle one (``_use_new_zipfile_serialization=False``).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnmath import nn, weights

pytest.importorskip("safetensors")


def torch_linear(torch):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 2))


def ours():
    return nn.Sequential(nn.Linear(3, 2))


@pytest.mark.parametrize(
    "legacy, pattern",
    [
        (False, r"a PyTorch checkpoint \(torch\.save's zip archive, a pickle inside\)"),
        (True, r"a Python pickle \(protocol 2: PyTorch's legacy torch\.save format"),
    ],
    ids=["zip", "legacy-pickle"],
)
def test_a_torch_save_file_is_named_with_its_conversion(tmp_path, monkeypatch, legacy, pattern):
    torch = pytest.importorskip("torch")
    path = tmp_path / "r18.pth"
    state = torch_linear(torch).state_dict()
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)

    import pickle

    def never(*args, **kwargs):
        raise AssertionError("weights.load unpickled the file")

    monkeypatch.setattr(pickle, "load", never)
    monkeypatch.setattr(pickle, "loads", never)
    model = ours()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    for call in (lambda: weights.load(model, path), lambda: weights.read(path)):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert str(path) in message
        assert re.search(pattern, message), message
        assert "not a safetensors file" in message
        assert "safetensors.torch.save_file(" in message and "docs/models.md" in message
        assert "corrupt" not in message and "header of" not in message
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    # following the message: the state_dict saved by safetensors.torch loads
    safetensors_torch = pytest.importorskip("safetensors.torch")
    converted = tmp_path / "model.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in state.items()}, converted)
    weights.load(model, converted)
    np.testing.assert_array_equal(model.state_dict()["0.weight"], state["0.weight"].numpy())


def test_another_zip_archive_is_named_as_a_zip(tmp_path):
    """A NumPy .npz (a zip of .npy members, written by NumPy) is said to be a zip archive."""
    path = tmp_path / "w.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"a zip archive \(first member 'a\.npy'") as info:
        weights.load_state_dict(path)
    assert "not a safetensors file" in str(info.value)
