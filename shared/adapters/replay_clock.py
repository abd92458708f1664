"""An accelerated clock for the embedded demo: history replays faster than real time.

Why a clock and not a loop over bars: every part of the app (timers, ticks, the paper
exchange, the replay feed) already asks a ``Clock`` what time it is. Speeding up that
one answer makes the whole product run over recorded data unchanged.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from shared.adapters.clock import SystemClock
from shared.ports import Clock


class ReplayClock:
    """Virtual time = ``start`` + real elapsed time x ``speed``; thread-safe.

    ``speed=3600`` plays one hour of market per real second. The answer never goes
    backwards, even if the base clock is stepped back (NTP), so bars never "un-close".
    """

    def __init__(self, start: datetime, speed: float = 1.0, base: Clock | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("ReplayClock needs a timezone-aware start")
        if not speed > 0:
            raise ValueError("speed must be positive")
        self._base: Clock = base or SystemClock()
        self._lock = threading.Lock()
        self._start = start.astimezone(UTC)
        self._speed = float(speed)
        self._anchor_real = self._base.now()
        self._last = self._start

    @property
    def speed(self) -> float:
        with self._lock:
            return self._speed

    def now(self) -> datetime:
        with self._lock:
            elapsed = self._base.now() - self._anchor_real
            virtual = self._start + elapsed * self._speed
            if virtual < self._last:
                virtual = self._last
            self._last = virtual
            return virtual

    def set_speed(self, speed: float) -> None:
        """Change speed from now on; the virtual time continues from where it is."""
        if not speed > 0:
            raise ValueError("speed must be positive")
        with self._lock:
            real = self._base.now()
            current = max(self._last, self._start + (real - self._anchor_real) * self._speed)
            self._start, self._anchor_real, self._speed, self._last = current, real, float(speed), current

    def jump(self, to: datetime) -> None:
        """Move virtual time to ``to`` (forward only: the past cannot be replayed twice)."""
        with self._lock:
            real = self._base.now()
            current = max(self._last, self._start + (real - self._anchor_real) * self._speed)
            target = max(current, to)
            self._start, self._anchor_real, self._last = target, real, target
