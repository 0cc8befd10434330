"""A lock-free ``cached_property`` for the models' lazy fields.

``functools.cached_property`` takes an ``RLock`` on every first access before Python
3.12; on 1,000 captured requests that lock was a quarter of the time of building their
JSON records. The models are not shared between threads while being filled in (and a
race would only compute the same value twice), so no lock is needed. Like the stdlib's,
this is a non-data descriptor: after the first access the value lives in the instance's
``__dict__`` and the descriptor is no longer consulted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")

__all__ = ["cached_property"]


class cached_property(Generic[T]):
    """Compute once per instance on first access, then read from the instance dict."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.attrname = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_property[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.attrname] = value
        return value
