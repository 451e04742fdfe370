"""The benchmark's workloads, written once per engine.

Each ``*_mlp`` factory returns a zero-argument function that runs one forward
and backward pass of the same network and returns the gradients (weights then
biases) as numpy arrays, or ``None`` when the engine is not installed.
"""

import importlib
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import ad
from ad import sixteen

ROOT = Path(__file__).resolve().parent.parent


def vendored(name, ref=None):
    """The package (at git revision ``ref``, or the working tree's) imported as ``name``."""
    folder = Path(tempfile.mkdtemp(prefix="ad_vendored_"))
    if ref is None:
        shutil.copytree(ROOT / "ad", folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "ad"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        (folder / "ad").rename(folder / name)
    sys.path.insert(0, str(folder))
    module = importlib.import_module(name)
    # Older revisions trust (skip checking) only the primitives of a module named exactly
    # "ad.ops"; under another name they would be checked, so trust them as at home.
    for value in vars(module.ops).values():
        if isinstance(value, type) and issubclass(value, module.Function):
            value._trusted = True
    return module


# ----- MLP 784-256-128-10, tanh, mean squared error

def mlp_data(dtype):
    """Weights, biases, inputs and targets of the benchmark's MLP, in ``dtype``."""
    rng = np.random.default_rng(0)
    sizes = [784, 256, 128, 10]
    weights = [(rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype) for m, n in zip(sizes, sizes[1:])]
    biases = [np.zeros(n, dtype) for n in sizes[1:]]
    x = rng.standard_normal((64, 784)).astype(dtype)
    y = rng.standard_normal((64, 10)).astype(dtype)
    return weights, biases, x, y


def numpy_mlp(weights, biases, x, y):
    (w1, w2, w3), (b1, b2, b3) = weights, biases

    def step():
        h1 = np.tanh(x @ w1 + b1)
        h2 = np.tanh(h1 @ w2 + b2)
        out = h2 @ w3 + b3
        d_out = (2 / out.size) * (out - y)
        d_z2 = (d_out @ w3.T) * (1 - h2 * h2)
        d_z1 = (d_z2 @ w2.T) * (1 - h1 * h1)
        return [x.T @ d_z1, h1.T @ d_z2, h2.T @ d_out, d_z1.sum(0), d_z2.sum(0), d_out.sum(0)]
    return step


def ad_mlp(weights, biases, x, y, engine=ad):
    params = [engine.tensor(p, requires_grad=True) for p in weights + biases]
    (w1, w2, w3, b1, b2, b3), xt, yt = params, engine.tensor(x), engine.tensor(y)

    def step():
        for p in params:
            p.grad = None
        h1 = engine.tanh(xt @ w1 + b1)
        h2 = engine.tanh(h1 @ w2 + b2)
        loss = ((h2 @ w3 + b3 - yt) ** 2).mean()
        loss.backward()
        return [p.grad.data for p in params]
    return step


def torch_mlp(weights, biases, x, y):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    params = [torch.tensor(p, requires_grad=True) for p in weights + biases]
    (w1, w2, w3, b1, b2, b3), xt, yt = params, torch.tensor(x), torch.tensor(y)

    def step():
        for p in params:
            p.grad = None
        h1 = torch.tanh(xt @ w1 + b1)
        h2 = torch.tanh(h1 @ w2 + b2)
        loss = ((h2 @ w3 + b3 - yt) ** 2).mean()
        loss.backward()
        return [p.grad.numpy() for p in params]
    return step


def autograd_mlp(weights, biases, x, y):
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None

    def loss(w1, w2, w3, b1, b2, b3):
        h1 = anp.tanh(anp.dot(x, w1) + b1)
        h2 = anp.tanh(anp.dot(h1, w2) + b2)
        return anp.mean((anp.dot(h2, w3) + b3 - y) ** 2)

    gradient = autograd.grad(loss, argnum=(0, 1, 2, 3, 4, 5))
    return lambda: list(gradient(*weights, *biases))


class _MatMul(sixteen.Function):
    def forward(self, x, y):
        return sixteen.Variable(x.data @ y.data)

    def backward(self, x, y, grad):
        x.grad += grad @ y.data.T
        y.grad += x.data.T @ grad


class _AddBias(sixteen.Function):
    def forward(self, x, b):
        return sixteen.Variable(x.data + b.data)

    def backward(self, x, b, grad):
        x.grad += grad
        b.grad += grad.sum(0)


class _Tanh(sixteen.Function):
    def forward(self, x):
        return sixteen.Variable(np.tanh(x.data))

    def backward(self, x, grad):
        x.grad += grad * (1 - np.tanh(x.data) ** 2)


class _MeanSquaredError(sixteen.Function):
    def forward(self, out, target):
        return sixteen.Variable(np.mean((out.data - target.data) ** 2))

    def backward(self, out, target, grad):
        out.grad += grad * 2 * (out.data - target.data) / out.data.size


def sixteen_mlp(weights, biases, x, y):
    params = [sixteen.Variable(p) for p in weights + biases]
    (w1, w2, w3, b1, b2, b3), xv, yv = params, sixteen.Variable(x), sixteen.Variable(y)
    matmul, add, tanh, mse = _MatMul(), _AddBias(), _Tanh(), _MeanSquaredError()

    def step():
        for p in params:
            p.grad = np.zeros_like(p.data)
        h1 = tanh(add(matmul(xv, w1), b1))
        h2 = tanh(add(matmul(h1, w2), b2))
        mse(add(matmul(h2, w3), b3), yv).backward()
        return [p.grad for p in params]
    return step


def check_same_gradients(cases):
    """Every engine must compute the same gradients as the hand-written numpy code."""
    reference = cases["numpy by hand"]()
    tolerance = 1e-4 if reference[0].dtype == np.float32 else 1e-9
    for name, case in cases.items():
        for mine, theirs in zip(case(), reference):
            np.testing.assert_allclose(mine, theirs, rtol=tolerance, atol=tolerance, err_msg=name)


# ----- 1,000 steps of y = tanh(y * 1.0001 + 0.1) on a 0-d float64 tensor


def ad_scalar_chain(engine=ad):
    x = y = engine.tensor(0.3, requires_grad=True)
    for _ in range(1000):
        y = engine.tanh(y * 1.0001 + 0.1)
    y.backward()
    return x.grad.item()


def torch_scalar_chain():
    try:
        import torch
    except ImportError:
        return None
    x = y = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    for _ in range(1000):
        y = torch.tanh(y * 1.0001 + 0.1)
    y.backward()
    return x.grad.item()


def autograd_scalar_chain():
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None

    def f(y):
        for _ in range(1000):
            y = anp.tanh(y * 1.0001 + 0.1)
        return y
    return autograd.grad(f)(0.3)


class _Scale(sixteen.Function):
    def __init__(self, factor):
        self.factor = factor

    def forward(self, x):
        return sixteen.Variable(x.data * self.factor)

    def backward(self, x, grad):
        x.grad += grad * self.factor


class _Shift(sixteen.Function):
    def __init__(self, offset):
        self.offset = offset

    def forward(self, x):
        return sixteen.Variable(x.data + self.offset)

    def backward(self, x, grad):
        x.grad += grad


def sixteen_scalar_chain():
    x = y = sixteen.Variable(0.3)
    scale, shift, tanh = _Scale(1.0001), _Shift(0.1), _Tanh()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)   # the original recurses once per op: 3,000 deep here
    try:
        for _ in range(1000):
            y = tanh(shift(scale(y)))
        y.backward()
    finally:
        sys.setrecursionlimit(limit)
    return float(x.grad)


def _micrograd_tanh(value):
    from micrograd.engine import Value
    t = math.tanh(value.data)
    out = Value(t, (value,), "tanh")

    def _backward():
        value.grad += (1 - t * t) * out.grad
    out._backward = _backward
    return out


def micrograd_scalar_chain():
    try:
        from micrograd.engine import Value
    except ImportError:
        return None
    x = y = Value(0.3)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)   # micrograd sorts the graph recursively
    try:
        for _ in range(1000):
            y = _micrograd_tanh(y * 1.0001 + 0.1)
        y.backward()
    finally:
        sys.setrecursionlimit(limit)
    return x.grad


# ----- a 100,000-op chain y = y * 1.00001


def ad_long_chain(n=100_000, engine=ad):
    x = y = engine.tensor(1.0, requires_grad=True)
    for _ in range(n):
        y = y * 1.00001
    y.backward()
    return x.grad.item()


def torch_long_chain(n=100_000):
    try:
        import torch
    except ImportError:
        return None
    x = y = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    for _ in range(n):
        y = y * 1.00001
    y.backward()
    return x.grad.item()


def autograd_long_chain(n=100_000):
    try:
        import autograd
    except ImportError:
        return None

    def f(y):
        for _ in range(n):
            y = y * 1.00001
        return y
    return autograd.grad(f)(1.0)


def sixteen_long_chain(n=100_000):
    x = y = sixteen.Variable(1.0)
    scale = _Scale(1.00001)
    for _ in range(n):
        y = scale(y)
    y.backward()
    return float(x.grad)


# ----- 20 steps of y = y * y + y: a node used twice at every step

def _doubling_graph(steps):
    x = y = ad.tensor(0.01, requires_grad=True)
    for _ in range(steps):
        y = y * y + y
    return x, y


_doubling_x, _doubling_y = _doubling_graph(20)


def ad_doubling():
    _doubling_x.grad = None
    _doubling_y.backward()


def count_calls_doubling(steps):
    counts = {"n": 0}
    originals = {cls: cls.backward for cls in (ad.ops.Add, ad.ops.Mul)}

    def counting(original):
        def backward(self, *args):
            counts["n"] += 1
            return original(self, *args)
        return backward
    for cls, original in originals.items():
        cls.backward = counting(original)
    try:
        _doubling_graph(steps)[1].backward()
    finally:
        for cls, original in originals.items():
            cls.backward = original
    return counts["n"]


def sixteen_doubling_calls(steps):
    """Calls of Function.backward the original engine makes: each step triples the work below it."""
    calls = 0
    for _ in range(steps):      # c(k) = 2 + 3 c(k - 1): the add, the mul, and three walks below
        calls = 2 + 3 * calls
    return calls


# ----- training steps, for the memory measurement

def ad_training_step():
    rng = np.random.default_rng(1)
    sizes = [784, 256, 128, 10]
    params = [ad.tensor(rng.standard_normal((m, n)) / np.sqrt(m), requires_grad=True)
              for m, n in zip(sizes, sizes[1:])]
    params += [ad.tensor(np.zeros(n), requires_grad=True) for n in sizes[1:]]
    x = ad.tensor(rng.standard_normal((64, 784)))
    y = ad.tensor(rng.standard_normal((64, 10)))
    w1, w2, w3, b1, b2, b3 = params

    def step():
        h1 = ad.tanh(x @ w1 + b1)
        h2 = ad.tanh(h1 @ w2 + b2)
        loss = ((h2 @ w3 + b3 - y) ** 2).mean()
        loss.backward()
        for p in params:
            p.data -= 0.01 * p.grad.data
            p.grad = None
    return step


# ----- one epoch of training on digits-sized data: 64 -> 128 -> 10, ReLU, Adam, batch 64

def digits_data(dtype):
    """Data of load_digits' training split's shape (1,437 images of 8x8 in [0, 1], 10 classes),
    and the network's starting weights; random, since the time does not depend on the pixels."""
    rng = np.random.default_rng(3)
    x = rng.random((1437, 64)).astype(dtype)
    labels = rng.integers(0, 10, 1437)
    bound1, bound2 = 1 / np.sqrt(64), 1 / np.sqrt(128)
    shapes = [((64, 128), bound1), (128, bound1), ((128, 10), bound2), (10, bound2)]
    weights = [rng.uniform(-bound, bound, shape).astype(dtype) for shape, bound in shapes]
    return x, labels, weights


def ad_digits_epoch(dtype):
    x, labels, weights = digits_data(dtype)

    def epoch():
        model = ad.nn.MLP([64, 128, 10], dtype=dtype)
        for p, w in zip(model.parameters(), weights):
            p.data[...] = w
        opt = ad.optim.Adam(model.parameters(), lr=1e-3)
        for start in range(0, len(x), 64):
            opt.zero_grad()
            loss = ad.nn.cross_entropy(model(x[start:start + 64]), labels[start:start + 64])
            loss.backward()
            opt.step()
        return [p.numpy() for p in model.parameters()]
    return epoch


def torch_digits_epoch(dtype):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    x, labels, weights = digits_data(dtype)
    xt, yt = torch.tensor(x), torch.tensor(labels)

    def epoch():
        model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
        model = model.to(torch.float32 if dtype == np.float32 else torch.float64)
        with torch.no_grad():
            model[0].weight.copy_(torch.tensor(weights[0].T))
            model[0].bias.copy_(torch.tensor(weights[1]))
            model[2].weight.copy_(torch.tensor(weights[2].T))
            model[2].bias.copy_(torch.tensor(weights[3]))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for start in range(0, len(xt), 64):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[start:start + 64]), yt[start:start + 64])
            loss.backward()
            opt.step()
        w1, b1, w2, b2 = (p.detach().numpy() for p in model.parameters())
        return [w1.T, b1, w2.T, b2]
    return epoch
