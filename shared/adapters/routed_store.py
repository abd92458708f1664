"""One ``Store`` made of several: some containers live in a store of their own.

Why: the embedded store is one SQLite file with one write lock, and the execution
function holds that lock for a unit of work at a time (many intents, one commit). The
API's per-user write limit (``leases``) is also a write, on every few API writes: in the
same file it queued behind order execution, and an API write waited for a batch of
somebody else's orders before it could even be accepted. Throttling state shares
nothing with trading state (no unit of work, no query spans both), so it gets its own
file, its own lock and its own commits. On Azure both are containers of one Cosmos DB
account, which has no store-wide write lock: there is nothing to route.

A unit of work is the default store's: writes to a routed container inside a unit
commit on their own, exactly as every write does on Cosmos DB (the port's contract).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from shared.ports import Container, Store


class RoutedStore:
    """``container(name)`` from ``routes[name]`` when routed, else from ``default``."""

    def __init__(self, default: Store, routes: Mapping[str, Store]) -> None:
        self.default = default
        self.routes = dict(routes)

    def container(self, name: str) -> Container:
        return self.routes.get(name, self.default).container(name)

    def ping(self) -> None:
        self.default.ping()
        for store in self._others():
            store.ping()

    def unit_of_work(self) -> AbstractContextManager[bool]:
        return self.default.unit_of_work()

    def close(self) -> None:
        try:
            self.default.close()
        finally:
            for store in self._others():
                store.close()

    def _others(self) -> list[Store]:
        seen: list[Store] = []
        for store in self.routes.values():
            if store is not self.default and all(store is not s for s in seen):
                seen.append(store)
        return seen
