"""nn.ModuleList and nn.ModuleDict against torch.nn's: the same repr, state_dict keys after
every list operation, and a hand-written model that keeps its blocks in them trains as the
same model in PyTorch."""

import numpy as np
import pytest

from cnnmath import nn
from helpers import rel_error

torch = pytest.importorskip("torch")
tnn = torch.nn


def _pair(n=4):
    ours = nn.ModuleList(nn.Linear(3, 3, rng=i, dtype=np.float64) for i in range(n))
    theirs = tnn.ModuleList(tnn.Linear(3, 3) for _ in range(n))
    return ours, theirs


def test_reprs_are_torchs():
    cases = [
        (nn.ModuleList(), tnn.ModuleList()),
        (
            nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh(), nn.ReLU()]),
            tnn.ModuleList([tnn.ReLU(), tnn.ReLU(), tnn.Tanh(), tnn.ReLU()]),
        ),
        (
            nn.ModuleList([nn.Sequential(nn.Linear(2, 2), nn.ReLU())] * 3),
            tnn.ModuleList([tnn.Sequential(tnn.Linear(2, 2), tnn.ReLU())] * 3),
        ),
        (
            nn.ModuleDict({"cls": nn.Linear(8, 10), "box": nn.ModuleList([nn.ReLU()])}),
            tnn.ModuleDict({"cls": tnn.Linear(8, 10), "box": tnn.ModuleList([tnn.ReLU()])}),
        ),
    ]
    for ours, theirs in cases:
        assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m, new: m.append(new()),
        lambda m, new: m.insert(1, new()),
        lambda m, new: m.insert(4, new()),
        lambda m, new: m.extend([new(), new()]),
        lambda m, new: m.__delitem__(0),
        lambda m, new: m.__delitem__(slice(1, 3)),
        lambda m, new: m.__setitem__(-2, new()),
    ],
)
def test_list_edits_give_torchs_keys(edit):
    ours, theirs = _pair()
    for module, new in ((ours, lambda: nn.Linear(3, 5, rng=0)), (theirs, lambda: tnn.Linear(3, 5))):
        edit(module, new)
    want = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    got = {k: v.shape for k, v in ours.state_dict().items()}
    assert list(got) == list(want) and got == want
    assert len(ours) == len(theirs)
    sliced = ours[1:3]
    assert isinstance(sliced, nn.ModuleList) and list(sliced.state_dict()) == list(
        theirs[1:3].state_dict()
    )


def test_containers_take_containers_as_torchs():
    ours, theirs = _pair(2)
    other, t_other = _pair(1)
    for a, b in ((ours, theirs), (nn.ModuleList(ours), torch.nn.ModuleList(theirs))):
        assert len(a) == len(b) == 2
    assert list((ours + other).state_dict()) == list((theirs + t_other).state_dict())
    ours += other
    theirs += t_other
    ours.extend(other)
    theirs.extend(t_other)
    assert list(ours.state_dict()) == list(theirs.state_dict()) and len(ours) == 4
    assert ours.pop(1) is not None and len(ours) == 3
    assert list(ours.state_dict()) == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "2.weight",
        "2.bias",
    ]
    a = nn.ModuleDict({"x": nn.ReLU()})
    a.update(nn.ModuleDict({"y": nn.Tanh()}))
    assert nn.ModuleDict(a).keys() == ["x", "y"]

    class Blocks(nn.ModuleList):
        pass

    t_blocks = type("Blocks", (tnn.ModuleList,), {})
    assert repr(Blocks([nn.ReLU()])) == repr(t_blocks([tnn.ReLU()]))


def test_negative_insert_is_a_lists():
    # PyTorch's insert(-1, m) files m under the key "-1"; here it goes before the last
    # module, as list.insert does
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    blocks = nn.ModuleList([a, b])
    blocks.insert(-1, c)
    assert list(blocks) == [a, c, b]
    blocks.insert(-3, nn.ReLU())
    assert list(blocks)[1:] == [a, c, b]


def test_dict_operations_give_torchs_keys():
    ours = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.Linear(3, 1)})
    theirs = tnn.ModuleDict({"a": tnn.Linear(2, 3), "b": tnn.Linear(3, 1)})
    for m, lin in ((ours, nn.Linear), (theirs, tnn.Linear)):
        m["c"] = lin(1, 1)
        m.update([("a", lin(2, 4)), ("d", lin(4, 4))])
        del m["b"]
        m.pop("c")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours.keys()) == list(theirs.keys()) == list(ours) == ["a", "d"]
    assert "a" in ours and "b" not in ours and len(ours) == 2
    assert [type(v).__name__ for v in ours.values()] == ["Linear", "Linear"]
    assert ours.items()[0][1] is ours["a"]


class _Net(nn.Module):
    """A hand-written residual MLP: blocks in a ModuleList, two heads in a ModuleDict."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(6, 6, rng=i, dtype=np.float64), nn.Tanh()) for i in range(3)
        )
        self.heads = nn.ModuleDict(
            {
                "a": nn.Linear(6, 2, rng=7, dtype=np.float64),
                "b": nn.Linear(6, 3, rng=8, dtype=np.float64),
            }
        )

    def forward(self, x):
        for block in self.blocks:
            x = x + block(x)
        return np.concatenate([self.heads["a"](x), self.heads["b"](x)], axis=1)

    def backward(self, g):
        g_x = self.heads["a"].backward(g[:, :2]) + self.heads["b"].backward(g[:, 2:])
        for block in reversed(self.blocks):
            g_x = g_x + block.backward(g_x)
        return g_x


class _TorchNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = tnn.ModuleList(tnn.Sequential(tnn.Linear(6, 6), tnn.Tanh()) for _ in range(3))
        self.heads = tnn.ModuleDict({"a": tnn.Linear(6, 2), "b": tnn.Linear(6, 3)})

    def forward(self, x):
        for block in self.blocks:
            x = x + block(x)
        return torch.cat([self.heads["a"](x), self.heads["b"](x)], dim=1)


def test_a_hand_written_model_with_lists_is_torchs():
    ours, theirs = _Net(), _TorchNet().double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs).replace("_TorchNet", "_Net")
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 6))
    g = np.random.default_rng(1).standard_normal((4, 5))
    tx = torch.from_numpy(x).requires_grad_()
    out = theirs(tx)
    (out * torch.from_numpy(g)).sum().backward()
    assert rel_error(ours(x), out.detach().numpy()) < 1e-12
    assert rel_error(ours.backward(g), tx.grad.numpy()) < 1e-12
    grads = dict(theirs.named_parameters())
    for key, p in ours.named_parameters():
        assert rel_error(p.grad, grads[key].grad.numpy()) < 1e-12, key
    ours.eval()
    assert not ours.blocks[2][1].training and not ours.heads["b"].training
    assert ours.to(np.float32).heads["a"].weight.dtype == np.float32


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: nn.ModuleList([nn.ReLU(), 3]), TypeError, ["modules[1]", "int"]),
        (lambda: nn.ModuleList(nn.ReLU()), TypeError, ["modules", "ReLU"]),
        (lambda: nn.ModuleList([nn.ReLU()])[1], IndexError, ["index", "1"]),
        (lambda: nn.ModuleList([nn.ReLU()])["0"], TypeError, ["index", "'0'"]),
        (lambda: nn.ModuleList([nn.ReLU()]).insert(3, nn.ReLU()), IndexError, ["index", "3"]),
        (lambda: nn.ModuleList([nn.ReLU()])(np.zeros(2)), NotImplementedError, ["ModuleList"]),
        (lambda: nn.ModuleDict({"a.b": nn.ReLU()}), KeyError, ["key", "'a.b'"]),
        (lambda: nn.ModuleDict({"a": 1}), TypeError, ["['a']", "int"]),
        (lambda: nn.ModuleDict({"a": nn.ReLU()})["b"], KeyError, ["'b'", "['a']"]),
        (lambda: nn.ModuleDict([("a", nn.ReLU(), 1)]), TypeError, ["pairs"]),
    ],
)
def test_bad_use_is_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)


def test_a_list_cannot_hold_itself():
    blocks = nn.ModuleList()
    with pytest.raises(ValueError, match="contains this ModuleList"):
        blocks.append(nn.Sequential(blocks))
