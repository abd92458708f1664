"""Reads the Function App's registered functions into plain specs the devhost serves.

Why: the devhost must serve exactly what Azure would, so it takes its route table,
schedules, queue names and durable functions from ``app.get_functions()`` (the same
metadata the Functions host indexes), never from a second hand-kept list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

TriggerKind = Literal["http", "timer", "servicebus", "orchestration", "activity", "entity", "other"]

_KINDS: dict[str, TriggerKind] = {
    "httpTrigger": "http",
    "timerTrigger": "timer",
    "serviceBusTrigger": "servicebus",
    "orchestrationTrigger": "orchestration",
    "activityTrigger": "activity",
    "entityTrigger": "entity",
}


@dataclass(frozen=True)
class FunctionSpec:
    """One registered function, as the host sees it."""

    name: str
    kind: TriggerKind
    user_function: Callable[..., Any]
    trigger_arg: str
    route: str | None = None
    methods: tuple[str, ...] = ()
    schedule: str | None = None
    run_on_startup: bool = False
    queue_name: str | None = None
    sessions: bool = False
    many: bool = False  # cardinality "many": the function takes a batch (a list of messages)
    durable_client_arg: str | None = None
    other_bindings: tuple[str, ...] = field(default_factory=tuple)


_SETTING_REF = re.compile(r"^%([^%]+)%$")


def resolve_app_setting(value: str) -> str:
    """``%NAME%`` refers to an app setting (environment variable), as in the host."""
    match = _SETTING_REF.match(value.strip())
    if not match:
        return value
    name = match.group(1)
    resolved = os.environ.get(name)
    if resolved is None:
        raise LookupError(f"app setting {name!r} referenced by a binding is not set")
    return resolved


def _method_name(method: Any) -> str:
    value = getattr(method, "value", method)
    return str(value).upper()


def read_functions(functions: Iterable[Any]) -> list[FunctionSpec]:
    """Turn ``app.get_functions()`` into specs (call ``get_functions()`` only once)."""
    specs: list[FunctionSpec] = []
    for fn in functions:
        trigger = fn.get_trigger()
        kind = _KINDS.get(trigger.get_binding_name(), "other")
        client_arg = None
        others: list[str] = []
        for binding in fn.get_bindings():
            if binding is trigger:
                continue
            if binding.get_binding_name() == "durableClient":
                client_arg = binding.name
            else:
                others.append(f"{binding.get_binding_name()}:{binding.name}")
        name = fn.get_function_name()
        spec = FunctionSpec(
            name=name,
            kind=kind,
            user_function=fn.get_user_function(),
            trigger_arg=trigger.name,
            durable_client_arg=client_arg,
            other_bindings=tuple(others),
        )
        if kind == "http":
            methods = getattr(trigger, "methods", None) or ["GET", "POST", "PUT", "PATCH", "DELETE"]
            spec = _replace(
                spec,
                route=(getattr(trigger, "route", None) or name).strip("/"),
                methods=tuple(_method_name(m) for m in methods),
            )
        elif kind == "timer":
            spec = _replace(
                spec,
                schedule=resolve_app_setting(trigger.schedule),
                run_on_startup=bool(getattr(trigger, "run_on_startup", False)),
            )
        elif kind == "servicebus":
            spec = _replace(
                spec,
                queue_name=resolve_app_setting(trigger.queue_name),
                sessions=bool(getattr(trigger, "is_sessions_enabled", False)),
                many=_cardinality(getattr(trigger, "cardinality", None)) == "many",
            )
        specs.append(spec)
    return specs


def _cardinality(value: Any) -> str:
    """``Cardinality.MANY`` or the string ``"many"`` (the decorator takes both); default one."""
    return str(getattr(value, "value", value) or "one").lower()


def _replace(spec: FunctionSpec, **changes: Any) -> FunctionSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def by_kind(specs: Iterable[FunctionSpec], kind: TriggerKind) -> list[FunctionSpec]:
    return [s for s in specs if s.kind == kind]
