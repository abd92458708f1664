"""Governed strategy changes: who runs which version, and how a proposal becomes active.

Why a separate head document per strategy: the version a strategy *runs* must change in
one atomic step (approval or rollback), so it lives in one document, the
:class:`StrategyHead`, updated under its etag. Versions stay immutable; a proposal names
the version it would activate and records every step it went through.

Proposal lifecycle (an explicit table, like orders; anything else raises)::

    proposed -> simulating -> awaiting-decision -> approved -> activated
                          \\-> rejected-by-gates   \\-> rejected
                                                  \\-> expired
    any non-terminal -> failed   (an activity failed for good; nothing activated)

Rules that are safety, not convenience: the proposer can never decide their own
proposal; only an ``approved`` proposal activates; an expired or rejected one never does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import Field

from shared.domain.base import DomainModel, UtcDatetime
from shared.domain.simulation.models import Gates
from shared.domain.strategy import StrategyParams

ProposalStatus = Literal[
    "proposed", "simulating", "awaiting-decision", "rejected-by-gates", "approved", "rejected", "expired",
    "activated", "failed",
]
ProposalSource = Literal["human", "ai", "local-advisor"]
Decision = Literal["approve", "reject"]

TERMINAL: Final[frozenset[str]] = frozenset({"rejected-by-gates", "rejected", "expired", "activated", "failed"})
_ALLOWED: Final[dict[str, frozenset[str]]] = {
    "proposed": frozenset({"simulating", "failed"}),
    "simulating": frozenset({"awaiting-decision", "rejected-by-gates", "failed"}),
    "awaiting-decision": frozenset({"approved", "rejected", "expired", "failed"}),
    "approved": frozenset({"activated", "failed"}),
}


class IllegalProposalTransition(ValueError):
    """A proposal was asked to move where the table does not allow."""


class SelfApproval(PermissionError):
    """The caller proposed this change; someone else must decide it."""


class StrategyHead(DomainModel):
    """The one mutable document of a strategy: its owner and which version runs."""

    strategy_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200)
    strategy_kind: Literal["seven-rule", "sma-cross"]
    active_version: int = Field(ge=1)
    previous_version: int | None = Field(default=None, ge=1)
    latest_version: int = Field(ge=1)
    updated_at: UtcDatetime
    updated_by: str


class StepRecord(DomainModel):
    """One step of a proposal's history (what the workbench and the audit show)."""

    status: str
    at: UtcDatetime
    actor: str
    detail: str = ""


class ChangeProposal(DomainModel):
    """A candidate version on its way to activation (or not)."""

    id: str
    strategy_id: str
    tenant_id: str
    version: int = Field(ge=1)
    base_version: int = Field(ge=1)
    params: StrategyParams
    source: ProposalSource
    suggestion_id: str | None = None
    proposed_by: str
    proposed_at: UtcDatetime
    note: str = ""
    gates: Gates = Field(default_factory=Gates)
    status: ProposalStatus = "proposed"
    simulation_run_id: str | None = None
    verdict: dict[str, Any] | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    expires_at: UtcDatetime
    instance_id: str
    request_id: str | None = None
    history: list[StepRecord] = Field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def proposal_id(version: int) -> str:
    """One proposal per version, so the version number is the proposal's identity."""
    return f"proposal:{version:06d}"


def approval_instance_id(strategy_id: str, version: int) -> str:
    """Deterministic orchestration id: a second start for the same proposal is refused."""
    return f"approval-{strategy_id}-v{version}"


def can_move(current: str, target: str) -> bool:
    return target in _ALLOWED.get(current, frozenset())


def move(proposal: ChangeProposal, target: ProposalStatus, *, at: datetime, actor: str, detail: str = "",
         **changes: Any) -> ChangeProposal:
    """The proposal in ``target`` with the step recorded; raises on an illegal move."""
    if not can_move(proposal.status, target):
        raise IllegalProposalTransition(f"proposal {proposal.id} cannot go from {proposal.status} to {target}")
    step = StepRecord(status=target, at=at, actor=actor, detail=detail)
    return proposal.model_copy(update={"status": target, "history": [*proposal.history, step], **changes})


def check_decider(proposal: ChangeProposal, decider: str) -> None:
    """Four eyes: whoever proposed (or asked the AI to propose) cannot decide."""
    if decider == proposal.proposed_by:
        raise SelfApproval(f"{decider} proposed version {proposal.version}; another operator must decide it")


def activated(head: StrategyHead, version: int, *, at: datetime, actor: str) -> StrategyHead:
    """``version`` runs; the one it replaces is kept for a one-step rollback."""
    if version > head.latest_version:
        raise ValueError(f"version {version} does not exist (latest is {head.latest_version})")
    if version == head.active_version:
        return head
    return head.model_copy(update={"active_version": version, "previous_version": head.active_version,
                                   "updated_at": at, "updated_by": actor})


def rolled_back(head: StrategyHead, *, at: datetime, actor: str) -> StrategyHead:
    """The previous version runs again; the rolled-back one becomes "previous", so a
    second rollback undoes the first (nothing is ever lost)."""
    if head.previous_version is None:
        raise ValueError(f"strategy {head.strategy_id} has no previous version to roll back to")
    return head.model_copy(update={"active_version": head.previous_version, "previous_version": head.active_version,
                                   "updated_at": at, "updated_by": actor})
