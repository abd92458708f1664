"""Public product status: kill switch and maintenance, read from the ``controls`` container.

Fail closed: if the controls cannot be read, the answer says so and reports the product
as not trading, so no surface ever shows "all clear" on unknown state.

``ProductGate`` is the per-request check every gated API call makes. It reads the three
product controls at most once per ``ttl_seconds`` (one second) instead of three store
reads per call: DESIGN promises a control change on every surface "within seconds",
and a second is well within that. What stays exact: the public status endpoint and the
event feed read fresh, the gate's ``until`` comparisons use the current time on every
call, an admin write through the API drops the cached copy at once (``invalidate``), and
a failed read is never cached nor replaced by an older good copy: it answers "unknown",
which every caller treats as disabled. Processes that share a store on one machine (the
devhost's HTTP workers) also share a change signal (``use_signal``): a number any of them
changes after a control write, checked on every call, so their copies go stale at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from shared.domain.controls import GLOBAL_SCOPE, HALT_ID, KILL_SWITCH_ID, MAINTENANCE_ID, PRODUCT_SCOPE, Control
from shared.ports import Container, NotFound, StoreError

GATE_TTL_SECONDS: Final = 1.0


@dataclass(frozen=True)
class ProductControls:
    """The three product-wide controls as stored (None: never set)."""

    kill_switch: Control | None
    maintenance: Control | None
    global_halt: Control | None


def _read(controls: Container, control_id: str, scope: str) -> Control | None:
    try:
        return Control.from_doc(controls.read(control_id, scope))
    except NotFound:
        return None


def read_product_controls(controls: Container) -> ProductControls:
    """Raises ``StoreError`` or ``ValidationError`` when the state cannot be known."""
    return ProductControls(kill_switch=_read(controls, KILL_SWITCH_ID, PRODUCT_SCOPE),
                           maintenance=_read(controls, MAINTENANCE_ID, PRODUCT_SCOPE),
                           global_halt=_read(controls, HALT_ID, GLOBAL_SCOPE))


def _flag(control: Control | None, now: datetime) -> dict[str, Any]:
    """A control's public view; one whose ``until`` has passed is no longer active."""
    if control is None:
        return {"active": False}
    active = control.active and (control.until is None or control.until > now)
    return {
        "active": active,
        "reason": control.reason if active else None,
        "actor": control.actor if active else None,
        "since": control.since.isoformat() if active and control.since else None,
        "until": control.until.isoformat() if active and control.until else None,
    }


def unknown_status() -> dict[str, Any]:
    """What every surface shows when control state cannot be known: disabled."""
    return {
        "state": "unknown",
        "productDisabled": True,
        "maintenance": None,
        "tradingAllowed": False,
        "detail": "control state could not be read; treated as disabled",
    }


def status_of(state: ProductControls, now: datetime) -> dict[str, Any]:
    kill = _flag(state.kill_switch, now)
    maintenance = _flag(state.maintenance, now)
    halt = _flag(state.global_halt, now)
    mode = "disabled" if kill["active"] else ("maintenance" if maintenance["active"] else "operational")
    return {
        "state": mode,
        "productDisabled": kill["active"],
        "killSwitch": kill,
        "maintenance": maintenance,
        "globalHalt": halt,
        "tradingAllowed": not kill["active"] and not halt["active"],
    }


def product_status(controls: Container, now: datetime) -> tuple[bool, dict[str, Any]]:
    """Return (known, status). ``known`` is False when the controls could not be read
    (or a control document is malformed): then the product counts as disabled."""
    try:
        state = read_product_controls(controls)
    except (StoreError, ValidationError):
        return False, unknown_status()
    return True, status_of(state, now)


@dataclass(frozen=True)
class _Entry:
    container: Container
    state: ProductControls
    read_at: float
    signal: int | None


class ProductGate:
    """The product status for gating API calls, read at most once per ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float = GATE_TTL_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= ttl_seconds <= 5:
            raise ValueError("ttl_seconds must be within 0..5 (changes must show within seconds)")
        self.ttl_seconds = ttl_seconds
        self._monotonic = monotonic
        self._entry: _Entry | None = None
        self._refresh = threading.Lock()
        self._read_signal: Callable[[], int] | None = None
        self._bump_signal: Callable[[], None] | None = None
        self.reads = 0  # store round trips made (for tests and diagnostics)

    def use_signal(self, read: Callable[[], int], bump: Callable[[], None]) -> None:
        """Share invalidation with other processes: ``read`` returns a number that
        ``bump`` (called by ``invalidate`` in any of them) changes."""
        self._read_signal, self._bump_signal = read, bump
        self.invalidate()

    def _fresh(self, controls: Container) -> _Entry | None:
        entry = self._entry
        if entry is None or entry.container is not controls:  # another runtime: not its state
            return None
        if self._monotonic() - entry.read_at >= self.ttl_seconds:
            return None
        if self._read_signal is not None and self._read_signal() != entry.signal:
            return None  # another process changed a control since this copy was read
        return entry

    def status(self, controls: Container, now: datetime) -> dict[str, Any]:
        entry = self._fresh(controls)
        if entry is None:
            with self._refresh:  # one reader refreshes; the others wait and use its answer
                entry = self._fresh(controls)
                if entry is None:
                    started = self._monotonic()
                    signal = self._read_signal() if self._read_signal is not None else None  # before the read
                    self.reads += 1
                    try:
                        state = read_product_controls(controls)
                    except (StoreError, ValidationError):
                        self._entry = None
                        return unknown_status()
                    entry = _Entry(controls, state, started, signal)
                    self._entry = entry
        return status_of(entry.state, now)

    def invalidate(self) -> None:
        """Forget the cached state: the next call reads the store (after a control change).

        Under the refresh lock, so a read that started before the change cannot store its
        older answer after this: it either finishes first (and is dropped here) or starts
        after the change was committed."""
        with self._refresh:
            self._entry = None
            if self._bump_signal is not None:
                self._bump_signal()
