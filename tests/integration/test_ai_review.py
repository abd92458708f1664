"""The AI review over the wire: the real ``openai`` client against a fake OpenAI-compatible
server on 127.0.0.1, the SQLite store, every outcome stored and readable.

Covered: a valid answer, invalid JSON, a schema violation, an out-of-bounds delta, a
partial (truncated) answer, a timeout, 429 (waited out when short, reported when long,
given up after the attempt budget), a 5xx retried, a rejected key that the server echoes,
the circuit breaker, and no key at all (the model is never called; the local advisor
proposes). After every test neither the log nor the store file holds the key.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.openai_llm import CircuitBreaker, OpenAiLlm, build_llm, redact, retry_after_seconds
from shared.adapters.sqlite_store import SqliteStore
from shared.config import ConfigError, load_settings
from shared.domain.ai.answer import proposal_schema
from shared.domain.ai.prompt import ReviewInputs, TradeResult, build_prompt
from shared.domain.strategy import SmaCrossParams, StrategyVersion
from shared.ports import LlmTimeout
from shared.product import product_info
from shared.services.ai_review import list_suggestions, load_suggestion, propose, review
from tests.support.fake_openai import DEFAULT_KEY, FakeOpenAI, Step

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
STRATEGY = "strat-sma"
CURRENT = StrategyVersion(strategy_id=STRATEGY, version=3, params=SmaCrossParams(fast=10, slow=30), created_at=NOW,
                          created_by="alice")
INPUTS = ReviewInputs(
    trades=[TradeResult(symbol="BTCUSDT", opened_at=NOW - timedelta(hours=5), closed_at=NOW - timedelta(hours=2),
                        entry_price=Decimal("60000"), exit_price=Decimal("59400"), qty=Decimal("0.01"),
                        net_pnl=Decimal("-6.6"), fees=Decimal("0.6"), exit_reason="cross-down")],
    metrics={"netReturn": -0.012, "tradeCount": 1, "winRate": 0.0},
    indicators={"sma10": {"last": 59500.5}, "sma30": {"last": 59800.25}},
    window="BTCUSDT 1h 2024-04-01..2024-05-01",
)


def answer(fast: object = 2, slow: object = 6, **extra: object) -> str:
    doc = {"deltas": {"fast": fast, "slow": slow}, "rationale": "crosses came late; shorten both",
           "confidence": 0.6, "risks": ["more whipsaws"]}
    doc.update(extra)
    return json.dumps(doc)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def no_key_anywhere(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> Iterator[None]:
    """Every log record (the client's and httpx's included) and every byte of the store."""
    caplog.set_level(logging.DEBUG)
    yield
    assert DEFAULT_KEY not in caplog.text
    for path in tmp_path.glob("store.sqlite*"):
        assert DEFAULT_KEY.encode() not in path.read_bytes(), f"the key reached {path.name}"


class Sleeps:
    """Records the adapter's waits and really waits (the server sees real time)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


def make_llm(fake: FakeOpenAI, *, key: str = DEFAULT_KEY, timeout_s: float = 5.0, sleep: Sleeps | None = None,
             **options: object) -> OpenAiLlm:
    return OpenAiLlm(api_key=key, model="fake/model-1", base_url=fake.base_url, timeout_s=timeout_s,
                     sleep=sleep or Sleeps(), **options)  # type: ignore[arg-type]


def run(store: SqliteStore, llm: OpenAiLlm, **kw: object):
    return review(store, llm, STRATEGY, CURRENT, INPUTS, actor="alice", request_id="req-ai-0001",
                  tenant_id="tenant-a", now=NOW, **kw)  # type: ignore[arg-type]


def stored(store: SqliteStore, suggestion_id: str) -> dict[str, Any]:
    return store.container("strategies").read(suggestion_id, STRATEGY)


# ---------------------------------------------------------------- answers


def test_valid_answer_is_accepted_and_everything_is_stored(fake: FakeOpenAI, store: SqliteStore):
    fake.answer(answer(), model="fake/model-1-20250101", prompt_tokens=321, completion_tokens=54)
    s = run(store, make_llm(fake))

    assert s.status == "accepted" and s.reasons == []
    assert s.proposed_params == SmaCrossParams(fast=12, slow=36)
    assert s.deltas == {"fast": 2, "slow": 6} and s.confidence == 0.6 and s.risks == ["more whipsaws"]
    # What went over the wire: the configured model, both messages, the strict schema, the key as bearer.
    [request] = fake.requests
    prompt = build_prompt(STRATEGY, 3, CURRENT.params, INPUTS)
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    assert request.body["model"] == "fake/model-1"
    assert request.body["messages"] == [{"role": "system", "content": prompt.system},
                                        {"role": "user", "content": prompt.user}]
    assert request.body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "strategy_review_sma_cross", "schema": proposal_schema(CURRENT.params), "strict": True}}
    # What was stored: prompt, raw response, both model names, tokens, latency, who and why.
    doc = stored(store, s.id)
    assert doc["kind"] == "ai-suggestion" and doc["strategyId"] == STRATEGY and doc["tenantId"] == "tenant-a"
    assert doc["prompt"]["system"] == prompt.system and doc["prompt"]["user"] == prompt.user
    assert doc["prompt"]["responseSchema"] == prompt.schema and doc["prompt"]["version"] == prompt.version
    assert doc["response"] == answer()
    assert doc["model"] == "fake/model-1-20250101" and doc["requestedModel"] == "fake/model-1"
    assert doc["provider"] == fake.base_url.split("/")[2]
    assert (doc["promptTokens"], doc["completionTokens"], doc["totalTokens"]) == (321, 54, 375)
    assert doc["latencyMs"] >= 0 and doc["attempts"] == 1 and doc["responseId"] == "chatcmpl-fake-1"
    assert doc["createdBy"] == "alice" and doc["requestId"] == "req-ai-0001" and doc["baseVersion"] == 3
    assert doc["proposedParams"] == {"kind": "sma-cross", "fast": 12, "slow": 36}
    assert load_suggestion(store, STRATEGY, s.id) == s


def test_invalid_json_is_rejected_and_recorded(fake: FakeOpenAI, store: SqliteStore):
    fake.answer("Sure! Here is my proposal: {\"deltas\": ")
    s = run(store, make_llm(fake))
    assert s.status == "rejected" and s.proposed_params is None
    assert [r.code for r in s.reasons] == ["invalid-json"]
    doc = stored(store, s.id)
    assert doc["response"].startswith("Sure! Here is my proposal") and doc["promptTokens"] == 321
    assert doc["model"] == "fake/model-1-20250101" and doc["prompt"]["user"]


def test_schema_violation_names_the_field(fake: FakeOpenAI, store: SqliteStore):
    fake.answer(answer(confidence="high"))
    s = run(store, make_llm(fake))
    assert s.status == "rejected"
    assert [(r.code, r.field) for r in s.reasons] == [("schema-violation", "confidence")]
    assert stored(store, s.id)["reasons"][0]["field"] == "confidence"


def test_out_of_bounds_delta_is_rejected_not_clamped(fake: FakeOpenAI, store: SqliteStore):
    fake.answer(answer(fast=20))  # largest step from 10 is 5
    s = run(store, make_llm(fake))
    assert s.status == "rejected" and s.proposed_params is None
    [reason] = s.reasons
    assert (reason.code, reason.field) == ("out-of-bounds", "deltas.fast") and "largest step 5" in reason.message
    assert stored(store, s.id)["response"] == answer(fast=20)


def test_truncated_answer_is_partial(fake: FakeOpenAI, store: SqliteStore):
    fake.answer(answer()[:40], finish_reason="length")
    s = run(store, make_llm(fake))
    assert [r.code for r in s.reasons] == ["partial-answer"] and s.finish_reason == "length"


def test_missing_field_is_partial(fake: FakeOpenAI, store: SqliteStore):
    doc = json.loads(answer())
    del doc["risks"]
    fake.answer(json.dumps(doc))
    s = run(store, make_llm(fake))
    assert [(r.code, r.field) for r in s.reasons] == [("partial-answer", "risks")]


def test_refusal_is_recorded(fake: FakeOpenAI, store: SqliteStore):
    fake.answer(None, refusal="I can't help with trading.")  # type: ignore[arg-type]
    s = run(store, make_llm(fake))
    assert s.status == "rejected" and [r.code for r in s.reasons] == ["refusal"]
    assert stored(store, s.id)["response"] == "I can't help with trading."


# ---------------------------------------------------------------- failures


def test_timeout_is_recorded_as_failed_within_the_budget(fake: FakeOpenAI, store: SqliteStore):
    fake.script(Step(content=answer(), delay=3.0))
    started = time.monotonic()
    s = run(store, make_llm(fake, timeout_s=0.5))
    elapsed = time.monotonic() - started
    assert s.status == "failed" and [r.code for r in s.reasons] == ["timeout"]
    assert 0.4 <= elapsed < 2.0, elapsed  # the budget, not the server's 3 s
    assert fake.count == 1  # a spent budget is not retried
    doc = stored(store, s.id)
    assert doc["model"] == "fake/model-1" and doc["prompt"]["user"] and doc["response"] is None
    assert doc["latencyMs"] >= 400


def test_short_429_is_waited_out_then_answered(fake: FakeOpenAI, store: SqliteStore):
    sleeps = Sleeps()
    fake.fail(429, "slow down", headers={"Retry-After": "0.2"})
    fake.answer(answer())
    s = run(store, make_llm(fake, sleep=sleeps))
    assert s.status == "accepted" and s.attempts == 2 and fake.count == 2
    assert sleeps.calls == [0.2]  # the server's Retry-After, honoured exactly


def test_long_429_is_reported_with_retry_after_not_waited(fake: FakeOpenAI, store: SqliteStore):
    sleeps = Sleeps()
    fake.fail(429, "rate limit exceeded", headers={"Retry-After": "30"})
    s = run(store, make_llm(fake, sleep=sleeps))
    assert s.status == "failed" and [r.code for r in s.reasons] == ["rate-limited"]
    assert s.retry_after_s == 30.0 and sleeps.calls == [] and fake.count == 1
    assert stored(store, s.id)["retryAfterS"] == 30.0


def test_429_given_up_after_the_attempt_budget(fake: FakeOpenAI, store: SqliteStore):
    sleeps = Sleeps()
    fake.fail(429, headers={"retry-after-ms": "50"}, times=5)
    s = run(store, make_llm(fake, sleep=sleeps, max_attempts=3))
    assert s.status == "failed" and s.reasons[0].code == "rate-limited"
    assert fake.count == 3 and sleeps.calls == [0.05, 0.05] and "attempt 3" in s.reasons[0].message


def test_server_error_is_retried_with_backoff(fake: FakeOpenAI, store: SqliteStore):
    sleeps = Sleeps()
    fake.fail(503, "upstream overloaded")
    fake.answer(answer())
    s = run(store, make_llm(fake, sleep=sleeps, base_delay_s=0.05))
    assert s.status == "accepted" and s.attempts == 2 and len(sleeps.calls) == 1 and sleeps.calls[0] <= 0.05


def test_rejected_key_is_never_echoed(fake: FakeOpenAI, store: SqliteStore):
    # The server echoes the presented key in its error message; it must not reach the record.
    wrong = DEFAULT_KEY + "-but-wrong"
    s = run(store, make_llm(fake, key=wrong))
    assert s.status == "failed" and [r.code for r in s.reasons] == ["request-rejected"]
    assert "HTTP 401" in s.reasons[0].message and "Incorrect API key" in s.reasons[0].message
    text = json.dumps(stored(store, s.id))
    assert wrong not in text and wrong[:16] not in text and wrong[-16:] not in text
    assert fake.count == 1  # a refused key is not retried


def test_circuit_opens_after_repeated_outages(fake: FakeOpenAI, store: SqliteStore):
    llm = make_llm(fake, max_attempts=1, breaker=CircuitBreaker(threshold=2, cooldown_s=60))
    fake.fail(500, times=2)
    assert run(store, llm).reasons[0].code == "unavailable"
    assert run(store, llm).reasons[0].code == "unavailable"
    third = run(store, llm)
    assert third.reasons[0].code == "unavailable" and "circuit open" in third.reasons[0].message
    assert fake.count == 2  # the third call never left the process


def test_adapter_raises_only_llm_errors(fake: FakeOpenAI):
    fake.script(Step(content=answer(), delay=2.0))
    with pytest.raises(LlmTimeout) as info:
        make_llm(fake, timeout_s=0.3).complete_json("s", "u", {"type": "object"}, schema_name="x")
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ---------------------------------------------------------------- no key, configuration, listing


def env(**values: str) -> dict[str, str]:
    prefix = product_info().env_var_prefix
    return {prefix + k: v for k, v in values.items()}


def test_without_a_key_the_model_is_never_called(fake: FakeOpenAI, store: SqliteStore):
    settings = load_settings(env(LLM_BASE_URL=fake.base_url, LLM_MODEL="fake/model-1"))
    llm = build_llm(settings)
    assert llm is None
    calls: list[SmaCrossParams] = []

    def score(params):  # prefers a faster pair: the advisor moves toward it
        calls.append(params)
        return -abs(params.fast - 6) - abs(params.slow - 20)

    s = propose(store, llm, STRATEGY, CURRENT, INPUTS, actor="alice", request_id="req-ai-0002", score=score,
                max_evaluations=settings.advisor_max_evaluations, now=NOW)
    assert fake.count == 0
    assert s.model == "local-advisor" and s.source == "local-advisor" and s.status == "accepted"
    assert s.proposed_params == SmaCrossParams(fast=6, slow=20) and len(calls) <= 60
    assert stored(store, s.id)["advisor"]["evaluations"] == len(calls)
    with pytest.raises(ValueError, match="score"):
        propose(store, None, STRATEGY, CURRENT, INPUTS, actor="alice")


def test_with_a_key_the_configured_endpoint_is_used(fake: FakeOpenAI, store: SqliteStore):
    settings = load_settings(env(LLM_BASE_URL=fake.base_url, LLM_MODEL="fake/model-1", LLM_API_KEY=DEFAULT_KEY,
                                 LLM_TIMEOUT_SECONDS="5"))
    assert DEFAULT_KEY not in repr(settings)
    llm = build_llm(settings, app_title="Halyard")
    assert llm is not None and DEFAULT_KEY not in repr(llm)
    fake.answer(answer())
    s = propose(store, llm, STRATEGY, CURRENT, INPUTS, actor="alice", score=lambda p: 0.0, now=NOW)
    assert s.source == "ai" and s.status == "accepted" and fake.count == 1
    assert "x-title" not in fake.requests[0].headers  # attribution goes to OpenRouter only


def test_llm_settings_are_checked():
    assert load_settings({}).llm_base_url == "https://openrouter.ai/api/v1"
    with pytest.raises(ConfigError, match="LLM_BASE_URL"):
        load_settings(env(LLM_BASE_URL="ftp://example.com"))
    with pytest.raises(ConfigError, match="LLM_TIMEOUT_SECONDS"):
        load_settings(env(LLM_TIMEOUT_SECONDS="0"))
    with pytest.raises(ConfigError, match="LLM_API_KEY"):
        load_settings(env(LLM_API_KEY="@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/llm)"))
    with pytest.raises(ConfigError, match="ADVISOR_MAX_EVALUATIONS"):
        load_settings(env(ADVISOR_MAX_EVALUATIONS="5000"))


def test_suggestions_list_newest_first_in_pages(fake: FakeOpenAI, store: SqliteStore):
    llm = make_llm(fake)
    made = []
    for i, text in enumerate([answer(), "not json", answer(fast=-2, slow=-3)]):
        fake.answer(text)
        made.append(review(store, llm, STRATEGY, CURRENT, INPUTS, actor="alice", now=NOW + timedelta(minutes=i)))
    first = list_suggestions(store, STRATEGY, limit=2)
    assert [s.id for s in first.items] == [made[2].id, made[1].id] and first.continuation
    second = list_suggestions(store, STRATEGY, limit=2, continuation=first.continuation)
    assert [s.id for s in second.items] == [made[0].id] and second.continuation is None
    rejected = list_suggestions(store, STRATEGY, status="rejected")
    assert [s.id for s in rejected.items] == [made[1].id]
    assert list_suggestions(store, "other-strategy").items == []


# ---------------------------------------------------------------- adapter helpers


def test_retry_after_forms():
    now = 1_700_000_000.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}, lambda: now) == 1.5
    assert retry_after_seconds({"retry-after": "7"}, lambda: now) == 7.0
    assert retry_after_seconds({"retry-after": "Tue, 14 Nov 2023 22:13:40 GMT"}, lambda: now) == 20.0
    assert retry_after_seconds({"x-ratelimit-reset": str(int((now + 12) * 1000))}, lambda: now) == 12.0
    assert retry_after_seconds({"retry-after": "-3"}, lambda: now) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}, lambda: now) is None
    assert retry_after_seconds({}, lambda: now) is None


def test_redact_removes_the_key_its_parts_and_key_shapes():
    key = "sk-or-v1-0123456789abcdef0123456789abcdef"
    for text in (f"bad key {key}", f"bad key {key[:16]}...", f"key ending {key[-8:]}", "Bearer abc.def",
                 "sk-proj-XYZ123***abc"):
        cleaned = redact(text, key)
        assert key[:8] not in cleaned and key[-8:] not in cleaned and "abc.def" not in cleaned
        assert "***" in cleaned
