"""Batch triggers on the devhost: ``execute_order_intent`` as Azure runs it, on SQLite.

The app's real function (``cardinality="many"`` on the session queue ``order-intents``)
fed by the devhost's real ``QueuePump`` from the embedded queue, over a runtime built
from the embedded adapters. Checks the host semantics the function relies on: a batch
is one session's messages in order; success completes them all; a raise abandons them
all and the failure is recorded against the message that failed.
"""

from __future__ import annotations

import asyncio
import json
import typing
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessageInConverter

from devhost.registry import FunctionSpec
from devhost.servicebus import QueuePump, host_batch_size
from shared.adapters.clock import ManualClock
from shared.adapters.paper_exchange import PaperExchange
from shared.adapters.replay_market import DEMO_START, load_demo_market
from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.adapters.sqlite_store import SqliteStore
from shared.bootstrap import Runtime, install_runtime
from shared.config import load_settings
from shared.domain.trading import OrderIntent, OrderType, Side
from shared.ports import Exchange, Filter, OutgoingMessage, Query
from shared.product import product_info
from shared.services.failures import failure_of
from shared.topology import ORDER_INTENTS
from tests.support.app_functions import app_specs


def execute_spec() -> FunctionSpec:
    [spec] = [s for s in app_specs() if s.name == "execute_order_intent"]
    return spec


def test_execute_order_intent_is_a_session_batch_trigger_the_python_worker_accepts():
    spec = execute_spec()
    assert spec.kind == "servicebus" and spec.queue_name == ORDER_INTENTS
    assert spec.sessions and spec.many
    annotation = typing.get_type_hints(spec.user_function)[spec.trigger_arg]
    # what the worker checks before it binds a batch: list[...] would be refused at load
    assert ServiceBusMessageInConverter.check_input_type_annotation(annotation)
    assert not ServiceBusMessageInConverter.check_input_type_annotation(list[func.ServiceBusMessage])


def test_the_devhost_batch_size_comes_from_host_json(tmp_path: Path):
    host = tmp_path / "host.json"
    host.write_text(json.dumps({"version": "2.0", "extensions": {"serviceBus": {"maxMessageBatchSize": 32}}}))
    assert host_batch_size(host) == 32
    host.write_text(json.dumps({"version": "2.0"}))
    assert host_batch_size(host) == 1000  # the extension's default
    assert host_batch_size(tmp_path / "missing.json") == 1000


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    clock = ManualClock(DEMO_START + timedelta(hours=5, minutes=1))
    store = SqliteStore(tmp_path / "store.sqlite")
    broker = SqliteQueueBroker(tmp_path / "queue.sqlite")
    market = load_demo_market(clock)

    def paper(account: str) -> Exchange:
        return PaperExchange(store, market, clock, account_id=account, initial_balances={"USDT": Decimal("100000")})

    rt = Runtime(settings=load_settings({product_info().env_var_prefix + "DATA_DIR": str(tmp_path)}),
                 product=product_info(), store=store, broker=broker, clock=clock, market=market,
                 exchange_factory=paper)
    install_runtime(rt)
    yield rt
    install_runtime(None)


def send(rt: Runtime, account: str, n: int, body: str | None = None) -> str:
    intent = OrderIntent(id=f"i-{account}-{n}", tenant_id="t-dev", account_id=account, profile_id=None,
                         symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, qty=Decimal("0.001"),
                         source="manual", created_at=DEMO_START)
    rt.broker.queue(ORDER_INTENTS).send(OutgoingMessage(
        body=body if body is not None else intent.model_dump_json(by_alias=True), message_id=intent.id,
        session_id=account))
    return intent.id


def pump_until(rt: Runtime, spec: FunctionSpec, done: Callable[[], bool], timeout: float = 20.0) -> None:
    pump = QueuePump(spec, rt.broker, concurrency=2, idle_sleep=0.01, max_batch=50)

    async def run() -> None:
        await pump.start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not done():
                assert loop.time() < deadline, "the pump did not finish in time"
                await asyncio.sleep(0.02)
        finally:
            await pump.stop()

    asyncio.run(run())


def orders_of(rt: Runtime, account: str) -> list[str]:
    docs = rt.store.container("orders").query(Query(where=[Filter("kind", "=", "order")]), partition_key=account)
    return sorted(d["id"] for d in docs.items if d["status"] == "filled")


def test_the_pump_runs_session_batches_through_the_real_function(runtime):
    sent = {account: [send(runtime, account, n) for n in range(6)] for account in ("acct-x", "acct-y")}
    queue = runtime.broker.queue(ORDER_INTENTS)
    batches: list[list[str]] = []
    spec = execute_spec()

    def recording(msgs: list[func.ServiceBusMessage]) -> None:
        batches.append([m.message_id for m in msgs])
        spec.user_function(msgs)

    pump_until(runtime, replace(spec, user_function=recording), lambda: queue.pending() == 0)
    for account, ids in sent.items():
        assert orders_of(runtime, account) == sorted(ids)
    for batch in batches:  # each batch is one session's messages, in send order
        assert len({i.split("-")[1] for i in batch}) == 1
        assert batch == sorted(batch, key=lambda i: int(i.rsplit("-", 1)[1]))
    assert queue.dead_letters() == []


def test_a_failing_batch_is_abandoned_whole_and_the_failure_recorded_against_its_message(runtime):
    before = send(runtime, "acct-z", 0)
    bad = send(runtime, "acct-z", 1, body='{"kind": "not an intent"')  # malformed JSON
    after = send(runtime, "acct-z", 2)
    queue = runtime.broker.queue(ORDER_INTENTS)
    failures = runtime.store.container("failures")
    spec = execute_spec()
    seen: list[Any] = []

    def recording(msgs: list[func.ServiceBusMessage]) -> None:
        seen.append([(m.message_id, m.delivery_count) for m in msgs])
        spec.user_function(msgs)

    pump_until(runtime, replace(spec, user_function=recording), lambda: len(queue.dead_letters()) == 3)
    limit = queue.spec.max_delivery_count
    # redelivered whole, in order, until the last delivery
    assert seen == [[(before, n), (bad, n), (after, n)] for n in range(1, limit + 1)]
    # the one before executed on the first delivery; the one after waited behind the
    # failing message (session order) until its last delivery, then ran rather than be
    # dead-lettered untried; each exactly once
    assert orders_of(runtime, "acct-z") == sorted([before, after])
    record = failure_of(failures, queue=ORDER_INTENTS, message_id=bad)
    assert record is not None and record["lastError"].startswith("JSONDecodeError")
    assert [a["deliveryCount"] for a in record["attempts"]] == list(range(1, limit + 1))
    assert failure_of(failures, queue=ORDER_INTENTS, message_id=before) is None
    assert failure_of(failures, queue=ORDER_INTENTS, message_id=after) is None
