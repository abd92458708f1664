"""A fake OpenAI-compatible server on 127.0.0.1, scripted per test.

Why a real socket: the adapter under test is the real ``openai`` client, and what must
be proven (timeouts, 429 with ``Retry-After``, a 5xx then a retry, a key never leaking)
happens on the wire. The server speaks ``POST /v1/chat/completions`` as OpenAI and
OpenRouter do: bearer auth (401 echoing the presented key, as careless servers do, so
the redaction is tested), the ``chat.completion`` envelope with ``usage``, and error
bodies of the form ``{"error": {"message", "type", "code"}}``.

Each request consumes the next scripted :class:`Step`; with none left it answers 500,
so an unexpected extra call fails the test loudly instead of passing by accident.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_KEY = "sk-test-halyard-3f9c2a7be1d04c58a6f0-DO-NOT-LEAK"


@dataclass
class Step:
    """One scripted response.

    kind ``answer``: HTTP 200 with ``content`` as the assistant message (after ``delay``
    seconds; a delay longer than the client's timeout is a timeout). kind ``status``:
    HTTP ``status`` with an OpenAI-style error body (``message``) and ``headers``.
    """

    kind: str = "answer"
    content: str | None = None
    model: str = "fake/model-1-20250101"
    prompt_tokens: int | None = 321
    completion_tokens: int | None = 54
    finish_reason: str = "stop"
    refusal: str | None = None
    status: int = 200
    message: str = "injected"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


class FakeOpenAI:
    def __init__(self, *, api_key: str = DEFAULT_KEY) -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self._steps: deque[Step] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._served = 0

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            owner = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # ---------------------------------------------------------------- scripting

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    def answer(self, content: str, **options: Any) -> None:
        self.script(Step(kind="answer", content=content, **options))

    def fail(self, status: int, message: str = "injected", *, headers: dict[str, str] | None = None,
             times: int = 1) -> None:
        self.script(*[Step(kind="status", status=status, message=message, headers=dict(headers or {}))
                      for _ in range(times)])

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._steps)

    # ---------------------------------------------------------------- handling

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any, float]:
        """(status, headers, JSON body, delay before answering) for one request."""
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(Recorded(path, headers, body))
        if path != "/v1/chat/completions":
            return 404, {}, _error(f"no route {path}", "invalid_request_error", "not_found"), 0.0
        presented = headers.get("authorization", "")
        if presented != f"Bearer {self.api_key}":
            # Like a careless server, echo the presented key: the adapter must redact it.
            return 401, {}, _error(f"Incorrect API key provided: {presented.removeprefix('Bearer ')}",
                                   "invalid_request_error", "invalid_api_key"), 0.0
        problem = _check_request(body)
        if problem:
            return 400, {}, _error(problem, "invalid_request_error", "invalid_request"), 0.0
        with self._lock:  # only a well-formed, authorised request consumes a step
            step = self._steps.popleft() if self._steps else None
            self._served += 1
            serial = self._served
        if step is None:
            return 500, {}, _error("fake: no scripted step left", "server_error", None), 0.0
        if step.kind == "status":
            return step.status, step.headers, _error(step.message, "error", str(step.status)), 0.0
        usage = None
        if step.prompt_tokens is not None and step.completion_tokens is not None:
            usage = {"prompt_tokens": step.prompt_tokens, "completion_tokens": step.completion_tokens,
                     "total_tokens": step.prompt_tokens + step.completion_tokens}
        envelope = {
            "id": f"chatcmpl-fake-{serial}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": step.model,
            "choices": [{"index": 0, "finish_reason": step.finish_reason, "logprobs": None,
                         "message": {"role": "assistant", "content": step.content, "refusal": step.refusal}}],
            "usage": usage,
        }
        return 200, step.headers, envelope, step.delay

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the server is stopping meanwhile."""
        return not self._stopping.wait(seconds)


def _error(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code}}


def _check_request(body: Any) -> str | None:
    """The parts of the request a structured-output endpoint relies on."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array"
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") \
                or not isinstance(m.get("content"), str):
            return "each message needs a role and string content"
    fmt = body.get("response_format")
    if fmt is not None:
        schema = fmt.get("json_schema") if isinstance(fmt, dict) else None
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(schema, dict) \
                or not isinstance(schema.get("name"), str) or not isinstance(schema.get("schema"), dict):
            return "response_format must be {type: json_schema, json_schema: {name, schema}}"
    return None


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, body, delay = self.owner.handle(self.path, headers, raw)
        if delay and not self.owner.wait(delay):
            return
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass
