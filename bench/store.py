"""SQLite store and queue throughput, next to raw sqlite3 doing the same writes.

    .venv/bin/python bench/store.py [--items 5000] [--messages 5000]

Prints operations/s for create, read (point), query (one partition, filter + order +
limit; repeated on an unchanged file, which the read cache answers, and as a miss after
the file changed) and queue send / receive+complete, and the ratio to a bare ``sqlite3`` loop with
the same durability settings (WAL, one transaction per write), the floor any adapter on
this file format pays.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.adapters.sqlite_read_cache import ReadCache
from shared.adapters.sqlite_store import SqliteStore
from shared.ports import Filter, OrderBy, OutgoingMessage, Query
from shared.topology import HEARTBEATS


def rate(n: int, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def doc(i: int) -> dict[str, object]:
    return {"id": f"o-{i}", "accountId": f"acct-{i % 10}", "status": "new" if i % 3 else "filled",
            "price": "101.25", "qty": i % 17, "symbol": "BTCUSDT"}


def raw_sqlite(path: Path, n: int) -> tuple[float, float]:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE items (pk TEXT, id TEXT, doc TEXT, PRIMARY KEY (pk, id))")

    def create() -> None:
        for i in range(n):
            d = doc(i)
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO items VALUES (?, ?, ?)", (d["accountId"], d["id"], json.dumps(d)))
            con.execute("COMMIT")

    def read() -> None:
        for i in range(n):
            json.loads(con.execute("SELECT doc FROM items WHERE pk=? AND id=?", (f"acct-{i % 10}", f"o-{i}"))
                       .fetchone()[0])

    result = rate(n, create), rate(n, read)
    con.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    n, m, q = args.items, args.messages, args.queries

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "store.sqlite")
        orders = store.container("orders")
        create = rate(n, lambda: [orders.create(doc(i)) for i in range(n)])
        read = rate(n, lambda: [orders.read(f"o-{i}", f"acct-{i % 10}") for i in range(n)])
        query = Query(where=[Filter("status", "=", "new")], order_by=OrderBy("qty", descending=True), limit=50)
        query_rate = rate(q, lambda: [orders.query(query, partition_key=f"acct-{i % 10}") for i in range(q)])

        def query_missed(i: int) -> object:
            conn = store._local.conn
            assert conn is not None  # the queries above opened it
            store._local.reads = ReadCache(conn)  # as after another connection's commit: empty
            return orders.query(query, partition_key=f"acct-{i % 10}")

        miss_rate = rate(q, lambda: [query_missed(i) for i in range(q)])
        store.close()
        raw_create, raw_read = raw_sqlite(Path(tmp) / "raw.sqlite", n)

        broker = SqliteQueueBroker(Path(tmp) / "queue.sqlite")
        queue = broker.queue(HEARTBEATS)
        def send_all() -> None:
            for i in range(m):
                queue.send(OutgoingMessage(body='{"k":1}', message_id=f"m-{i}"))

        send = rate(m, send_all)

        def drain() -> None:
            done = 0
            while done < m:
                batch = queue.receive(32)
                for msg in batch:
                    queue.complete(msg)
                done += len(batch)

        drain_rate = rate(m, drain)
        broker.close()

    print(f"SQLite store ({n} items, WAL, one transaction per write)")
    row = "  {:8} {:10,.0f} ops/s   raw sqlite3 {:10,.0f} ops/s   raw is {:5.2f}x faster"
    print(row.format("create", create, raw_create, raw_create / create))
    print(row.format("read", read, raw_read, raw_read / read))
    print(f"  query    {query_rate:10,.0f} queries/s (one partition, filter + order + limit 50; file unchanged)")
    print(f"  query    {miss_rate:10,.0f} queries/s (the same, each a cache miss)")
    print(f"SQLite queue ({m} messages)")
    print(f"  send               {send:10,.0f} msgs/s")
    print(f"  receive+complete   {drain_rate:10,.0f} msgs/s")


if __name__ == "__main__":
    main()
