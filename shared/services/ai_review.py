"""The governed AI review: ask the model, check the answer, record everything.

Why every outcome is stored: a review may propose how money is traded, so the audit must
show each prompt, the raw response, the model that answered, its token counts, the
latency and what we made of it, including answers we refused (invalid JSON, schema
violations, unknown parameters, out-of-bounds steps, partial answers) and calls that
never got an answer (timeout, 429, outage). :func:`review` therefore never raises for
a model or endpoint problem: it returns the stored :class:`Suggestion` with status
``accepted``, ``rejected`` or ``failed`` and its reasons. Only a store failure raises.

An accepted suggestion is not a change: the approval workflow (``strategy_change_approval``)
takes ``suggestion.proposed_params`` as a candidate version, simulates it against the
baseline in and out of sample, and waits for an operator. Suggestions live in the
``strategies`` container, partition = strategy id, ``kind = "ai-suggestion"``.

For the HTTP layer:

- ``POST /api/v1/strategies/{id}/review`` -> :func:`propose` (AI when a key is configured,
  else the local advisor); answer 201 with the suggestion for ``accepted``/``rejected``;
  for ``failed`` a 503 (429 when the reason is ``rate-limited``, with ``Retry-After`` from
  ``retry_after_s``) that still names the stored suggestion id.
- ``GET /api/v1/ai-suggestions?strategyId=`` -> :func:`list_suggestions` (newest first;
  the store token goes through ``functions.pagination`` signing like every listing).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from shared.domain.ai.answer import check_answer
from shared.domain.ai.bounds import Params
from shared.domain.ai.prompt import Prompt, ReviewInputs, build_prompt
from shared.domain.ai.suggestion import (
    DOC_KIND,
    Reason,
    ReasonCode,
    Suggestion,
    SuggestionStatus,
    clip_response,
    from_store_doc,
    suggestion_id,
    to_store_doc,
)
from shared.domain.strategy import StrategyVersion
from shared.ports import (
    Filter,
    Llm,
    LlmError,
    LlmRateLimited,
    LlmReply,
    LlmRequestRejected,
    LlmTimeout,
    NotFound,
    OrderBy,
    Query,
    Store,
)

log = logging.getLogger(__name__)

CONTAINER: Final = "strategies"
DEFAULT_PAGE: Final = 50

#: The in-sample metric the local advisor maximises (the simulator supplies it).
Score = Callable[[Params], float]


class SuggestionNotFound(LookupError):
    pass


@dataclass(frozen=True)
class SuggestionPage:
    """One page, newest first; ``continuation`` is the store's token (None: no more)."""

    items: list[Suggestion]
    continuation: str | None = None


# ---------------------------------------------------------------- use cases


def propose(
    store: Store,
    llm: Llm | None,
    strategy_id: str,
    current: StrategyVersion,
    inputs: ReviewInputs,
    *,
    actor: str,
    request_id: str | None = None,
    tenant_id: str | None = None,
    score: Score | None = None,
    max_evaluations: int = 60,
    now: datetime | None = None,
) -> Suggestion:
    """One proposal for ``current``: the AI review when an ``Llm`` is configured (no key:
    ``runtime().llm is None``), otherwise the local advisor's bounded search, which needs
    ``score`` (the simulator's in-sample metric). The model is never called without a key."""
    if llm is not None:
        return review(store, llm, strategy_id, current, inputs, actor=actor, request_id=request_id,
                      tenant_id=tenant_id, now=now)
    if score is None:
        raise ValueError("no LLM is configured and no score function was given for the local advisor")
    from shared.services.local_advisor import advise  # local_advisor records through this module

    return advise(store, strategy_id, current, score, actor=actor, request_id=request_id, tenant_id=tenant_id,
                  max_evaluations=max_evaluations, now=now)


def review(
    store: Store,
    llm: Llm,
    strategy_id: str,
    current: StrategyVersion,
    inputs: ReviewInputs,
    *,
    actor: str,
    request_id: str | None = None,
    tenant_id: str | None = None,
    timeout_s: float | None = None,
    now: datetime | None = None,
) -> Suggestion:
    """Ask ``llm`` to review ``current`` given ``inputs``; store and return the outcome.

    ``accepted``: ``proposed_params`` is a new params object of the same kind that passed
    the bounds, the largest-step rule and the params' own validators. ``rejected``: the
    answer was unusable (``reasons`` name each problem and field). ``failed``: no answer
    (``timeout``, ``rate-limited`` with ``retry_after_s``, ``unavailable``,
    ``request-rejected``). Raises only for a mismatched version or a store failure.
    """
    if current.strategy_id != strategy_id:
        raise ValueError(f"version belongs to strategy {current.strategy_id!r}, not {strategy_id!r}")
    created_at = now or datetime.now(UTC)
    prompt = build_prompt(strategy_id, current.version, current.params, inputs)
    started = time.monotonic()
    base = _base_fields(strategy_id, current, created_at, actor=actor, request_id=request_id, tenant_id=tenant_id)
    base.update(source="ai", requested_model=llm.model, provider=llm.provider, prompt=prompt.record())
    try:
        reply = llm.complete_json(prompt.system, prompt.user, prompt.schema, schema_name=prompt.schema_name,
                                  timeout_s=timeout_s)
    except LlmError as exc:
        suggestion = Suggestion(**base, status="failed", model=llm.model, latency_ms=_elapsed_ms(started),
                                reasons=[Reason(code=_failure_code(exc), message=str(exc)[:500])],
                                retry_after_s=exc.retry_after if isinstance(exc, LlmRateLimited) else None)
    else:
        suggestion = _answered(base, prompt, reply, current.params, latency_ms=_elapsed_ms(started))
    save_suggestion(store, suggestion)
    log.info("ai review strategy=%s version=%d status=%s model=%s tokens=%s/%s latency_ms=%d reasons=%s",
             strategy_id, current.version, suggestion.status, suggestion.model, suggestion.prompt_tokens,
             suggestion.completion_tokens, suggestion.latency_ms, [r.code for r in suggestion.reasons])
    return suggestion


def _answered(base: dict[str, Any], prompt: Prompt, reply: LlmReply, current: Params, *,
              latency_ms: int) -> Suggestion:
    check = check_answer(reply.text, current, finish_reason=reply.finish_reason, refusal=reply.refusal)
    response, truncated = clip_response(reply.text if reply.text or reply.refusal is None else reply.refusal)
    status: SuggestionStatus = "accepted" if check.accepted else "rejected"
    return Suggestion(
        **base, status=status, reasons=list(check.reasons), proposed_params=check.params if check.accepted else None,
        deltas=check.deltas, rationale=check.rationale, confidence=check.confidence, risks=list(check.risks),
        model=reply.model, response=response, response_truncated=truncated, finish_reason=reply.finish_reason,
        response_id=reply.response_id, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
        total_tokens=reply.total_tokens, attempts=reply.attempts, latency_ms=latency_ms,
    )


def _failure_code(exc: LlmError) -> ReasonCode:
    if isinstance(exc, LlmTimeout):
        return "timeout"
    if isinstance(exc, LlmRateLimited):
        return "rate-limited"
    if isinstance(exc, LlmRequestRejected):
        return "request-rejected"
    return "unavailable"


# ---------------------------------------------------------------- storage


def new_suggestion_id(created_at: datetime) -> str:
    return suggestion_id(created_at, uuid.uuid4().hex[:12])


def save_suggestion(store: Store, suggestion: Suggestion) -> Suggestion:
    """Create (never overwrite): a suggestion is evidence, written once."""
    store.container(CONTAINER).create(to_store_doc(suggestion))
    return suggestion


def load_suggestion(store: Store, strategy_id: str, suggestion_id: str) -> Suggestion:
    """``SuggestionNotFound`` when the strategy has no such suggestion (the approval
    workflow reads ``proposed_params`` from here, never from the client)."""
    try:
        doc = store.container(CONTAINER).read(suggestion_id, strategy_id)
    except NotFound:
        raise SuggestionNotFound(f"strategy {strategy_id!r} has no suggestion {suggestion_id!r}") from None
    if doc.get("kind") != DOC_KIND:
        raise SuggestionNotFound(f"strategy {strategy_id!r} has no suggestion {suggestion_id!r}")
    return from_store_doc(doc)


def suggestions_query(status: SuggestionStatus | None = None) -> Query:
    """The listing's query (newest first; ids start with the creation time). Set ``limit``
    and ``continuation`` on it, and run it in the strategy's partition."""
    where = [Filter("kind", "=", DOC_KIND)]
    if status is not None:
        where.append(Filter("status", "=", status))
    return Query(where=where, order_by=OrderBy("id", descending=True))


def list_suggestions(
    store: Store,
    strategy_id: str,
    *,
    limit: int = DEFAULT_PAGE,
    continuation: str | None = None,
    status: SuggestionStatus | None = None,
) -> SuggestionPage:
    """One page of the strategy's suggestions, newest first. ``continuation`` is the token
    of the previous page as the store gave it (the HTTP layer signs it for clients)."""
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be in 1..1000")
    query = suggestions_query(status)
    page = store.container(CONTAINER).query(
        Query(where=query.where, order_by=query.order_by, limit=limit, continuation=continuation),
        partition_key=strategy_id)
    return SuggestionPage([from_store_doc(d) for d in page.items], page.continuation)


# ---------------------------------------------------------------- helpers


def _base_fields(strategy_id: str, current: StrategyVersion, created_at: datetime, *, actor: str,
                 request_id: str | None, tenant_id: str | None) -> dict[str, Any]:
    return {"id": new_suggestion_id(created_at), "strategy_id": strategy_id, "tenant_id": tenant_id,
            "base_version": current.version, "base_params": current.params, "created_at": created_at,
            "created_by": actor, "request_id": request_id}


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))
