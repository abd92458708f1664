"""Diagnostic probe: proves the orchestration path (activity, event or timer) end to end.

An operator (or a test) starts a probe; its activity writes a short-lived record to the
``leases`` container (per-item TTL, so probes clean up after themselves); the
orchestration then waits for an ``ack`` event or its timeout, whichever comes first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.ports import Container

ORCHESTRATOR = "diagnostic_probe"
RECORD_ACTIVITY = "record_probe"
ACK_EVENT = "ack"
DEFAULT_TIMEOUT_SECONDS = 300
MAX_TIMEOUT_SECONDS = 3600
RECORD_TTL_SECONDS = 24 * 3600


class ProbeInputError(ValueError):
    """The probe request is malformed; the message names the field."""


def probe_input(body: Any, request_id: str) -> dict[str, Any]:
    """Validate the start request; returns the orchestration input."""
    body = body if body is not None else {}
    if not isinstance(body, dict):
        raise ProbeInputError("body: must be a JSON object")
    timeout = body.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise ProbeInputError("timeoutSeconds: must be an integer")
    if not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        raise ProbeInputError(f"timeoutSeconds: must be between 1 and {MAX_TIMEOUT_SECONDS}")
    return {"timeoutSeconds": timeout, "requestId": request_id}


def record_probe(leases: Container, instance_id: str, request_id: str, now: datetime) -> dict[str, Any]:
    doc = {
        "id": f"probe:{instance_id}",
        "kind": "probe",
        "instanceId": instance_id,
        "requestId": request_id,
        "recordedAt": now.isoformat(),
        "ttl": RECORD_TTL_SECONDS,
    }
    saved = leases.upsert(doc)
    return {"recordId": saved["id"], "recordedAt": doc["recordedAt"]}
