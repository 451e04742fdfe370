"""Derivatives of Python functions: grad, vjp, jvp, Jacobians, Hessians.

Each transformation takes a function of tensors (or arrays, or numbers) and
gives its derivative, the way JAX and ``torch.func`` do. All are built on
:func:`ad.gradients`, so none reads or writes any tensor's ``.grad``, and
they nest: ``grad(grad(f))`` is the second derivative.

Every call gives each differentiated argument a tensor of its own, so that
an inner transformation never confuses its variable with an outer one's
(the "perturbation confusion" of naive nested derivatives). The backward
pass is recorded exactly when something outside the call can still be
differentiated (an outer transformation, or a tensor that requires grad),
so that plain use stays as fast as ``backward()``.
(The lines of this module are kept short: the book prints its source.)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from .mode import enable_grad, is_grad_enabled
from .ops import stack
from .tensor import Tensor, gradients

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian",
           "hvp"]


def _positions(who: str, argnums: Any, count: int) -> tuple[int, ...]:
    """The argument positions to differentiate, checked against the call."""
    many = isinstance(argnums, (tuple, list))
    numbers = tuple(argnums) if many else (argnums,)
    for n in numbers:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"{who}: argnums must be an int or a tuple of "
                            f"ints, not {argnums!r}")
        if not -count <= n < count:
            raise ValueError(f"{who}: argnums={argnums!r}, but f was called "
                             f"with {count} argument{'s' * (count != 1)}")
    positions = tuple(n % count for n in numbers)
    if len(set(positions)) != len(positions):
        raise ValueError(f"{who}: argnums={argnums!r} names an argument "
                         "twice")
    if many and not positions:
        raise ValueError(f"{who}: argnums is empty; name at least one "
                         "argument")
    return positions


def _variable(who: str, value: Any) -> Tensor:
    """A tensor of its own for an argument being differentiated.

    A tensor that an outer computation is differentiating stays connected
    to it through one recorded operation; anything else becomes a new leaf.
    """
    if isinstance(value, Tensor):
        if value.requires_grad and is_grad_enabled():
            return value + 0.0
        value = value.data
    array = np.array(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{who}: cannot differentiate with respect to "
                        f"{array.dtype} data")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    return Tensor(array, requires_grad=True)


def _depends_on_others(outputs: Sequence[Tensor],
                       own: Sequence[Tensor]) -> bool:
    """Whether the outputs depend on a tensor that requires grad, other than
    ``own``: then the gradients must be recorded, so that whoever owns that
    tensor can differentiate them in turn."""
    mine = {id(t) for t in own}
    seen: set[int] = set()
    todo = [t for t in outputs if t.requires_grad]
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        node = t.grad_fn
        if node is None:
            if id(t) not in mine:
                return True
            continue
        todo += [x for x, needed in zip(node.inputs, node.needs_input_grad)
                 if needed and id(x) not in mine]
    return any(t.grad_fn is not None for t in own)


def _record(outputs: Sequence[Tensor], own: Sequence[Tensor]) -> bool:
    return is_grad_enabled() and _depends_on_others(outputs, own)


def _call(who: str, f: Callable[..., Any], args: Sequence[Any]) -> Tensor:
    with enable_grad():
        out = f(*args)
    if isinstance(out, Tensor):
        return out
    try:
        return Tensor(np.asarray(out, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{who}: f must return a tensor (or a number or "
                        f"array), not {type(out).__name__}") from error


def _result(t: Tensor, keep: bool) -> Tensor:
    return t if keep else t.detach()


def _shape(value: Any) -> tuple[int, ...]:
    return np.shape(value.data if isinstance(value, Tensor) else value)


def _zeros(like: Tensor) -> Tensor:
    return Tensor(np.zeros_like(like.data))


def value_and_grad(f: Callable[..., Any],
                   argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """A function that returns ``(f(*args), gradient)``, for ``f`` that
    returns one number.

    ``argnums`` says which arguments to differentiate: an int gives one
    gradient, a tuple of ints a tuple of gradients. The arguments may be
    numbers, arrays or tensors; each gradient is a tensor of its
    argument's shape.
    """
    @functools.wraps(f)
    def value_and_gradient(*args: Any) -> tuple[Tensor, Any]:
        positions = _positions("grad", argnums, len(args))
        variables = [_variable("grad", args[i]) for i in positions]
        call = list(args)
        for i, v in zip(positions, variables):
            call[i] = v
        out = _call("grad", f, call)
        if out.size != 1:
            raise ValueError(f"grad: f must return one number, it returned "
                             f"shape {out.shape} (use vjp or jacobian for "
                             "other outputs)")
        keep = _record([out], variables)
        grads = gradients(out, variables, create_graph=keep)
        many = isinstance(argnums, (tuple, list))
        return _result(out, keep), (grads if many else grads[0])
    return value_and_gradient


def grad(f: Callable[..., Any],
         argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The gradient of ``f`` (which returns one number), as a function of
    the same arguments.

    ``grad(f)(x)`` is df/dx, of x's shape. It nests: ``grad(grad(f))(x)``
    is the second derivative of a scalar function.
    """
    both = value_and_grad(f, argnums)

    @functools.wraps(f)
    def gradient(*args: Any) -> Any:
        return both(*args)[1]
    return gradient


def vjp(f: Callable[..., Any], *primals: Any
        ) -> tuple[Tensor, Callable[[Any], tuple[Tensor, ...]]]:
    """``f(*primals)``, and a function that maps a cotangent v to vᵀJ: one
    gradient per primal.

    The returned function may be called many times (the graph of ``f`` is
    kept until the function is dropped).
    """
    variables = [_variable("vjp", p) for p in primals]
    out = _call("vjp", f, variables)
    keep = _record([out], variables)

    def pullback(cotangent: Any) -> tuple[Tensor, ...]:
        if _shape(cotangent) != out.shape:
            raise ValueError(f"vjp: the cotangent has shape "
                             f"{_shape(cotangent)}, but f's output has "
                             f"shape {out.shape}")
        if not out.requires_grad:
            return tuple(_zeros(x) for x in variables)
        tracked = isinstance(cotangent, Tensor) and cotangent.requires_grad
        return gradients(out, variables, grad=cotangent,
                         create_graph=keep or tracked)
    return _result(out, keep), pullback


def jvp(f: Callable[..., Any], primals: Sequence[Any],
        tangents: Sequence[Any]) -> tuple[Tensor, Tensor]:
    """``f(*primals)``, and J·t, the derivative along ``tangents``
    (forward mode).

    Computed with two reverse passes (the double-VJP trick): the first
    gives u ↦ Jᵀu for a placeholder cotangent u, recorded; that map is
    linear in u, and its own vector-Jacobian product with t is J t. So
    forward mode needs no rules of its own.
    """
    if not (isinstance(primals, (tuple, list))
            and isinstance(tangents, (tuple, list))):
        raise TypeError("jvp: pass primals and tangents as tuples (or "
                        "lists), one tangent per primal")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} "
                         "tangents; pass one per primal")
    variables = [_variable("jvp", p) for p in primals]
    for k, (x, t) in enumerate(zip(variables, tangents)):
        if _shape(t) != x.shape:
            raise ValueError(f"jvp: tangent {k} has shape {_shape(t)}, "
                             f"but primal {k} has shape {x.shape}")
    out = _call("jvp", f, variables)
    keep = _record([out], variables)
    if not out.requires_grad:
        return _result(out, keep), _zeros(out)
    with enable_grad():
        u = Tensor(np.zeros_like(out.data), requires_grad=True)
        transposed = gradients(out, variables, grad=u, create_graph=True)
        # (a gradient that does not require grad does not depend on u)
        pairs = [(g, t) for g, t in zip(transposed, tangents)
                 if g.requires_grad]
        if not pairs:
            return _result(out, keep), _zeros(out)
        (tangent_out,) = gradients([g for g, _ in pairs], u,
                                   grad=[t for _, t in pairs],
                                   create_graph=keep)
    return _result(out, keep), tangent_out


def jacobian(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
             mode: str = "reverse") -> Callable[..., Any]:
    """The Jacobian of ``f``, as a function of the same arguments: of shape
    ``out.shape + arg.shape`` for each argument in ``argnums``.

    ``mode="reverse"`` builds it a row at a time, one vector-Jacobian
    product per output element; ``mode="forward"`` a column at a time, one
    Jacobian-vector product per input element. Both give the same matrix;
    the cheaper one has fewer products to make.
    """
    if mode not in ("reverse", "forward"):
        raise ValueError("jacobian: mode must be 'reverse' or 'forward', "
                         f"not {mode!r}")

    @functools.wraps(f)
    def jacobian_of(*args: Any) -> Any:
        positions = _positions("jacobian", argnums, len(args))
        chosen = [args[i] for i in positions]

        def of_chosen(*values: Any) -> Any:
            call = list(args)
            for i, value in zip(positions, values):
                call[i] = value
            return f(*call)

        if mode == "reverse":
            blocks = _by_rows(of_chosen, chosen)
        else:
            blocks = _by_columns(of_chosen, chosen)
        many = isinstance(argnums, (tuple, list))
        return tuple(blocks) if many else blocks[0]
    return jacobian_of


def _one_hot(shape: tuple[int, ...], k: int, dtype: Any) -> np.ndarray:
    e = np.zeros(shape, dtype=dtype)
    e.reshape(-1)[k] = 1
    return e


def _by_rows(f: Callable[..., Any], chosen: list[Any]) -> list[Tensor]:
    """Jacobian blocks, one vector-Jacobian product per output element."""
    out, pullback = vjp(f, *chosen)
    rows = [pullback(_one_hot(out.shape, k, out.dtype))
            for k in range(out.size)]
    blocks = []
    for j, value in enumerate(chosen):
        shape = out.shape + _shape(value)
        if rows:
            blocks.append(stack([row[j] for row in rows]).reshape(shape))
        else:
            blocks.append(Tensor(np.zeros(shape)))
    return blocks


def _by_columns(f: Callable[..., Any], chosen: list[Any]) -> list[Tensor]:
    """Jacobian blocks, one Jacobian-vector product per input element."""
    blocks = []
    for j, value in enumerate(chosen):
        in_shape = _shape(value)
        columns = []
        for k in range(int(np.prod(in_shape))):
            tangents = [np.zeros(_shape(c)) for c in chosen]
            tangents[j] = _one_hot(in_shape, k, np.float64)
            columns.append(jvp(f, chosen, tangents)[1])
        out_shape = _call("jacobian", f, chosen).shape
        if not columns:
            blocks.append(Tensor(np.zeros(out_shape + in_shape)))
            continue
        by_input = stack(columns).reshape(in_shape + out_shape)
        n_in, n_out = len(in_shape), len(out_shape)
        order = (*range(n_in, n_in + n_out), *range(n_in))
        blocks.append(by_input.transpose(order) if order else by_input)
    return blocks


def hessian(f: Callable[..., Any], argnums: int = 0) -> Callable[..., Any]:
    """The Hessian of ``f`` (one number out) with respect to one argument,
    of shape ``arg.shape * 2``: the Jacobian of the gradient, row by row
    (reverse over reverse)."""
    if not isinstance(argnums, int) or isinstance(argnums, bool):
        raise TypeError(f"hessian: argnums must be one int, not {argnums!r}")
    return jacobian(grad(f, argnums), argnums, mode="reverse")


def hvp(f: Callable[..., Any], x: Any, v: Any) -> Tensor:
    """H(x)·v, the Hessian of ``f`` at ``x`` times ``v``, in two backward
    passes: H is never built.

    ``f`` returns one number; ``v`` has the shape of ``x``. The product is
    the gradient of ⟨∇f(x), v⟩: the first pass is recorded, the second
    differentiates it.
    """
    variable = _variable("hvp", x)
    if _shape(v) != variable.shape:
        raise ValueError(f"hvp: v has shape {_shape(v)}, but x has shape "
                         f"{variable.shape}")
    out = _call("hvp", f, [variable])
    if out.size != 1:
        raise ValueError("hvp: f must return one number, it returned shape "
                         f"{out.shape}")
    keep = _record([out], [variable])
    if not out.requires_grad:
        return _zeros(variable)
    with enable_grad():
        (g,) = gradients(out, variable, create_graph=True)
        if not g.requires_grad:
            return _zeros(variable)
        (product,) = gradients(g, variable, grad=v, create_graph=keep)
    return product
