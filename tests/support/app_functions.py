"""The app's functions, read once per test process (``get_functions()`` may only be called once)."""

from __future__ import annotations

from functools import lru_cache

from devhost.registry import FunctionSpec, read_functions


@lru_cache(maxsize=1)
def app_specs() -> tuple[FunctionSpec, ...]:
    import function_app

    return tuple(read_functions(function_app.app.get_functions()))
