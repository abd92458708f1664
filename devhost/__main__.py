"""``python -m devhost``: run the Function App locally, or poke a running devhost.

    python -m devhost                      serve on 127.0.0.1:7071 (same as ``serve``)
    python -m devhost serve --timer-speed 60 --data-dir ./.halyard
    python -m devhost serve --http-workers 2   the API answered by 2 worker processes
    python -m devhost fire emit_heartbeat  run a timer (or queue function) now
    python -m devhost functions            list the app's functions
    python -m devhost token --user alice --tenant demo --role trader
                                           print a dev bearer token the devhost accepts
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from shared.product import product_info


def _parser() -> argparse.ArgumentParser:
    port = product_info().backend_port
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="serve the Function App (default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=port)
    serve.add_argument("--data-dir", type=Path, default=None,
                       help="folder for the SQLite files (default: $HALYARD_DATA_DIR or ./.halyard)")
    serve.add_argument("--timer-speed", type=float, default=1.0,
                       help="run timer schedules this many times faster (e.g. 60)")
    serve.add_argument("--no-timers", action="store_true", help="do not fire timers on their schedules")
    serve.add_argument("--http-workers", type=int, default=1, metavar="N",
                       help="1: one process does all; N >= 2: N worker processes answer the API, "
                            "timers, queues and orchestrations stay in the main one (default 1)")
    serve.add_argument("--log-level", default="INFO")

    fire = sub.add_parser("fire", help="run a timer or Service Bus function now on a running devhost")
    fire.add_argument("name")
    fire.add_argument("--input", default=None, help="message body for a Service Bus function (JSON or text)")
    fire.add_argument("--url", default=f"http://127.0.0.1:{port}")

    functions = sub.add_parser("functions", help="list the app's functions")
    functions.add_argument("--app", default="function_app")

    token = sub.add_parser("token", help="mint a development bearer token (HS256, the data directory's secret)")
    token.add_argument("--user", required=True)
    token.add_argument("--tenant", required=True)
    token.add_argument("--role", action="append", required=True, dest="roles",
                       help="viewer, trader, operator or admin (repeat for several)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until the token expires")
    token.add_argument("--data-dir", type=Path, default=None,
                       help="the devhost's data folder (default: $HALYARD_DATA_DIR or ./.halyard)")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from devhost.host import HostOptions, serve_forever
    from devhost.log_output import configure

    configure(args.log_level)
    if not 1 <= args.http_workers <= 16:
        print("--http-workers must be within 1..16", file=sys.stderr)
        return 2
    options = HostOptions(host=args.host, port=args.port, data_dir=args.data_dir,
                          timer_speed=args.timer_speed, timers=not args.no_timers,
                          http_workers=args.http_workers, log_level=args.log_level)
    asyncio.run(serve_forever(options))
    return 0


def _fire(args: argparse.Namespace) -> int:
    body = json.dumps({"input": args.input} if args.input is not None else {}).encode()
    url = f"{args.url}/admin/functions/{args.name}"
    if not url.startswith(("http://", "https://")):
        print(f"--url must be an http(s) URL, not {args.url!r}", file=sys.stderr)
        return 2
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"},  # noqa: S310
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - scheme checked above
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(), file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"no devhost answering at {args.url}: {exc.reason}", file=sys.stderr)
        return 2


def _functions(args: argparse.Namespace) -> int:
    import importlib

    from devhost.registry import read_functions

    module = importlib.import_module(args.app)
    for spec in read_functions(module.app.get_functions()):
        where = spec.route or spec.schedule or spec.queue_name or ""
        print(f"{spec.kind:14} {spec.name:28} {' '.join(spec.methods):12} {where}")
    return 0


def _token(args: argparse.Namespace) -> int:
    """Same secret as the running devhost: both read ``<data_dir>/dev-jwt-secret``."""
    import os

    from shared.auth.dev_tokens import dev_secret, mint

    info = product_info()
    data_dir = args.data_dir or Path((os.environ.get(info.env_var_prefix + "DATA_DIR") or "").strip()
                                        or Path.cwd() / info.config_dir_name)
    try:
        print(mint(dev_secret(data_dir), args.user, args.tenant, args.roles, ttl_seconds=args.ttl))
    except (ValueError, OSError) as exc:
        print(f"cannot mint a token: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["http-worker"]:  # started by a serving devhost, never by hand
        from devhost.http_workers import run_worker

        return run_worker(argv[1])
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]  # bare ``python -m devhost [--flags]`` serves
    args = parser.parse_args(argv)
    handlers = {"serve": _serve, "fire": _fire, "functions": _functions, "token": _token}
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
