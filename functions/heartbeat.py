"""Scheduler heartbeat: a timer that enqueues and a Service Bus function that consumes."""

from __future__ import annotations

import azure.functions as func

from functions.queue_kit import consume
from shared.bootstrap import runtime
from shared.services.heartbeat import emit_heartbeat, record_heartbeat
from shared.topology import HEARTBEATS

bp = func.Blueprint()

SERVICE_BUS_CONNECTION = "ServiceBusConnection"


@bp.function_name("emit_heartbeat")
@bp.timer_trigger(arg_name="timer", schedule="0 * * * * *", run_on_startup=False)
def emit(timer: func.TimerRequest) -> None:
    rt = runtime()
    emit_heartbeat(rt.broker.queue(HEARTBEATS), rt.clock.now(), source="timer")


@bp.function_name("record_heartbeat")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=HEARTBEATS, connection=SERVICE_BUS_CONNECTION)
def record(msg: func.ServiceBusMessage) -> None:
    def handle(body: str) -> None:
        rt = runtime()
        record_heartbeat(rt.store.container("controls"), body, rt.clock.now())

    consume(msg, HEARTBEATS, handle)
