"""Exceptions shown to users.

Every public function validates its inputs first and raises :class:`InputError` naming the
argument and the value it got. The CLI turns any :class:`VslerpError` into a one-line message
and exit code 2.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["InputError", "ModelUnavailableError", "VslerpError", "short_repr"]


def short_repr(value: Any, limit: int = 80) -> str:
    """A short, human-readable rendering of ``value`` for error messages.

    Arrays and tensors are described by type, shape and dtype instead of their contents.
    Long strings keep their beginning and end (paths keep their file name).
    """
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None and not isinstance(value, (int, float, str)):
        kind = type(value).__module__.split(".")[0]
        name = "tensor" if kind == "torch" else "array"
        return f"{name}(shape={tuple(shape)}, dtype={dtype})"
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    text = repr(value)
    if isinstance(value, str) and (os.sep in value or "/" in value):
        limit = max(limit, 400)  # paths: keep the file name, which is at the end
    if len(text) <= limit:
        return text
    head = limit // 3
    return text[:head] + "..." + text[-(limit - head - 3):]


class VslerpError(Exception):
    """Base class for errors meant for the person running vslerp (CLI exit code 2)."""


class InputError(VslerpError, ValueError):
    """A bad argument: carries the argument's name, the offending value and the problem.

    ``str(err)`` reads ``"<argument>=<value>: <problem>"``.
    """

    def __init__(self, argument: str, value: Any, problem: str) -> None:
        self.argument = argument
        self.value = value
        self.problem = problem
        super().__init__(f"{argument}={short_repr(value)}: {problem}")


class ModelUnavailableError(VslerpError, RuntimeError):
    """A model or weight file cannot be loaded (offline with no cache, unknown id, bad file)."""
