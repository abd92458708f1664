"""``GET /api/v1/controls``: what a surface needs at launch to show its banners, for any
role, and only the caller's own tenant's and profiles' halts."""

from __future__ import annotations

from pathlib import Path

from shared.services.demo import PROFILES
from tests.support.devhost_process import DevhostProcess


def test_a_viewer_sees_the_halts_that_gate_it_and_no_other_tenants(tmp_path: Path) -> None:
    host = DevhostProcess(tmp_path / "data", extra_args=["--no-timers"]).start()
    try:
        operator = host.auth(user="olga", tenant="demo", roles=("operator",))
        for path in ("/api/admin/controls/tenant-halt", f"/api/admin/controls/profiles/{PROFILES[0].id}/halt"):
            status, _, body = host.request("PUT", path, {"active": True, "reason": f"checking {path}"},
                                           headers=operator)
            assert status == 200, body
        viewer = host.auth(user="ada", tenant="demo", roles=("viewer",))
        status, _, body = host.request("GET", "/api/v1/controls", headers=viewer)
        assert status == 200, body
        scopes = {c["scope"]: c for c in body["items"] if c["active"]}
        assert set(scopes) == {"tenant:demo", f"profile:{PROFILES[0].id}"}
        assert scopes["tenant:demo"]["actor"] == "olga" and scopes["tenant:demo"]["reason"].startswith("checking")
        assert all("since" in c for c in scopes.values())
        other = host.auth(user="bea", tenant="tenant-b", roles=("viewer",))
        status, _, body = host.request("GET", "/api/v1/controls", headers=other)
        assert status == 200 and [c for c in body["items"] if c["active"]] == []
        assert host.request("GET", "/api/v1/controls")[0] == 401
    finally:
        host.stop()
