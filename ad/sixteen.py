"""The original sixteen-line engine, runnable, its two bugs fixed and marked.

This is "Automatic differentiation in 16 lines of code" (github.com/oelin/ad)
as published (its end-of-line comments moved onto lines of their own, so
that the code fits a book's page), plus the README's dot-product example.
The book starts here; the benchmarks use it as a baseline. Two changes,
each marked ``FIX``:

1. ``Function`` gains ``__get__``: without it ``Tensor.__matmul__ =
   TensorDotProduct()`` never receives ``self`` and ``x @ y`` raises
   ``TypeError: forward() missing 1 required positional argument``.
2. ``TensorDotProduct.backward`` had the two gradient formulas swapped.
"""

import types

import numpy as np


class Variable:
    def __init__(self, data, terminal=False):

        self.data = np.array(data)              # x.
        self.grad = np.zeros_like(self.data)    # dL/dx.
        self.terminal = terminal
        self.backward = int


class Function:
    def __call__(self, *variables):
        # Forward pass, f(x0, ..., xn).
        result = self.forward(*variables)

        # Backward pass.
        def backward(grad = 1):
            # Accumulate gradients, dL/dxi += dL/df * df/dxi.
            self.backward(*variables, grad + result.grad)

            # Recurse.
            for variable in variables:
                variable.backward(0)

            # Reset gradients.
            result.grad *= result.terminal
        result.backward = backward

        return result

    # FIX 1: bind like a method.
    def __get__(self, instance, owner=None):
        return self if instance is None else types.MethodType(self, instance)


# The README's usage example. It calls the variable class `Tensor` and makes
# variables with `tensor(...)`.
Tensor = Variable
tensor = Variable


class TensorDotProduct(Function):

    def forward(self, x: Variable, y: Variable) -> Variable:
        return Variable(x.data @ y.data)

    def backward(self, x: Variable, y: Variable, grad) -> None:

        # FIX 2: the formulas were swapped
        # (x got x.data.T @ grad, and y got grad @ y.data.T).
        x.grad += grad @ y.data.T
        y.grad += x.data.T @ grad


Tensor.__matmul__ = TensorDotProduct()
