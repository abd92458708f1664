from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.domain.audit import AuditEvent
from shared.domain.audit_chain import GENESIS_HASH, canonical_json, chain_event, verify_chain
from shared.domain.trading import Side

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def build(n: int = 6, tenant: str = "t1") -> list[AuditEvent]:
    events: list[AuditEvent] = []
    prev = None
    for i in range(n):
        prev = chain_event(
            prev, id=f"ev-{i}", tenant_id=tenant, action="halt.set" if i % 2 else "halt.clear", actor="op@x",
            target=f"profile:p{i}", details={"reason": f"drift {i}", "limit": Decimal("500.00"), "n": i},
            request_id=f"req-{i}", at=T0 + timedelta(seconds=i),
        )
        events.append(prev)
    return events


def test_chain_links_seq_and_hashes():
    events = build()
    assert events[0].seq == 1 and events[0].prev_hash == GENESIS_HASH
    for a, b in itertools.pairwise(events):
        assert b.seq == a.seq + 1 and b.prev_hash == a.hash
    assert len({e.hash for e in events}) == len(events)
    assert all(len(e.hash) == 64 for e in events)
    assert verify_chain(events) is None
    assert verify_chain([]) is None


def test_chain_survives_a_store_round_trip():
    events = build()
    reread = [AuditEvent.from_doc(e.to_doc()) for e in events]
    assert verify_chain(reread) is None
    assert events[0].details == {"limit": "500.00", "n": 0, "reason": "drift 0"}


@pytest.mark.parametrize("index", range(6))
def test_an_edited_event_is_detected_at_its_index(index):
    events = build()
    field, value = [("actor", "mallory"), ("details", {"reason": "nothing"}), ("target", "global"),
                    ("at", T0 - timedelta(days=1)), ("request_id", None), ("action", "halt.clear")][index]
    events[index] = events[index].model_copy(update={field: value})
    assert verify_chain(events) == index


def test_an_edit_that_recomputes_its_own_hash_breaks_the_next_link():
    events = build()
    forged = chain_event(
        events[1], id=events[2].id, tenant_id="t1", action="halt.clear", actor="mallory", target="global",
        details={}, request_id=None, at=events[2].at,
    )
    events[2] = forged
    assert verify_chain(events) == 3


@pytest.mark.parametrize("index", range(6))
def test_a_removed_event_is_detected_where_it_was(index):
    events = build()
    del events[index]
    expected = None if index == 5 else index  # removing the tail is undetectable without an external head
    assert verify_chain(events) == expected


@pytest.mark.parametrize("index", range(5))
def test_reordered_events_are_detected_at_the_first_moved(index):
    events = build()
    events[index], events[index + 1] = events[index + 1], events[index]
    assert verify_chain(events) == index


def test_verifying_a_page_after_a_trusted_anchor():
    events = build()
    assert verify_chain(events[3:], anchor=events[2]) is None
    assert verify_chain(events[3:]) == 0
    assert verify_chain(events[4:], anchor=events[2]) == 0


def test_tenant_chains_do_not_mix():
    a, b = build(2, "t1"), build(2, "t2")
    with pytest.raises(ValueError, match="cannot follow"):
        chain_event(a[-1], id="x", tenant_id="t2", action="a", actor="u", target="t", details={},
                    request_id=None, at=T0)
    # a foreign event with a forged link still fails (its own hash covers the tenant)
    assert verify_chain([a[0], b[1].model_copy(update={"prev_hash": a[0].hash})]) == 1


def test_canonical_json_is_stable_and_compact():
    payload = {"b": Decimal("1.50"), "a": [1, 2.5, None, True], "at": datetime(2024, 1, 1, 2, tzinfo=timezone(
        timedelta(hours=2))), "side": Side.BUY, "nested": {"z": "é", "y": (1, 2)}}
    out = canonical_json(payload)
    assert out == (
        b'{"a":[1,2.5,null,true],"at":"2024-01-01T00:00:00Z","b":"1.50","nested":{"y":[1,2],"z":"\xc3\xa9"},'
        b'"side":"buy"}'
    )
    reordered = dict(reversed(list(payload.items())))
    assert canonical_json(reordered) == out
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(canonical_json(payload)).hexdigest()


@pytest.mark.parametrize("bad", [float("nan"), Decimal("NaN"), datetime(2024, 1, 1), {1, 2}, object()])
def test_canonical_json_refuses_unstable_values(bad):
    with pytest.raises((ValueError, TypeError)):
        canonical_json({"x": bad})
