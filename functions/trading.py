"""Trading entry points: the tick scheduler (timer), the tick (queue) and order execution (queue)."""

from __future__ import annotations

import json
import logging
from typing import List  # noqa: UP035 -- see execute_order_intent

import azure.functions as func

from functions.queue_kit import consume, consume_batch
from shared.bootstrap import Runtime, runtime
from shared.services.dead_letters import watch_dead_letters
from shared.services.execution import ExecutionContext, ExecutionResult, handle_order_messages
from shared.services.ticks import TickContext, run_tick, schedule_ticks
from shared.topology import ORDER_INTENTS, STRATEGY_TICKS

bp = func.Blueprint()
log = logging.getLogger("halyard.trading")

SERVICE_BUS_CONNECTION = "ServiceBusConnection"


def tick_context(rt: Runtime) -> TickContext:
    return TickContext(store=rt.store, broker=rt.broker, market=rt.market, exchange_for=rt.exchange_for,
                       clock=rt.clock)


def execution_context(rt: Runtime) -> ExecutionContext:
    return ExecutionContext(store=rt.store, market=rt.market, exchange_for=rt.exchange_for, clock=rt.clock)


@bp.function_name("schedule_strategy_ticks")
@bp.timer_trigger(arg_name="timer", schedule="0 * * * * *", run_on_startup=False)
def schedule_strategy_ticks(timer: func.TimerRequest) -> None:
    sent = schedule_ticks(tick_context(runtime()))
    log.info(json.dumps({"event": "ticks.scheduled", "count": sent}))


@bp.function_name("watch_dead_letters")
@bp.timer_trigger(arg_name="timer", schedule="30 * * * * *", run_on_startup=False)
def watch_dead_letters_timer(timer: func.TimerRequest) -> None:
    rt = runtime()
    raised = watch_dead_letters(rt.store, rt.broker, rt.clock.now())
    if raised:
        log.warning(json.dumps({"event": "dead-letters.alerted", "count": raised}))


@bp.function_name("run_strategy_tick")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=STRATEGY_TICKS, connection=SERVICE_BUS_CONNECTION)
def run_strategy_tick(msg: func.ServiceBusMessage) -> None:
    consume(msg, STRATEGY_TICKS, _tick)


def _tick(body: str) -> None:
    run_tick(body, tick_context(runtime()))


# A batch trigger on the session queue: the host hands over one session's (one account's)
# messages in order, completes them all when this returns and abandons them all when it
# raises. The batch lets the embedded store record many intents in one commit (see
# shared.services.execution). host.json caps the batch (maxMessageBatchSize) and bounds how
# long an idle session is held (sessionIdleTimeout). ``List``, not ``list``: the Python
# worker's converter only recognises typing.List as "many" messages.
@bp.function_name("execute_order_intent")
@bp.service_bus_queue_trigger(arg_name="msgs", queue_name=ORDER_INTENTS, connection=SERVICE_BUS_CONNECTION,
                              is_sessions_enabled=True, cardinality="many")
def execute_order_intent(msgs: List[func.ServiceBusMessage]) -> None:  # noqa: UP006
    consume_batch(msgs, ORDER_INTENTS, _execute)


def _execute(bodies: list[str], last_delivery: list[bool]) -> None:
    for result in handle_order_messages(bodies, execution_context(runtime()), last_delivery):
        if log.isEnabledFor(logging.INFO):
            log.info(_handled(result))


def _handled(result: ExecutionResult) -> str:
    order = result.order
    return json.dumps({"event": "order-message.handled", "outcome": result.outcome, "reason": result.reason,
                       "intentId": order.id if order else None, "requestId": order.request_id if order else None})
