"""The durable client binding's HTTP endpoints, as the Durable Task extension serves them.

Why: ``DurableOrchestrationClient`` (unmodified) talks HTTP to ``rpcBaseUrl``; these
handlers answer with the URL shapes, query parameters, status codes and bodies of
the extension's ``HttpApiHandler`` so the client behaves as it does in Azure:

- ``POST orchestrators/{name}[/{id}]``: 202 + management payload; 400 with
  ``ExceptionMessage`` for an unknown orchestrator; 409 when a Pending/Running
  instance has that id (a terminal one is replaced).
- ``GET instances/{id}``: 202 while running, 200 when finished, 404 unknown;
  ``showInput`` defaults to true, ``showHistory``/``showHistoryOutput`` opt in.
- ``GET instances/``: list, filtered by ``createdTimeFrom/To``, ``runtimeStatus``,
  ``instanceIdPrefix``, paged by ``top`` and ``x-ms-continuation-token``.
- ``POST instances/{id}/raiseEvent/{name}``: 202; 410 finished; 404 unknown; 400
  unless ``application/json``. The body is stored as sent, so the SDK's double
  encoding reaches the orchestrator as a JSON string, as in Azure.
- ``POST instances/{id}/terminate``: 202; 410 finished; 404 unknown.
- ``DELETE instances/{id}`` (and ``instances/?createdTimeFrom=...``): purge.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from devhost.durable.episode import new_bookkeeping
from devhost.durable.history import TERMINAL_STATUSES, HistoryStore, InstanceQuery, InstanceRecord
from devhost.durable.replay import EventType, format_timestamp, make_event, parse_timestamp
from devhost.durable.runtime import WEBHOOK_PATH, DurableRuntime

_RUNNING_STATUSES = ("Pending", "Running", "ContinuedAsNew", "Suspended")
_HIDDEN_HISTORY = {EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED}


def _error(status: int, message: str, exception: str | None = None) -> web.Response:
    body: dict[str, Any] = {"Message": message}
    if exception is not None:
        body["ExceptionMessage"] = exception
    return web.json_response(body, status=status)


def _api_time(stored: str) -> str:
    """The host's status times: ``ToString("s") + "Z"``."""
    return parse_timestamp(stored).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_bool(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() == "true"


def _json_or_none(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


class ClientApi:
    """aiohttp handlers bound to one :class:`DurableRuntime`."""

    def __init__(self, runtime: DurableRuntime) -> None:
        self._rt = runtime

    def add_routes(self, app: web.Application) -> None:
        base = WEBHOOK_PATH
        app.router.add_post(f"{base}/orchestrators/{{functionName}}", self.start)
        app.router.add_post(f"{base}/orchestrators/{{functionName}}/{{instanceId}}", self.start)
        app.router.add_get(f"{base}/instances", self.list_instances)
        app.router.add_get(f"{base}/instances/", self.list_instances)
        app.router.add_delete(f"{base}/instances", self.purge_by)
        app.router.add_delete(f"{base}/instances/", self.purge_by)
        app.router.add_get(f"{base}/instances/{{instanceId}}", self.get_status)
        app.router.add_delete(f"{base}/instances/{{instanceId}}", self.purge)
        app.router.add_post(f"{base}/instances/{{instanceId}}/raiseEvent/{{eventName}}", self.raise_event)
        app.router.add_post(f"{base}/instances/{{instanceId}}/{{operation}}", self.operation)

    def _store(self) -> HistoryStore:
        store = self._rt.store
        if store is None:
            raise web.HTTPServiceUnavailable(text="durable runtime is not started")
        return store

    # --- start -----------------------------------------------------------------

    async def start(self, request: web.Request) -> web.Response:
        store = self._store()
        name = request.match_info["functionName"]
        instance_id = request.match_info.get("instanceId") or uuid.uuid4().hex
        if name not in self._rt.orchestrators:
            message = f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            return _error(400, "One or more of the arguments submitted is incorrect", message)
        raw = await request.text()
        input_text: str | None = None
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                return _error(400, "Invalid JSON content", str(exc))
            # The host embeds the stored input token in the context: the SDK's
            # df_dumps() text arrives JSON-encoded once more, so unwrap one level.
            input_text = parsed if isinstance(parsed, str) else json.dumps(parsed)
        existing = store.get_instance(instance_id)
        if existing is not None and existing.runtime_status in _RUNNING_STATUSES:
            return _error(
                409,
                f"An Orchestration instance with the status {existing.runtime_status} already exists.",
            )
        now = self._rt.clock.now()
        execution_id = uuid.uuid4().hex
        stamp = format_timestamp(now)
        inst = InstanceRecord(
            instance_id=instance_id,
            name=name,
            execution_id=execution_id,
            input=input_text,
            output=None,
            custom_status=None,
            runtime_status="Pending",
            created_time=stamp,
            last_updated_time=stamp,
            bookkeeping=new_bookkeeping(),
        )
        started = make_event(
            EventType.EXECUTION_STARTED,
            now,
            Name=name,
            Version=request.query.get("version", ""),
            Input=input_text,
            OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        )
        store.create_instance(inst, started)
        self._rt.notify()
        payload = self._rt.management_urls(instance_id)
        return web.json_response(
            payload,
            status=202,
            headers={"Location": payload["statusQueryGetUri"], "Retry-After": "10"},
        )

    # --- status ----------------------------------------------------------------

    def _status_body(
        self,
        inst: InstanceRecord,
        *,
        show_input: bool,
        history: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": inst.name,
            "instanceId": inst.instance_id,
            "runtimeStatus": inst.runtime_status,
            # The host returns the stored input token: for the Python client that
            # is the JSON text (a string), as in Azure.
            "input": inst.input if show_input else None,
            "customStatus": _json_or_none(inst.custom_status),
            "output": _json_or_none(inst.output),
            "createdTime": _api_time(inst.created_time),
            "lastUpdatedTime": _api_time(inst.last_updated_time),
        }
        if history is not None:
            body["historyEvents"] = history
            body["history"] = history
        return body

    async def get_status(self, request: web.Request) -> web.Response:
        store = self._store()
        inst = store.get_instance(request.match_info["instanceId"])
        if inst is None:
            return web.Response(status=404)
        history = None
        if _query_bool(request, "showHistory", False):
            with_output = _query_bool(request, "showHistoryOutput", False)
            history = _public_history(store.load_history(inst.instance_id), with_output)
        body = self._status_body(inst, show_input=_query_bool(request, "showInput", True), history=history)
        if inst.runtime_status in _RUNNING_STATUSES:
            return web.json_response(
                body,
                status=202,
                headers={"Location": str(request.url), "Retry-After": "5"},
            )
        failed_is_500 = _query_bool(request, "returnInternalServerErrorOnFailure", False)
        status = 500 if inst.runtime_status == "Failed" and failed_is_500 else 200
        return web.json_response(body, status=status)

    async def list_instances(self, request: web.Request) -> web.Response:
        store = self._store()
        try:
            query = _instance_query(request)
            offset = int(request.headers.get("x-ms-continuation-token") or 0)
            top = int(request.query["top"]) if "top" in request.query else None
        except ValueError as exc:
            return _error(400, "One or more of the arguments submitted is incorrect", str(exc))
        rows = store.query_instances(query, offset=offset, limit=(top + 1) if top else None)
        headers = {}
        if top and len(rows) > top:
            rows = rows[:top]
            headers["x-ms-continuation-token"] = str(offset + top)
        show_input = _query_bool(request, "showInput", True)
        body = [self._status_body(r, show_input=show_input) for r in rows]
        return web.json_response(body, headers=headers)

    # --- events and operations -------------------------------------------------

    async def raise_event(self, request: web.Request) -> web.Response:
        store = self._store()
        instance_id = request.match_info["instanceId"]
        inst = store.get_instance(instance_id)
        if inst is None:
            return web.Response(status=404)
        if inst.is_terminal:
            return web.Response(status=410)
        if request.content_type.lower() != "application/json":
            return _error(400, "Only application/json request content is supported")
        raw = await request.text()
        try:
            data = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as exc:
            return _error(400, "Invalid JSON content", str(exc))
        event = make_event(
            EventType.EVENT_RAISED,
            self._rt.clock.now(),
            Name=request.match_info["eventName"],
            Input=json.dumps(data),
        )
        store.enqueue(instance_id, None, event)
        self._rt.notify()
        return web.Response(status=202)

    async def operation(self, request: web.Request) -> web.Response:
        store = self._store()
        operation = request.match_info["operation"].lower()
        if operation != "terminate":
            return _error(501, f"The '{operation}' operation is not supported by the devhost durable runtime.")
        instance_id = request.match_info["instanceId"]
        inst = store.get_instance(instance_id)
        if inst is None:
            return web.Response(status=404)
        if inst.is_terminal:
            return web.Response(status=410)
        reason = request.query.get("reason")
        event = make_event(EventType.EXECUTION_TERMINATED, self._rt.clock.now(), Input=reason)
        store.enqueue(instance_id, None, event)
        self._rt.notify()
        return web.Response(status=202)

    # --- purge -----------------------------------------------------------------

    async def purge(self, request: web.Request) -> web.Response:
        store = self._store()
        inst = store.get_instance(request.match_info["instanceId"])
        if inst is None:
            return web.Response(status=404)
        if not inst.is_terminal:
            return web.json_response(
                "Only orchestrations in a terminal state can be purged, but the orchestration "
                f"with instance ID {inst.instance_id} has status {inst.runtime_status}",
                status=412,
            )
        deleted = store.purge([inst.instance_id])
        return web.json_response({"instancesDeleted": deleted})

    async def purge_by(self, request: web.Request) -> web.Response:
        store = self._store()
        if "createdTimeFrom" not in request.query:
            return web.json_response("Please provide value for 'createdTimeFrom' parameter.", status=400)
        try:
            query = _instance_query(request)
        except ValueError as exc:
            return _error(400, "One or more of the arguments submitted is incorrect", str(exc))
        if not query.statuses:
            query = InstanceQuery(query.created_from, query.created_to, tuple(sorted(TERMINAL_STATUSES)), query.prefix)
        ids = [r.instance_id for r in store.query_instances(query) if r.is_terminal]
        if not ids:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": store.purge(ids)})


def _instance_query(request: web.Request) -> InstanceQuery:
    def when(name: str) -> str | None:
        value = request.query.get(name)
        return format_timestamp(parse_timestamp(value)) if value else None

    statuses = tuple(
        s.strip() for part in request.query.getall("runtimeStatus", []) for s in part.split(",") if s.strip()
    )
    return InstanceQuery(
        created_from=when("createdTimeFrom"),
        created_to=when("createdTimeTo"),
        statuses=statuses,
        prefix=request.query.get("instanceIdPrefix") or None,
    )


_EVENT_NAMES = {int(e): e.name.title().replace("_", "") for e in EventType}


def _public_history(events: list[dict[str, Any]], with_output: bool) -> list[dict[str, Any]]:
    """History as ``showHistory`` shows it: names not numbers, no episode markers."""
    public: list[dict[str, Any]] = []
    for event in events:
        kind = int(event["EventType"])
        if kind in _HIDDEN_HISTORY:
            continue
        item: dict[str, Any] = {
            "EventType": _EVENT_NAMES.get(kind, str(kind)),
            "EventId": event.get("EventId", -1),
            "Timestamp": event["Timestamp"],
        }
        for key in ("Name", "TaskScheduledId", "TimerId", "FireAt", "OrchestrationStatus"):
            if key in event:
                item[key] = event[key]
        if kind == EventType.TASK_FAILED:
            item["Reason"] = event.get("Reason")
            if with_output:
                item["Details"] = event.get("Details")
        if with_output:
            for key in ("Input", "Result"):
                if key in event:
                    item[key] = event[key]
        public.append(item)
    return public
