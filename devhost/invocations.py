"""Calling user functions the way the worker does, with one log line per invocation.

Sync functions run in a thread pool (as the Python worker does), async ones on the
host's single long-lived event loop (the durable client caches an aiohttp session bound
to the first loop it sees).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("devhost.invocation")

_executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="fn")


async def call_user_function(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(_executor, functools.partial(fn, **kwargs))
    if inspect.isawaitable(result):
        return await result
    return result


def log_invocation(
    function: str,
    trigger: str,
    started: float,
    outcome: str,
    request_id: str | None = None,
    error: str | None = None,
) -> None:
    """One structured line per invocation: function, trigger, duration, outcome, request id."""
    record: dict[str, Any] = {
        "event": "invocation",
        "function": function,
        "trigger": trigger,
        "durationMs": round((time.perf_counter() - started) * 1000, 2),
        "outcome": outcome,
        "requestId": request_id,
    }
    if error:
        record["error"] = error
    log.info(json.dumps(record, separators=(",", ":")))
