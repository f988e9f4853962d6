"""An empty batch (N = 0) through the ops and a model, as PyTorch allows it: empty outputs and
input gradients, zero parameter gradients. Empty channels, kernels and images stay refused."""

import numpy as np
import pytest

from cnnmath import nn, ops

DT = np.float32


def _torch_step(torch, op, x, w, **kw):
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    y = op(tx, tw, **kw)
    y.backward(torch.ones_like(y))
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()


@pytest.mark.parametrize("transpose", [False, True])
def test_convolutions_of_an_empty_batch_are_pytorchs(transpose):
    torch = pytest.importorskip("torch")
    x = np.zeros((0, 4, 7, 6), DT)
    w = np.ones((4, 6, 3, 3) if transpose else (6, 4, 3, 3), DT)
    b = np.ones(6, DT)
    kw = {"stride": 2, "padding": 1}
    if transpose:
        y = ops.conv_transpose2d(x, w, b, output_padding=1, **kw)
        grads = ops.conv_transpose2d_backward(np.ones(y.shape, DT), x, w, output_padding=1, **kw)
        want = _torch_step(
            torch, torch.nn.functional.conv_transpose2d, x, w, output_padding=1, **kw
        )
    else:
        y = ops.conv2d(x, w, b, **kw)
        grads = ops.conv2d_backward(np.ones(y.shape, DT), x, w, **kw)
        want = _torch_step(torch, torch.nn.functional.conv2d, x, w, **kw)
    assert y.shape == want[0].shape and y.dtype == DT
    grad_x, grad_w, grad_b = grads
    assert grad_x.shape == x.shape and grad_x.dtype == DT
    np.testing.assert_array_equal(grad_w, want[2])  # zeros, of the weight's shape
    np.testing.assert_array_equal(grad_b, np.zeros(6, DT))


def test_empty_channels_kernel_or_image_are_still_refused():
    w = np.ones((6, 4, 3, 3), DT)
    for x, weight in [
        (np.zeros((2, 0, 7, 7), DT), np.ones((6, 0, 3, 3), DT)),
        (np.zeros((2, 4, 0, 7), DT), w),
        (np.zeros((2, 4, 7, 7), DT), np.ones((6, 4, 0, 3), DT)),
    ]:
        with pytest.raises(ValueError, match="conv2d: expected non-empty channels, kernel and"):
            ops.conv2d(x, weight)


@pytest.mark.parametrize(
    "forward, backward, args",
    [
        (ops.max_pool2d, ops.max_pool2d_backward, (2,)),
        (ops.avg_pool2d, ops.avg_pool2d_backward, (3, 2, 1)),
        (ops.adaptive_max_pool2d, ops.adaptive_max_pool2d_backward, (1,)),
        (ops.adaptive_avg_pool2d, ops.adaptive_avg_pool2d_backward, ((3, 2),)),
    ],
)
def test_pooling_backward_of_an_empty_batch(forward, backward, args):
    x = np.zeros((0, 3, 6, 6), DT)
    y = forward(x, *args)
    y = y[0] if isinstance(y, tuple) else y
    grad_x = backward(np.zeros(y.shape, DT), x, *args)
    assert grad_x.shape == x.shape and grad_x.dtype == DT


def test_a_training_step_on_an_empty_batch_adds_nothing():
    """A Sequential with the fused ReLU + max pooling, Flatten and Linear: forward, backward
    with and without the input gradient, every parameter gradient stays zero."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, rng=0),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 5, rng=0),
    )
    x = np.zeros((0, 3, 5, 5), DT)
    y = model(x)
    assert y.shape == (0, 5)
    assert model.backward(np.zeros(y.shape, DT), input_grad=False) is None
    assert model.backward(np.zeros(y.shape, DT)).shape == x.shape
    assert all(not p.grad.any() for p in model.parameters())
