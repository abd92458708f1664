"""The event feed: ``GET /api/v1/events?after=<cursor>&wait=<s>&limit=`` (long-poll).

Why long-poll over plain HTTP: it works through every proxy and on the Functions
consumption plan (no websockets), and a control change reaches every surface within the
poll interval (~200 ms) instead of the next refresh. The caller reads the ``global``
stream and their own tenant's stream only; the tenant comes from the token.

Without ``after`` the answer is immediate: no items and a cursor at the current end of
the caller's streams, the place to start following from.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from functions.api_kit import ApiContext, api_route
from functions.http_kit import HttpProblem
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.services import events

bp = func.Blueprint()

MAX_WAIT_SECONDS = 25  # below the platform's HTTP idle limits, with room for the answer


class EventsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: str | None = Field(default=None, min_length=1, max_length=events.MAX_CURSOR_LENGTH,
                              description="The cursor of the previous answer; omit to start from now.")
    wait: float = Field(default=0, ge=0, le=MAX_WAIT_SECONDS,
                        description="Seconds to wait for an event when there is none yet (0..25).")
    limit: int = Field(default=events.DEFAULT_LIMIT, ge=1, le=events.MAX_LIMIT)


@api_route(bp, name="events_feed", method="GET", route="v1/events", role=Role.VIEWER, query=EventsQuery,
           tags=("events",), summary="Long-poll the caller's events (global and tenant streams) after a cursor")
def events_feed(ctx: ApiContext) -> dict[str, Any]:
    query: EventsQuery = ctx.query
    store = runtime().store
    streams = events.caller_streams(ctx.caller.tenant_id)
    if query.after is None:
        return {"items": [], "cursor": events.head_cursor(store, streams)}
    try:
        page = events.wait_for_events(store, streams, query.after, query.limit, query.wait)
    except events.InvalidCursor as exc:
        raise HttpProblem(400, "Bad request", f"Invalid cursor: {exc}.") from None
    return {"items": page.items, "cursor": page.cursor}
