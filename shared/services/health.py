"""Health: can this instance reach its store and its queue broker, and what is it.

Why a service and not inline in the endpoint: operators and the devhost integration
tests read the same answer, and the probe must never raise (a failing dependency is a
reported fact, answered with 503, not a crash).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.bootstrap import Runtime
from shared.ports import Container, NotFound, StoreError
from shared.product import product_info
from shared.services.heartbeat import HEARTBEAT_ID, SYSTEM_SCOPE


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    latency_ms: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "latencyMs": self.latency_ms, "detail": self.detail}


def _timed(name: str, probe: Callable[[], None]) -> Check:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:
        return Check(name, False, _ms(started), f"{type(exc).__name__}")
    return Check(name, True, _ms(started), "reachable")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def last_heartbeat(controls: Container) -> dict[str, Any] | None:
    try:
        doc = controls.read(HEARTBEAT_ID, SYSTEM_SCOPE)
    except NotFound:
        return None
    except StoreError:
        return None
    return {"at": doc.get("lastAt"), "count": doc.get("count")}


def unavailable_report(detail: str) -> dict[str, Any]:
    """The report when the adapters could not even be built."""
    product = product_info()
    return {"status": "unhealthy", "product": product.product_id, "version": product.version, "detail": detail}


def health_report(rt: Runtime) -> tuple[bool, dict[str, Any]]:
    """Return (healthy, report). Healthy means every dependency answered."""
    checks = [
        _timed("store", rt.store.ping),
        _timed("queue", rt.broker.ping),
    ]
    healthy = all(c.ok for c in checks)
    heartbeat = last_heartbeat(rt.store.container("controls")) if checks[0].ok else None
    report: dict[str, Any] = {
        "status": "healthy" if healthy else "unhealthy",
        "product": rt.product.product_id,
        "version": rt.product.version,
        "mode": rt.settings.mode,
        "environment": rt.settings.environment,
        "time": rt.clock.now().isoformat(),
        "checks": {c.name: c.as_dict() for c in checks},
        "heartbeat": heartbeat,
    }
    return healthy, report
