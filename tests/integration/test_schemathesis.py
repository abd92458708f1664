"""Schemathesis fuzzes the running devhost from its own OpenAPI document: no 5xx, no
response outside the documented status codes or schemas."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.devhost_process import DevhostProcess

ST = Path(sys.executable).parent / "st"


def test_the_api_conforms_to_its_openapi_document(tmp_path: Path):
    assert ST.exists() or shutil.which("st"), "schemathesis is a test dependency (requirements-dev.txt)"
    host = DevhostProcess(tmp_path / "data", extra_args=["--no-timers"]).start()
    try:
        token = host.token(user="fuzzer", tenant="demo", roles=("operator",))
        result = subprocess.run(
            [str(ST), "run", f"{host.url}/api/openapi.json",
             "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance",
             "-H", f"Authorization: Bearer {token}", "--max-examples", "25", "--seed", "1",
             "--request-timeout", "10"],
            capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "passed" in result.stdout
    finally:
        host.stop()
