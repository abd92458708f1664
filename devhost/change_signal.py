"""A change signal the devhost's processes share: 8 bytes of a memory-mapped file.

Why: each process keeps a short-lived copy of the product controls for its API gate
(``shared.services.product_status.ProductGate``). After an operator changes a control
through one process, the others must not answer from their copy, even for the second
the copy may live. Reading a mapped word costs well under a microsecond, so every gated
request checks it; a change writes 8 fresh random bytes (random rather than a counter,
so two processes bumping at once can never write the value a reader already saw).
"""

from __future__ import annotations

import mmap
import os
import secrets
from pathlib import Path
from typing import Final

SIGNAL_BYTES: Final = 8


class FileSignal:
    """``read()`` → the current value; ``bump()`` → a new one, seen by every process."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < SIGNAL_BYTES:
                os.ftruncate(fd, SIGNAL_BYTES)
            self._map = mmap.mmap(fd, SIGNAL_BYTES)
        finally:
            os.close(fd)

    def read(self) -> int:
        return int.from_bytes(self._map[:SIGNAL_BYTES], "little")

    def bump(self) -> None:
        self._map[:SIGNAL_BYTES] = secrets.token_bytes(SIGNAL_BYTES)

    def close(self) -> None:
        self._map.close()
