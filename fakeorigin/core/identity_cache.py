"""Values made once per object and variant, found again by the object's identity.

Pure: no Twisted. The engine keeps a respond step's prepared head and an informational step's
message this way, the state a profile's :class:`~fakeorigin.core.state.Selection`: each is
the same for every request, and making it (a frozen dataclass: about 0.1 us per field) cost
more than looking it up.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_O = TypeVar("_O")
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class PerObject(Generic[_O, _K, _V]):
    """``made(obj, variant)`` once per object and variant, looked up by ``id(obj)``: the object
    is kept beside its value, so that its id cannot be reused while the entry stands. Bounded:
    objects that are gone (profiles replaced through the control API) leave theirs behind
    until ``most`` entries clear the table."""

    def __init__(self, made: Callable[[_O, _K], _V], most: int = 1024) -> None:
        self._made = made
        self._most = most
        self._values: dict[tuple[int, _K], tuple[_O, _V]] = {}

    def get(self, obj: _O, variant: _K) -> _V:
        key = (id(obj), variant)
        cached = self._values.get(key)
        if cached is not None and cached[0] is obj:
            return cached[1]
        if len(self._values) >= self._most:
            self._values.clear()
        value = self._made(obj, variant)
        self._values[key] = (obj, value)
        return value
