"""Request ids: accepted from the caller when well-formed, otherwise generated.

One id follows a request from the HTTP edge through queue messages, orchestration
inputs, logs and audit events, so support can find everything by it.
"""

from __future__ import annotations

import re
import uuid

HEADER = "x-request-id"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")


def is_well_formed(value: str | None) -> bool:
    return bool(value) and _WELL_FORMED.match(value or "") is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_or_generate(value: str | None) -> str:
    return value if value is not None and is_well_formed(value) else new_request_id()
