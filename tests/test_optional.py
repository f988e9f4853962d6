"""A missing optional dependency is named together with the extra that installs it."""

import sys

import pytest

from cnnmath import data, images, nn, weights
from cnnmath._optional import require


def test_require_imports_what_is_there():
    assert require("json", "none").dumps([1]) == "[1]"


def test_require_names_the_extra():
    with pytest.raises(
        ImportError, match=r'loading it needs no_such_pkg_.*pip install "cnnmath\[image\]"'
    ):
        require("no_such_pkg_x1.sub", "image", "loading it")


@pytest.mark.parametrize(
    "blocked, call, extra",
    [
        ("PIL", lambda tmp: images.load_image(tmp / "a.png"), "image"),
        ("matplotlib", lambda tmp: images.sample_image_path(), "plot"),
        (
            "safetensors",
            lambda tmp: weights.save(nn.Linear(2, 1, rng=0), tmp / "w.safetensors"),
            "weights",
        ),
        ("sklearn", lambda tmp: data._digits_split.__wrapped__(), "data"),
    ],
)
def test_library_calls_name_their_extra(blocked, call, extra, tmp_path, monkeypatch):
    # None in sys.modules makes `import blocked` (and its submodules) fail, as if not installed
    for name in [m for m in sys.modules if m == blocked or m.startswith(blocked + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, blocked, None)
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(ImportError, match=rf'pip install "cnnmath\[{extra}\]"'):
        call(tmp_path)
    assert not (tmp_path / "w.safetensors").exists()
