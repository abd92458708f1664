"""Strategy heads, proposals, activation and rollback in the ``strategies`` container.

Everything of one strategy shares its partition (``strategyId``): the head (which version
runs), the immutable versions, the proposals, simulation runs and AI suggestions. That is
what lets a proposal reserve its version number, write the version and create its record
in **one transactional batch**, and lets activation move the head and the proposal
together: no state where a version runs without its approved proposal, or the reverse.

Each step is audited (hash chain of the owning tenant) and announced on the tenant's
event feed, with the request id that started it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from shared.domain.simulation.models import Gates
from shared.domain.strategy import SevenRuleParams, SmaCrossParams, StrategyVersion
from shared.domain.strategy_changes import (
    ChangeProposal,
    ProposalSource,
    ProposalStatus,
    StepRecord,
    StrategyHead,
    activated,
    approval_instance_id,
    check_decider,
    move,
    proposal_id,
    rolled_back,
)
from shared.ports import BatchFailed, BatchOp, Conflict, Filter, NotFound, PreconditionFailed, Query, Store
from shared.services.audit import append_audit
from shared.services.events import publish, tenant_stream
from shared.services.listing import all_items
from shared.services.strategies import load_version, version_doc_id

CONTAINER: Final = "strategies"
HEAD_ID: Final = "head"
HEAD_KIND: Final = "strategy-head"
PROPOSAL_KIND: Final = "strategy-proposal"
DEFAULT_DECISION_WINDOW: Final = timedelta(hours=24)
MAX_ATTEMPTS: Final = 20


class StrategyNotFound(NotFound):
    """No such strategy for this tenant (other tenants' strategies do not exist for it)."""


class ProposalNotFound(NotFound):
    pass


class ProposalNotPending(Conflict):
    """The proposal is not waiting for a decision (decided, expired, or still simulating)."""


# ---------------------------------------------------------------------------- heads


def head_doc(head: StrategyHead) -> dict[str, Any]:
    return {**head.to_doc(), "id": HEAD_ID, "kind": HEAD_KIND}


def _head_from(doc: dict[str, Any]) -> StrategyHead:
    return StrategyHead.from_doc({k: v for k, v in doc.items() if k not in ("id", "kind")})


def ensure_head(store: Store, version: StrategyVersion, *, tenant_id: str, name: str, at: datetime) -> bool:
    """Create the head of a strategy whose first version exists (idempotent)."""
    head = StrategyHead(strategy_id=version.strategy_id, tenant_id=tenant_id, name=name,
                        strategy_kind=version.params.kind, active_version=version.version,
                        latest_version=version.version, updated_at=at,
                        updated_by=version.created_by)
    try:
        store.container(CONTAINER).create(head_doc(head))
        return True
    except Conflict:
        return False


def create_strategy(store: Store, *, tenant_id: str, strategy_id: str, name: str,
                    params: SevenRuleParams | SmaCrossParams, actor: str, now: datetime,
                    request_id: str | None) -> StrategyHead:
    """A new strategy owned by ``tenant_id``: version 1 and its head, in one batch (an id
    already taken, by anyone, conflicts)."""
    version = StrategyVersion(strategy_id=strategy_id, version=1, params=params, created_at=now, created_by=actor,
                              note="created")
    head = StrategyHead(strategy_id=strategy_id, tenant_id=tenant_id, name=name, strategy_kind=params.kind,
                        active_version=1, latest_version=1, updated_at=now, updated_by=actor)
    ops = [BatchOp("create", item=head_doc(head)),
           BatchOp("create", item={**version.to_doc(), "id": version_doc_id(1), "kind": "strategy-version"})]
    try:
        store.container(CONTAINER).batch(strategy_id, ops)
    except BatchFailed as exc:
        raise exc.cause if isinstance(exc.cause, Conflict) else exc from None
    _announce(store, tenant_id, strategy_id, "strategy.created", actor, request_id, now,
              {"name": name, "kind": params.kind})
    return head


def read_head(store: Store, strategy_id: str) -> tuple[StrategyHead, str]:
    try:
        doc = store.container(CONTAINER).read(HEAD_ID, strategy_id)
    except NotFound:
        raise StrategyNotFound(f"no strategy {strategy_id!r}") from None
    return _head_from(doc), str(doc["_etag"])


def _tenant_head(store: Store, tenant_id: str, strategy_id: str) -> tuple[StrategyHead, str]:
    head, etag = read_head(store, strategy_id)
    if head.tenant_id != tenant_id:
        raise StrategyNotFound(f"no strategy {strategy_id!r}")
    return head, etag


def strategy_owner(store: Store, strategy_id: str) -> str | None:
    """The owning tenant, or None for a strategy without a head."""
    try:
        return read_head(store, strategy_id)[0].tenant_id
    except StrategyNotFound:
        return None


def require_strategy(store: Store, tenant_id: str, strategy_id: str) -> StrategyHead:
    """The head, if the strategy belongs to ``tenant_id``; otherwise "not found"."""
    return _tenant_head(store, tenant_id, strategy_id)[0]


def list_strategies(store: Store, tenant_id: str) -> list[StrategyHead]:
    query = Query(where=[Filter("kind", "=", HEAD_KIND), Filter("tenantId", "=", tenant_id)], limit=200)
    heads = [_head_from(d) for d in all_items(store.container(CONTAINER), query)]
    return sorted(heads, key=lambda h: h.strategy_id)


def list_versions(store: Store, strategy_id: str) -> list[StrategyVersion]:
    query = Query(where=[Filter("kind", "=", "strategy-version")], limit=200)
    docs = all_items(store.container(CONTAINER), query, strategy_id)
    versions = [StrategyVersion.from_doc({k: v for k, v in d.items() if k not in ("id", "kind")}) for d in docs]
    return sorted(versions, key=lambda v: v.version)


def running_version(store: Store, strategy_id: str, fallback: int) -> int:
    """The version a tick must run: the head's active one, or the profile's own number
    for a strategy that has no head (created before heads existed)."""
    try:
        head, _ = read_head(store, strategy_id)
    except StrategyNotFound:
        return fallback
    return head.active_version


# ---------------------------------------------------------------------------- proposals


def proposal_doc(proposal: ChangeProposal) -> dict[str, Any]:
    return {**proposal.to_doc(), "kind": PROPOSAL_KIND}


def _proposal_from(doc: dict[str, Any]) -> ChangeProposal:
    return ChangeProposal.from_doc({k: v for k, v in doc.items() if k != "kind"})


def read_proposal(store: Store, strategy_id: str, version: int) -> tuple[ChangeProposal, str]:
    try:
        doc = store.container(CONTAINER).read(proposal_id(version), strategy_id)
    except NotFound:
        raise ProposalNotFound(f"strategy {strategy_id!r} has no proposal for version {version}") from None
    return _proposal_from(doc), str(doc["_etag"])


def list_proposals(store: Store, strategy_id: str) -> list[ChangeProposal]:
    query = Query(where=[Filter("kind", "=", PROPOSAL_KIND)], limit=200)
    proposals = [_proposal_from(d) for d in all_items(store.container(CONTAINER), query, strategy_id)]
    return sorted(proposals, key=lambda p: p.version, reverse=True)


def propose(
    store: Store,
    *,
    tenant_id: str,
    strategy_id: str,
    params: SevenRuleParams | SmaCrossParams,
    source: ProposalSource,
    actor: str,
    now: datetime,
    request_id: str | None,
    note: str = "",
    suggestion_id: str | None = None,
    decision_window: timedelta = DEFAULT_DECISION_WINDOW,
    instance_id: str | None = None,
    gates: Gates | None = None,
) -> ChangeProposal:
    """Reserve the next version number, write the version and the proposal: one batch.

    ``instance_id`` names the orchestration that carries the proposal (a review starts
    it before the version number is known); by default it derives from the version.
    The candidate must be the same kind of strategy as the one it changes (a 7-rule
    strategy is not silently turned into an SMA cross).
    """
    container = store.container(CONTAINER)
    for _ in range(MAX_ATTEMPTS):
        head, etag = _tenant_head(store, tenant_id, strategy_id)
        if params.kind != head.strategy_kind:
            raise ValueError(f"strategy {strategy_id} is {head.strategy_kind}; "
                             f"a {params.kind} proposal cannot change it")
        number = head.latest_version + 1
        version = StrategyVersion(strategy_id=strategy_id, version=number, params=params, created_at=now,
                                  created_by=actor, note=note)
        proposal = ChangeProposal(
            id=proposal_id(number), strategy_id=strategy_id, tenant_id=tenant_id, version=number,
            base_version=head.active_version, params=params, source=source, suggestion_id=suggestion_id,
            proposed_by=actor, proposed_at=now, note=note, expires_at=now + decision_window,
            instance_id=instance_id or approval_instance_id(strategy_id, number), request_id=request_id,
            history=[StepRecord(status="proposed", at=now, actor=actor, detail=f"{source} proposal")],
            gates=gates or Gates(),
        )
        ops = [
            BatchOp("replace", item=head_doc(head.model_copy(update={"latest_version": number})), if_match=etag),
            BatchOp("create", item={**version.to_doc(), "id": version_doc_id(number), "kind": "strategy-version"}),
            BatchOp("create", item=proposal_doc(proposal)),
        ]
        try:
            container.batch(strategy_id, ops)
        except BatchFailed as exc:
            if isinstance(exc.cause, (Conflict, PreconditionFailed)):
                continue  # another proposal took the number: take the next one
            raise
        _announce(store, proposal.tenant_id, strategy_id, "strategy.proposed", actor, request_id, now,
                  {"version": number, "baseVersion": head.active_version, "source": source,
                   "suggestionId": suggestion_id, "note": note})
        return proposal
    raise Conflict(f"strategy {strategy_id} kept changing; try again")


def _update(store: Store, strategy_id: str, version: int,
            build: Callable[[ChangeProposal], ChangeProposal | None]) -> ChangeProposal:
    """Read-modify-write of one proposal under its etag; ``build`` returning None means
    "already done" (activities are retried and replayed: every step is idempotent)."""
    container = store.container(CONTAINER)
    for _ in range(MAX_ATTEMPTS):
        current, etag = read_proposal(store, strategy_id, version)
        updated = build(current)
        if updated is None:
            return current
        try:
            container.replace(proposal_doc(updated), if_match=etag)
            return updated
        except PreconditionFailed:
            continue
    raise Conflict(f"proposal {strategy_id} v{version} kept changing")


def advance(store: Store, strategy_id: str, version: int, target: ProposalStatus, *, actor: str, now: datetime,
            detail: str = "", request_id: str | None = None, **changes: Any) -> ChangeProposal:
    """Move a proposal one step (no-op when it is already there), audit and announce it."""
    moved: list[ChangeProposal] = []

    def build(current: ChangeProposal) -> ChangeProposal | None:
        if current.status == target:
            return None
        moved.append(move(current, target, at=now, actor=actor, detail=detail, **changes))
        return moved[-1]

    proposal = _update(store, strategy_id, version, build)
    if moved:
        _announce(store, proposal.tenant_id, strategy_id, f"strategy.proposal.{target}", actor,
                  request_id or proposal.request_id, now, {"version": version, "detail": detail, **_jsonable(changes)})
    return proposal


def require_pending_decision(store: Store, tenant_id: str, strategy_id: str, version: int,
                             decider: str) -> ChangeProposal:
    """What the approve / reject endpoints check before signalling the orchestration."""
    require_strategy(store, tenant_id, strategy_id)
    proposal, _ = read_proposal(store, strategy_id, version)
    check_decider(proposal, decider)
    if proposal.status != "awaiting-decision":
        raise ProposalNotPending(f"version {version} is {proposal.status}, not awaiting a decision")
    return proposal


def record_decision(store: Store, strategy_id: str, version: int, *, decision: str, decider: str, reason: str,
                    now: datetime, request_id: str | None = None) -> ChangeProposal:
    """The orchestration's record of the operator's event (re-checks the four-eyes rule:
    the event may come from anywhere that can reach the orchestration)."""
    proposal, _ = read_proposal(store, strategy_id, version)
    check_decider(proposal, decider)
    target: ProposalStatus = "approved" if decision == "approve" else "rejected"
    return advance(store, strategy_id, version, target, actor=decider, now=now, detail=reason,
                   request_id=request_id, decided_by=decider, decision_reason=reason)


def activate(store: Store, strategy_id: str, version: int, *, now: datetime) -> StrategyHead:
    """Make an *approved* proposal's version the running one; the previous stays for
    rollback. Head and proposal move in one batch; repeating it changes nothing."""
    container = store.container(CONTAINER)
    for _ in range(MAX_ATTEMPTS):
        proposal, proposal_etag = read_proposal(store, strategy_id, version)
        head, head_etag = read_head(store, strategy_id)
        if proposal.status == "activated":
            return head
        if proposal.status != "approved":
            raise ProposalNotPending(f"version {version} is {proposal.status}; only an approved proposal activates")
        actor = proposal.decided_by or "system"
        new_head = activated(head, version, at=now, actor=actor)
        done = move(proposal, "activated", at=now, actor=actor, detail=f"replaces version {head.active_version}")
        try:
            container.batch(strategy_id, [BatchOp("replace", item=head_doc(new_head), if_match=head_etag),
                                          BatchOp("replace", item=proposal_doc(done), if_match=proposal_etag)])
        except BatchFailed as exc:
            if isinstance(exc.cause, PreconditionFailed):
                continue
            raise
        _announce(store, head.tenant_id, strategy_id, "strategy.activated", actor, proposal.request_id, now,
                  {"version": version, "previousVersion": head.active_version})
        return new_head
    raise Conflict(f"strategy {strategy_id} kept changing")


def rollback(store: Store, tenant_id: str, strategy_id: str, *, actor: str, reason: str, now: datetime,
             request_id: str | None) -> StrategyHead:
    """One step back: the previous version runs again (audited with the reason)."""
    container = store.container(CONTAINER)
    for _ in range(MAX_ATTEMPTS):
        head, etag = _tenant_head(store, tenant_id, strategy_id)
        new_head = rolled_back(head, at=now, actor=actor)
        try:
            container.replace(head_doc(new_head), if_match=etag)
        except PreconditionFailed:
            continue
        _announce(store, tenant_id, strategy_id, "strategy.rolled-back", actor, request_id, now,
                  {"version": new_head.active_version, "rolledBack": head.active_version, "reason": reason})
        return new_head
    raise Conflict(f"strategy {strategy_id} kept changing")


# ---------------------------------------------------------------------------- announce


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool, type(None), dict, list))}


def _announce(store: Store, tenant_id: str, strategy_id: str, action: str, actor: str, request_id: str | None,
              at: datetime, details: dict[str, Any]) -> None:
    """Audit first (the record), then the feed (the notification)."""
    append_audit(store.container("audit"), tenant_id=tenant_id, action=action, actor=actor,
                 target=f"strategy:{strategy_id}", details=details, request_id=request_id, at=at)
    publish(store, tenant_stream(tenant_id), action, {"strategyId": strategy_id, **details}, at, request_id)


def version_params(store: Store, strategy_id: str, version: int) -> SevenRuleParams | SmaCrossParams:
    return load_version(store, strategy_id, version).params
