"""The ``Llm`` port on the official ``openai`` client, for any OpenAI-compatible endpoint.

Why the ``openai`` client and not plain HTTP: OpenRouter (the default), OpenAI, Azure
OpenAI's v1 surface and local servers (vLLM, Ollama, LM Studio) all speak its wire
format, so one adapter with a configurable ``base_url`` and ``model`` covers them.

Why our own retry loop (the client's ``max_retries`` is 0): the client would honour a
``Retry-After`` of up to two minutes per attempt, and its timeout is per attempt. A review
is a bounded operation: ``timeout_s`` is the budget of the whole call, retries and waits
included; a 429 is waited out only when its ``Retry-After`` (or OpenRouter's
``X-RateLimit-Reset``) is at most ``max_wait_s`` and fits in what is left of the budget,
otherwise ``LlmRateLimited`` says when to come back. 5xx and connection failures are
retried with jittered backoff; a timeout is not (the budget is spent); 4xx other than
408/409/429 are configuration problems (bad key, unknown model, no credits) and raise
``LlmRequestRejected`` at once. A small circuit breaker stops hammering an endpoint that
keeps failing.

The key: held in a masked holder, passed only to the client (which sends it as a bearer
header and logs no headers). Error messages are built from the status and the server's
short error message with the key and anything key-shaped redacted; SDK exceptions are
never chained (``from None``), so no traceback carries the server's raw body either.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import openai

from shared.adapters.masked_secret import MaskedSecret
from shared.config import Settings
from shared.ports import (
    LlmError,
    LlmRateLimited,
    LlmReply,
    LlmRequestRejected,
    LlmTimeout,
    LlmUnavailable,
)

log = logging.getLogger(__name__)

OPENROUTER_URL: Final = "https://openrouter.ai/api/v1"
_KEY_SHAPED = re.compile(r"(sk-[A-Za-z0-9_\-*.]{4,}|Bearer\s+\S+)")


class CircuitBreaker:
    """``threshold`` consecutive outages (timeouts, 5xx, connection errors) open the
    circuit for ``cooldown_s``: calls fail fast with ``LlmUnavailable`` instead of waiting
    out another timeout. After the cooldown one call goes through; success closes it."""

    def __init__(self, *, threshold: int = 5, cooldown_s: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None and self._monotonic() - self._opened_at < self.cooldown_s

    def allow(self, provider: str) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            left = self._opened_at + self.cooldown_s - self._monotonic()
            if left > 0:
                raise LlmUnavailable(f"{provider}: circuit open after repeated failures; retry in {left:.0f}s")
            self._opened_at = None  # half-open: this call probes; one more failure re-opens
            self._failures = self.threshold - 1

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at = 0, None

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold and self._opened_at is None:
                self._opened_at = self._monotonic()
                log.warning("llm circuit opened after %d consecutive failures", self._failures)


class _Retry(Exception):
    def __init__(self, error: LlmError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class OpenAiLlm:
    """``Llm`` over ``openai.OpenAI`` (sync, thread-safe: one instance serves every request).

    ``sleep``, ``monotonic`` and ``rng`` are injectable so tests can observe the waits.
    """

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str = OPENROUTER_URL,
        timeout_s: float = 30.0,
        max_attempts: int = 3,
        max_wait_s: float = 10.0,
        max_tokens: int = 1500,
        base_delay_s: float = 0.5,
        max_delay_s: float = 4.0,
        default_headers: Mapping[str, str] | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not api_key:
            raise ValueError("an API key is required (without one, use the local advisor)")
        if timeout_s <= 0 or max_attempts < 1 or max_wait_s < 0:
            raise ValueError("timeout_s must be > 0, max_attempts >= 1, max_wait_s >= 0")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.provider = _host(self.base_url)
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.max_wait_s = max_wait_s
        self.max_tokens = max_tokens
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.breaker = breaker or CircuitBreaker(monotonic=monotonic)
        self._key = MaskedSecret(api_key)
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng
        self._client = openai.OpenAI(api_key=api_key, base_url=self.base_url, max_retries=0, timeout=timeout_s,
                                     default_headers=dict(default_headers or {}))

    def __repr__(self) -> str:
        return f"OpenAiLlm(provider={self.provider!r}, model={self.model!r})"

    def close(self) -> None:
        self._client.close()

    def complete_json(
        self,
        system: str,
        user: str,
        schema: Mapping[str, Any],
        *,
        schema_name: str,
        timeout_s: float | None = None,
        max_tokens: int | None = None,
    ) -> LlmReply:
        budget = self.timeout_s if timeout_s is None else timeout_s
        deadline = self._monotonic() + budget
        attempt = 0
        while True:
            attempt += 1
            self.breaker.allow(self.provider)
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise LlmTimeout(f"{self.provider}: no answer within {budget:g}s ({attempt - 1} attempts)")
            try:
                return self._attempt(system, user, schema, schema_name, remaining, max_tokens, attempt)
            except _Retry as retry:
                wait = retry.wait if retry.wait is not None else self._backoff(attempt)
                if attempt >= self.max_attempts or wait > self.max_wait_s or self._monotonic() + wait >= deadline:
                    raise retry.error from None
                log.warning("llm %s attempt %d failed (%s); retrying in %.2fs", self.provider, attempt,
                            retry.error, wait)
                self._sleep(wait)

    # ---------------------------------------------------------------- one attempt

    def _attempt(self, system: str, user: str, schema: Mapping[str, Any], schema_name: str, timeout: float,
                 max_tokens: int | None, attempt: int) -> LlmReply:
        where = f"{self.provider} {self.model} attempt {attempt}"
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                response_format={"type": "json_schema",
                                 "json_schema": {"name": schema_name, "schema": dict(schema), "strict": True}},
                temperature=0,
                max_tokens=max_tokens or self.max_tokens,
                timeout=timeout,
            )
        except openai.APITimeoutError:
            self.breaker.failure()
            raise LlmTimeout(f"{where}: no answer within the time budget") from None
        except openai.RateLimitError as exc:
            self.breaker.success()  # reachable, only throttling
            wait = retry_after_seconds(exc.response.headers)
            raise _Retry(LlmRateLimited(f"{where}: HTTP 429{self._detail(exc.body)}", retry_after=wait),
                         wait) from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = f"{where}: HTTP {status}{self._detail(exc.body)}"
            if status >= 500 or status in (408, 409):
                self.breaker.failure()
                raise _Retry(LlmUnavailable(message)) from None
            self.breaker.success()
            raise LlmRequestRejected(message, status=status) from None
        except openai.APIConnectionError as exc:
            self.breaker.failure()
            raise _Retry(LlmUnavailable(f"{where}: {type(exc).__name__}")) from None
        except Exception as exc:  # a malformed envelope or a client bug: still only LlmError out
            self.breaker.failure()
            raise LlmUnavailable(f"{where}: unexpected {type(exc).__name__}") from None
        self.breaker.success()
        return self._reply(completion, attempt)

    def _reply(self, completion: Any, attempt: int) -> LlmReply:
        """The envelope read defensively: a compatible server may omit or mistype fields."""
        try:
            choice = completion.choices[0]
            message = choice.message
        except (AttributeError, IndexError, TypeError):
            raise LlmUnavailable(f"{self.provider} {self.model}: an answer without choices") from None
        usage = getattr(completion, "usage", None)
        content = getattr(message, "content", None)
        refusal = getattr(message, "refusal", None)
        model = getattr(completion, "model", None)
        return LlmReply(
            text=content if isinstance(content, str) else "",
            model=model if isinstance(model, str) and model else self.model,
            requested_model=self.model,
            prompt_tokens=_count(getattr(usage, "prompt_tokens", None)),
            completion_tokens=_count(getattr(usage, "completion_tokens", None)),
            total_tokens=_count(getattr(usage, "total_tokens", None)),
            finish_reason=_short(getattr(choice, "finish_reason", None)),
            refusal=refusal if isinstance(refusal, str) and refusal else None,
            response_id=_short(getattr(completion, "id", None)),
            attempts=attempt,
        )

    def _backoff(self, attempt: int) -> float:
        step = min(self.max_delay_s, self.base_delay_s * float(2 ** (attempt - 1)))
        return step / 2 + self._rng() * step / 2

    def _detail(self, body: object) -> str:
        """The server's short error message, redacted (OpenAI echoes part of a bad key)."""
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return ""
        return f" ({redact(message, self._key.reveal())[:200]})"


def redact(text: str, key: str) -> str:
    """``text`` without the key, any part of it of 8+ chars, or anything key-shaped."""
    if key:
        text = text.replace(key, "***")
        for size in (16, 8):  # servers often echo a prefix or suffix of a bad key
            for part in {key[:size], key[-size:]}:
                if len(key) > size:
                    text = text.replace(part, "***")
    return _KEY_SHAPED.sub("***", text)


def retry_after_seconds(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date)
    or OpenRouter's ``x-ratelimit-reset`` (epoch ms); None when none is usable."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) / divisor
        except ValueError:
            if name == "retry-after":
                try:
                    return max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - now())
                except (TypeError, ValueError, IndexError):
                    pass
            continue
        if value == value and value != float("inf"):
            return max(0.0, value)
    reset = headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            at = float(reset)
        except ValueError:
            return None
        at = at / 1000.0 if at > 1e11 else at  # epoch milliseconds (OpenRouter) or seconds
        return max(0.0, at - now())
    return None


def _host(base_url: str) -> str:
    parts = urlsplit(base_url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "unknown"


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _short(value: object) -> str | None:
    return value[:200] if isinstance(value, str) and value else None


def build_llm(settings: Settings, *, app_title: str | None = None) -> OpenAiLlm | None:
    """The configured ``Llm``, or None when no key is set (the local advisor proposes then).

    ``app_title`` is sent as OpenRouter's
    optional ``X-Title`` attribution header, and only to OpenRouter.
    """
    key = settings.llm_api_key
    if not key:
        return None
    headers = {"X-Title": app_title} if app_title and _host(settings.llm_base_url) == "openrouter.ai" else {}
    return OpenAiLlm(api_key=key, model=settings.llm_model, base_url=settings.llm_base_url,
                     timeout_s=settings.llm_timeout_seconds, default_headers=headers)
