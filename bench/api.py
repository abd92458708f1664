"""API latency under 50 concurrent clients, against the real devhost, next to its floor.

    .venv/bin/python bench/api.py [--clients 50] [--requests 2000] [--http-workers 2] [--client lean|aiohttp]

Starts ``python -m devhost`` on a free port (fresh data directory, the demo trading at
``--timer-speed 60``, ``--http-workers`` worker processes answering the API), lets the demo trade
for a few seconds so positions exist, then drives:
- a read: ``GET /api/v1/positions`` (target p95 <= 20 ms),
- a write: ``POST /api/v1/orders/intents`` (target p95 <= 50 ms), each client rotating
  through its own users (a new one every ``WRITES_PER_USER`` writes, within the burst of
  the per-user write limit) so the limit is not what is measured,
- the floor: the same aiohttp server answering ``GET /admin/host/status`` (no auth, no
  store), printed as the ratio our endpoints pay over a bare handler.

The devhost's CPU time per request is printed too: on a shared machine it is steadier
than the latencies, which follow whatever else the cores are doing.

The load comes from ``bench/http_load.py`` (``--client lean``, the default): one keep-alive
connection per client, each request written as soon as the last response arrived. It
costs the shared cores a fraction of what aiohttp's client did (~250 µs per request,
whose own queueing landed inside the measured latencies; see that module).
``--client aiohttp`` drives the same requests through aiohttp's client, as this bench
did before, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import http_load
from shared.services.demo import PROFILES
from tests.support.devhost_process import DevhostProcess

WRITES_PER_USER = 20  # below the write limit's burst (30), whatever the refill


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


def report(name: str, samples: list[float], statuses: dict[int, int], cpu_seconds: float | None,
           target: float | None) -> float:
    p50, p95, p99 = percentiles(samples)
    goal = f"   target p95 <= {target:.0f} ms" if target else ""
    cpu = f"  devhost CPU {cpu_seconds / len(samples) * 1e6:5.0f} us/req" if cpu_seconds is not None else ""
    print(f"  {name:34} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms{cpu}  statuses {statuses}{goal}")
    return p95


def process_tree(pid: int) -> list[int]:
    """The devhost and its HTTP workers (Linux /proc; empty elsewhere)."""
    found = [pid]
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[1] == str(pid):
                        found.append(int(entry))
            except (OSError, IndexError):
                continue
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        except (OSError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def measured(pids: list[int], run: Any) -> tuple[list[float], dict[int, int], float]:
    before = cpu_seconds(pids)
    samples, statuses = run()
    return samples, statuses, cpu_seconds(pids) - before


Headers = dict[str, str]


def load(client: str, url: str, method: str, clients: int, total: int,
         headers_for: Any, body_for: Any) -> tuple[list[float], dict[int, int]]:
    """``total`` requests from ``clients`` closed-loop clients, with the chosen load generator."""
    if client == "aiohttp":
        return asyncio.run(drive(url, method, clients, total, headers_for, body_for))

    def request_bytes(n: int, i: int) -> bytes:
        body = body_for(n, i)
        headers: Headers = dict(headers_for(n))
        if body is None:
            return http_load.build_request(method, url, headers)
        headers["Content-Type"] = "application/json"
        return http_load.build_request(method, url, headers, json.dumps(body).encode())

    result = http_load.run(url, clients, max(1, total // clients), request_bytes)
    return result.samples, result.statuses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--http-workers", type=int, default=2, help="devhost worker processes answering the API")
    parser.add_argument("--client", choices=("lean", "aiohttp"), default="lean",
                        help="load generator: bench/http_load.py (default) or aiohttp's client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        host = DevhostProcess(Path(tmp) / "data", extra_args=[
            "--timer-speed", "60", "--http-workers", str(args.http_workers)]).start()
        try:
            time.sleep(5)  # a few replayed hours of paper trading: positions to read
            pids = process_tree(host.proc.pid) if host.proc else []
            account = PROFILES[0].account_id
            reader = {"authorization": f"Bearer {host.token('bench-reader', 'demo', ('viewer',))}"}
            per_client: int = max(1, args.requests // args.clients)
            users: int = -(-per_client // WRITES_PER_USER)
            writers: list[list[dict[str, str]]] = [
                [{"authorization": f"Bearer {host.token(f'bench-writer-{n}-{u}', 'demo', ('trader',))}"}
                 for u in range(users)] for n in range(args.clients)]
            calls = [0] * args.clients

            def writer(n: int) -> dict[str, str]:
                calls[n] += 1
                return writers[n][(calls[n] - 1) // WRITES_PER_USER % users]

            print(f"devhost API, {args.clients} concurrent clients, {args.requests} requests each kind, "
                  f"{args.http_workers} HTTP process(es), {os.cpu_count()} cores, {args.client} client")
            floor = measured(pids, lambda: load(
                args.client, f"{host.url}/admin/host/status", "GET", args.clients, args.requests, lambda n: {},
                lambda n, i: None))
            floor_p95 = report("floor: GET /admin/host/status", *floor, None)
            reads = measured(pids, lambda: load(
                args.client, f"{host.url}/api/v1/positions", "GET", args.clients, args.requests, lambda n: reader,
                lambda n, i: None))
            read_p95 = report("read: GET /api/v1/positions", *reads, 20)
            writes = measured(pids, lambda: load(
                args.client, f"{host.url}/api/v1/orders/intents", "POST", args.clients, args.requests, writer,
                lambda n, i: {"accountId": account, "symbol": "BTCUSDT", "side": "buy", "type": "limit",
                              "qty": "0.0001", "limitPrice": "1000", "clientRequestId": uuid.uuid4().hex}))
            write_p95 = report("write: POST /api/v1/orders/intents", *writes, 50)
            print(f"  ratio to the floor (p95): read {read_p95 / floor_p95:.1f}x, write {write_p95 / floor_p95:.1f}x")
        finally:
            host.stop()


if __name__ == "__main__":
    main()
