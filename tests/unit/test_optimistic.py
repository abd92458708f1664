from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.services.optimistic import KeptChanging, update_document


def test_concurrent_updates_lose_nothing(tmp_path: Path):
    store = SqliteStore(tmp_path / "s.sqlite")
    leases = store.container("leases")

    def bump(current: dict[str, Any] | None) -> dict[str, Any]:
        return {"id": "counter", "n": (current or {}).get("n", 0) + 1}

    def worker() -> None:
        for _ in range(25):
            update_document(leases, "counter", "counter", bump, attempts=1000)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert leases.read("counter", "counter")["n"] == 200
    store.close()


def test_gives_up_when_the_document_keeps_changing(tmp_path: Path):
    store = SqliteStore(tmp_path / "s.sqlite")
    leases = store.container("leases")
    leases.create({"id": "x", "n": 0})

    def meddle(current: dict[str, Any] | None) -> dict[str, Any]:
        leases.upsert({"id": "x", "n": -1})  # someone else writes between our read and our write
        return {"id": "x", "n": 1}

    with pytest.raises(KeptChanging):
        update_document(leases, "x", "x", meddle, attempts=3)
    assert leases.read("x", "x")["n"] == -1
    store.close()
