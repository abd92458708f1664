"""The pure AI-review core: bounds, the strict schema, answer checks, the prompt, the record."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # via schemathesis
import pydantic
import pytest

from shared.domain.ai.answer import apply_deltas, check_answer, proposal_schema, schema_name
from shared.domain.ai.bounds import BOUNDS, bounds_for, current_value
from shared.domain.ai.prompt import MAX_TRADES, SYSTEM_PROMPT, ReviewInputs, TradeResult, build_prompt
from shared.domain.ai.suggestion import Suggestion, from_store_doc, suggestion_id, to_store_doc
from shared.domain.strategy import SevenRuleParams, SmaCrossParams

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
SMA = SmaCrossParams(fast=10, slow=30)
SEVEN = SevenRuleParams()
MODELS = {"seven-rule": SevenRuleParams, "sma-cross": SmaCrossParams}


def zero_deltas(params: Any) -> dict[str, Any]:
    return {b.wire: 0 for b in bounds_for(params)}


def text(params: Any = SMA, **changes: Any) -> str:
    deltas = zero_deltas(params)
    deltas.update(changes.pop("deltas", {}))
    doc = {"deltas": deltas, "rationale": "evidence says so", "confidence": 0.5, "risks": ["overfit"]}
    doc.update(changes)
    return json.dumps(doc)


def codes(check: Any) -> list[tuple[str, str | None]]:
    return [(r.code, r.field) for r in check.reasons]


# ---------------------------------------------------------------- bounds


@pytest.mark.parametrize("kind", sorted(BOUNDS))
def test_bounds_match_the_params_models(kind: str):
    model = MODELS[kind]
    hints = typing.get_type_hints(model, include_extras=True)
    defaults = model()
    for bound in BOUNDS[kind]:
        base = typing.get_args(hints[bound.name])[0] if typing.get_args(hints[bound.name]) else hints[bound.name]
        assert base is (int if bound.type == "integer" else float), bound.name
        assert bound.minimum <= current_value(defaults, bound) <= bound.maximum, f"default {bound.name} out of bounds"
        info = model.model_fields[bound.name]  # type: ignore[attr-defined]
        field_type: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
            typing.Annotated[info.annotation, *info.metadata])  # type: ignore[arg-type]
        for edge in (bound.minimum, bound.maximum):  # the edges are valid values of the field itself
            field_type.validate_python(int(edge) if bound.type == "integer" else edge)
    tunable = {b.name for b in BOUNDS[kind]}
    assert "kind" not in tunable and "session_hours_utc" not in tunable and "ai_enabled" not in tunable


def test_largest_step_is_relative_with_a_floor():
    fast, slow = BOUNDS["sma-cross"]
    assert fast.max_step(10) == 5 and fast.max_step(3) == 1 and slow.max_step(30) == 15
    rsi_min = next(b for b in BOUNDS["seven-rule"] if b.name == "rsi_min")
    assert rsi_min.max_step(45) == 10  # an absolute step for thresholds
    assert fast.allowed_delta(3) == (-1, 1) and fast.allowed_delta(100) == (-50, 0)


# ---------------------------------------------------------------- schema


def _strict_shape(node: dict[str, Any], where: str = "$") -> None:
    """OpenAI strict mode: every object closes its properties and requires all of them."""
    if node.get("type") == "object":
        assert node["additionalProperties"] is False, where
        assert sorted(node["required"]) == sorted(node["properties"]), where
        for name, child in node["properties"].items():
            _strict_shape(child, f"{where}.{name}")
    if node.get("type") == "array":
        _strict_shape(node["items"], f"{where}[]")


@pytest.mark.parametrize("params", [SMA, SEVEN])
def test_schema_is_valid_json_schema_and_strict(params: Any):
    schema = proposal_schema(params)
    jsonschema.Draft202012Validator.check_schema(schema)
    _strict_shape(schema)
    assert list(schema["properties"]["deltas"]["properties"]) == [b.wire for b in bounds_for(params)]
    assert schema_name(params) in ("strategy_review_sma_cross", "strategy_review_seven_rule")


SCHEMA_CASES = [
    (text(), True),
    (text(deltas={"fast": 2, "slow": -4}), True),
    (text(confidence="high"), False),
    (text(risks="none"), False),
    (text(deltas={"fast": 2.5}), False),
    (text(deltas={"fast": True}), False),
    (json.dumps({"deltas": {"fast": 1}, "rationale": "r", "confidence": 0.5, "risks": []}), False),
    (json.dumps({"deltas": {**zero_deltas(SMA), "fastt": 1}, "rationale": "r", "confidence": 0.5, "risks": []}),
     False),
    (text(extra="field"), False),
]


@pytest.mark.parametrize(("answer", "structurally_ok"), SCHEMA_CASES)
def test_checks_agree_with_the_schema_on_structure(answer: str, structurally_ok: bool):
    """What the schema forbids, the checks refuse too (they must not be laxer)."""
    schema_ok = jsonschema.Draft202012Validator(proposal_schema(SMA)).is_valid(json.loads(answer))
    assert schema_ok is structurally_ok
    check = check_answer(answer, SMA)
    structural = {"schema-violation", "partial-answer", "unknown-parameter", "invalid-json"}
    if not structurally_ok:
        assert not check.accepted and {r.code for r in check.reasons} & structural


# ---------------------------------------------------------------- answers


def test_valid_answer_gives_a_validated_candidate():
    check = check_answer(text(SEVEN, deltas={"emaFast": -10, "stopAtrMult": 0.3, "rsiMin": -5}), SEVEN)
    assert check.accepted and check.reasons == ()
    assert isinstance(check.params, SevenRuleParams)
    assert (check.params.ema_fast, check.params.stop_atr_mult, check.params.rsi_min) == (40, 2.3, 40.0)
    assert check.params.ema_slow == SEVEN.ema_slow and check.params.session_hours_utc == SEVEN.session_hours_utc
    assert check.deltas == {"emaFast": -10, "stopAtrMult": 0.3, "rsiMin": -5.0}  # zeros dropped
    assert check.rationale == "evidence says so" and check.confidence == 0.5 and check.risks == ("overfit",)


@pytest.mark.parametrize("answer", [
    "", "   ", "{", "Here you go: {}", "```json\n{}\n```", '{"deltas": NaN}', '{"a": 1} {"b": 2}',
])
def test_non_json_is_rejected(answer: str):
    check = check_answer(answer, SMA)
    assert not check.accepted and check.reasons[0].code in ("invalid-json", "partial-answer")


def test_nan_and_duplicate_keys_are_not_json():
    assert codes(check_answer(text(confidence=0.5).replace("0.5", "NaN"), SMA)) == [("invalid-json", None)]
    dup = '{"deltas": {"fast": 1, "fast": 5, "slow": 0}, "rationale": "r", "confidence": 0.5, "risks": []}'
    [reason] = check_answer(dup, SMA).reasons
    assert reason.code == "invalid-json" and "duplicate key 'fast'" in reason.message


def test_truncated_answer_is_partial():
    assert codes(check_answer(text()[:30], SMA, finish_reason="length")) == [("partial-answer", None)]
    assert codes(check_answer(text()[:30], SMA, finish_reason="stop")) == [("invalid-json", None)]


def test_refusal_wins():
    assert codes(check_answer("", SMA, refusal="no")) == [("refusal", None)]


@pytest.mark.parametrize(("answer", "expected"), [
    ("[]", [("schema-violation", "$")]),
    (text(confidence="high"), [("schema-violation", "confidence")]),
    (text(confidence=True), [("schema-violation", "confidence")]),
    (text(confidence=1.5), [("schema-violation", "confidence")]),
    (text(rationale=7), [("schema-violation", "rationale")]),
    (text(rationale="  "), [("partial-answer", "rationale")]),
    (text(risks=["ok", ""]), [("schema-violation", "risks[1]")]),
    (text(risks=["r"] * 21), [("schema-violation", "risks")]),
    (text(deltas={"fast": 2.5}), [("schema-violation", "deltas.fast")]),
    (text(deltas={"fast": "2"}), [("schema-violation", "deltas.fast")]),
    (text(deltas={"fast": int("9" * 400)}), [("schema-violation", "deltas.fast")]),
    (text(extra=1), [("schema-violation", "extra")]),
    (json.dumps({"deltas": zero_deltas(SMA), "rationale": "r", "confidence": 0.5}), [("partial-answer", "risks")]),
    (json.dumps({"deltas": {"fast": 1}, "rationale": "r", "confidence": 0.5, "risks": []}),
     [("partial-answer", "deltas.slow")]),
    (json.dumps({"deltas": "fast+1", "rationale": "r", "confidence": 0.5, "risks": []}),
     [("schema-violation", "deltas")]),
])
def test_each_problem_is_named(answer: str, expected: list[tuple[str, str | None]]):
    check = check_answer(answer, SMA)
    assert not check.accepted and check.params is None
    assert codes(check) == expected


def test_unknown_and_untunable_parameters():
    check = check_answer(text(SEVEN, deltas={"sessionHoursUtc": 1, "leverage": 3}), SEVEN)
    assert codes(check) == [("unknown-parameter", "deltas.sessionHoursUtc"), ("unknown-parameter", "deltas.leverage")]
    assert "not tunable" in check.reasons[0].message and "no parameter 'leverage'" in check.reasons[1].message


def test_a_flood_of_junk_keys_gives_a_bounded_record():
    deltas = {**zero_deltas(SMA), **{f"junk{i}": 1 for i in range(500)}}
    check = check_answer(json.dumps({"deltas": deltas, "rationale": "r", "confidence": 0.5, "risks": []}), SMA)
    assert len(check.reasons) == 51 and check.reasons[-1].message == "... and 450 more problems"


def test_out_of_bounds_step_and_range():
    step = check_answer(text(deltas={"fast": 6}), SMA)  # largest step from 10 is 5
    assert codes(step) == [("out-of-bounds", "deltas.fast")] and "largest step 5 from 10" in step.reasons[0].message
    low = check_answer(text(deltas={"fast": -1}), SmaCrossParams(fast=2, slow=30))
    assert codes(low) == [("out-of-bounds", "deltas.fast")] and "below the minimum 2" in low.reasons[0].message
    high = check_answer(text(deltas={"slow": 100}), SmaCrossParams(fast=10, slow=390))
    assert "above the maximum 400" in high.reasons[0].message
    # Every delta is judged: two bad ones give two reasons.
    both = check_answer(text(deltas={"fast": 9, "slow": 90}), SMA)
    assert [f for _, f in codes(both)] == ["deltas.fast", "deltas.slow"]


def test_a_parameter_outside_its_bounds_is_frozen_but_may_stay():
    params = SmaCrossParams(fast=10, slow=500)  # set by a human beyond the review's range
    assert check_answer(text(deltas={"fast": 2}), params).accepted
    assert codes(check_answer(text(deltas={"slow": -10}), params)) == [("out-of-bounds", "deltas.slow")]


def test_params_rules_still_apply():
    params = SevenRuleParams(ema_fast=50, ema_slow=60)
    check = check_answer(text(params, deltas={"emaFast": 15}), params)
    assert [r.code for r in check.reasons] == ["invalid-params"]
    assert "must be shorter than ema_slow" in check.reasons[0].message
    assert check.deltas == {"emaFast": 15}  # what the model said is kept for the record


def test_all_zero_is_no_change():
    assert codes(check_answer(text(), SMA)) == [("no-change", None)]


def test_apply_deltas_normalises_floats():
    params, reasons = apply_deltas(SEVEN, {"zoneMinRoomAtr": 0.1, "exitAtrMult": 0.2})
    assert reasons == [] and isinstance(params, SevenRuleParams)
    assert params.zone_min_room_atr == 1.1 and params.exit_atr_mult == 1.2  # no 1.2000000000000002


# ---------------------------------------------------------------- prompt


def trade(i: int, pnl: str = "1.5") -> TradeResult:
    opened = NOW - timedelta(hours=2 * i + 1)
    return TradeResult(symbol="BTCUSDT", opened_at=opened, closed_at=opened + timedelta(hours=1),
                       entry_price=Decimal("100"), exit_price=Decimal("101.5"), qty=Decimal("1"),
                       net_pnl=Decimal(pnl), exit_reason=f"exit {i}")


def test_prompt_is_deterministic_whatever_the_input_order():
    a = ReviewInputs(trades=[trade(1), trade(2)], metrics={"sharpe": 1.234567891, "winRate": 0.5},
                     indicators={"rsi": {"mean": 51.0, "last": 48.2}, "atr": {"last": 2.5}}, window="w")
    b = ReviewInputs(trades=[trade(2), trade(1)], metrics={"winRate": 0.5, "sharpe": 1.234567891},
                     indicators={"atr": {"last": 2.5}, "rsi": {"last": 48.2, "mean": 51.0}}, window="w")
    pa, pb = build_prompt("s", 2, SEVEN, a), build_prompt("s", 2, SEVEN, b)
    assert (pa.system, pa.user, pa.schema) == (pb.system, pb.user, pb.schema)
    assert pa.system == SYSTEM_PROMPT
    payload = json.loads(pa.user.split("\n\n", 1)[1])
    assert payload["performance"]["metrics"] == {"sharpe": 1.23457, "winRate": 0.5}
    assert payload["strategy"] == {"id": "s", "kind": "seven-rule", "version": 2, "params": SEVEN.to_doc()}
    assert [t["exitReason"] for t in payload["performance"]["trades"]["recent"]] == ["exit 2", "exit 1"]


def test_prompt_carries_the_same_bounds_the_checks_enforce():
    payload = json.loads(build_prompt("s", 1, SMA, ReviewInputs()).user.split("\n\n", 1)[1])
    rows = {row["name"]: row for row in payload["tunable"]}
    assert rows["fast"]["allowedDelta"] == [-5, 5] and rows["slow"]["allowedDelta"] == [-15, 15]
    assert check_answer(text(deltas={"fast": 5, "slow": 15}), SMA).accepted
    assert check_answer(text(deltas={"fast": -5, "slow": -15}), SMA).accepted
    assert not check_answer(text(deltas={"fast": 6}), SMA).accepted


def test_prompt_caps_trades_and_cleans_values():
    inputs = ReviewInputs(trades=[trade(i, pnl="-1" if i % 2 else "2") for i in range(80)],
                          metrics={"bad": float("nan"), "inf": float("inf"), "dec": Decimal("1.50")},
                          notes=["line one\nline two"])
    payload = json.loads(build_prompt("s", 1, SMA, inputs).user.split("\n\n", 1)[1])
    trades = payload["performance"]["trades"]
    assert trades["total"] == 80 and trades["shown"] == MAX_TRADES == len(trades["recent"])
    assert trades["recent"][-1]["exitReason"] == "exit 0"  # the most recent are kept
    assert (trades["wins"], trades["losses"], trades["netPnl"]) == (40, 40, "40")
    assert payload["performance"]["metrics"] == {"bad": None, "dec": "1.50", "inf": None}
    assert payload["notes"] == ["line one line two"]


def test_prompt_refuses_naive_times():
    naive = TradeResult(symbol="X", opened_at=datetime(2024, 1, 1), closed_at=datetime(2024, 1, 2),
                        entry_price=Decimal(1), exit_price=Decimal(1), qty=Decimal(1), net_pnl=Decimal(0))
    with pytest.raises(ValueError, match="timezone"):
        build_prompt("s", 1, SMA, ReviewInputs(trades=[naive]))


# ---------------------------------------------------------------- record


def test_suggestion_round_trips_through_the_store_shape():
    prompt = build_prompt("s", 1, SMA, ReviewInputs())
    s = Suggestion(id=suggestion_id(NOW, "abc"), strategy_id="s", source="ai", status="accepted", base_version=1,
                   base_params=SMA, proposed_params=SmaCrossParams(fast=12, slow=30), deltas={"fast": 2},
                   model="m", prompt=prompt.record(), created_at=NOW, created_by="alice")
    doc = to_store_doc(s)
    assert doc["kind"] == "ai-suggestion" and doc["strategyId"] == "s" and doc["proposedParams"]["fast"] == 12
    assert from_store_doc({**doc, "_etag": "x", "_ts": 1}) == s and s.accepted


def test_suggestion_ids_sort_by_time():
    times = [NOW, NOW + timedelta(microseconds=1), NOW + timedelta(seconds=1), NOW + timedelta(days=400)]
    ids = [suggestion_id(t, "zzz") for t in times]
    assert sorted(ids) == ids
