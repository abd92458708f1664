"""A small signed-request client for Bybit v5 over httpx.

Why one client under both adapters: signing, rate limits, retries, the circuit breaker
and the retCode -> typed error mapping must behave the same for market data and
trading, and they are what the tests pin (``tests/support/fake_bybit.py``).

Facts used (``fixtures/bybit/SOURCES.md``): the HMAC-SHA256 rule
``timestamp + api_key + recv_window + (query string | raw JSON body)`` over the exact
bytes sent, lowercase hex in ``X-BAPI-SIGN``; ``X-Bapi-Limit-Status`` (remaining calls
for the endpoint) and ``X-Bapi-Limit-Reset-Timestamp`` (ms); retCode 10006 / HTTP 429
for rate limits, HTTP 403 for an IP ban of at least 10 minutes.

Retrying is safe for every call the adapters make: reads are idempotent, order
creation carries ``orderLinkId`` (a repeat answers "duplicate", never a second order)
and cancellation is by ``orderLinkId``.

Secrets: the API key and secret live in ``MaskedSecret`` holders whose repr is masked; no
log line, repr or exception message carries the key, the secret or a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from shared.adapters.clock import SystemClock
from shared.adapters.masked_secret import MaskedSecret
from shared.ports import (
    AlreadySubmitted,
    Clock,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientBalance,
    OrderRejected,
    RateLimited,
    UnknownOrder,
)

log = logging.getLogger(__name__)

MAINNET_URL = "https://api.bybit.com"
TESTNET_URL = "https://api-testnet.bybit.com"
IP_BAN_SECONDS = 600.0  # rate-limit.mdx: on HTTP 403 "wait for at least 10 minutes"


# --------------------------------------------------------------------------- signing


def signature_payload(timestamp_ms: int | str, api_key: str, recv_window_ms: int | str, params: str) -> str:
    """The string Bybit signs: query string for GET, raw JSON body for POST."""
    return f"{timestamp_ms}{api_key}{recv_window_ms}{params}"


def sign(secret: str, payload: str) -> str:
    """HMAC-SHA256 of ``payload`` as lowercase hex (guide.mdx, "Create A Request")."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- retCodes


@dataclass(frozen=True)
class ErrorRule:
    """How one Bybit retCode is treated.

    ``retryable``: a fresh, re-signed attempt may succeed. ``outage``: the exchange is
    unwell, so it counts as a circuit-breaker failure (a refusal is not an outage).
    """

    error: type[ExchangeError]
    retryable: bool = False
    outage: bool = False


#: Every retCode the adapters treat specially (docs/v5/error.mdx, see SOURCES.md).
#: Anything else non-zero becomes a plain, non-retried ``ExchangeError`` with its code.
RET_CODES: dict[int, ErrorRule] = {
    10001: ErrorRule(OrderRejected),  # Request parameter error (fixture: bad spot qty)
    10002: ErrorRule(ExchangeError, retryable=True),  # timestamp outside recv window: re-sign, retry
    10003: ErrorRule(ExchangeError),  # API key invalid (configuration, not the order)
    10004: ErrorRule(ExchangeError),  # Error sign (wrong secret)
    10005: ErrorRule(ExchangeError),  # Permission denied (key lacks the permission)
    10006: ErrorRule(RateLimited, retryable=True),  # Too many visits: wait for the reset
    10010: ErrorRule(ExchangeError),  # Unmatched IP (key bound to other IPs)
    10016: ErrorRule(ExchangeUnavailable, retryable=True, outage=True),  # Server error
    110001: ErrorRule(UnknownOrder),  # Order does not exist (UTA/derivatives wording)
    110072: ErrorRule(AlreadySubmitted),  # OrderLinkedID is duplicate (UTA wording)
    170121: ErrorRule(OrderRejected),  # Invalid symbol
    170130: ErrorRule(OrderRejected),  # Invalid parameter data
    170131: ErrorRule(InsufficientBalance),  # Balance insufficient (fixture, freqtrade#10833)
    170132: ErrorRule(OrderRejected),  # Order price too high
    170133: ErrorRule(OrderRejected),  # Order price lower than the minimum
    170134: ErrorRule(OrderRejected),  # Order price decimal too long
    170136: ErrorRule(OrderRejected),  # Order quantity lower than the minimum
    170137: ErrorRule(OrderRejected),  # Order volume decimal too long
    170140: ErrorRule(OrderRejected),  # Order value below the minimum notional
    170141: ErrorRule(AlreadySubmitted),  # Duplicate clientOrderId (spot's duplicate orderLinkId)
    170142: ErrorRule(UnknownOrder),  # Order has been cancelled: nothing open to cancel
    170143: ErrorRule(UnknownOrder),  # Order not found on the order book
    170148: ErrorRule(OrderRejected),  # Market order amount decimal too long
    170213: ErrorRule(UnknownOrder),  # Order does not exist (spot)
}
_UNKNOWN_CODE = ErrorRule(ExchangeError)


# --------------------------------------------------------------------------- resilience


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter; ``max_wait_seconds`` caps any single
    wait (backoff or rate-limit reset): a longer one is raised, not slept."""

    max_attempts: int = 4
    base_delay_seconds: float = 0.25
    max_delay_seconds: float = 4.0
    max_wait_seconds: float = 10.0

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        """Equal jitter: half the capped exponential step is fixed, half random."""
        step = min(self.max_delay_seconds, self.base_delay_seconds * float(2**attempt))
        return step / 2 + rng() * step / 2


CircuitState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """N consecutive outage failures open the circuit for ``cooldown_seconds``; then a
    single probe is let through (half-open): success closes it, failure re-opens it.

    Why: when Bybit is down, hammering it wastes the rate budget and delays the caller;
    failing fast with ``ExchangeUnavailable`` lets the intent be retried later.
    """

    def __init__(self, *, failure_threshold: int = 5, cooldown_seconds: float = 30.0,
                 clock: Clock | None = None) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._state: CircuitState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state

    def allow(self) -> None:
        """Raise ``ExchangeUnavailable`` unless a call may go out now."""
        with self._lock:
            if self._state == "open":
                left = self._opened_at + self.cooldown_seconds - self._clock.now().timestamp()
                if left > 0:
                    raise ExchangeUnavailable(f"bybit circuit open; retry in {left:.1f}s")
                self._state, self._probing = "half-open", False
            if self._state == "half-open":
                if self._probing:
                    raise ExchangeUnavailable("bybit circuit half-open; a probe is in flight")
                self._probing = True

    def success(self) -> None:
        with self._lock:
            self._state, self._failures, self._probing = "closed", 0, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == "half-open" or self._failures >= self.failure_threshold:
                if self._state != "open":
                    log.warning("bybit circuit opened after %d consecutive failures", self._failures)
                self._state, self._probing = "open", False
                self._opened_at = self._clock.now().timestamp()


class _Retry(Exception):
    """Internal: this attempt failed with ``error``; another may succeed after ``wait``."""

    def __init__(self, error: ExchangeError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


# --------------------------------------------------------------------------- client


class BybitHttpClient:
    """Signed GET/POST to Bybit v5 returning the decoded envelope (``retCode == 0``).

    Thread-safe: one instance may serve many threads (httpx pools connections; the
    breaker and the rate-limit table are locked). ``sleep``, ``rng`` and ``clock`` are
    injectable so tests never really wait.
    """

    def __init__(
        self,
        *,
        base_url: str = MAINNET_URL,
        api_key: str | None = None,
        api_secret: str | None = None,
        recv_window_ms: int = 5000,
        timeout_seconds: float = 10.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = MaskedSecret(api_key) if api_key is not None else None
        self._secret = MaskedSecret(api_secret) if api_secret is not None else None
        self.recv_window_ms = recv_window_ms
        self.retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        self.breaker = breaker or CircuitBreaker(clock=self._clock)
        self._sleep = sleep
        self._rng = rng
        self._limits: dict[str, tuple[int, int]] = {}  # path -> (remaining, reset ms)
        self._limits_lock = threading.Lock()
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_seconds, transport=transport)

    def __repr__(self) -> str:
        return f"BybitHttpClient(base_url={self.base_url!r}, signed={self._secret is not None})"

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, object] | None = None, *, signed: bool = True) -> dict[str, Any]:
        return self.request("GET", path, params, signed=signed)

    def post(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        return self.request("POST", path, body, signed=True)

    def request(self, method: Literal["GET", "POST"], path: str, params: Mapping[str, object] | None = None,
                *, signed: bool = True) -> dict[str, Any]:
        """One logical call: up to ``max_attempts`` attempts, each freshly signed."""
        if signed and (self._api_key is None or self._secret is None):
            raise ExchangeError(f"bybit {path}: no API credentials configured")
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        last: ExchangeError = ExchangeUnavailable(f"bybit {method} {path}: no attempt made")
        for attempt in range(self.retry.max_attempts):
            self._respect_limit(path)
            self.breaker.allow()
            try:
                return self._attempt(method, path, clean, signed)
            except ExchangeError:
                raise
            except _Retry as retry:
                last = retry.error
                if attempt + 1 >= self.retry.max_attempts:
                    break
                wait = retry.wait if retry.wait is not None else self.retry.delay(attempt, self._rng)
                if wait > self.retry.max_wait_seconds:
                    break
                log.warning("bybit %s %s attempt %d failed (%s); retrying in %.2fs",
                            method, path, attempt + 1, last, wait)
                self._sleep(wait)
            except Exception as exc:  # a bug or an unforeseen answer: still only ExchangeError out
                self.breaker.failure()  # also frees a half-open probe slot
                raise ExchangeError(f"bybit {method} {path}: unexpected {type(exc).__name__}") from exc
        raise last

    # ---------------------------------------------------------------- one attempt

    def _attempt(self, method: str, path: str, params: Mapping[str, object], signed: bool) -> dict[str, Any]:
        if method == "GET":
            query = {k: _text(v) for k, v in params.items()}
            request = self._http.build_request("GET", path, params=query)
            payload = request.url.query.decode()  # the query exactly as it goes on the wire
        else:
            body = json.dumps(params, separators=(",", ":")).encode()
            request = self._http.build_request("POST", path, content=body,
                                               headers={"Content-Type": "application/json"})
            payload = body.decode()
        if signed:
            request.headers.update(self._auth_headers(payload))
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:  # connect/read timeouts, dropped connections, ...
            self.breaker.failure()
            raise _Retry(ExchangeUnavailable(f"bybit {method} {path}: {type(exc).__name__}")) from None
        return self._interpret(method, path, response)

    def _interpret(self, method: str, path: str, response: httpx.Response) -> dict[str, Any]:
        reset_wait = self._note_limit(path, response.headers)
        status = response.status_code
        where = f"bybit {method} {path}"
        if status == 429:
            self.breaker.success()  # reachable, only throttling
            raise _Retry(RateLimited(f"{where}: HTTP 429", code=429, retry_after=reset_wait), reset_wait)
        if status == 403:
            self.breaker.success()
            raise RateLimited(f"{where}: HTTP 403 (IP rate limit or ban)", code=403, retry_after=IP_BAN_SECONDS)
        if status >= 500:
            self.breaker.failure()
            raise _Retry(ExchangeUnavailable(f"{where}: HTTP {status}", code=status))
        try:
            envelope = response.json()
            code = int(envelope["retCode"])
        except (ValueError, KeyError, TypeError):
            if status != 200:
                self.breaker.success()
                raise ExchangeError(f"{where}: HTTP {status}", code=status) from None
            self.breaker.failure()
            raise _Retry(ExchangeUnavailable(f"{where}: malformed response")) from None
        if code == 0:
            self.breaker.success()
            return dict(envelope)
        rule = RET_CODES.get(code, _UNKNOWN_CODE)
        if rule.outage:
            self.breaker.failure()
        else:
            self.breaker.success()
        message = f"{where}: retCode {code} {str(envelope.get('retMsg', ''))[:200]}"
        if rule.error is RateLimited:
            error: ExchangeError = RateLimited(message, code=code, retry_after=reset_wait)
        else:
            error = rule.error(message, code=code)
        if rule.retryable:
            raise _Retry(error, reset_wait if rule.error is RateLimited else None)
        raise error

    def _auth_headers(self, payload: str) -> dict[str, str]:
        assert self._api_key is not None and self._secret is not None
        timestamp = str(self._now_ms())
        recv = str(self.recv_window_ms)
        api_key = self._api_key.reveal()
        signature = sign(self._secret.reveal(), signature_payload(timestamp, api_key, recv, payload))
        return {
            "X-BAPI-API-KEY": api_key,
            "X-BAPI-TIMESTAMP": timestamp,
            "X-BAPI-RECV-WINDOW": recv,
            "X-BAPI-SIGN": signature,
            "X-BAPI-SIGN-TYPE": "2",  # HMAC
        }

    # ---------------------------------------------------------------- rate limits

    def _note_limit(self, path: str, headers: httpx.Headers) -> float | None:
        """Remember the endpoint's remaining budget; return seconds until its reset."""
        try:
            remaining = int(headers["X-Bapi-Limit-Status"])
            reset_ms = int(headers["X-Bapi-Limit-Reset-Timestamp"])
        except (KeyError, ValueError):
            return None
        with self._limits_lock:
            self._limits[path] = (remaining, reset_ms)
        wait = reset_ms / 1000 - self._clock.now().timestamp()
        return wait if wait > 0 else None

    def _respect_limit(self, path: str) -> None:
        """Budget exhausted for this endpoint: wait for its reset before calling."""
        with self._limits_lock:
            remaining, reset_ms = self._limits.get(path, (1, 0))
        if remaining > 0:
            return
        wait = reset_ms / 1000 - self._clock.now().timestamp()
        if wait > self.retry.max_wait_seconds:
            raise RateLimited(f"bybit {path}: rate limit exhausted; resets in {wait:.1f}s", retry_after=wait)
        if wait > 0:
            log.info("bybit %s: rate limit exhausted; waiting %.2fs for the reset", path, wait)
            self._sleep(wait)
        with self._limits_lock:
            if self._limits.get(path) == (remaining, reset_ms):
                del self._limits[path]

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)


def _text(value: object) -> str:
    """Query values as Bybit expects them (bools lowercase, numbers plain)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
