"""The README's run command starts the product, answers /api/health within 60 s, and
paper-trades the replayed candles: decisions, orders, positions and ledger entries
appear within a minute."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from shared.adapters.sqlite_store import SqliteStore
from shared.ports import Filter, Query
from shared.services.demo import PROFILES
from tests.support.devhost_process import REPO, free_port


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body if resp.status == 200 else None
    except OSError:
        return None


def _books(store: SqliteStore) -> dict[str, int]:
    counts = {"decisions": 0, "orders": 0, "positions": 0, "ledger": 0}
    for profile in PROFILES:
        counts["decisions"] += len(store.container("decisions").query(Query(), partition_key=profile.id).items)
        orders = store.container("orders")
        filled = Query(where=[Filter("kind", "=", "order"), Filter("status", "=", "filled")])
        counts["orders"] += len(orders.query(filled, partition_key=profile.account_id).items)
        counts["positions"] += len(orders.query(Query(where=[Filter("kind", "=", "position")]),
                                                partition_key=profile.account_id).items)
        counts["ledger"] += len(store.container("ledger").query(
            Query(where=[Filter("kind", "in", ["fee", "realized-pnl"])]), partition_key=profile.account_id).items)
    return counts


def test_run_command_serves_health_and_trades_on_paper(tmp_path: Path):
    readme = (REPO / "README.md").read_text()
    assert "./scripts/run" in readme.split("```")[1], "the README's first block must give the run command"
    port = free_port()
    proc = subprocess.Popen([str(REPO / "scripts" / "run"), "--port", str(port), "--data-dir", str(tmp_path)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    try:
        started = time.monotonic()
        body = None
        while time.monotonic() - started < 60 and body is None:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
            body = _health(port)
            if body is None:
                time.sleep(0.2)
        assert body is not None, "no answer from /api/health within 60 s"
        assert body["status"] == "healthy" and body["mode"] == "embedded"

        store = SqliteStore(tmp_path / "store.sqlite")
        try:
            counts = _books(store)
            while time.monotonic() - started < 60 and not all(counts.values()):
                time.sleep(1)
                counts = _books(store)
        finally:
            store.close()
        assert all(counts.values()), f"after a minute of paper trading: {counts}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
