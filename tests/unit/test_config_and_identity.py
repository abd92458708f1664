from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.config import VARIABLES, ConfigError, load_settings
from shared.product import PRODUCT_FILE, product_info
from shared.request_id import accept_or_generate, is_well_formed

REPO = Path(__file__).resolve().parents[2]


def test_product_json_has_every_field_design_lists():
    import json

    raw = json.loads(PRODUCT_FILE.read_text())
    for key in ["productId", "displayName", "description", "domain", "backendPort", "bundleId", "platforms",
                "primarySurface", "mobileCompanion", "licensePrefix", "configDirName", "envVarPrefix",
                "packageName", "version"]:
        assert key in raw, key


def test_defaults_are_embedded_development():
    settings = load_settings({})
    assert settings.mode == "embedded"
    assert settings.is_development
    assert settings.data_dir.name == product_info().config_dir_name


def test_prefix_comes_from_product_json():
    prefix = product_info().env_var_prefix
    settings = load_settings({prefix + "DATA_DIR": "/tmp/x", prefix + "LOG_LEVEL": "debug"})
    assert settings.data_dir == Path("/tmp/x") and settings.log_level == "DEBUG"


def test_bad_mode_names_the_variable():
    prefix = product_info().env_var_prefix
    with pytest.raises(ConfigError, match=prefix + "MODE"):
        load_settings({prefix + "MODE": "cloud"})


def test_azure_mode_requires_endpoints():
    prefix = product_info().env_var_prefix
    with pytest.raises(ConfigError, match="COSMOS_ENDPOINT"):
        load_settings({prefix + "MODE": "azure"})
    with pytest.raises(ConfigError, match="SERVICEBUS"):
        load_settings({prefix + "MODE": "azure", prefix + "COSMOS_ENDPOINT": "https://x"})


def test_describe_never_contains_secrets():
    prefix = product_info().env_var_prefix
    settings = load_settings({prefix + "MODE": "azure", prefix + "COSMOS_ENDPOINT": "https://x",
                              prefix + "COSMOS_KEY": "s3cr3t", prefix + "SERVICEBUS_CONNECTION": "Endpoint=sb://k"})
    assert "s3cr3t" not in repr(settings.describe())
    assert "Endpoint=sb" not in repr(settings.describe())


def test_readme_documents_every_variable():
    readme = (REPO / "README.md").read_text()
    prefix = product_info().env_var_prefix
    for name in VARIABLES:
        assert f"`{prefix}{name}`" in readme, f"{prefix}{name} missing from README's configuration table"


@pytest.mark.parametrize("value", ["abcdefgh", "req-123:4.5_6", "A" * 128])
def test_well_formed_request_ids_are_kept(value):
    assert is_well_formed(value) and accept_or_generate(value) == value


@pytest.mark.parametrize("value", [None, "", "short", "has space 123", "x" * 129, "<script>alert</script>"])
def test_malformed_request_ids_are_replaced(value):
    generated = accept_or_generate(value)
    assert generated != value and re.fullmatch(r"[0-9a-f]{32}", generated)


@pytest.mark.parametrize("marker", ["WEBSITE_INSTANCE_ID", "FUNCTIONS_WORKER_RUNTIME"])
def test_under_the_functions_host_the_mode_must_be_explicit(marker):
    with pytest.raises(ConfigError, match="MODE must be set explicitly"):
        load_settings({marker: "x"})


def test_embedded_mode_is_refused_in_production():
    prefix = product_info().env_var_prefix
    with pytest.raises(ConfigError, match="production"):
        load_settings({prefix + "ENVIRONMENT": "production"})
