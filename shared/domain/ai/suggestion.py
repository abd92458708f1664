"""The record of one review: what was asked, what came back, and what we made of it.

Why one document per attempt, whatever happened: FR-5 asks for every prompt, response
and model to be kept for audit, and a rejected or failed review is evidence too (a model
that keeps proposing out-of-bounds steps, an endpoint that keeps timing out). The record
never holds the API key: nothing that could contain it is ever written here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import Field

from shared.domain.base import DomainModel, UtcDatetime
from shared.domain.strategy import StrategyParams

DOC_KIND: Final = "ai-suggestion"
LOCAL_ADVISOR_MODEL: Final = "local-advisor"

SuggestionStatus = Literal["accepted", "rejected", "failed"]
SuggestionSource = Literal["ai", "local-advisor"]

#: Why an answer was not accepted (``rejected``) or never came (``failed``):
#: - invalid-json: the text is not one JSON document;
#: - schema-violation: JSON, but a field has the wrong type, shape or range (``field`` names it);
#: - unknown-parameter: a delta names a parameter that does not exist or is not tunable;
#: - partial-answer: a required field or delta is missing or empty, or the answer was cut off;
#: - out-of-bounds: a delta leaves the parameter's range or exceeds its largest step;
#: - invalid-params: within bounds, but the resulting parameters break a rule (fast >= slow);
#: - no-change: every delta is zero (nothing to simulate);
#: - refusal: the model declined to answer;
#: - timeout / rate-limited / unavailable / request-rejected: the call failed (status ``failed``);
#: - advisor-error: the local advisor's scoring failed (status ``failed``).
ReasonCode = Literal[
    "invalid-json", "schema-violation", "unknown-parameter", "partial-answer", "out-of-bounds", "invalid-params",
    "no-change", "refusal", "timeout", "rate-limited", "unavailable", "request-rejected", "advisor-error",
]

#: Stored response text is cut here (the adapter asks for far fewer tokens than this).
MAX_STORED_RESPONSE_CHARS: Final = 100_000


class Reason(DomainModel):
    """One precise reason; ``field`` is a dotted path into the answer (``deltas.emaFast``)."""

    code: ReasonCode
    message: str
    field: str | None = None


class PromptRecord(DomainModel):
    """Exactly what the model was sent (the schema too: a changed schema is a changed prompt)."""

    version: str
    system: str
    user: str
    schema_name: str
    response_schema: dict[str, Any]


class AdvisorRecord(DomainModel):
    """How the local advisor searched: a bounded number of scored candidates."""

    metric: str
    evaluations: int = Field(ge=0)
    max_evaluations: int = Field(ge=1)
    baseline_score: float | None
    best_score: float | None
    trail: list[dict[str, Any]] = Field(default_factory=list)


class Suggestion(DomainModel):
    """One review of a strategy version: accepted (``proposed_params`` is a valid candidate
    within bounds, ready for simulation and approval), rejected (the answer was unusable;
    ``reasons`` say why), or failed (no answer; ``reasons`` say why, ``retry_after_s`` when
    the endpoint said when to come back).

    An accepted suggestion is a recommendation only: it changes nothing until the approval
    workflow simulates it and an operator approves it.
    """

    id: str
    strategy_id: str = Field(min_length=1)
    tenant_id: str | None = None
    source: SuggestionSource
    status: SuggestionStatus
    reasons: list[Reason] = Field(default_factory=list)
    base_version: int = Field(ge=1)
    base_params: StrategyParams
    proposed_params: StrategyParams | None = None
    deltas: dict[str, int | float] = Field(default_factory=dict)
    rationale: str | None = None
    confidence: float | None = None
    risks: list[str] = Field(default_factory=list)
    model: str
    requested_model: str | None = None
    provider: str | None = None
    prompt: PromptRecord | None = None
    response: str | None = None
    response_truncated: bool = False
    finish_reason: str | None = None
    response_id: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    attempts: int = Field(default=0, ge=0)
    latency_ms: int = Field(default=0, ge=0)
    retry_after_s: float | None = None
    advisor: AdvisorRecord | None = None
    created_at: UtcDatetime
    created_by: str = Field(min_length=1)
    request_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "accepted" and self.proposed_params is not None


def suggestion_id(created_at: datetime, nonce: str) -> str:
    """Fixed-width time first, so ids sort by creation (the listing orders by id)."""
    return f"{DOC_KIND}:{created_at.strftime('%Y%m%dT%H%M%S.%fZ')}:{nonce}"


def to_store_doc(suggestion: Suggestion) -> dict[str, Any]:
    return {**suggestion.to_doc(), "kind": DOC_KIND}


def from_store_doc(doc: dict[str, Any]) -> Suggestion:
    return Suggestion.from_doc({k: v for k, v in doc.items() if k != "kind"})


def clip_response(text: str | None) -> tuple[str | None, bool]:
    """The response as stored, and whether it was cut."""
    if text is None or len(text) <= MAX_STORED_RESPONSE_CHARS:
        return text, False
    return text[:MAX_STORED_RESPONSE_CHARS], True
