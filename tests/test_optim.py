"""ad.optim: SGD and Adam replayed step by step against PyTorch's update rules.

The rules are written out here by hand, from PyTorch's documentation of
torch.optim.SGD (dampening 0) and torch.optim.Adam (no amsgrad), and replayed
for a few steps with gradients that change from step to step; where PyTorch
is installed, the same steps run through torch.optim too.
"""

from __future__ import annotations

import numpy as np
import pytest

import ad
from ad.optim import SGD, Adam

rng = np.random.default_rng(12)
START = rng.standard_normal(5)


def quadratic_gradients(p):
    """Gradient of Σ (i + 1) p_i² / 2 + Σ sin p_i, so it changes from step to step."""
    return np.arange(1, p.size + 1) * p + np.cos(p)


def run_ours(make, steps=5, dtype=np.float64):
    p = ad.tensor(START.astype(dtype), requires_grad=True)
    opt = make([p])
    for _ in range(steps):
        opt.zero_grad()
        loss = (ad.tensor(np.arange(1, 6, dtype=dtype)) * p * p / 2 + ad.sin(p)).sum()
        loss.backward()
        opt.step()
    return p


def sgd_by_hand(lr, momentum=0.0, nesterov=False, weight_decay=0.0, steps=5):
    p, b = START.copy(), None
    for _ in range(steps):
        g = quadratic_gradients(p) + weight_decay * p
        if momentum:
            b = g.copy() if b is None else momentum * b + g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def adam_by_hand(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, steps=5):
    p, m, v = START.copy(), np.zeros(5), np.zeros(5)
    for t in range(1, steps + 1):
        g = quadratic_gradients(p) + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g ** 2
        p = p - (lr / (1 - betas[0] ** t)) * m / (np.sqrt(v) / np.sqrt(1 - betas[1] ** t) + eps)
    return p


SGD_CASES = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
             dict(lr=0.1, weight_decay=0.01), dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.1)]
ADAM_CASES = [dict(lr=0.1), dict(lr=0.01, betas=(0.8, 0.99)), dict(lr=0.1, eps=1e-3),
              dict(lr=0.1, weight_decay=0.05)]


@pytest.mark.parametrize("options", SGD_CASES, ids=str)
def test_sgd_replays_pytorchs_rule(options):
    p = run_ours(lambda params: SGD(params, **options))
    np.testing.assert_allclose(p.numpy(), sgd_by_hand(**options), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("options", ADAM_CASES, ids=str)
def test_adam_replays_pytorchs_rule(options):
    p = run_ours(lambda params: Adam(params, **options))
    np.testing.assert_allclose(p.numpy(), adam_by_hand(**options), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name, options", [("SGD", o) for o in SGD_CASES] + [("Adam", o) for o in ADAM_CASES],
                         ids=str)
def test_the_same_steps_in_pytorch(name, options):
    torch = pytest.importorskip("torch")
    ours = run_ours(lambda params: getattr(ad.optim, name)(params, **options))
    p = torch.tensor(START, requires_grad=True)
    opt = getattr(torch.optim, name)([p], **options)
    weights = torch.arange(1, 6, dtype=torch.float64)
    for _ in range(5):
        opt.zero_grad()
        (weights * p * p / 2 + torch.sin(p)).sum().backward()
        opt.step()
    np.testing.assert_allclose(ours.numpy(), p.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps, lr=0.1)])
def test_steps_keep_float32_and_record_nothing(make):
    p = run_ours(make, dtype=np.float32)
    assert p.dtype == np.float32 and p.is_leaf and p.requires_grad
    assert all(v.dtype == np.float32 for v in make([p]).state[0].values() if isinstance(v, np.ndarray))


def test_a_parameter_without_a_gradient_is_skipped():
    used, unused = (ad.tensor(np.ones(2), requires_grad=True) for _ in range(2))
    for opt in (SGD([used, unused], lr=0.1, momentum=0.9), Adam([used, unused], lr=0.1)):
        opt.zero_grad()
        (used * used).sum().backward()
        opt.step()
        np.testing.assert_array_equal(unused.numpy(), [1.0, 1.0])
        assert opt.state[1] == {}
    assert (used.numpy() < 1).all()


def test_the_update_is_in_place_so_a_model_holds_the_new_values():
    p = ad.tensor([1.0, 2.0], requires_grad=True)
    array = p.data
    opt = SGD([p], lr=0.5)
    (p * p).sum().backward()
    opt.step()
    assert p.data is array
    np.testing.assert_array_equal(p.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("call, error, message", [
    (lambda p: SGD([p, np.ones(2)], lr=0.1), TypeError, "SGD: parameter 1 is a ndarray, not a tensor"),
    (lambda p: Adam([p, p * 2], lr=0.1), ValueError, r"Adam: parameter 1 \(shape \(2,\)\) must be a leaf"),
    (lambda p: SGD([], lr=0.1), ValueError, "SGD: params is empty"),
    (lambda p: SGD([p], lr=-1), ValueError, "SGD: lr must be a number >= 0"),
    (lambda p: SGD([p], lr=0.1, nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
    (lambda p: Adam([p], betas=(0.9, 1.0)), ValueError, r"Adam: betas must lie in \[0, 1\)"),
])
def test_bad_arguments_are_refused_with_the_optimisers_name(call, error, message):
    p = ad.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(error, match=message):
        call(p)


def test_optimisers_take_a_models_parameters_and_train_it():
    ad.nn.seed(0)
    model = ad.nn.MLP([2, 16, 1], activation=ad.nn.Tanh)
    x = rng.uniform(-1, 1, (64, 2))
    y = (x[:, :1] * x[:, 1:])                                  # a saddle to fit
    opt = Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = ad.nn.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
