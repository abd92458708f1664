"""Fixtures for the Store contract suite: one suite, every adapter.

``backend`` is parametrized over ``sqlite`` (a file in tmp_path, ManualClock) and
``cosmos`` (the real azure-cosmos SDK against @vercel/cosmosdb-server, started once per
session by tests/support/cosmos/launcher.js; each test gets its own database). Without
node/npm the cosmos param errors instead of skipping: CI has them, and a silently
skipped adapter is an untested adapter.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from shared.adapters.clock import ManualClock
from shared.ports import ContainerSpec, Store

COSMOS_DIR = Path(__file__).resolve().parents[1] / "support" / "cosmos"
COSMOS_KEY = "c3RhbmQtaW4ta2V5"  # the stand-in accepts any key
READY_TIMEOUT_S = 30.0

#: A small topology covering the partition-key shapes the product uses.
TEST_CONTAINERS: tuple[ContainerSpec, ...] = (
    ContainerSpec("things", "/tenantId"),
    ContainerSpec("nested", "/owner/tenant"),
    ContainerSpec("leases", "/id"),
)


def pytest_configure(config: pytest.Config) -> None:
    # The SDK talks TLS to the stand-in's self-signed certificate on 127.0.0.1.
    config.addinivalue_line(
        "filterwarnings", "ignore::urllib3.exceptions.InsecureRequestWarning"
    )


class Backend:
    """Opens stores of one adapter kind and cleans up after the test."""

    name: str
    clock: ManualClock | None = None

    def open(self, containers: Sequence[ContainerSpec] = TEST_CONTAINERS) -> Store:
        raise NotImplementedError

    def open_unreachable(self) -> Store:
        """Open a store whose storage cannot be reached."""
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError


class SqliteBackend(Backend):
    """Every ``open`` reopens the same file: a second open is a process restart."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = ManualClock()
        self._stores: list[Store] = []

    def open(self, containers: Sequence[ContainerSpec] = TEST_CONTAINERS) -> Store:
        from shared.adapters.sqlite_store import SqliteStore

        store = SqliteStore(self.path, containers, clock=self.clock)
        self._stores.append(store)
        return store

    def open_unreachable(self) -> Store:
        from shared.adapters.sqlite_store import SqliteStore

        return SqliteStore(self.path.parent / "no-such-dir" / "store.sqlite", clock=self.clock)

    def cleanup(self) -> None:
        for store in self._stores:
            store.close()


class CosmosBackend(Backend):
    """A fresh database per test on the shared stand-in, deleted afterwards."""

    name = "cosmos"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.database = f"contract-{uuid.uuid4().hex[:12]}"
        self._stores: list[Store] = []

    def open(self, containers: Sequence[ContainerSpec] = TEST_CONTAINERS) -> Store:
        from azure.cosmos import CosmosClient

        from shared.adapters.cosmos_store import CosmosStore

        store = CosmosStore(CosmosClient(self.endpoint, COSMOS_KEY), self.database, containers)
        self._stores.append(store)
        return store

    def open_unreachable(self) -> Store:
        import socket
        from dataclasses import replace

        from shared.adapters.cosmos_store import CosmosStore
        from shared.config import load_settings

        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = replace(
            load_settings({}),
            cosmos_endpoint=f"https://127.0.0.1:{port}/",
            cosmos_key=COSMOS_KEY,
            cosmos_database=self.database,
        )
        return CosmosStore.from_settings(settings)

    def cleanup(self) -> None:
        from azure.cosmos import CosmosClient

        for store in self._stores:
            store.close()
        if self._stores:
            with CosmosClient(self.endpoint, COSMOS_KEY) as client:
                client.delete_database(self.database)


class _Server:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: deque[str] = deque(maxlen=200)
        self.ready = threading.Event()
        self.endpoint = ""
        threading.Thread(target=self._drain, name="cosmos-stand-in-log", daemon=True).start()

    def _drain(self) -> None:
        # Keep reading so the server never blocks on a full pipe; keep the tail for errors.
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("READY "):
                self.endpoint = line.split()[1]
                self.ready.set()
        self.ready.set()

    def log(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="session")
def cosmos_endpoint() -> Iterator[str]:
    """Start the Cosmos DB stand-in once per session (installing it first if needed)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("the cosmos contract params need node and npm on PATH (CI has them)")
    if not (COSMOS_DIR / "node_modules" / "@vercel" / "cosmosdb-server").is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=COSMOS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci failed in {COSMOS_DIR}:\n{result.stdout}\n{result.stderr}")
    proc = subprocess.Popen(
        [node, "launcher.js", "0"],  # port 0: the OS picks a free port, READY names it
        cwd=COSMOS_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = _Server(proc)
    try:
        if not server.ready.wait(READY_TIMEOUT_S) or not server.endpoint:
            pytest.fail(f"the cosmos stand-in did not start:\n{server.log()}")
        yield server.endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", pytest.param("cosmos", marks=pytest.mark.cosmos)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    impl: Backend
    if request.param == "sqlite":
        impl = SqliteBackend(tmp_path / "store.sqlite")
    else:
        impl = CosmosBackend(request.getfixturevalue("cosmos_endpoint"))
    try:
        yield impl
    finally:
        impl.cleanup()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


def sqlite_only(backend: Backend, reason: str) -> None:
    """Skip on the stand-in, naming the stand-in limitation that forces it."""
    if backend.name == "cosmos":
        pytest.skip(f"cosmos stand-in limitation: {reason}")

