"""Bybit v5 spot adapters: a signed httpx client, market data and trading.

Facts (signing rule, rate-limit headers, retCodes, example payloads) come from
``fixtures/bybit/SOURCES.md``; ``tests/support/fake_bybit.py`` serves those fixtures.
"""

from shared.adapters.bybit.http import (
    MAINNET_URL,
    RET_CODES,
    TESTNET_URL,
    BybitHttpClient,
    CircuitBreaker,
    RetryPolicy,
    sign,
    signature_payload,
)
from shared.adapters.bybit.market import BybitMarketData
from shared.adapters.bybit.trading import ORDER_STATUS, BybitExchange

__all__ = [
    "MAINNET_URL",
    "ORDER_STATUS",
    "RET_CODES",
    "TESTNET_URL",
    "BybitExchange",
    "BybitHttpClient",
    "BybitMarketData",
    "CircuitBreaker",
    "RetryPolicy",
    "sign",
    "signature_payload",
]
