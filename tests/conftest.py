"""Shared test settings: a bounded hypothesis profile so the suite stays within minutes."""

import os

import pytest
from hypothesis import HealthCheck, settings

from cnnmath.ops import _threads

# "ci" (the default) is derandomized: the same examples every run, so CI cannot turn red on a
# draw nobody has seen; "thorough" explores new random examples (run it before a release:
# CNNMATH_HYPOTHESIS_PROFILE=thorough pytest -k hypothesis).
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=400, deadline=None)
settings.load_profile(os.environ.get("CNNMATH_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _fresh_thread_timings(monkeypatch):
    """Each test starts with no measured region or op call (`_threads._timings`,
    `_threads._op_timings`): what one test's calls measured on this machine's load must not
    decide how the next one's run."""
    monkeypatch.setattr(_threads, "_timings", {})
    monkeypatch.setattr(_threads, "_op_timings", {})
    monkeypatch.setattr(_threads, "_remembered_ops", set())


@pytest.fixture
def one_torch_thread():
    """PyTorch at one thread for the test (its count put back after): a witness model's
    numbers then do not depend on how torch splits its reductions, and it does not compete
    with cnnmath's own threads."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
