"""Health and status answer 503 (fail closed) when the runtime cannot be built."""

from __future__ import annotations

from collections.abc import Iterator

import azure.functions as func
import pytest

from functions import health
from functions.api_kit import ApiContext, ApiResponse
from shared import bootstrap
from shared.config import Settings, load_settings
from shared.product import product_info


@pytest.fixture
def broken_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    prefix = product_info().env_var_prefix
    monkeypatch.setenv(prefix + "MODE", "azure")  # without endpoints: a ConfigError
    monkeypatch.setenv(prefix + "COSMOS_KEY", "super-secret-key")
    bootstrap.install_runtime(None)
    yield
    bootstrap.install_runtime(None)


def context() -> ApiContext:
    req = func.HttpRequest(method="GET", url="http://h/api/x", headers={}, body=b"")
    return ApiContext(req=req, request_id="trace-health-01", principal=None)


def test_health_is_503_when_runtime_cannot_start(broken_config):
    resp: ApiResponse = health.health(context())
    assert resp.status == 503 and resp.body["status"] == "unhealthy"
    assert "ConfigError" in resp.body["detail"] and "super-secret-key" not in repr(resp.body)


def test_status_is_disabled_when_runtime_cannot_start(broken_config):
    resp: ApiResponse = health.status(context())
    assert resp.status == 503
    assert resp.body["productDisabled"] is True and resp.body["tradingAllowed"] is False


def test_failed_build_is_not_retried_by_every_request(broken_config, monkeypatch):
    calls: list[int] = []
    real = load_settings

    def counting() -> Settings:
        calls.append(1)
        return real()

    monkeypatch.setattr(bootstrap, "load_settings", counting)
    for _ in range(5):
        with pytest.raises(bootstrap.RuntimeUnavailable):
            bootstrap.runtime()
    assert len(calls) == 1
    monkeypatch.setattr(bootstrap, "_last_failure", (0.0, ValueError()))  # long ago: try again
    with pytest.raises(bootstrap.RuntimeUnavailable):
        bootstrap.runtime()
    assert len(calls) == 2
