"""The workers' shared connection counts: each writes its own slot, reads the others'."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from devhost import connection_balance
from devhost.connection_balance import GONE, ConnectionCounts, TurnTakingAcceptor


def test_a_worker_yields_only_to_one_holding_fewer(tmp_path: Path):
    path = tmp_path / "balance"
    connection_balance.create(path, 3)
    a, b, c = (ConnectionCounts(path, i, 3) for i in range(3))
    assert a.fewest_elsewhere() == 0 and not a.should_yield(0)
    a.publish(2)
    b.publish(1)
    c.publish(1)
    assert a.should_yield(2) and not b.should_yield(1) and not c.should_yield(1)
    assert a.fewest_elsewhere() == 1 and b.fewest_elsewhere() == 1
    c.publish(5)
    assert b.fewest_elsewhere() == 2 and not b.should_yield(1)
    c.leave()  # a worker going away is never deferred to
    assert b.fewest_elsewhere() == 2 and a.fewest_elsewhere() == 1  # c left: only b and a count
    a.leave()
    b.leave()


def test_a_single_worker_never_yields(tmp_path: Path):
    path = tmp_path / "balance"
    connection_balance.create(path, 1)
    only = ConnectionCounts(path, 0, 1)
    only.publish(100)
    assert only.fewest_elsewhere() is None and not only.should_yield(100)
    only.leave()


def test_an_index_outside_the_workers_is_refused(tmp_path: Path):
    path = tmp_path / "balance"
    connection_balance.create(path, 2)
    with pytest.raises(ValueError):
        ConnectionCounts(path, 2, 2)


class _Server:
    """Stands for aiohttp's ``web.Server``: a protocol factory with ``connections``."""

    def __init__(self) -> None:
        self.connections: list[object] = []

    def __call__(self) -> asyncio.Protocol:
        server = self

        class Held(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                server.connections.append(self)

        return Held()


def test_an_acceptor_counts_its_connections_and_stops_cleanly(tmp_path: Path):
    """Counts follow the accepted connections; after ``stop`` nothing of it runs again
    (no timer left to overwrite what ``leave`` wrote)."""
    path = tmp_path / "balance"
    connection_balance.create(path, 2)
    mine, watcher = ConnectionCounts(path, 0, 2), ConnectionCounts(path, 1, 2)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    clients: list[socket.socket] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = _Server()
        acceptor = TurnTakingAcceptor(loop, listener, server, mine)
        acceptor.start()
        watcher.publish(10)  # the other worker holds more: we never step back
        for _ in range(3):
            clients.append(socket.create_connection(listener.getsockname()))
        for _ in range(100):
            if len(server.connections) == 3:
                break
            await asyncio.sleep(0.01)
        assert len(server.connections) == 3
        await asyncio.sleep(0.12)  # a couple of refreshes
        assert watcher.fewest_elsewhere() == 3
        acceptor.stop()
        mine.leave()
        await asyncio.sleep(0.12)  # a refresh still pending would overwrite GONE here
        assert watcher.fewest_elsewhere() == GONE

    try:
        asyncio.run(scenario())
    finally:
        for client in clients:
            client.close()
        listener.close()
        watcher.leave()
