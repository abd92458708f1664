"""The devhost: the app's functions served on one machine, over the embedded adapters.

It builds the embedded runtime (SQLite store and queue under the data directory),
imports the Function App, reads its functions and serves every trigger kind: HTTP under
``/api``, timers, Service Bus queues, and durable orchestrations replayed by the real
SDK. A few host endpoints mirror the Functions host's own admin API.
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib
import json
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.change_signal import FileSignal
from devhost.dev_signin import add_dev_signin_routes
from devhost.durable import DurableRuntime
from devhost.http_host import add_http_functions, not_found_middleware
from devhost.http_workers import WorkerSet, change_signal
from devhost.registry import FunctionSpec, by_kind, read_functions
from devhost.servicebus import QueuePump
from devhost.static_web import add_dashboard_routes
from devhost.timers import TimerScheduler
from shared.adapters.clock import SystemClock
from shared.bootstrap import DURABLE_FILE, Runtime, build_runtime, install_runtime
from shared.config import load_settings
from shared.product import product_info

log = logging.getLogger("devhost")

LOCK_FILE = "devhost.lock"


class HostConfigError(RuntimeError):
    """The app or the data directory cannot be served as configured; says what to fix."""


@dataclass
class HostOptions:
    host: str = "127.0.0.1"
    port: int = 7071
    data_dir: Path | None = None
    timer_speed: float = 1.0
    timers: bool = True
    app_module: str = "function_app"
    env: dict[str, str] = field(default_factory=dict)
    http_workers: int = 1  # 1: this process answers; N >= 2: N worker processes do (devhost.http_workers)
    log_level: str = "INFO"


class DevHost:
    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.runtime: Runtime | None = None
        self.specs: list[FunctionSpec] = []
        self.route_table: list[tuple[str, str, str]] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._durable: DurableRuntime | None = None
        self._timers: TimerScheduler | None = None
        self._pumps: dict[str, QueuePump] = {}
        self._lock_fd: int | None = None
        self._workers: WorkerSet | None = None
        self._signal: FileSignal | None = None

    def _lock_data_dir(self, data_dir: Path) -> None:
        """One devhost per data directory: two would both run the durable worker."""
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise HostConfigError(f"another devhost is using the data directory {data_dir}") from None
        self._lock_fd = fd

    def _check_sessions(self) -> None:
        """A trigger must match its queue's session setting, or Azure's listener won't start."""
        assert self.runtime is not None
        for spec in by_kind(self.specs, "servicebus"):
            assert spec.queue_name is not None
            try:
                queue_spec = self.runtime.broker.queue(spec.queue_name).spec
            except KeyError:
                raise HostConfigError(f"{spec.name} listens on undeclared queue {spec.queue_name!r}") from None
            if queue_spec.requires_session != spec.sessions:
                raise HostConfigError(
                    f"{spec.name}: is_sessions_enabled={spec.sessions} but queue {spec.queue_name!r} "
                    f"requires_session={queue_spec.requires_session}"
                )

    def _settings_env(self) -> dict[str, str]:
        prefix = product_info().env_var_prefix
        env = dict(os.environ)
        env.update(self.options.env)
        env[prefix + "MODE"] = "embedded"
        if self.options.data_dir is not None:
            env[prefix + "DATA_DIR"] = str(self.options.data_dir)
        return env

    async def start(self) -> None:
        settings = load_settings(self._settings_env())
        self._lock_data_dir(settings.data_dir)
        self.runtime = build_runtime(settings)
        install_runtime(self.runtime)
        if settings.demo:
            from shared.services.demo import seed_demo

            created = seed_demo(self.runtime.store, self.runtime.clock.now())
            log.info("demo data: %d documents created", created)
        module = importlib.import_module(self.options.app_module)
        self.specs = read_functions(module.app.get_functions())
        self._check_sessions()
        warm_api_kit()

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.options.host, self.options.port))
        port = sock.getsockname()[1]
        self.base_url = f"http://{self.options.host}:{port}"

        # Durable timers run on real time (as on Azure): expiries are promises to people,
        # not market time, so the accelerated replay clock must not shorten them.
        self._durable = DurableRuntime(
            settings.data_dir / DURABLE_FILE, self.specs, base_url=self.base_url, clock=SystemClock()
        )
        app = web.Application(middlewares=[not_found_middleware()], client_max_size=8 * 1024 * 1024)
        self._add_admin_routes(app)
        self._durable.add_routes(app)
        self.route_table = add_http_functions(app, by_kind(self.specs, "http"), self._durable.client_binding)
        add_dev_signin_routes(app, settings.data_dir, development=settings.environment == "development")
        add_dashboard_routes(app)  # last: its catch-all must not shadow the routes above

        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        main_url = await self._prepare_workers(settings.data_dir)
        if main_url is None:
            await web.SockSite(self._runner, sock).start()
        else:  # the workers answer the port; connections wait in the backlog until they serve
            sock.listen(1024)
        await self._durable.start()
        for spec in by_kind(self.specs, "servicebus"):
            pump = QueuePump(spec, self.runtime.broker)
            self._pumps[spec.name] = pump
            await pump.start()
        self._timers = TimerScheduler(by_kind(self.specs, "timer"), speed=self.options.timer_speed,
                                     durable_binding=self._durable.client_binding)
        if self.options.timers:
            await self._timers.start()
        if main_url is not None:
            await self._start_workers(sock, main_url, settings.data_dir)
        log.info(
            "devhost listening on %s (data %s, %d functions, timers %s)",
            self.base_url,
            settings.data_dir,
            len(self.specs),
            f"x{self.options.timer_speed:g}" if self.options.timers else "off",
        )
        for method, path, name in self.route_table:
            log.info("  %-6s %s -> %s", method, path, name)

    async def _prepare_workers(self, data_dir: Path) -> str | None:
        """With HTTP workers: the shared change signal and a private address of this
        process, where workers send what they do not serve; None without workers."""
        if self.options.http_workers <= 1:
            return None
        from functions import api_kit

        self._signal = change_signal(data_dir)
        api_kit.PRODUCT_GATE.use_signal(self._signal.read, self._signal.bump)
        assert self._runner is not None
        private = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        private.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, private).start()
        return f"http://127.0.0.1:{private.getsockname()[1]}"

    async def _start_workers(self, sock: socket.socket, main_url: str, data_dir: Path) -> None:
        assert self._durable is not None
        self._workers = WorkerSet()
        try:
            await self._workers.start(self.options.http_workers, sock, main_url=main_url, public_url=self.base_url,
                                      data_dir=data_dir, durable_binding=self._durable.client_binding(),
                                      app_module=self.options.app_module, env=self._settings_env(),
                                      log_level=self.options.log_level)
        except Exception as exc:
            raise HostConfigError(f"HTTP workers did not start: {exc}") from exc
        log.info("%d HTTP worker process(es) answer the API; this one runs the triggers", self.options.http_workers)

    async def stop(self) -> None:
        if self._workers:
            self._workers.stop()
            self._workers = None
        if self._timers:
            await self._timers.stop()
        for pump in self._pumps.values():
            await pump.stop()
        if self._durable:
            await self._durable.stop()
        if self._runner:
            await self._runner.cleanup()
        install_runtime(None)
        if self._signal is not None:
            self._signal.close()
            self._signal = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ admin API

    def _add_admin_routes(self, app: web.Application) -> None:
        app.router.add_get("/admin/host/status", self._host_status)
        app.router.add_get("/admin/functions", self._list_functions)
        app.router.add_post("/admin/functions/{name}", self._run_function)
        app.router.add_get("/admin/queues/{name}/deadletters", self._dead_letters)

    async def _host_status(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"state": "Running", "version": product_info().version, "host": "devhost", "url": self.base_url,
             "pid": os.getpid()}
        )

    async def _list_functions(self, request: web.Request) -> web.Response:
        return web.json_response([_describe(s) for s in self.specs])

    async def _dead_letters(self, request: web.Request) -> web.Response:
        """Peek a queue's dead-letter sub-queue: what failed, when, and why."""
        assert self.runtime is not None
        try:
            queue = self.runtime.broker.queue(request.match_info["name"])
        except KeyError:
            return _problem(404, "Not found", f"no queue named {request.match_info['name']!r}")
        letters = await asyncio.get_running_loop().run_in_executor(None, queue.dead_letters, 100)
        return web.json_response(
            [
                {
                    "messageId": d.message.message_id,
                    "body": d.message.body,
                    "deliveryCount": d.message.delivery_count,
                    "reason": d.reason,
                    "description": d.description,
                    "deadLetteredAt": d.dead_lettered_at.isoformat(),
                }
                for d in letters
            ]
        )

    async def _run_function(self, request: web.Request) -> web.Response:
        """Like the host's ``POST /admin/functions/{name}``: run a non-HTTP function now."""
        name = request.match_info["name"]
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return _problem(400, "Malformed JSON", "body must be a JSON object")
        if not isinstance(body, dict):
            return _problem(400, "Malformed JSON", "body must be a JSON object")
        if self._timers and name in self._timers.specs:
            outcome = await self._timers.fire_now(name)
            return web.json_response({"function": name, "outcome": outcome}, status=202)
        if name in self._pumps:
            raw = body.get("input", "")
            payload = raw if isinstance(raw, str) else _json(raw)
            message_id = str(body.get("messageId") or os.urandom(8).hex())
            await self._pumps[name].inject(payload, message_id)
            return web.json_response({"function": name, "messageId": message_id}, status=202)
        return _problem(404, "Not found", f"no timer or Service Bus function named {name!r}")


def warm_api_kit() -> None:
    """Build the app's token verifier and write limiter before serving, so no request
    waits for their imports (an app without ``functions.api_kit`` has nothing to warm)."""
    try:
        from functions import api_kit
    except ImportError:
        return
    api_kit.warm_up()


def _json(value: Any) -> str:
    return json.dumps(value)


def _problem(status: int, title: str, detail: str) -> web.Response:
    return web.json_response(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


def _describe(spec: FunctionSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "trigger": spec.kind,
        "route": spec.route,
        "methods": list(spec.methods),
        "schedule": spec.schedule,
        "queue": spec.queue_name,
    }


async def serve_forever(options: HostOptions) -> None:
    host = DevHost(options)
    await host.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("devhost stopping")
        await host.stop()
