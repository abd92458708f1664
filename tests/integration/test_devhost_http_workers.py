"""``--http-workers``: the API answered by several worker processes, reads and writes,
with every devhost guarantee kept (admin and triggers in the main process, one write
limit across processes, controls visible everywhere at once, connections shared out,
workers gone with the main process, the port and the data directory free again)."""

from __future__ import annotations

import http.client
import json
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.services.demo import PROFILES
from tests.support.devhost_process import DevhostProcess

VIEWER = ("viewer",)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    process = DevhostProcess(Path(tmp_path_factory.mktemp("workers")) / "data",
                             extra_args=["--no-timers", "--http-workers", "3"]).start()
    process.wait_for(lambda: any("HTTP worker process(es)" in line for line in process.lines), timeout=60)
    yield process
    process.stop()


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == str(pid) and fields[0] != "Z":
                found.append(int(entry))
    return found


def test_the_api_is_answered_by_the_workers_not_the_main_process(host: DevhostProcess):
    assert host.proc is not None
    workers = set(children(host.proc.pid))
    answers = [host.request("GET", "/admin/host/status")[2] for _ in range(80)]  # a new connection each
    pids = {a["pid"] for a in answers}
    assert len(workers) == 3 and len(pids) >= 2 and pids <= workers  # the main process keeps its core
    assert {a["eventLoop"] for a in answers} == {"uvloop"}  # requirements-run.txt installs it
    auth = host.auth(user="reader-1", roles=VIEWER)
    for _ in range(10):
        status, headers, body = host.request("GET", "/api/v1/positions",
                                             headers={**auth, "x-request-id": "trace-w-0001"})
        assert status == 200 and headers["x-request-id"] == "trace-w-0001" and "items" in body


def test_three_workers_take_connections_in_turn(host: DevhostProcess):
    served = shared_out(host.port, 30)
    assert len(served) == 3 and min(served.values()) >= 8, served  # a fair share is 10


def test_one_write_limit_across_processes(host: DevhostProcess):
    """The per-user write budget lives in the store: spread over three processes, a
    burst still gets the bucket's 30 (plus what refilled meanwhile), not three times it."""
    trader = host.auth(user=f"burst-{uuid.uuid4().hex[:8]}", roles=("trader",))
    account = PROFILES[0].account_id
    started = time.monotonic()
    statuses: Counter[int] = Counter()
    for _ in range(60):  # a new connection each: spread over the workers
        status, _, _ = host.request("POST", "/api/v1/orders/intents", {
            "accountId": account, "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.0001",
            "limitPrice": "1000", "clientRequestId": uuid.uuid4().hex}, headers=trader)
        statuses[status] += 1
    elapsed = time.monotonic() - started
    assert set(statuses) == {202, 429}, statuses
    assert 30 <= statuses[202] <= 30 + math.ceil(5 * elapsed), (statuses, elapsed)


def test_what_workers_do_not_serve_is_answered_by_the_main_process(host: DevhostProcess):
    """The host's admin API, unknown paths and wrong methods are forwarded; a write is
    the worker's own and reaches the main process's execution through the queue."""
    for _ in range(10):
        assert host.request("GET", "/admin/functions")[0] == 200  # the host's admin API
        status, headers, body = host.request("GET", "/api/nope", headers={"x-request-id": "trace-w-0404"})
        assert status == 404 and body["requestId"] == "trace-w-0404"
        assert host.request("DELETE", "/api/health")[0] == 405
    trader = host.auth(user="trader-w", roles=("trader",))
    account = PROFILES[0].account_id
    status, headers, body = host.request(
        "POST", "/api/v1/orders/intents", {"accountId": account, "symbol": "BTCUSDT", "side": "buy", "type": "limit",
                                           "qty": "0.0001", "limitPrice": "1000", "clientRequestId": uuid.uuid4().hex},
        headers={**trader, "x-request-id": "trace-w-write"})
    assert status == 202 and headers["x-request-id"] == "trace-w-write"
    order = host.wait_for(lambda: (r := host.request("GET", body["location"], headers=trader))[0] == 200 and r[2])
    assert order["requestId"] == "trace-w-write"  # carried through the queue to the execution function


def test_a_kill_switch_closes_reads_on_every_process_at_once(host: DevhostProcess):
    admin = host.auth(user="admin-w", roles=("admin",))
    reader = host.auth(user="reader-2", roles=VIEWER)
    warm = [host.request("GET", "/api/v1/positions", headers=reader)[0] for _ in range(20)]
    assert warm == [200] * 20  # every process's gate now holds a fresh "open" copy
    status, headers, _ = host.request("PUT", "/api/admin/controls/kill-switch", {"active": True, "reason": "drill w"},
                                      headers=admin)
    assert status == 200
    try:
        answers = [host.request("GET", "/api/v1/positions", headers=reader)[0] for _ in range(30)]
        assert answers == [503] * 30
    finally:
        status, _, _ = host.request("PUT", "/api/admin/controls/kill-switch", {"active": False},
                                    headers={**admin, "if-match": headers["etag"]})
        assert status == 200
    assert [host.request("GET", "/api/v1/positions", headers=reader)[0] for _ in range(30)] == [200] * 30


def shared_out(port: int, clients: int) -> Counter[int]:
    """Connect ``clients`` at once (a load test's start), then ask each which process serves it."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(clients)]
    for conn in connections:
        conn.connect()
    served: Counter[int] = Counter()
    try:
        for conn in connections:
            conn.request("GET", "/admin/host/status")
            served[json.loads(conn.getresponse().read())["pid"]] += 1
    finally:
        for conn in connections:
            conn.close()
    return served


def test_workers_share_connections_die_with_the_main_process_and_free_port_and_data_dir(tmp_path: Path):
    first = DevhostProcess(tmp_path / "data", extra_args=["--no-timers", "--http-workers", "2"]).start()
    assert first.proc is not None
    first.wait_for(lambda: len(children(first.proc.pid)) == 2 and any("HTTP worker process(es)" in line
                                                                       for line in first.lines), timeout=60)
    # Connections opened at once are shared out (a fair share is 15): asyncio's own
    # accept loop let the first worker to wake take nearly all (29 or 30 of 30 seen), and
    # one accept per wake-up alone still gave 27/3 at times; in turns, 14/16 at worst.
    try:
        served = shared_out(first.port, 30)
    except BaseException:
        first.kill()
        raise
    workers = children(first.proc.pid)
    first.kill()  # SIGKILL: no clean shutdown
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") and _running(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{pid}") and _running(pid) for pid in workers)
    assert len(served) == 2 and min(served.values()) >= 12, served
    second = DevhostProcess(tmp_path / "data", port=first.port, extra_args=["--no-timers"]).start()
    try:
        assert second.request("GET", "/api/health")[0] == 200
    finally:
        second.stop()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
