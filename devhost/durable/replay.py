"""The wire format between the runtime and the SDK's orchestrator replay wrapper.

Why a separate module: these shapes are what the real Durable Task extension sends
and expects (see ``shared/notes/durable-local-runtime.md``), and getting one field
wrong makes the SDK silently hang instead of failing. Keeping them here, free of
I/O, makes them easy to read against the SDK sources and to test.

- :func:`build_context` makes the OrchestrationContext JSON (history events with
  ``EventType``/``EventId``/``IsPlayed``/``Timestamp``, schema V3 via
  ``upperSchemaVersion: 1`` + ``upperSchemaVersionNew: 2``).
- :func:`parse_result` / :func:`parse_failure` read the SDK's answer, including the
  ``$OutOfProcData$`` suffix of an orchestrator exception.
- :func:`flatten_actions` turns the V3 action tree into the leaf list whose order
  gives sequence ids; :func:`check_determinism` compares it with what was recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


class EventType(IntEnum):
    """History event types, numbered as DurableTask.Core and the SDK number them."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


class ActionType(IntEnum):
    """The SDK's ``actionType`` values (``azure.durable_functions.models.actions``)."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


_ACTION_NAMES = {
    ActionType.CALL_ACTIVITY: "CallActivity",
    ActionType.CALL_ACTIVITY_WITH_RETRY: "CallActivityWithRetry",
    ActionType.CALL_SUB_ORCHESTRATOR: "CallSubOrchestrator",
    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY: "CallSubOrchestratorWithRetry",
    ActionType.CONTINUE_AS_NEW: "ContinueAsNew",
    ActionType.CREATE_TIMER: "CreateTimer",
    ActionType.WAIT_FOR_EXTERNAL_EVENT: "WaitForExternalEvent",
    ActionType.CALL_ENTITY: "CallEntity",
    ActionType.CALL_HTTP: "CallHttp",
    ActionType.SIGNAL_ENTITY: "SignalEntity",
}

# Leaf kinds the runtime knows how to carry out.
SUPPORTED_KINDS = frozenset(
    {"CallActivity", "CallActivityWithRetry", "CreateTimer", "WaitForExternalEvent", "ContinueAsNew"}
)
# Leaves that do not take a sequence id (events are matched by name).
_UNNUMBERED_KINDS = frozenset({"WaitForExternalEvent"})


def format_timestamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Read the SDK's ``fireAt`` / our timestamps (always UTC, ``Z`` suffix)."""
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def make_event(event_type: EventType, timestamp: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """A history event as the extension serializes it for out-of-proc workers."""
    event: dict[str, Any] = {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_timestamp(timestamp),
    }
    event.update(fields)
    return event


def build_context(
    instance_id: str,
    input_text: str | None,
    played: list[dict[str, Any]],
    new_events: list[dict[str, Any]],
) -> str:
    """The OrchestrationContext JSON for one episode.

    ``played`` is the recorded history (marked ``IsPlayed``), ``new_events`` starts
    with this episode's OrchestratorStarted. ``input`` is the JSON text
    ``get_input()`` decodes (not ExecutionStarted.Input), as the host sends it.
    """
    history = [{**e, "IsPlayed": True} for e in played]
    history.extend({**e, "IsPlayed": False} for e in new_events)
    return json.dumps(
        {
            "history": history,
            "instanceId": instance_id,
            "isReplaying": bool(played),
            "parentInstanceId": None,
            "input": input_text,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
    )


@dataclass(frozen=True)
class Leaf:
    """One scheduling action, flattened out of WhenAny/WhenAll compounds."""

    kind: str
    name: str | None = None
    input: str | None = None
    fire_at: str | None = None
    cancelled: bool = False
    retry_interval_ms: int | None = None
    retry_max_attempts: int | None = None

    @property
    def numbered(self) -> bool:
        """Whether the SDK gives this action a sequence id."""
        return self.kind not in _UNNUMBERED_KINDS

    def describe(self) -> str:
        return f"{self.kind} {self.name!r}" if self.name else self.kind


@dataclass(frozen=True)
class ReplayOutcome:
    """What one call of the replay wrapper decided."""

    done: bool
    leaves: list[Leaf]
    output_json: str | None
    error: str | None
    custom_status_json: str | None


def _leaf(action: dict[str, Any]) -> Leaf:
    action_type = int(action.get("actionType", -1))
    try:
        kind = _ACTION_NAMES[ActionType(action_type)]
    except (ValueError, KeyError):
        kind = f"actionType {action_type}"
    if kind in ("CallActivity", "CallActivityWithRetry"):
        retry = action.get("retryOptions") or {}
        return Leaf(
            kind=kind,
            name=action.get("functionName"),
            input=action.get("input"),
            retry_interval_ms=retry.get("firstRetryIntervalInMilliseconds"),
            retry_max_attempts=retry.get("maxNumberOfAttempts"),
        )
    if kind == "CreateTimer":
        return Leaf(kind=kind, fire_at=action.get("fireAt"), cancelled=bool(action.get("isCanceled")))
    if kind == "WaitForExternalEvent":
        return Leaf(kind=kind, name=action.get("externalEventName"))
    if kind == "ContinueAsNew":
        return Leaf(kind=kind, input=action.get("input"))
    name = action.get("functionName") or action.get("entityId") or None
    return Leaf(kind=kind, name=str(name) if name is not None else None)


def flatten_actions(actions: list[Any]) -> list[Leaf]:
    """Leaves in the order the SDK assigns sequence ids (depth-first, compounds inlined).

    The V3 payload is ``[[action, ...]]``; WhenAny/WhenAll carry ``compoundActions``
    holding only children not yielded before, exactly those the SDK numbers.
    """
    leaves: list[Leaf] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
            return
        if not isinstance(node, dict):
            return
        if int(node.get("actionType", -1)) in (ActionType.WHEN_ANY, ActionType.WHEN_ALL):
            walk(node.get("compoundActions") or [])
        else:
            leaves.append(_leaf(node))

    walk(actions)
    return leaves


def _outcome(state: dict[str, Any], error: str | None) -> ReplayOutcome:
    custom = state.get("customStatus")
    output = state.get("output")
    return ReplayOutcome(
        done=bool(state.get("isDone")) and error is None,
        leaves=flatten_actions(state.get("actions") or []),
        output_json=json.dumps(output) if output is not None else None,
        error=error,
        custom_status_json=json.dumps(custom) if custom is not None else None,
    )


def parse_result(text: str) -> ReplayOutcome:
    """Parse the wrapper's return value (``isDone``, ``actions``, ``output``, ...)."""
    state = json.loads(text)
    return _outcome(state, state.get("error") or None)


def parse_failure(exc: BaseException) -> ReplayOutcome:
    """An orchestrator exception: ``<msg>\\n\\n$OutOfProcData$:<state json>``."""
    message = str(exc)
    if OUT_OF_PROC_MARKER in message:
        head, _, tail = message.partition(OUT_OF_PROC_MARKER)
        try:
            state = json.loads(tail)
        except json.JSONDecodeError:
            state = {}
        return _outcome(state, head or str(state.get("error") or type(exc).__name__))
    # Not the SDK's formatted error: the wrapper itself broke (bad context, bug).
    return ReplayOutcome(
        done=False,
        leaves=[],
        output_json=None,
        error=f"{type(exc).__name__}: {message}",
        custom_status_json=None,
    )


def check_determinism(recorded: list[dict[str, Any]], replayed: list[Leaf]) -> str | None:
    """Compare replayed leaves with what earlier episodes recorded at the same position.

    ``recorded`` holds ``{"kind", "name", "seq"}`` per leaf. The host only compares
    the kind and the activity name (TaskScheduled.Name); timer times may differ.
    Returns a NonDeterministicOrchestration message, or None when consistent.
    """
    for position, rec in enumerate(recorded):
        expected = _describe_recorded(rec)
        if position >= len(replayed):
            return (
                "NonDeterministicOrchestration: non-deterministic workflow detected: "
                f"the history has {expected} at sequence {rec.get('seq')} but the "
                "orchestrator no longer schedules it on replay"
            )
        leaf = replayed[position]
        same = leaf.kind == rec["kind"] and (
            leaf.kind not in ("CallActivity", "CallActivityWithRetry") or leaf.name == rec["name"]
        )
        if not same:
            return (
                "NonDeterministicOrchestration: non-deterministic workflow detected: "
                f"the history has {expected} at sequence {rec.get('seq')} but the "
                f"orchestrator now schedules {leaf.describe()} there"
            )
    return None


def _describe_recorded(rec: dict[str, Any]) -> str:
    kind = rec["kind"]
    if kind in ("CallActivity", "CallActivityWithRetry"):
        return f"TaskScheduled {rec['name']!r} ({kind})"
    if kind == "CreateTimer":
        return "TimerCreated"
    return f"{kind} {rec['name']!r}" if rec.get("name") else kind
