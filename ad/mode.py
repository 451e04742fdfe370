"""Grad mode: whether operations on tensors are being recorded.

Recording is on by default. :func:`no_grad` switches it off for a block (or a
decorated function, generators included), :func:`enable_grad` back on. The
mode belongs to one thread: a ``no_grad()`` block in one thread leaves the
others recording.
"""

from __future__ import annotations

import functools
import inspect
import threading
from contextlib import ContextDecorator
from typing import Any, Callable, ContextManager


class _GradMode(threading.local):
    recording = True
    saved: list[bool]

    def __init__(self) -> None:
        self.saved = []


local = _GradMode()
# Blocks open in any thread. While it is 0 every thread records, and
# Function.__call__ can skip the (slower) thread-local lookup.
open_blocks = 0
_blocks_lock = threading.Lock()


class _SetRecording(ContextDecorator):
    """A reusable context manager (and decorator) that switches recording on or off."""

    def __init__(self, value: bool) -> None:
        self.value = value

    def __enter__(self) -> None:
        global open_blocks
        local.saved.append(local.recording)
        local.recording = self.value
        with _blocks_lock:
            open_blocks += 1

    def __exit__(self, *exc: object) -> None:
        global open_blocks
        local.recording = local.saved.pop()
        with _blocks_lock:
            open_blocks -= 1

    def __call__(self, func: Any) -> Any:
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func)
        return super().__call__(func)

    def _wrap_generator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """A generator's body runs at each ``next()``, not at the call: set the mode around each step."""
        @functools.wraps(func)
        def generator(*args: Any, **kwargs: Any) -> Any:
            steps = func(*args, **kwargs)
            resume, value = steps.send, None
            while True:
                try:
                    with self:
                        item = resume(value)
                except StopIteration as stop:
                    return stop.value
                try:
                    value, resume = (yield item), steps.send
                except GeneratorExit:
                    steps.close()
                    raise
                except BaseException as error:      # thrown in by the caller: pass it on
                    value, resume = error, steps.throw
        return generator


def no_grad() -> ContextManager[None]:
    """Run a block without recording the graph (results do not require grad).

    Also a decorator: ``@ad.no_grad()`` covers the whole body of a function,
    and every step of a generator function.
    """
    return _SetRecording(False)


def enable_grad() -> ContextManager[None]:
    """Record the graph inside this block, even within :func:`no_grad`."""
    return _SetRecording(True)


def is_grad_enabled() -> bool:
    """Whether operations on tensors are being recorded right now (in this thread)."""
    return local.recording
