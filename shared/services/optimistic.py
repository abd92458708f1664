"""Read-modify-write of one document under its etag, retried when someone else wrote first.

Why one helper: heartbeats, failure records and automatic halts all update a single
document that several function instances may touch at once; each must neither lose a
concurrent change nor overwrite it blindly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.ports import Conflict, Container, NotFound, PreconditionFailed


class KeptChanging(RuntimeError):
    """The document changed under every attempt; the caller decides (retry later, fail)."""


def update_document(
    container: Container,
    id: str,
    partition_key: str,
    build: Callable[[dict[str, Any] | None], dict[str, Any]],
    *,
    attempts: int = 5,
) -> dict[str, Any]:
    """``build(current or None)`` returns the new document; it is created when absent,
    else replaced under the etag that was read. Returns the stored document."""
    for _ in range(attempts):
        try:
            current: dict[str, Any] | None = container.read(id, partition_key)
        except NotFound:
            current = None
        doc = build(current)
        try:
            if current is None:
                return container.create(doc)
            return container.replace(doc, if_match=current["_etag"])
        except (Conflict, PreconditionFailed):
            continue
    raise KeptChanging(f"{id} kept changing; gave up after {attempts} attempts")
