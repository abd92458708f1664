"""API latency under 50 concurrent clients, against the real devhost, next to its floor.

    .venv/bin/python bench/api.py [--clients 50] [--requests 2000]

Starts ``python -m devhost`` on a free port (fresh data directory, timers off), lets
the demo trade for a few seconds so positions exist, then drives:
- a read: ``GET /api/v1/positions`` (target p95 <= 20 ms),
- a write: ``POST /api/v1/orders/intents`` (target p95 <= 50 ms), one user per client so
  the per-user write limit is not what is measured,
- the floor: the same aiohttp server answering ``GET /admin/host/status`` (no auth, no
  store), printed as the ratio our endpoints pay over a bare handler.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.services.demo import PROFILES
from tests.support.devhost_process import DevhostProcess


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return statistics.median(ordered) * 1000, pick(0.95), pick(0.99)


async def drive(url: str, method: str, clients: int, total: int, headers_for: Any, body_for: Any) -> tuple[
        list[float], dict[int, int]]:
    samples: list[float] = []
    statuses: dict[int, int] = {}
    per_client = max(1, total // clients)

    async def client(n: int, session: aiohttp.ClientSession) -> None:
        for i in range(per_client):
            started = time.perf_counter()
            async with session.request(method, url, headers=headers_for(n), json=body_for(n, i)) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            samples.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(n, session) for n in range(clients)))
    return samples, statuses


def report(name: str, samples: list[float], statuses: dict[int, int], target: float | None) -> float:
    p50, p95, p99 = percentiles(samples)
    goal = f"   target p95 <= {target:.0f} ms" if target else ""
    print(f"  {name:34} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  statuses {statuses}{goal}")
    return p95


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        host = DevhostProcess(Path(tmp) / "data", extra_args=["--timer-speed", "60"]).start()
        try:
            time.sleep(5)  # a few replayed hours of paper trading: positions to read
            account = PROFILES[0].account_id
            reader = {"authorization": f"Bearer {host.token('bench-reader', 'demo', ('viewer',))}"}
            writers = [{"authorization": f"Bearer {host.token(f'bench-writer-{n}', 'demo', ('trader',))}"}
                       for n in range(args.clients)]
            print(f"devhost API, {args.clients} concurrent clients, {args.requests} requests each kind")
            floor = asyncio.run(drive(f"{host.url}/admin/host/status", "GET", args.clients, args.requests,
                                      lambda n: {}, lambda n, i: None))
            floor_p95 = report("floor: GET /admin/host/status", *floor, None)
            reads = asyncio.run(drive(f"{host.url}/api/v1/positions", "GET", args.clients, args.requests,
                                      lambda n: reader, lambda n, i: None))
            read_p95 = report("read: GET /api/v1/positions", *reads, 20)
            writes = asyncio.run(drive(
                f"{host.url}/api/v1/orders/intents", "POST", args.clients, args.requests, lambda n: writers[n],
                lambda n, i: {"accountId": account, "symbol": "BTCUSDT", "side": "buy", "type": "limit",
                              "qty": "0.0001", "limitPrice": "1000", "clientRequestId": uuid.uuid4().hex}))
            write_p95 = report("write: POST /api/v1/orders/intents", *writes, 50)
            print(f"  ratio to the floor (p95): read {read_p95 / floor_p95:.1f}x, write {write_p95 / floor_p95:.1f}x")
        finally:
            host.stop()


if __name__ == "__main__":
    main()
