"""Every item a query matches, walking its pages: the loop each full listing needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from shared.ports import Container, Query


def all_items(container: Container, query: Query, partition_key: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield every match, page by page (``query.limit`` is the page size)."""
    continuation = query.continuation
    while True:
        page = container.query(replace(query, continuation=continuation), partition_key=partition_key)
        yield from page.items
        if page.continuation is None:
            return
        continuation = page.continuation
