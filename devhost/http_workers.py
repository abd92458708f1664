"""HTTP worker processes: the API on more than one core, as scale-out gives on Azure.

Why: one Python process runs Python on one core at a time (the GIL), and the devhost's
main process also runs the demo's ticks, the execution of every order intent and the
orchestrations. On Azure more load means more instances, and the queue-triggered
execution scales apart from the HTTP functions; here ``--http-workers N`` (N >= 2)
starts N worker processes that answer the public port, and the main process keeps its
core for triggers. The workers share the listening socket (inherited, not a second bind:
the port stays exclusive) and take new connections in turns
(``devhost.connection_balance.TurnTakingAcceptor``).

What keeps every devhost guarantee:
- a worker serves the app's HTTP functions itself, reads and writes alike, as another
  instance of the Function App would: every write goes through the same store and queue
  files (SQLite, WAL), whose writers of every process take turns
  (``shared.adapters.sqlite_writer_lock``), and the per-user write limit lives in the
  store, so it holds across processes; everything else (the host's admin API, the
  durable webhooks, dev sign-in, the dashboard, unknown paths) it forwards to the main
  process's private address, so timers, queue pumps, orchestrations and the
  data-directory lock all stay in the one main process, as before;
- a worker runs no timer, no queue pump and no durable worker, and holds no lock: it is
  part of the devhost that holds it, and it exits as soon as the main process does (a
  pipe from the main process closes, and ``PR_SET_PDEATHSIG`` on Linux);
- control changes reach every process at once through a shared change signal (see
  ``devhost.change_signal``), so a kill switch set through any process closes the API on
  all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web

from devhost import connection_balance
from devhost.change_signal import FileSignal
from devhost.connection_balance import ConnectionCounts, TurnTakingAcceptor
from devhost.http_host import add_http_functions
from devhost.registry import by_kind, read_functions
from shared.product import product_info
from shared.request_id import HEADER, accept_or_generate

log = logging.getLogger("devhost.workers")

WORKER_COMMAND: Final = "http-worker"
SIGNAL_FILE: Final = "controls.signal"
READY: Final = b"R"
BALANCE_FILE: Final = "workers.balance"
GC_FIRST_THRESHOLD: Final = 20_000  # allocations between young collections (CPython default: 700)
_HOP_BY_HOP: Final = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                                "proxy-authorization", "proxy-authenticate", "content-length", "host"})
_PR_SET_PDEATHSIG: Final = 1


@dataclass(frozen=True)
class WorkerPlan:
    """What the main process hands a worker (as JSON on its command line)."""

    index: int
    listen_fd: int
    liveness_fd: int
    ready_fd: int
    main_url: str  # the main process's private address: where everything else goes
    public_url: str
    signal_path: str
    durable_binding: str | None
    app_module: str
    log_level: str
    balance_path: str  # the shared connection counts (devhost.connection_balance)
    workers: int


def change_signal(data_dir: Path) -> FileSignal:
    return FileSignal(Path(data_dir) / SIGNAL_FILE)


# ---------------------------------------------------------------- main process side


class WorkerSet:
    """The main process's handle on its workers: start them, wait until they serve, stop them."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self._liveness_w: int | None = None

    async def start(self, count: int, sock: socket.socket, *, main_url: str, public_url: str, data_dir: Path,
                    durable_binding: str | None, app_module: str, env: dict[str, str], log_level: str,
                    timeout: float = 60.0) -> None:
        liveness_r, self._liveness_w = os.pipe()  # we never write; it closes when we die
        ready_pipes = []
        try:
            balance = Path(data_dir) / BALANCE_FILE
            connection_balance.create(balance, count)
            for index in range(count):
                ready_r, ready_w = os.pipe()
                ready_pipes.append(ready_r)
                plan = WorkerPlan(index=index, listen_fd=sock.fileno(), liveness_fd=liveness_r, ready_fd=ready_w,
                                  main_url=main_url, public_url=public_url,
                                  signal_path=str(Path(data_dir) / SIGNAL_FILE), durable_binding=durable_binding,
                                  app_module=app_module, log_level=log_level, balance_path=str(balance),
                                  workers=count)
                cmd = [sys.executable, "-m", "devhost", WORKER_COMMAND, json.dumps(asdict(plan))]
                self.procs.append(subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    cmd, env=env, pass_fds=(sock.fileno(), liveness_r, ready_w)))
                os.close(ready_w)
            loop = asyncio.get_running_loop()
            for index, ready_r in enumerate(ready_pipes):
                answer = await asyncio.wait_for(loop.run_in_executor(None, os.read, ready_r, 1), timeout)
                if answer != READY:
                    raise RuntimeError(f"HTTP worker {index} exited before serving (code {self.procs[index].poll()})")
        finally:
            os.close(liveness_r)
            for ready_r in ready_pipes:
                os.close(ready_r)

    def stop(self, timeout: float = 10.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self.procs = []
        if self._liveness_w is not None:
            os.close(self._liveness_w)
            self._liveness_w = None


# ---------------------------------------------------------------- worker side


def _die_with_parent() -> None:
    """Linux: SIGTERM when the main process dies, whatever the event loop is doing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _problem(status: int, title: str, detail: str, request_id: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "requestId": request_id}
    return web.Response(status=status, text=json.dumps(body), content_type="application/problem+json",
                        headers={HEADER: request_id})


def forwarder(main_url: str, session_box: list[aiohttp.ClientSession]) -> Any:
    """A handler answering with the main process's answer to the same request."""

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        body = await request.read()
        try:
            async with session_box[0].request(request.method, main_url + request.raw_path, headers=headers,
                                              data=body or None, allow_redirects=False) as answer:
                payload = await answer.read()
                out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
                return web.Response(status=answer.status, body=payload, headers=out)
        except (TimeoutError, aiohttp.ClientError):
            request_id = accept_or_generate(request.headers.get(HEADER))
            log.warning("worker could not reach the main process for %s %s", request.method, request.path)
            return _problem(502, "Bad gateway", "The devhost's main process did not answer.", request_id)

    return forward


def calm_garbage_collector() -> None:
    """Fewer, shorter collections in a process that answers requests for its lifetime.

    Everything loaded at start-up (modules, the runtime, pydantic's schemas) lives as long
    as the process: ``gc.freeze`` moves it out of the collector's sight, so a full
    collection no longer walks it; a larger first threshold makes collections rarer
    (a request allocates a few hundred short-lived objects, freed by reference counting
    anyway). Each collection is a pause for every connection of the worker: this is for
    the API's tail latency.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_FIRST_THRESHOLD, 50, 100)


async def serve_worker(plan: WorkerPlan) -> None:
    """Serve the API on the inherited socket until the main process goes away or says stop."""
    from functions import api_kit
    from shared.bootstrap import build_runtime, install_runtime
    from shared.config import load_settings

    _die_with_parent()
    runtime = build_runtime(load_settings())  # the main process's environment: the same data directory
    install_runtime(runtime)
    gate_signal = FileSignal(Path(plan.signal_path))
    api_kit.PRODUCT_GATE.use_signal(gate_signal.read, gate_signal.bump)
    specs = read_functions(importlib.import_module(plan.app_module).app.get_functions())
    api_kit.warm_up()
    calm_garbage_collector()

    session_box: list[aiohttp.ClientSession] = []
    app = web.Application(client_max_size=8 * 1024 * 1024)

    async def host_status(request: web.Request) -> web.Response:
        return web.json_response({"state": "Running", "version": product_info().version, "host": "devhost",
                                  "url": plan.public_url, "pid": os.getpid(),
                                  "eventLoop": type(asyncio.get_running_loop()).__module__.split(".")[0]})

    app.router.add_get("/admin/host/status", host_status)
    binding = plan.durable_binding
    add_http_functions(app, by_kind(specs, "http"), (lambda: binding) if binding else None)
    app.router.add_route("*", "/{tail:.*}", forwarder(plan.main_url.rstrip("/"), session_box))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(plan.liveness_fd, stop.set)  # readable = end of file: the main process is gone

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=256)) as session:
        session_box.append(session)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket(fileno=plan.listen_fd)
        counts = ConnectionCounts(Path(plan.balance_path), plan.index, plan.workers)
        assert runner.server is not None
        acceptor = TurnTakingAcceptor(loop, sock, runner.server, counts)
        acceptor.start()
        os.write(plan.ready_fd, READY)
        os.close(plan.ready_fd)
        log.info("HTTP worker %d (pid %d) serving the API; the rest goes to %s", plan.index, os.getpid(),
                 plan.main_url)
        try:
            await stop.wait()
        finally:
            acceptor.stop()
            await runner.cleanup()
            install_runtime(None)
            gate_signal.close()
            counts.leave()


def run_worker(raw_plan: str) -> int:
    """``python -m devhost http-worker <plan>``: started by the main process only."""
    from devhost.log_output import configure

    plan = WorkerPlan(**json.loads(raw_plan))
    configure(plan.log_level, batched=True)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in requirements-run.txt; plain asyncio still works
        asyncio.run(serve_worker(plan))
    else:
        uvloop.run(serve_worker(plan))
    return 0
