"""ad.nn: finding parameters, layers, state dicts and losses.

Losses are checked against formulas written out in numpy (values, and the
gradients (softmax - one-hot) / N and (σ(x) - t) / N), against central
differences, and, where PyTorch is installed (it is optional: the benchmarks'
peer), against torch.nn.functional.
"""

from __future__ import annotations

import numpy as np
import pytest

import ad
from ad import nn
from ad.check import gradcheck

rng = np.random.default_rng(11)


# ---------------------------------------------------------------- parameters

class Block(nn.Module):
    def __init__(self):
        self.first = nn.Linear(3, 4)
        self.layers = [nn.Linear(4, 4), (nn.Tanh(), nn.Linear(4, 2, bias=False))]
        self.table = {"scale": ad.tensor(np.ones(2), requires_grad=True)}
        self.constant = ad.tensor(np.ones(2))                  # requires no grad: not a parameter
        self.shared = self.first                               # the same module again

    def forward(self, x):
        h = self.layers[0](ad.tanh(self.first(x)))
        return self.layers[1][1](self.layers[1][0](h)) * self.table["scale"] * self.constant


def test_parameters_are_found_in_attributes_lists_tuples_and_dicts_each_once_in_order():
    names = [name for name, _ in Block().named_parameters()]
    assert names == ["first.weight", "first.bias", "layers.0.weight", "layers.0.bias",
                     "layers.1.1.weight", "table.scale"]
    block = Block()
    assert [id(p) for p in block.parameters()] == [id(p) for _, p in block.named_parameters()]


def test_a_tensor_shared_by_two_modules_is_one_parameter():
    a = nn.Linear(2, 2)
    b = nn.Linear(2, 2)
    b.weight = a.weight
    model = nn.Sequential(a, b)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_modules_that_refer_to_each_other_do_not_loop():
    a, b = nn.Sequential(nn.Linear(2, 2)), nn.Sequential(nn.Linear(2, 2))
    a.other, b.other = b, a
    assert len(a.parameters()) == 4


def test_zero_grad_forgets_every_gradient():
    model = Block()
    model(rng.standard_normal((5, 3))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_linear_initialises_like_pytorch_and_seed_makes_it_repeatable():
    nn.seed(3)
    first = nn.Linear(100, 50)
    nn.seed(3)
    again = nn.Linear(100, 50)
    np.testing.assert_array_equal(first.weight.numpy(), again.weight.numpy())
    assert first.weight.shape == (100, 50) and first.bias.shape == (50,)
    for p in (first.weight, first.bias):
        assert np.abs(p.numpy()).max() <= 0.1 and np.abs(p.numpy()).max() > 0.09    # ±1/√100
    other = nn.Linear(100, 50, rng=np.random.default_rng(3))
    assert not np.array_equal(other.weight.numpy(), nn.Linear(100, 50).weight.numpy())


def test_linear_computes_x_at_w_plus_b():
    layer = nn.Linear(3, 2)
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer(x).numpy(), x @ layer.weight.numpy() + layer.bias.numpy())
    assert nn.Linear(3, 2, bias=False)(x).shape == (4, 2)


def test_mlp_and_sequential():
    model = nn.MLP([4, 8, 8, 3], activation=nn.Tanh)
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert len(model) == 5 and isinstance(model[1], nn.Tanh)
    assert model(rng.standard_normal((2, 4))).shape == (2, 3)
    with pytest.raises(ValueError, match="MLP: sizes must name"):
        nn.MLP([4])


def test_float32_models_stay_float32_end_to_end():
    model = nn.MLP([4, 8, 3], dtype=np.float32)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    for loss in (nn.cross_entropy(model(x), [0, 1, 2, 0, 1, 2]),
                 nn.mse_loss(model(x), np.zeros((6, 3))),
                 nn.binary_cross_entropy_with_logits(model(x), np.ones((6, 3)))):
        assert loss.dtype == np.float32
        model.zero_grad()
        loss.backward()
        assert all(p.grad.dtype == np.float32 for p in model.parameters())


# ---------------------------------------------------------------- state dicts

def test_state_dict_round_trips_through_a_file(tmp_path):
    model = nn.MLP([3, 5, 2])
    np.savez(tmp_path / "model.npz", **model.state_dict())
    other = nn.MLP([3, 5, 2])
    with np.load(tmp_path / "model.npz") as saved:
        other.load_state_dict(saved)
    x = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())


def test_state_dict_holds_copies():
    model = nn.Linear(2, 2)
    state = model.state_dict()
    state["weight"][...] = 0
    assert model.weight.numpy().any()


@pytest.mark.parametrize("change, error, message", [
    (lambda s: s.pop("0.bias"), KeyError, r"missing \['0\.bias'\], unexpected \[\]"),
    (lambda s: s.update(extra=np.ones(1)), KeyError, r"missing \[\], unexpected \['extra'\]"),
    (lambda s: s.update({"0.weight": np.ones((2, 2))}), ValueError,
     r"load_state_dict: 0\.weight has shape \(3, 5\), the state has shape \(2, 2\)"),
])
def test_load_state_dict_refuses_what_does_not_fit(change, error, message):
    model = nn.MLP([3, 5, 2])
    state = model.state_dict()
    before = model.state_dict()
    change(state)
    with pytest.raises(error, match=message):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():        # nothing half-loaded
        np.testing.assert_array_equal(value, before[name])


# ---------------------------------------------------------------- losses

def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_cross_entropy_value_and_gradient_by_formula():
    z = rng.standard_normal((6, 4))
    labels = np.array([0, 3, 1, 1, 2, 0])
    logits = ad.tensor(z, requires_grad=True)
    loss = nn.cross_entropy(logits, labels)
    loss.backward()
    p = softmax(z)
    np.testing.assert_allclose(loss.item(), -np.mean(np.log(p[np.arange(6), labels])), rtol=1e-12)
    np.testing.assert_allclose(logits.grad.numpy(), (p - np.eye(4)[labels]) / 6, rtol=1e-12, atol=1e-15)
    assert gradcheck(lambda z: nn.cross_entropy(z, labels), [z]).ok


def test_cross_entropy_is_stable_for_huge_logits():
    logits = ad.tensor([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], requires_grad=True)
    loss = nn.cross_entropy(logits, [0, 2])
    loss.backward()
    expected = (0.0 + 1 + np.log1p(np.exp(-1.0))) / 2        # row 2: label 999, max 1000
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    assert np.isfinite(logits.grad.numpy()).all()


@pytest.mark.parametrize("labels, error, message", [
    ([0, 1], ValueError, r"cross_entropy: logits must have shape \(batch, classes\) and labels \(batch,\); "
                         r"got \(3, 4\) and \(2,\)"),
    ([0, 1, 4], ValueError, r"labels must lie in \[0, 4\), got 0 to 4"),
    ([0, -1, 2], ValueError, r"labels must lie in \[0, 4\)"),
    ([0.5, 1, 2], TypeError, "labels must be integer class indices"),
])
def test_cross_entropy_refuses_bad_labels(labels, error, message):
    with pytest.raises(error, match=message):
        nn.cross_entropy(ad.tensor(np.zeros((3, 4))), labels)


def test_binary_cross_entropy_with_logits_by_formula_and_at_the_extremes():
    x = np.array([-1000.0, -3.0, 0.0, 0.5, 1000.0])
    t = np.array([1.0, 0.0, 0.3, 1.0, 0.0])
    logits = ad.tensor(x, requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(logits, t)
    loss.backward()
    np.testing.assert_allclose(loss.item(), np.mean(np.logaddexp(0, x) - x * t), rtol=1e-12)
    sigma = 1 / (1 + np.exp(-np.clip(x, -700, 700)))
    np.testing.assert_allclose(logits.grad.numpy(), (sigma - t) / 5, rtol=1e-12, atol=1e-300)
    assert gradcheck(lambda z: nn.binary_cross_entropy_with_logits(z, t[1:4]), [x[1:4]]).ok


def test_binary_cross_entropy_can_be_differentiated_twice():
    x = ad.tensor(0.3, requires_grad=True)
    nn.binary_cross_entropy_with_logits(x, 1.0).backward(create_graph=True)
    first, x.grad = x.grad, None
    first.backward()
    s = 1 / (1 + np.exp(-0.3))
    np.testing.assert_allclose(x.grad.item(), s * (1 - s), rtol=1e-12)


def test_mse_loss_and_its_shape_check():
    pred = ad.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    target = rng.standard_normal((3, 2))
    nn.mse_loss(pred, target).backward()
    np.testing.assert_allclose(pred.grad.numpy(), 2 * (pred.numpy() - target) / 6, rtol=1e-12)
    with pytest.raises(ValueError, match=r"mse_loss: pred has shape \(3, 2\), target \(2, 3\)"):
        nn.mse_loss(pred, target.T)


def test_losses_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z = rng.standard_normal((5, 3)) * 10
    labels = np.array([2, 0, 1, 1, 0])
    t = rng.random((5, 3))
    cases = [
        (lambda a: nn.cross_entropy(a, labels), lambda a: F.cross_entropy(a, torch.tensor(labels))),
        (lambda a: nn.binary_cross_entropy_with_logits(a, t),
         lambda a: F.binary_cross_entropy_with_logits(a, torch.tensor(t))),
        (lambda a: nn.mse_loss(a, t), lambda a: F.mse_loss(a, torch.tensor(t))),
    ]
    for ours, theirs in cases:
        mine = ad.tensor(z, requires_grad=True)
        value = ours(mine)
        value.backward()
        reference = torch.tensor(z, requires_grad=True)
        expected = theirs(reference)
        expected.backward()
        np.testing.assert_allclose(value.item(), expected.item(), rtol=1e-12)
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-10, atol=1e-15)
