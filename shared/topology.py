"""The declared containers and queues: one list that every adapter and the Bicep use.

Why here: the SQLite store creates these tables, the Cosmos adapter creates these
containers (if missing), the devhost pumps these queues, so a name typo fails loudly at
start-up instead of silently creating a second container.
"""

from __future__ import annotations

from shared.ports import ContainerSpec, QueueSpec

DATABASE_NAME = "trading"

CONTAINERS: tuple[ContainerSpec, ...] = (
    ContainerSpec("profiles", "/tenantId"),
    ContainerSpec("controls", "/scope"),
    ContainerSpec("orders", "/accountId"),
    ContainerSpec("ledger", "/accountId"),
    ContainerSpec("market", "/series"),
    ContainerSpec("decisions", "/profileId"),
    ContainerSpec("strategies", "/strategyId"),
    ContainerSpec("audit", "/tenantId"),
    ContainerSpec("leases", "/id"),
    ContainerSpec("paper", "/accountId"),  # the paper exchange's own book (it plays the exchange)
    ContainerSpec("failures", "/queue"),  # why a queue message failed, per delivery (see services/failures)
    ContainerSpec("events", "/stream"),  # the event feed: one stream per tenant plus "global" (services/events)
    ContainerSpec("accounts", "/id"),  # which tenant an account belongs to, for good (services/tenancy)
)

STRATEGY_TICKS = "strategy-ticks"
ORDER_INTENTS = "order-intents"
HEARTBEATS = "heartbeats"

QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(STRATEGY_TICKS, lock_duration_seconds=60, max_delivery_count=5),
    QueueSpec(ORDER_INTENTS, lock_duration_seconds=60, max_delivery_count=5, requires_session=True),
    QueueSpec(HEARTBEATS, lock_duration_seconds=30, max_delivery_count=3),
)


def container_spec(name: str) -> ContainerSpec:
    for spec in CONTAINERS:
        if spec.name == name:
            return spec
    raise KeyError(f"container {name!r} is not declared in shared.topology")


def queue_spec(name: str) -> QueueSpec:
    for spec in QUEUES:
        if spec.name == name:
            return spec
    raise KeyError(f"queue {name!r} is not declared in shared.topology")
