"""The README's run command starts the product and answers /api/health within 60 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.devhost_process import REPO, free_port


def test_run_command_serves_health(tmp_path: Path):
    readme = (REPO / "README.md").read_text()
    assert "./scripts/run" in readme.split("```")[1], "the README's first block must give the run command"
    port = free_port()
    proc = subprocess.Popen([str(REPO / "scripts" / "run"), "--port", str(port), "--data-dir", str(tmp_path)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as resp:
                    assert resp.status == 200
                    body = json.loads(resp.read())
            except OSError:
                time.sleep(0.2)
        assert body is not None, "no answer from /api/health within 60 s"
        assert body["status"] == "healthy" and body["mode"] == "embedded"
        assert (tmp_path / "store.sqlite").exists() and (tmp_path / "queue.sqlite").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
