"""A small Anthropic Messages API server on loopback, for driving the real ``ChatAnthropic`` client and SDK.

Standard library only, like ``tests.fakes.openai_server`` (whose deterministic "brain" decides the answers). It speaks
the real wire format:

* ``POST /v1/messages`` with the key (``x-api-key``, or ``Authorization: Bearer`` as SDK 2.x sends it) and an
  ``anthropic-version`` header: ``system``, ``messages`` of text,
  ``tool_use`` and ``tool_result`` blocks, ``tools`` (``name``, ``input_schema``) with ``tool_choice`` (``auto``,
  ``any``, ``tool``, ``none``), ``output_config.format`` ``json_schema``, ``max_tokens``. The answer is a
  ``message`` with ``text`` or ``tool_use`` content blocks, ``stop_reason`` (``end_turn``, ``tool_use``,
  ``max_tokens``) and ``usage`` (``input_tokens``, ``output_tokens``, ``cache_creation_input_tokens``,
  ``cache_read_input_tokens``).
* ``stream: true``: the real event stream (``event: <type>`` + ``data: <json>``): ``message_start``, ``ping``,
  ``content_block_start``/``content_block_delta`` (``text_delta``, ``input_json_delta`` for tool use)/
  ``content_block_stop``, ``message_delta`` with ``stop_reason`` and usage, ``message_stop``.
* Errors as ``{"type": "error", "error": {"type": "rate_limit_error", "message": ...}}`` with a ``request-id``
  header; every answer carries ``anthropic-ratelimit-*`` headers.
* ``GET /v1/models``.

Faults are ``tests.fakes.openai_server.Fault``s, scripted or planned per request: an error status (429 with
``retry-after``, 529 ``overloaded_error``, 500 ``api_error``) with headers, a delay, or a broken answer: a stream that
ends before ``message_delta`` (no ``stop_reason``), a connection dropped after some events, an event that is not
JSON, a stall, an ``error`` event inside the stream (``overloaded_error``); ``finish_reason`` sets the stop reason
(``max_tokens``). With ``prompt_cache`` on, a system prompt seen before is reported as read from the prompt cache,
a new one as written to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.openai_server import Fault, Reply, brain

__all__ = ["FakeAnthropicServer", "anthropic_error", "as_openai_request"]

MODES = ("ok", "down", "overloaded", "hang")
CORRUPT_EVENT = (
    b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"ty\n\n'
)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str | None = None) -> dict:
    """An Anthropic error body."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {
        "type": "error",
        "error": {"type": kind, "message": message or f"fake server error (HTTP {status})"},
    }


# --- the request as the shared brain reads it --------------------------------------------------------------------


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text(b.get("text", b.get("content", ""))) for b in content if isinstance(b, dict))
    return ""


def _openai_messages(request: dict) -> list[dict]:
    messages = [{"role": "system", "content": _text(request.get("system"))}] if request.get("system") else []
    for message in request.get("messages") or []:
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        for block in blocks:
            if block.get("type") == "tool_result":
                messages.append({"role": "tool", "content": _text(block.get("content")), "tool_call_id": ""})
        text = _text([b for b in blocks if b.get("type") == "text"])
        if text or message.get("role") == "assistant":
            messages.append({"role": message.get("role"), "content": text})
    return messages


def _tool_choice(choice: Any) -> Any:
    kind = (choice or {}).get("type", "auto")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"any": "required", "none": "none"}.get(kind, "auto")


def as_openai_request(request: dict) -> dict:
    """An Anthropic request in the OpenAI shape the shared brain reads (messages, tools, tool_choice,
    response_format)."""
    shaped: dict[str, Any] = {"messages": _openai_messages(request)}
    if request.get("tools"):
        shaped["tools"] = [
            {"type": "function", "function": {"name": t["name"], "parameters": t.get("input_schema") or {}}}
            for t in request["tools"]
        ]
        shaped["tool_choice"] = _tool_choice(request.get("tool_choice"))
    output_format = (request.get("output_config") or {}).get("format") or {}
    if output_format.get("type") == "json_schema":
        shaped["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": output_format.get("schema") or {}},
        }
    return shaped


def _validate(request: Any, headers: Any) -> tuple[int, str] | None:
    if not (headers.get("x-api-key") or headers.get("authorization")):
        return 401, "x-api-key header is required"
    if not headers.get("anthropic-version"):
        return 400, "anthropic-version: header is required"
    if not isinstance(request, dict):
        return 400, "The request body is not valid JSON."
    if not isinstance(request.get("model"), str) or not request["model"]:
        return 400, "model: Field required"
    if not isinstance(request.get("max_tokens"), int) or request["max_tokens"] < 1:
        return 400, "max_tokens: Field required"
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, "messages: at least one message is required"
    if any(m.get("role") not in ("user", "assistant") for m in messages if isinstance(m, dict)):
        return 400, "messages: roles must be user or assistant"
    return _validate_tools(request)


def _validate_tools(request: dict) -> tuple[int, str] | None:
    names = [t.get("name") for t in request.get("tools") or [] if isinstance(t, dict)]
    if any(not n or not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", n) for n in names):
        return 400, "tools: every tool needs a name matching ^[a-zA-Z0-9_-]{1,128}$"
    choice = request.get("tool_choice")
    if choice is None:
        return None
    if choice.get("type") not in ("auto", "any", "tool", "none"):
        return 400, f"tool_choice.type: unknown type {choice.get('type')!r}"
    if choice.get("type") == "tool" and choice.get("name") not in names:
        return 400, f"tool_choice.name: there is no tool named {choice.get('name')!r}"
    return None


# --- the server ----------------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: FakeAnthropicServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeAnthropic/1.0"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self._common_headers(headers)
        self.wfile.write(payload)
        self.wfile.flush()

    def _common_headers(self, headers: dict[str, str] | None) -> None:
        self.send_header("request-id", self.server.owner._next_id("req_"))
        for key, value in {**self.server.owner._rate_limit_headers(), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()

    def _drop_connection(self) -> None:
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/") == "/v1/models":
            card = {"type": "model", "id": self.server.owner.model_name, "display_name": "Fake Claude",
                    "created_at": "2026-01-01T00:00:00Z"}  # fmt: skip
            self._send_json(
                200, {"data": [card], "has_more": False, "first_id": card["id"], "last_id": card["id"]}
            )
        else:
            self._send_json(404, anthropic_error(404, f"Unknown path {self.path}"))

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?", 1)[0].rstrip("/") != "/v1/messages":
            self._send_json(404, anthropic_error(404, f"Unknown path {self.path}"))
            return
        try:
            request = json.loads(raw or b"null")
        except ValueError:
            request = None
        fault = owner._record(request, {k.lower(): v for k, v in self.headers.items()})
        if fault is not None:
            if fault.delay_s and owner._stopping.wait(fault.delay_s):
                self.close_connection = True
                return
            if fault.status != 200:
                body = fault.body if fault.body is not None else anthropic_error(fault.status)
                self._send_json(fault.status, body, fault.headers)
                return
        if (problem := _validate(request, self.headers)) is not None:
            self._send_json(problem[0], anthropic_error(*problem))
            return
        if owner.mode in ("down", "overloaded"):
            status = 500 if owner.mode == "down" else 529
            self._send_json(
                status, anthropic_error(status, "Overloaded" if status == 529 else "Internal error")
            )
            return
        if owner.mode == "hang" and owner._stopping.wait(owner.hang_s):
            self.close_connection = True
            return
        message = owner._message(request, fault)
        if request.get("stream"):
            self._stream(owner._events(message), fault)
        else:
            self._send_message(message, fault)

    def _send_message(self, message: dict, fault: Fault | None) -> None:
        cut = fault.cut if fault is not None else None
        if cut == "error_event":
            self._send_json(529, anthropic_error(529, "Overloaded"))
            return
        if cut == "stall" and self.server.owner._stopping.wait(fault.stall_s):  # type: ignore[union-attr]
            self.close_connection = True
            return
        if cut == "truncate":
            text = message["content"][0].get("text") if message["content"] else None
            if text is not None:
                message["content"][0]["text"] = text[: len(text) // 2]
            message["stop_reason"] = None
        if cut not in ("drop", "corrupt"):
            self._send_json(200, message)
            return
        payload = json.dumps(message).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self._common_headers(None)
        if cut == "corrupt":
            self.wfile.write(payload[: len(payload) // 2].ljust(len(payload), b"#"))
            self.wfile.flush()
            return
        self.wfile.write(payload[: len(payload) // 2])
        self._drop_connection()

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as exc:
            raise _ClientGone from exc

    def _stream(self, events: list[dict], fault: Fault | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._common_headers(None)
        cut = fault.cut if fault is not None else None
        try:
            for index, event in enumerate(events):
                if cut is not None and index == fault.after:  # type: ignore[union-attr]
                    if self._cut(cut, fault):  # type: ignore[arg-type]
                        return
                    cut = None
                self._write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            self._write(b"")
        except _ClientGone:
            self.close_connection = True

    def _cut(self, cut: str, fault: Fault) -> bool:
        """Break the stream here; True when it ends (a stall goes on afterwards)."""
        if cut in ("truncate", "corrupt", "error_event"):
            if cut == "corrupt":
                self._write(CORRUPT_EVENT)
            elif cut == "error_event":
                error = json.dumps(anthropic_error(529, "Overloaded"))
                self._write(f"event: error\ndata: {error}\n\n".encode())
            self._write(b"")  # a clean end of the body, without message_delta and message_stop
        elif cut == "drop":
            self._drop_connection()
        elif self.server.owner._stopping.wait(fault.stall_s):
            self.close_connection = True
            return True
        else:
            return False
        self.close_connection = True
        return True


class FakeAnthropicServer:
    """An Anthropic Messages API server on ``127.0.0.1`` for tests.

    Attributes:
        requests: Every decoded request body, in order, with ``_headers`` (lower-case names), ``_received_at``, ``_fault``
            and ``_fault_headers`` added (faulted and rejected requests included).
        mode: ``"ok"``; ``"down"`` (HTTP 500 ``api_error``); ``"overloaded"`` (HTTP 529); ``"hang"``.
        plan: Called with each decoded request that has no scripted fault queued; returns its fault or None.
        prompt_cache: Report system prompts seen before as cache reads, new ones as cache writes.
        rate_limit_remaining: The ``anthropic-ratelimit-requests-remaining`` every answer carries.
    """

    def __init__(
        self, model_name: str = "claude-fake", answer: Callable[[dict], Reply] | None = None
    ) -> None:
        self.model_name = model_name
        self.answer = answer
        self.requests: list[dict] = []
        self.mode = "ok"
        self.hang_s: float = 30
        self.plan: Callable[[dict], Fault | None] | None = None
        self.prompt_cache = False
        self.rate_limit_remaining = 999
        self._cached: set[str] = set()
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeAnthropicServer:
        if self._server is None:
            self._stopping.clear()
            self._server = _HTTPServer(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What ``ANTHROPIC_BASE_URL`` is set to (the SDK adds ``/v1/messages``)."""
        if self._server is None:
            raise RuntimeError("the fake Anthropic server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *faults: Fault) -> None:
        """Queue faults; each request consumes one before normal answering."""
        with self._lock:
            self._faults.extend(faults)

    # -- internals

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(connection)

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}fake{next(self._ids):06d}"

    def _record(self, request: Any, headers: dict[str, str]) -> Fault | None:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is None and self.plan is not None and isinstance(request, dict):
            fault = self.plan(request)
        recorded = dict(request) if isinstance(request, dict) else {"_raw": request}
        recorded |= {"_headers": headers, "_received_at": time.monotonic(), "_fault": fault and fault.name,
                     "_fault_headers": dict(fault.headers) if fault else {}}  # fmt: skip
        with self._lock:
            self.requests.append(recorded)
        return fault

    def _rate_limit_headers(self) -> dict[str, str]:
        reset = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "anthropic-ratelimit-requests-limit": "1000",
            "anthropic-ratelimit-requests-remaining": str(self.rate_limit_remaining),
            "anthropic-ratelimit-requests-reset": reset,
            "anthropic-ratelimit-tokens-limit": "400000",
            "anthropic-ratelimit-tokens-remaining": "399000",
            "anthropic-ratelimit-tokens-reset": reset,
        }

    def _usage(self, request: dict, content: list[dict]) -> dict:
        system = _text(request.get("system"))
        rest = json.dumps(request.get("messages")) + json.dumps(request.get("tools") or [])
        output = sum(len(b.get("text", "")) + len(json.dumps(b.get("input", ""))) for b in content)
        usage = {"input_tokens": len(rest) // 4 + 1, "output_tokens": output // 4 + 1,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}  # fmt: skip
        if not self.prompt_cache or not system:
            usage["input_tokens"] += len(system) // 4
        else:
            key = hashlib.sha256(system.encode()).hexdigest()
            with self._lock:
                seen = key in self._cached
                self._cached.add(key)
            usage["cache_read_input_tokens" if seen else "cache_creation_input_tokens"] = len(system) // 4 + 1
        return usage

    def _message(self, request: dict, fault: Fault | None) -> dict:
        reply = (self.answer or brain)(as_openai_request(request))
        content: list[dict] = [
            {"type": "tool_use", "id": self._next_id("toolu_"), "name": name, "input": args}
            for name, args in reply.tool_calls
        ]
        if not content:
            content = [{"type": "text", "text": reply.content or ""}]
        stop_reason = "tool_use" if reply.tool_calls else "end_turn"
        return {
            "id": self._next_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": request["model"],
            "content": content,
            "stop_reason": (fault.finish_reason if fault is not None else None) or stop_reason,
            "stop_sequence": None,
            "usage": self._usage(request, content),
        }

    def _events(self, message: dict) -> list[dict]:
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events: list[dict] = [{"type": "message_start", "message": start}, {"type": "ping"}]
        for index, block in enumerate(message["content"]):
            events += list(_block_events(index, block))
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": usage,  # cumulative: input and cache tokens too
            }
        )
        events.append({"type": "message_stop"})
        return events


def _block_events(index: int, block: dict) -> Iterator[dict]:
    if block["type"] == "tool_use":
        yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
        arguments = json.dumps(block["input"])
        for start in range(0, len(arguments), 8):
            delta = {"type": "input_json_delta", "partial_json": arguments[start : start + 8]}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
    else:
        yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
        for word in re.findall(r"\S+\s*|\s+", block["text"]):
            yield {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": word},
            }
    yield {"type": "content_block_stop", "index": index}
