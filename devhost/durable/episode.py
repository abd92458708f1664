"""Turning one replay's outcome into history, instance state and pending work.

Why this is the delicate part: the SDK matches completions to tasks by sequence id
and never complains about a wrong one (it warns and the orchestration hangs), so
the ids this module hands out must be exactly those the SDK assigns on replay.

The SDK numbers tasks in the order it meets them while replaying: every leaf of
the action list (WaitForExternalEvent excepted) takes the next id, and a
CallActivityWithRetry takes two more ids per failed attempt, at the moment its
TaskFailed (the retry timer) and then its TimerFired (the next attempt) are
processed. Those retry ids interleave with the ids of actions yielded in the same
episode, so an episode delivers at most one retry-related event and delivers it
last: then the new leaves of the episode come first and the retry allocation
after them, which is what the SDK will do on every later replay too.

Per-instance bookkeeping (JSON in the instance row): ``leaves`` (kind, name, seq
of each leaf recorded so far, for the determinism check and timer cancellation),
``next_seq`` and ``retries`` (one chain per CallActivityWithRetry leaf).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from devhost.durable.history import EpisodeCommit, InboxMessage, InstanceRecord
from devhost.durable.replay import (
    SUPPORTED_KINDS,
    EventType,
    Leaf,
    ReplayOutcome,
    check_determinism,
    format_timestamp,
    make_event,
    parse_timestamp,
)

_SUPPORTED_TEXT = (
    "CallActivity, CallActivityWithRetry, CreateTimer, WaitForExternalEvent, WhenAny/WhenAll and ContinueAsNew"
)


def new_bookkeeping() -> dict[str, Any]:
    return {"leaves": [], "next_seq": 0, "retries": []}


def retry_chain_for(book: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
    """The retry chain an event advances (a failed attempt or a fired retry timer)."""
    kind = event.get("EventType")
    chains: list[dict[str, Any]] = book.get("retries", [])
    for chain in chains:
        if (
            kind == EventType.TASK_FAILED
            and chain["timer_seq"] is None
            and chain["attempt_seq"] == event.get("TaskScheduledId")
        ):
            return chain
        if kind == EventType.TIMER_FIRED and chain["timer_seq"] == event.get("TimerId"):
            return chain
    return None


def select_batch(
    inst: InstanceRecord, live: list[InboxMessage], has_history: bool
) -> tuple[list[InboxMessage], list[InboxMessage]]:
    """Pick the events for the next episode; returns (batch, messages to drop).

    ExecutionStarted goes first (events may have been queued before a
    continue-as-new restarted the instance); the batch ends after the first
    retry-related event (see the module docstring).
    """
    started = [m for m in live if m.event.get("EventType") == EventType.EXECUTION_STARTED]
    others = [m for m in live if m.event.get("EventType") != EventType.EXECUTION_STARTED]
    drop: list[InboxMessage] = []
    if has_history:
        drop.extend(started)  # a duplicate start for a running execution
        ordered = others
    elif started:
        drop.extend(started[1:])
        ordered = [started[0], *others]
    else:
        return [], []  # nothing can be delivered before the execution starts
    batch: list[InboxMessage] = []
    for message in ordered:
        batch.append(message)
        if retry_chain_for(inst.bookkeeping, message.event) is not None:
            break
    return batch, drop


def _ended(inst: InstanceRecord, status: str, output_json: str | None, now: datetime) -> list[dict[str, Any]]:
    inst.runtime_status = status
    inst.output = output_json
    inst.last_updated_time = format_timestamp(now)
    return [
        make_event(EventType.ORCHESTRATOR_COMPLETED, now),
        make_event(
            EventType.EXECUTION_COMPLETED,
            now,
            OrchestrationStatus=status,
            Result=output_json,
        ),
    ]


def failed_commit(
    inst: InstanceRecord,
    new_events: list[dict[str, Any]],
    message: str,
    now: datetime,
    consumed: list[int],
) -> EpisodeCommit:
    """Fail the instance; its output is the host's ``Orchestrator function ... failed`` text."""
    output = json.dumps(f"Orchestrator function '{inst.name}' failed: {message}")
    history = [*new_events, *_ended(inst, "Failed", output, now)]
    return EpisodeCommit(instance=inst, append_history=history, consumed_inbox=consumed, clear_pending=True)


def terminated_commit(inst: InstanceRecord, reason: str | None, now: datetime, consumed: list[int]) -> EpisodeCommit:
    output = json.dumps(reason) if reason is not None else None
    history = [
        make_event(EventType.ORCHESTRATOR_STARTED, now),
        make_event(EventType.EXECUTION_TERMINATED, now, Input=reason),
        *_ended(inst, "Terminated", output, now),
    ]
    return EpisodeCommit(instance=inst, append_history=history, consumed_inbox=consumed, clear_pending=True)


def _unsupported(leaves: list[Leaf]) -> str | None:
    for leaf in leaves:
        if leaf.kind not in SUPPORTED_KINDS:
            return (
                f"UnsupportedAction: {leaf.describe()} is not supported by the devhost durable "
                f"runtime (supported: {_SUPPORTED_TEXT})"
            )
    return None


def decide(
    inst: InstanceRecord,
    new_events: list[dict[str, Any]],
    outcome: ReplayOutcome,
    now: datetime,
    consumed: list[int],
) -> EpisodeCommit:
    """Record an episode: its new events, the decisions it made, the instance's state.

    ``new_events`` is the OrchestratorStarted plus the delivered batch (retry-related
    event last); ``inst.bookkeeping`` is updated in place.
    """
    book = inst.bookkeeping
    recorded: list[dict[str, Any]] = book["leaves"]
    known = len(recorded)
    error = None
    if outcome.error is None or outcome.leaves:
        # (a failure without an action list did not come from the SDK's replay)
        error = check_determinism(recorded, outcome.leaves)
    if error is None and outcome.error is None:
        error = _unsupported(outcome.leaves[known:])
    if error is None:
        error = outcome.error
    if error is not None:
        return failed_commit(inst, new_events, error, now, consumed)

    if outcome.custom_status_json is not None or not outcome.done:
        inst.custom_status = outcome.custom_status_json
    commit = EpisodeCommit(instance=inst, consumed_inbox=consumed)
    decisions: list[dict[str, Any]] = []

    # Timers cancelled since they were recorded are withdrawn (their ids stay taken).
    for rec, leaf in zip(recorded, outcome.leaves, strict=False):
        if leaf.kind == "CreateTimer" and leaf.cancelled and not rec.get("cancelled"):
            rec["cancelled"] = True
            commit.cancel_timers.append(rec["seq"])

    continue_input: str | None = None
    continue_as_new = False
    for position, leaf in enumerate(outcome.leaves[known:], start=known):
        seq: int | None = None
        if leaf.numbered:
            seq = book["next_seq"]
            book["next_seq"] += 1
        recorded.append({"kind": leaf.kind, "name": leaf.name, "seq": seq})
        if outcome.done and leaf.kind != "ContinueAsNew":
            continue  # the orchestration is over: nothing left to schedule
        if leaf.kind in ("CallActivity", "CallActivityWithRetry"):
            assert seq is not None and leaf.name is not None
            decisions.append(make_event(EventType.TASK_SCHEDULED, now, seq, Name=leaf.name, Input=leaf.input))
            commit.add_activities.append((seq, leaf.name, leaf.input))
            if leaf.kind == "CallActivityWithRetry":
                book["retries"].append(
                    {
                        "position": position,
                        "name": leaf.name,
                        "input": leaf.input,
                        "interval_ms": int(leaf.retry_interval_ms or 0),
                        "max_attempts": int(leaf.retry_max_attempts or 1),
                        "attempts": 1,
                        "attempt_seq": seq,
                        "timer_seq": None,
                    }
                )
        elif leaf.kind == "CreateTimer":
            assert seq is not None and leaf.fire_at is not None
            fire_at = format_timestamp(parse_timestamp(leaf.fire_at))
            decisions.append(make_event(EventType.TIMER_CREATED, now, seq, FireAt=fire_at))
            if leaf.cancelled:
                recorded[-1]["cancelled"] = True
            else:
                commit.add_timers.append((seq, fire_at))
        elif leaf.kind == "ContinueAsNew":
            continue_as_new = True
            continue_input = leaf.input

    last = new_events[-1] if new_events else {}
    chain = retry_chain_for(book, last)
    if chain is not None and not outcome.done:
        decisions.extend(_advance_retry(book, chain, last, now, commit))

    if continue_as_new:
        return _continued_as_new(inst, commit, continue_input, now)
    if outcome.done:
        commit.append_history = [
            *new_events,
            *decisions,
            *_ended(inst, "Completed", outcome.output_json, now),
        ]
        commit.clear_pending = True
        return commit
    inst.runtime_status = "Running"
    inst.last_updated_time = format_timestamp(now)
    commit.append_history = [
        *new_events,
        *decisions,
        make_event(EventType.ORCHESTRATOR_COMPLETED, now),
    ]
    return commit


def _advance_retry(
    book: dict[str, Any],
    chain: dict[str, Any],
    event: dict[str, Any],
    now: datetime,
    commit: EpisodeCommit,
) -> list[dict[str, Any]]:
    """Mirror RetryAbleTask: a failure starts a retry timer; its firing starts an attempt.

    The SDK adds the timer after every failed attempt, the last one included, and
    gives up only when that timer fires with the attempts used up.
    """
    if event.get("EventType") == EventType.TASK_FAILED:
        seq = book["next_seq"]
        book["next_seq"] += 1
        chain["timer_seq"] = seq
        fire_at = format_timestamp(now + timedelta(milliseconds=chain["interval_ms"]))
        commit.add_timers.append((seq, fire_at))
        return [make_event(EventType.TIMER_CREATED, now, seq, FireAt=fire_at)]
    chain["timer_seq"] = None
    if chain["attempts"] >= chain["max_attempts"]:
        book["retries"].remove(chain)
        return []
    seq = book["next_seq"]
    book["next_seq"] += 1
    chain["attempts"] += 1
    chain["attempt_seq"] = seq
    commit.add_activities.append((seq, chain["name"], chain["input"]))
    return [make_event(EventType.TASK_SCHEDULED, now, seq, Name=chain["name"], Input=chain["input"])]


def _continued_as_new(
    inst: InstanceRecord, commit: EpisodeCommit, input_text: str | None, now: datetime
) -> EpisodeCommit:
    """Start a fresh execution with a new history; queued external events carry over."""
    inst.execution_id = uuid.uuid4().hex
    inst.input = input_text
    inst.output = None
    inst.runtime_status = "ContinuedAsNew"
    inst.last_updated_time = format_timestamp(now)
    inst.bookkeeping = new_bookkeeping()
    started = make_event(
        EventType.EXECUTION_STARTED,
        now,
        Name=inst.name,
        Version="",
        Input=input_text,
        OrchestrationInstance={"InstanceId": inst.instance_id, "ExecutionId": inst.execution_id},
    )
    commit.append_history = []
    commit.replace_history = True
    commit.clear_pending = True
    commit.cancel_timers = []
    commit.add_timers = []
    commit.add_activities = []
    commit.new_inbox = [(inst.execution_id, started)]
    return commit
