"""Runs the real devhost as a child process for integration tests (``python -m devhost``).

A real process, so a test can kill it (SIGKILL, no clean shutdown) and start a new
one on the same data directory, as a crash and restart would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevhostProcess:
    def __init__(self, data_dir: Path, *, port: int | None = None, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = extra_args or []
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> DevhostProcess:
        env = dict(os.environ)
        env.update(self.env)
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [sys.executable, "-m", "devhost", "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.extra_args]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("devhost exited early:\n" + "\n".join(self.lines[-40:]))
            try:
                status, _, _ = self.request("GET", "/admin/host/status", timeout=1)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError("devhost did not answer in time:\n" + "\n".join(self.lines[-40:]))

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                timeout: float = 10.0) -> tuple[int, dict[str, str], Any]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, _decode(raw)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, _decode(raw)

    def token(self, user: str = "ops-1", tenant: str = "demo", roles: tuple[str, ...] = ("operator",)) -> str:
        """A development token the running devhost accepts (its data-dir HS256 secret)."""
        from shared.auth.dev_tokens import dev_secret, mint

        return mint(dev_secret(self.data_dir), user, tenant, list(roles))

    def auth(self, user: str = "ops-1", tenant: str = "demo", roles: tuple[str, ...] = ("operator",)) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(user, tenant, roles)}"}

    def wait_for(self, predicate: Any, timeout: float = 15.0, interval: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"condition not met in {timeout}s; last={last!r}\n" + "\n".join(self.lines[-30:]))

    def invocations(self, function: str) -> list[dict[str, Any]]:
        found = []
        for line in list(self.lines):
            start = line.find('{"event":"invocation"')
            if start >= 0:
                record = json.loads(line[start:])
                if record["function"] == function:
                    found.append(record)
        return found

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
