"""nn.CosineSimilarity and nn.PairwiseDistance as torch.nn's: the head of a siamese network
(one encoder read twice) in a Graph, forward and every gradient against PyTorch's autograd."""

import numpy as np
import pytest

from cnnmath import nn
from helpers import rel_error

torch = pytest.importorskip("torch")


def _encoder_pair(seed):
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten()
    ).double()
    torch.manual_seed(seed)
    for p in tm.parameters():
        torch.nn.init.normal_(p, std=0.4)
    ours = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64), nn.ReLU(), nn.Flatten())
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return ours, tm


@pytest.mark.parametrize(
    "ours_head, torch_head",
    [
        (nn.CosineSimilarity(dim=1), torch.nn.CosineSimilarity(dim=1)),
        (nn.CosineSimilarity(dim=-1, eps=0.5), torch.nn.CosineSimilarity(dim=-1, eps=0.5)),
        (nn.PairwiseDistance(), torch.nn.PairwiseDistance()),
        (nn.PairwiseDistance(p=1.0, keepdim=True), torch.nn.PairwiseDistance(p=1.0, keepdim=True)),
    ],
)
def test_a_siamese_head_is_torchs(ours_head, torch_head):
    encoder, tencoder = _encoder_pair(3)
    g = nn.Graph(inputs=("a", "b"))
    g.add_module("encoder", encoder)
    g.add_module("head", ours_head)
    g.set_output(g.add(ours_head, g.add(encoder, "a"), g.add(encoder, "b", name="encoder_b")))
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 2, 4, 4)), rng.standard_normal((5, 2, 4, 4))
    ta, tb = (torch.from_numpy(v.copy()).requires_grad_() for v in (a, b))
    ty = torch_head(tencoder(ta), tencoder(tb))
    G = rng.standard_normal(ty.shape)
    ty.backward(torch.from_numpy(G))
    y = g(a, b)
    assert y.shape == tuple(ty.shape) and rel_error(y, ty.detach().numpy()) <= 1e-12
    ga, gb = g.backward(G)
    assert rel_error(ga, ta.grad.numpy()) <= 1e-12 and rel_error(gb, tb.grad.numpy()) <= 1e-12
    theirs = dict(tencoder.named_parameters())
    for name, p in encoder.named_parameters():
        assert rel_error(p.grad, theirs[name].grad.numpy()) <= 1e-12, name
    assert repr(ours_head) == repr(torch_head)


def test_bad_settings_name_themselves():
    with pytest.raises(TypeError, match="CosineSimilarity: dim: expected an int"):
        nn.CosineSimilarity(dim=1.5)
    with pytest.raises(ValueError, match="PairwiseDistance: p"):
        nn.PairwiseDistance(p=-1)
    with pytest.raises(ValueError, match="x2: expected the shape of x1"):
        nn.PairwiseDistance()(np.zeros((2, 3)), np.zeros((3, 3)))
