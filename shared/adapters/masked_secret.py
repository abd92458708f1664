"""A holder for an API key or secret whose repr and str are masked.

Why one class for every adapter: a secret that reaches a log line, an exception or a
debugger's repr of an adapter object is leaked; holding it here means only an explicit
``reveal()`` at the point of use ever yields the value.
"""

from __future__ import annotations


class MaskedSecret:
    """Holds a secret; masked in every repr/str so it cannot leak by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "MaskedSecret('***')"

    __str__ = __repr__
