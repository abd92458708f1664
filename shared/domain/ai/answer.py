"""The answer's strict JSON schema, and the checks that make an answer a candidate or not.

Why check what the schema already constrains: ``strict`` structured output is a request,
not a guarantee. Routers pass it to providers that may ignore it, older models drift,
and a server may return anything. So the text is parsed and checked here field by field,
and every problem is named (``deltas.emaFast``, not "invalid"). Nothing is repaired or
clamped: an answer is accepted as it is, or rejected with its reasons.

An answer proposes *additive deltas* for every tunable parameter (0 = unchanged), plus a
rationale, a confidence in [0, 1] and a list of risks. All keys are required, as OpenAI's
strict mode demands; ranges travel in descriptions and in the prompt, because not every
provider accepts ``minimum``/``maximum`` under strict mode.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from shared.domain.ai.bounds import ParamBound, Params, bounds_for, current_value, normalize, wire_names
from shared.domain.ai.suggestion import Reason

REQUIRED: Final = ("deltas", "rationale", "confidence", "risks")
MAX_ANSWER_CHARS: Final = 32_000
MAX_RATIONALE_CHARS: Final = 4_000
MAX_RISKS: Final = 20
MAX_RISK_CHARS: Final = 500
MAX_REASONS: Final = 50
_NAME_SHOWN: Final = 60  # an unknown key is quoted at most this long in a reason


def schema_name(params: Params) -> str:
    return f"strategy_review_{params.kind.replace('-', '_')}"


def proposal_schema(params: Params) -> dict[str, Any]:
    """The JSON schema sent as ``response_format`` (strict): one delta per tunable parameter."""
    deltas: dict[str, Any] = {}
    for bound in bounds_for(params):
        lo, hi = bound.allowed_delta(current_value(params, bound))
        deltas[bound.wire] = {
            "type": bound.type,
            "description": f"{bound.description}; added to the current value; 0 keeps it; "
                           f"allowed now: {_num(lo)}..{_num(hi)}",
        }
    return {
        "type": "object",
        "properties": {
            "deltas": {
                "type": "object",
                "description": "additive change per parameter (new = current + delta)",
                "properties": deltas,
                "required": list(deltas),
                "additionalProperties": False,
            },
            "rationale": {"type": "string", "description": "why these changes, from the evidence given"},
            "confidence": {"type": "number", "description": "0 (a guess) .. 1 (strong evidence)"},
            "risks": {"type": "array", "items": {"type": "string"}, "description": "what could go wrong"},
        },
        "required": list(REQUIRED),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class AnswerCheck:
    """The outcome of :func:`check_answer`: ``params`` is set only when accepted.

    The fields that did parse (rationale, confidence, risks, deltas) are kept even on a
    rejection, so the record shows what the model said next to why it was refused.
    """

    params: Params | None
    deltas: dict[str, int | float] = field(default_factory=dict)
    rationale: str | None = None
    confidence: float | None = None
    risks: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.params is not None and not self.reasons


class _Duplicate(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_strict(text: str) -> Any:
    """``json.loads`` without NaN/Infinity and without duplicate keys (both ambiguous)."""
    return json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constants)


def check_answer(text: str, current: Params, *, finish_reason: str | None = None,
                 refusal: str | None = None) -> AnswerCheck:
    """Turn the model's text into an accepted candidate or a rejection with reasons."""
    if refusal:
        return _reject(Reason(code="refusal", message=f"the model declined: {_shorten(refusal, 300)}"))
    if not text.strip():
        return _reject(Reason(code="partial-answer", message="the answer is empty"))
    if len(text) > MAX_ANSWER_CHARS:
        return _reject(Reason(code="schema-violation", message=f"the answer is longer than {MAX_ANSWER_CHARS} chars"))
    try:
        doc = parse_strict(text)
    except _Duplicate as dup:
        return _reject(Reason(code="invalid-json", message=f"duplicate key {_shorten(str(dup), _NAME_SHOWN)!r}"))
    except ValueError as exc:  # JSONDecodeError is a ValueError
        if finish_reason == "length":
            return _reject(Reason(code="partial-answer", message="the answer was cut off at the token limit "
                                                                 "(finish_reason=length)"))
        return _reject(Reason(code="invalid-json", message=f"not JSON: {_shorten(str(exc), 200)}"))
    if not isinstance(doc, dict):
        return _reject(Reason(code="schema-violation", field="$",
                              message=f"the answer must be a JSON object, not {_json_type(doc)}"))
    reasons: list[Reason] = []
    for key in doc:
        if key not in REQUIRED:
            reasons.append(Reason(code="schema-violation", field=_shorten(key, _NAME_SHOWN),
                                  message="unexpected field"))
    for key in REQUIRED:
        if key not in doc:
            reasons.append(Reason(code="partial-answer", field=key, message="missing"))
    rationale = _rationale(doc.get("rationale"), reasons) if "rationale" in doc else None
    confidence = _confidence(doc.get("confidence"), reasons) if "confidence" in doc else None
    risks = _risks(doc.get("risks"), reasons) if "risks" in doc else ()
    deltas = _deltas(doc.get("deltas"), current, reasons) if "deltas" in doc else {}
    if reasons:
        return AnswerCheck(None, deltas, rationale, confidence, risks, _capped(reasons))
    params, problems = apply_deltas(current, deltas)
    return AnswerCheck(params, {k: v for k, v in deltas.items() if v != 0}, rationale, confidence, risks,
                       tuple(problems))


def apply_deltas(current: Params, deltas: Mapping[str, float]) -> tuple[Params | None, list[Reason]]:
    """``current`` moved by ``deltas`` (camelCase names, additive), checked against the
    bounds and the params' own validators. Shared by the AI path and the local advisor,
    so both are held to exactly the same limits."""
    reasons: list[Reason] = []
    by_wire = {b.wire: b for b in bounds_for(current)}
    changes: dict[str, Any] = {}
    for wire, delta in deltas.items():
        bound = by_wire.get(wire)
        if bound is None:
            reasons.append(_unknown(wire, current))
            continue
        if delta == 0:
            continue
        problem = _out_of_bounds(bound, current_value(current, bound), delta)
        if problem is not None:
            reasons.append(problem)
            continue
        value = normalize(bound, current_value(current, bound) + delta)
        changes[bound.name] = int(value) if bound.type == "integer" else value
    if reasons:
        return None, reasons
    if not changes:
        return None, [Reason(code="no-change", message="every delta is zero: nothing to propose")]
    try:
        candidate = type(current).model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        return None, [Reason(code="invalid-params", field=_error_field(err),
                             message=_shorten(str(err["msg"]).removeprefix("Value error, "), 300))
                      for err in exc.errors()]
    return candidate, []


# ---------------------------------------------------------------- field checks


def _rationale(value: Any, reasons: list[Reason]) -> str | None:
    if not isinstance(value, str):
        reasons.append(Reason(code="schema-violation", field="rationale",
                              message=f"must be a string, not {_json_type(value)}"))
        return None
    if not value.strip():
        reasons.append(Reason(code="partial-answer", field="rationale", message="empty"))
        return None
    if len(value) > MAX_RATIONALE_CHARS:
        reasons.append(Reason(code="schema-violation", field="rationale",
                              message=f"longer than {MAX_RATIONALE_CHARS} chars"))
        return None
    return value.strip()


def _confidence(value: Any, reasons: list[Reason]) -> float | None:
    if not _is_number(value):
        reasons.append(Reason(code="schema-violation", field="confidence",
                              message=f"must be a number, not {_json_type(value)}"))
        return None
    if not 0.0 <= float(value) <= 1.0:
        reasons.append(Reason(code="schema-violation", field="confidence", message=f"{value} is outside 0..1"))
        return None
    return float(value)


def _risks(value: Any, reasons: list[Reason]) -> tuple[str, ...]:
    if not isinstance(value, list):
        reasons.append(Reason(code="schema-violation", field="risks",
                              message=f"must be an array of strings, not {_json_type(value)}"))
        return ()
    if len(value) > MAX_RISKS:
        reasons.append(Reason(code="schema-violation", field="risks", message=f"more than {MAX_RISKS} items"))
        return ()
    kept: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_RISK_CHARS:
            reasons.append(Reason(code="schema-violation", field=f"risks[{i}]",
                                  message=f"must be a non-empty string of at most {MAX_RISK_CHARS} chars"))
        else:
            kept.append(item.strip())
    return tuple(kept)


def _deltas(value: Any, current: Params, reasons: list[Reason]) -> dict[str, int | float]:
    if not isinstance(value, dict):
        reasons.append(Reason(code="schema-violation", field="deltas",
                              message=f"must be an object keyed by parameter, not {_json_type(value)}"))
        return {}
    bounds = bounds_for(current)
    by_wire = {b.wire: b for b in bounds}
    deltas: dict[str, int | float] = {}
    for key, delta in value.items():
        bound = by_wire.get(key)
        if bound is None:
            reasons.append(_unknown(key, current))
            continue
        where = f"deltas.{key}"
        if not _is_number(delta):
            reasons.append(Reason(code="schema-violation", field=where,
                                  message=f"must be a {bound.type}, not {_json_type(delta)}"))
            continue
        if bound.type == "integer" and not float(delta).is_integer():
            reasons.append(Reason(code="schema-violation", field=where, message=f"must be a whole number, not {delta}"))
            continue
        deltas[key] = int(delta) if bound.type == "integer" else float(delta)
    for bound in bounds:
        if bound.wire not in value:
            reasons.append(Reason(code="partial-answer", field=f"deltas.{bound.wire}",
                                  message="missing (0 keeps the current value)"))
    for key, delta in deltas.items():
        problem = _out_of_bounds(by_wire[key], current_value(current, by_wire[key]), delta)
        if delta != 0 and problem is not None:
            reasons.append(problem)
    return deltas


def _out_of_bounds(bound: ParamBound, current: float, delta: float) -> Reason | None:
    where = f"deltas.{bound.wire}"
    step = bound.max_step(current)
    if abs(delta) > step + 1e-9:
        return Reason(code="out-of-bounds", field=where,
                      message=f"{_signed(delta)} exceeds the largest step {_num(step)} from {_num(current)}")
    new = current + delta
    if new < bound.minimum - 1e-9:
        return Reason(code="out-of-bounds", field=where,
                      message=f"{_signed(delta)} would make {_num(new)}, below the minimum {_num(bound.minimum)}")
    if new > bound.maximum + 1e-9:
        return Reason(code="out-of-bounds", field=where,
                      message=f"{_signed(delta)} would make {_num(new)}, above the maximum {_num(bound.maximum)}")
    return None


def _unknown(key: str, current: Params) -> Reason:
    shown = _shorten(key, _NAME_SHOWN)
    if key in wire_names(type(current)):
        return Reason(code="unknown-parameter", field=f"deltas.{shown}",
                      message=f"{shown} exists but is not tunable by a review")
    return Reason(code="unknown-parameter", field=f"deltas.{shown}",
                  message=f"{current.kind} has no parameter {shown!r}")


# ---------------------------------------------------------------- helpers


def _capped(reasons: list[Reason]) -> tuple[Reason, ...]:
    """At most :data:`MAX_REASONS` (an answer with thousands of junk keys stays a small record)."""
    if len(reasons) <= MAX_REASONS:
        return tuple(reasons)
    more = Reason(code=reasons[MAX_REASONS].code, message=f"... and {len(reasons) - MAX_REASONS} more problems")
    return (*reasons[:MAX_REASONS], more)


def _reject(reason: Reason) -> AnswerCheck:
    return AnswerCheck(None, reasons=(reason,))


def _is_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer literal too large for a float
        return False


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _error_field(err: Any) -> str | None:
    loc = [str(part) for part in err.get("loc", ())]
    return ".".join(loc) if loc else None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + _num(value)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
