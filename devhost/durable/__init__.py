"""The devhost's durable part: real azure-functions-durable replay over a SQLite history.

Why it exists: the Functions host and its Durable Task extension cannot run on a
developer machine here, yet orchestrations must behave as in Azure. This package
replays orchestrators with the unmodified SDK (``Orchestrator.create``'s wrapper),
keeps history and pending work in SQLite so a restart resumes, runs activities and
timers, and serves the durable client binding's HTTP endpoints so the unmodified
``DurableOrchestrationClient`` works. See ``shared/notes/durable-local-runtime.md``.
"""

from __future__ import annotations

from devhost.durable.runtime import DurableRuntime

__all__ = ["DurableRuntime"]
