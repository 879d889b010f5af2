"""A small OpenAI-compatible chat-completions server on loopback, for driving the real ``ChatOpenAI`` client.

Standard library only: a ``ThreadingHTTPServer`` in a background thread speaking HTTP/1.1 with keep-alive.
It implements just enough of the real protocol for ``langchain_openai.ChatOpenAI`` (and the ``openai`` SDK under it)
to work unchanged:

* ``POST /v1/chat/completions`` (and ``/chat/completions``): JSON in, ``chat.completion`` out, with ``usage``;
  ``response_format`` ``json_schema``; ``tools`` with ``tool_choice``; ``stream: true`` as server-sent events
  (``data: {chat.completion.chunk}\\n\\n`` ... ``data: [DONE]\\n\\n``) over chunked transfer-encoding, with a final
  usage-only chunk (empty ``choices``) when ``stream_options.include_usage`` is set.
* ``GET /v1/models`` (and ``/v1/models/{id}``).
* OpenAI-style error bodies ``{"error": {"message", "type", "param", "code"}}``.

Answers come from a deterministic built-in "brain" (see ``FakeOpenAIServer.brain``) unless an ``answer`` callback
is given. Faults can be scripted per request (``script``) or planned per request (``plan``, e.g. a seeded fault
mix): an error status with headers and an OpenAI-style body, a delay, or a broken answer the way real providers
break them (``Fault.cut``): a stream that ends without a finish reason (``truncate``), a connection dropped after
some chunks (``drop``), a chunk that is not JSON (``corrupt``), a stream that stalls past the client's read timeout
(``stall``), an error reported inside the stream (``error_event``); non-streamed answers break the same ways (no
``finish_reason``, half a body, a body that is not JSON; ``error_event`` answers a 500).
``Fault.finish_reason`` makes a complete answer end with another finish reason, e.g. ``length``. ``mode`` switches
the whole server to failing (``down``), slow (``hang``) or garbled (``malformed``) answers.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["CUTS", "FakeOpenAIServer", "Fault", "Reply", "fill_schema"]

MODES = ("ok", "down", "hang", "malformed")
CUTS = ("truncate", "drop", "corrupt", "stall", "error_event")
CORRUPT_CHUNK = (
    b'data: {"id": "chatcmpl-corrupt", "object": "chat.completion.chunk", "choices": [{"delta": {"con\n\n'
)
MALFORMED_CONTENT = "not json at all"
MALFORMED_ARGUMENTS = "{broken"
_ARTIFACT_ID = re.compile(r'<artifact id="([^"]+)"')
_KB_ID = re.compile(r"`kb:([^`\s]+)`")
_TASK = re.compile(r"<task>(.*?)</task>", re.DOTALL)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
}
_MISSING = object()


@dataclass
class Fault:
    """One scripted failure, consumed by one request.

    ``delay_s`` is slept first (to exercise client timeouts); then a ``status`` other than 200 is answered with
    ``body`` (an OpenAI-style error, a default one when ``None``) and ``headers``. A 200 fault answers, broken as
    ``cut`` says (one of ``CUTS``) after ``after`` chunks (streamed) or halfway (not streamed), and with
    ``finish_reason`` instead of the real one when set; ``stall`` waits ``stall_s`` before the rest.
    """

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: dict | None = None
    delay_s: float = 0
    cut: str | None = None
    after: int = 3
    finish_reason: str | None = None
    stall_s: float = 30

    def __post_init__(self) -> None:
        if self.cut is not None and self.cut not in CUTS:
            raise ValueError(f"cut must be one of {CUTS}, not {self.cut!r}")

    @property
    def name(self) -> str:
        """A short description for the request log: ``429``, ``truncate``, ``length``..."""
        if self.status != 200:
            return str(self.status)
        return self.cut or self.finish_reason or ("delay" if self.delay_s else "ok")


@dataclass
class Reply:
    """What an ``answer`` callback returns: text content and/or tool calls as ``(name, args)``."""

    content: str | None = None
    tool_calls: list[tuple[str, dict]] = field(default_factory=list)


@dataclass
class _Answer:
    content: str | None
    tool_calls: list[tuple[str, str]]  # name, arguments (a JSON string, or garbage in "malformed" mode)
    finish_reason: str


def error_body(
    status: int, message: str | None = None, code: str | None = None, param: str | None = None
) -> dict:
    """An OpenAI-style error body."""
    error_type = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {
        "error": {
            "message": message or f"fake server error (HTTP {status})",
            "type": error_type,
            "param": param,
            "code": code if code is not None else (error_type if status == 429 else None),
        }
    }


# --- conversation helpers ------------------------------------------------------------------------------------


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return str(content)


def conversation_text(request: dict) -> str:
    """All message contents of a request, joined by newlines."""
    messages = request.get("messages") or []
    return "\n".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))


def task_text(request: dict) -> str:
    """The text inside the first ``<task>...</task>``, else the last user message."""
    match = _TASK.search(conversation_text(request))
    if match:
        return " ".join(html.unescape(match.group(1)).split())
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return " ".join(_content_text(message.get("content")).split())
    return ""


# --- schema filling ----------------------------------------------------------------------------------------------


@dataclass
class _Context:
    text: str
    task: str

    @property
    def task_words(self) -> str:
        words = self.task.split()[:8]
        return " ".join(words)


def _resolve(schema: Any, root: dict) -> dict:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 20:
        ref = schema["$ref"]
        if not ref.startswith("#"):
            return {}
        target: Any = root
        for token in ref.lstrip("#").strip("/").split("/"):
            if not token:
                continue
            token = token.replace("~1", "/").replace("~0", "~")
            target = target.get(token, {}) if isinstance(target, dict) else {}
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **merged} if isinstance(target, dict) else merged
        seen += 1
    if isinstance(schema, dict) and isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = {**_resolve(part, root), **merged}
        schema = merged
    return schema if isinstance(schema, dict) else {}


def _schema_type(schema: dict) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        kind = non_null[0] if non_null else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _number(schema: dict, kind: str, fallback: float) -> float | int:
    if "minimum" in schema:
        value = schema["minimum"]
    elif "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
        value = schema["exclusiveMinimum"] + (1 if kind == "integer" else 0.5)
    else:
        value = fallback
    if "maximum" in schema and value > schema["maximum"]:
        value = schema["maximum"]
    return int(value) if kind == "integer" else value


def _string(schema: dict, phrase: str = "fake model value") -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2030-01-01T09:00:00Z"
    if fmt == "date":
        return "2030-01-01"
    if fmt in ("uri", "url"):
        return "https://example.com/fake"
    if fmt == "email":
        return "fake@example.com"
    value = phrase
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        value = (value + " ") * (min_length // (len(value) + 1) + 1)
        value = value[:min_length].rstrip().ljust(min_length, "x")
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        value = value[:max_length]
    return value


def _smart(name: str, schema: dict, root: dict, ctx: _Context) -> Any:
    kind = _schema_type(schema)
    if name == "artifact_id":
        ids = _ARTIFACT_ID.findall(ctx.text)
        return html.unescape(ids[-1]) if ids else _MISSING
    if name == "document_ids":
        ids = list(dict.fromkeys(_KB_ID.findall(ctx.text)))[:3]
        return ids if ids else _MISSING
    if name == "query":
        return _string(schema, ctx.task_words or "marketing")
    if name == "platform" and "enum" in schema:
        return schema["enum"][0]
    if name == "platforms":
        items = _resolve(schema.get("items", {}), root)
        if "enum" in items:
            return list(items["enum"])
        return _MISSING
    if name == "text" and kind == "string":
        return _string(schema, f"Fake model post about {ctx.task_words or 'marketing'}".strip())
    if name == "keywords" and kind == "array":
        return ["marketing"]
    if name == "hashtags" and kind == "array":
        return ["launch"]
    if name == "timezone" and kind == "string":
        return "UTC"
    if kind == "integer" and "enum" not in schema:  # its minimum, else its default, else 1
        has_minimum = "minimum" in schema or "exclusiveMinimum" in schema
        if not has_minimum and isinstance(schema.get("default"), int):
            return schema["default"]
        return _number(schema, kind, 1)
    return _MISSING


_SMART_NAMES = {
    "artifact_id",
    "document_ids",
    "query",
    "platform",
    "platforms",
    "text",
    "keywords",
    "hashtags",
}


def _route_choice(options: list[Any]) -> Any:
    for option in options:
        if option != "FINISH":
            return option
    return options[0] if options else "FINISH"


def fill_schema(
    schema: Any,
    root: dict | None = None,
    *,
    ctx: _Context | None = None,
    name: str | None = None,
    depth: int = 0,
) -> Any:
    """A deterministic value valid for a JSON schema.

    Required fields are filled generically (strings a short phrase, numbers their minimum or 0, booleans false,
    arrays one element, enums their first value). A routing decision (an object whose ``next`` property has an
    ``enum``) picks the first option that is not ``FINISH``. With ``ctx`` (tool arguments), well-known field names
    get values taken from the conversation.
    """
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if ctx is not None and name is not None:
        value = _smart(name, schema, root, ctx)
        if value is not _MISSING:
            return value
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            resolved = [_resolve(o, root) for o in options]
            chosen = next((o for o in resolved if _schema_type(o) != "null"), resolved[0])
            return fill_schema(chosen, root, ctx=ctx, name=name, depth=depth)
    kind = _schema_type(schema)
    if kind == "null":
        return None
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return _number(schema, kind, 0)
    if kind == "string":
        return _string(schema)
    if kind == "array":
        if depth > 8:
            return []
        items = schema.get("items", {})
        count = max(1, schema.get("minItems", 1) if isinstance(schema.get("minItems"), int) else 1)
        max_items = schema.get("maxItems")
        if isinstance(max_items, int):
            count = min(count, max_items)
        item_schema = _resolve(items, root) if isinstance(items, dict) else {}
        if isinstance(item_schema.get("enum"), list) and item_schema["enum"]:
            enum = item_schema["enum"]
            return [enum[i % len(enum)] for i in range(count)]
        return [fill_schema(item_schema, root, ctx=ctx, depth=depth + 1) for _ in range(count)]
    # object
    if depth > 8:
        return {}
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = [r for r in schema.get("required", []) if isinstance(r, str)]
    names = list(required)
    if ctx is not None:
        names += [p for p in properties if p in _SMART_NAMES and p not in names]
    next_schema = _resolve(properties.get("next", {}), root)
    if depth == 0 and isinstance(next_schema.get("enum"), list) and next_schema["enum"]:  # a routing decision
        choice = _route_choice(next_schema["enum"])
        names = [*names, *(p for p in ("next", "reasoning") if p in properties and p not in names)]
        special = {"next": choice, "reasoning": f"fake model: {choice}"}
    else:
        special = {}
    result: dict[str, Any] = {}
    for prop in names:
        if prop in special:
            result[prop] = special[prop]
        else:
            result[prop] = fill_schema(properties.get(prop, {}), root, ctx=ctx, name=prop, depth=depth + 1)
    return result


# --- the built-in brain ------------------------------------------------------------------------------------------

META_DESCRIPTION = (
    "Fake model meta description: a clear and practical summary of the marketing task, its audience, "
    "its main benefits, and next steps."
)
assert len(META_DESCRIPTION) == 130


def text_answer(request: dict) -> str:
    """A markdown document of at least 120 words that includes the task."""
    task = task_text(request) or "the marketing task"
    summary = (
        f"This fake model answer addresses the task: {task}. "
        "It outlines the audience, the core message, the channels, and the next steps in plain language. "
        "The audience is busy professionals who want practical advice they can apply the same day, so every "
        "point stays short, concrete, and easy to scan. The core message explains the main benefit first, backs "
        "it with one clear example, and closes with a simple call to action. The channels are the blog, the "
        "newsletter, and the main social platforms, each with a version of the message that fits its format. "
        "The next steps are to review the draft, adjust the tone for the brand, schedule the posts, and measure "
        "the results after one week so the team can learn what worked and improve the next campaign."
    )
    return (
        "# Fake model answer\n\n"
        f"Meta description: {META_DESCRIPTION}\n\n"
        "## Summary\n\n"
        f"{summary}\n\n"
        "## Key points\n\n"
        "- Lead with the benefit.\n- Keep each section short.\n- End with one call to action.\n"
    )


def _tool_function(tool: dict) -> dict:
    function = tool.get("function") if isinstance(tool, dict) else None
    return function if isinstance(function, dict) else {}


def brain(request: dict) -> Reply:
    """The deterministic default policy.

    1. ``response_format`` ``json_schema``: JSON filled from the schema (routing decisions pick the first
       option that is not ``FINISH``).
    2. Tools with ``tool_choice`` ``"required"`` or a named function: call it (or the first tool).
    3. Tools with ``tool_choice`` not ``"none"`` and no ``tool`` message yet: call the first tool once, with
       arguments taken from the conversation where the field names are known.
    4. Otherwise a markdown text answer of at least 120 words that includes the task.
    """
    text = conversation_text(request)
    ctx = _Context(text=text, task=task_text(request))
    response_format = request.get("response_format") or {}
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return Reply(content=json.dumps(fill_schema(schema)))
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        return Reply(content=json.dumps({"answer": "fake model value"}))

    tools = [t for t in request.get("tools") or [] if _tool_function(t).get("name")]
    tool_choice = request.get("tool_choice")
    if tools and tool_choice != "none":
        forced: dict | None = None
        if isinstance(tool_choice, dict):
            wanted = (tool_choice.get("function") or {}).get("name")
            forced = next((_tool_function(t) for t in tools if _tool_function(t).get("name") == wanted), None)
            if forced is None and wanted is None:
                forced = _tool_function(tools[0])
        elif tool_choice == "required":
            forced = _tool_function(tools[0])
        already_called = any(
            isinstance(m, dict) and m.get("role") == "tool" for m in request.get("messages") or []
        )
        function = forced if forced is not None else (None if already_called else _tool_function(tools[0]))
        if function is not None:
            parameters = function.get("parameters") or {"type": "object", "properties": {}}
            args = fill_schema(parameters, ctx=ctx)
            return Reply(tool_calls=[(function["name"], args if isinstance(args, dict) else {})])
    return Reply(content=text_answer(request))


# --- HTTP --------------------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: FakeOpenAIServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # quiet about clients that went away
            super().handle_error(request, client_address)


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
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

    # -- plumbing

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", self.server.owner._next_id("req_"))
        self.send_header("openai-processing-ms", "1")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _send_error(
        self, status: int, message: str, code: str | None = None, param: str | None = None
    ) -> None:
        self._send_json(status, error_body(status, message, code, param))

    # -- routes

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self._path()
        if path in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [owner._model_card()]})
        elif path.startswith(("/v1/models/", "/models/")):
            model_id = path.rsplit("/", 1)[1]
            if model_id == owner.model_name:
                self._send_json(200, owner._model_card())
            else:
                self._send_error(404, f"The model '{model_id}' does not exist", "model_not_found", "model")
        else:
            self._send_error(404, f"Unknown path {path}", "unknown_url")

    def do_POST(self) -> None:
        owner = self.server.owner
        path = self._path()
        raw = self._read_body()
        if path in ("/v1/moderations", "/moderations"):
            self._moderate(raw)
            return
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"Unknown path {path}", "unknown_url")
            return
        try:
            request = json.loads(raw or b"null")
        except ValueError:
            request = None
        recorded = dict(request) if isinstance(request, dict) else {"_raw": raw.decode("utf-8", "replace")}
        recorded["_path"] = path
        recorded["_received_at"] = time.monotonic()
        fault = owner._take_fault(request if isinstance(request, dict) else {})
        recorded["_fault"] = fault.name if fault is not None else None
        recorded["_fault_headers"] = dict(fault.headers) if fault is not None else {}
        with owner._lock:
            owner.requests.append(recorded)
        if fault is not None:
            if fault.delay_s and owner._stopping.wait(fault.delay_s):
                self.close_connection = True
                return
            if fault.status != 200:
                body = fault.body if fault.body is not None else error_body(fault.status)
                self._send_json(fault.status, body, fault.headers)
                return
        if not isinstance(request, dict):
            self._send_error(400, "We could not parse the JSON body of your request.")
            return
        problem = _validate(request)
        if problem is not None:
            self._send_error(400, problem[1], param=problem[0])
            return
        if owner.mode == "down":
            self._send_error(500, "The server had an error while processing your request.")
            return
        if owner.mode == "hang" and owner._stopping.wait(owner.hang_s):
            self.close_connection = True
            return
        try:
            answer = owner._answer(request)
        except Exception as exc:  # a broken answer callback is a server error, as with a real backend
            self._send_error(500, f"fake server answer failed: {exc!r}")
            return
        if fault is not None and fault.finish_reason:
            answer.finish_reason = fault.finish_reason
        if request.get("stream"):
            self._stream(request, answer, fault)
        else:
            self._send_completion(owner._completion(request, answer), fault)

    def _moderate(self, raw: bytes) -> None:
        """``POST /v1/moderations``: a text is flagged when it contains one of ``owner.moderation_flagged`` words
        (case-insensitive); requests are recorded and faults apply as for completions."""
        owner = self.server.owner
        try:
            request = json.loads(raw or b"null")
        except ValueError:
            request = None
        if not isinstance(request, dict) or "input" not in request:
            self._send_error(400, "'input' is a required property", param="input")
            return
        fault = owner._take_fault(request)
        with owner._lock:
            owner.requests.append(
                {**request, "_path": "/v1/moderations", "_fault": fault.name if fault else None}
            )
        if fault is not None and fault.status != 200:
            self._send_json(fault.status, fault.body if fault.body is not None else error_body(fault.status))
            return
        texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
        results = []
        for text in texts:
            hits = [w for w in owner.moderation_flagged if w.casefold() in str(text).casefold()]
            results.append(
                {
                    "flagged": bool(hits),
                    "categories": {"violence": bool(hits)},
                    "category_scores": {"violence": 0.99 if hits else 0.01},
                }
            )
        self._send_json(
            200, {"id": owner._next_id("modr-"), "model": request.get("model", ""), "results": results}
        )

    def _send_completion(self, completion: dict, fault: Fault | None) -> None:
        """A non-streamed answer, broken as the fault says: no finish reason, half a body, or not JSON."""
        cut = fault.cut if fault is not None else None
        if cut == "error_event":
            self._send_error(500, "The server had an error while processing your request.")
            return
        if cut is None or cut == "stall":
            if cut == "stall" and self.server.owner._stopping.wait(fault.stall_s):  # type: ignore[union-attr]
                self.close_connection = True
                return
            self._send_json(200, completion)
            return
        if cut == "truncate":
            choice = completion["choices"][0]
            content = choice["message"].get("content") or ""
            choice["message"]["content"], choice["finish_reason"] = content[: len(content) // 2], None
            self._send_json(200, completion)
            return
        payload = json.dumps(completion).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if cut == "corrupt":
            self.wfile.write(payload[: len(payload) // 2].ljust(len(payload), b"#"))
            self.wfile.flush()
            return
        self.wfile.write(payload[: len(payload) // 2])  # drop: half the body, then the connection goes
        self._drop_connection()

    def _drop_connection(self) -> None:
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    # -- streaming

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as exc:
            raise _ClientGone from exc

    def _stream(self, request: dict, answer: _Answer, fault: Fault | None = None) -> None:
        owner = self.server.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", owner._next_id("req_"))
        self.end_headers()
        cut = fault.cut if fault is not None else None
        try:
            for index, chunk in enumerate(owner._chunks(request, answer)):
                if cut is not None and index == fault.after:  # type: ignore[union-attr]
                    if self._cut_stream(cut, fault):  # type: ignore[arg-type]
                        return
                    cut = None
                self._write_chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")  # the terminating zero-length chunk
        except _ClientGone:
            self.close_connection = True

    def _cut_stream(self, cut: str, fault: Fault) -> bool:
        """Break the stream here; True when it ends (a stall goes on afterwards)."""
        if cut == "truncate":  # a clean end of the body, but no finish reason, no usage, no [DONE]
            self._write_chunk(b"")
        elif cut == "corrupt":
            self._write_chunk(CORRUPT_CHUNK)
            self._write_chunk(b"")
        elif cut == "drop":
            self._drop_connection()
        elif cut == "error_event":  # what OpenAI sends when it fails mid-stream
            error = error_body(500, "The server had an error while processing your request.")
            self._write_chunk(b"data: " + json.dumps(error).encode() + b"\n\n")
            self._write_chunk(b"")
        elif self.server.owner._stopping.wait(fault.stall_s):  # stall
            self.close_connection = True
            return True
        else:
            return False
        self.close_connection = True
        return True


def _validate(request: dict) -> tuple[str, str] | None:
    if not isinstance(request.get("model"), str) or not request["model"]:
        return "model", "you must provide a model parameter"
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages", "Missing required parameter: 'messages'."
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return f"messages[{i}].role", f"Missing required parameter: 'messages[{i}].role'."
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        json_schema = response_format.get("json_schema")
        if not isinstance(json_schema, dict) or not json_schema.get("name"):
            return "response_format.json_schema", "Missing required parameter: 'response_format.json_schema'."
    tools = request.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "tools", "Invalid type for 'tools': expected an array."
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or (
                tool.get("type") == "function" and not _tool_function(tool).get("name")
            ):
                return f"tools[{i}].function.name", f"Missing required parameter: 'tools[{i}].function.name'."
    return None


class FakeOpenAIServer:
    """An OpenAI-compatible chat-completions server on ``127.0.0.1`` for tests.

    Attributes:
        requests: Every decoded chat-completions request body, in order, with a ``_path`` key added (faulted
            and rejected requests included).
        mode: ``"ok"``; ``"down"`` (every request gets HTTP 500); ``"hang"`` (sleep ``hang_s`` then answer);
            ``"malformed"`` (json_schema answers are not JSON, tool-call arguments are broken JSON).
        hang_s: How long ``"hang"`` sleeps.
        plan: Called with each decoded request that has no scripted fault queued; returns its fault or None
            (a seeded fault mix). Each recorded request carries ``_received_at`` (monotonic), ``_fault`` (its name)
            and ``_fault_headers``.
    """

    def __init__(self, model_name: str = "fake-model", answer: Callable[[dict], Reply] | None = None) -> None:
        self.model_name = model_name
        self.answer = answer
        self.requests: list[dict] = []
        self.moderation_flagged: list[str] = ["kill"]  # words /v1/moderations flags
        self.mode = "ok"
        self.hang_s: float = 30
        self.plan: Callable[[dict], Fault | None] | None = None
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeOpenAIServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
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
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake OpenAI server is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting

    def script(self, *faults: Fault) -> None:
        """Queue faults; each request consumes one before normal answering."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {value!r}")
        self._mode = value

    # -- internals

    def _take_fault(self, request: dict) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
        return self.plan(request) if self.plan is not None else None

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}fake{next(self._ids):06d}"

    def _model_card(self) -> dict:
        return {"id": self.model_name, "object": "model", "created": 1700000000, "owned_by": "fake"}

    def _answer(self, request: dict) -> _Answer:
        reply = (self.answer or brain)(request)
        calls = [(name, json.dumps(args)) for name, args in reply.tool_calls]
        content = reply.content
        response_format = request.get("response_format") or {}
        if self.mode == "malformed":
            if isinstance(response_format, dict) and response_format.get("type") == "json_schema" and content:
                content = MALFORMED_CONTENT
            calls = [(name, MALFORMED_ARGUMENTS) for name, _ in calls]
        tool_choice = request.get("tool_choice")
        if calls:
            finish = (
                "stop" if isinstance(tool_choice, dict) else "tool_calls"
            )  # as the real API does for forced calls
        else:
            finish = "stop"
        if not calls and content is None:
            content = ""
        return _Answer(content=content, tool_calls=calls, finish_reason=finish)

    def _usage(self, request: dict, answer: _Answer) -> dict:
        prompt_chars = sum(
            len(_content_text(m.get("content"))) for m in request.get("messages") or [] if isinstance(m, dict)
        )
        completion_chars = len(answer.content or "") + sum(len(args) for _, args in answer.tool_calls)
        prompt, completion = prompt_chars // 4 + 1, completion_chars // 4 + 1
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _completion(self, request: dict, answer: _Answer) -> dict:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": answer.content,
            "refusal": None,
            "annotations": [],
        }
        if answer.tool_calls:
            message["tool_calls"] = [
                {
                    "id": self._next_id("call_"),
                    "type": "function",
                    "function": {"name": name, "arguments": args},
                }
                for name, args in answer.tool_calls
            ]
        return {
            "id": self._next_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request["model"],
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish_reason}
            ],
            "usage": self._usage(request, answer),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    def _chunks(self, request: dict, answer: _Answer) -> Iterator[dict]:
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": self._next_id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request["model"],
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

        def chunk(delta: dict, finish_reason: str | None = None) -> dict:
            out = {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                out["usage"] = None
            return out

        if answer.tool_calls:
            first = True
            for index, (name, args) in enumerate(answer.tool_calls):
                head = {
                    "index": index,
                    "id": self._next_id("call_"),
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                delta: dict[str, Any] = {"tool_calls": [head]}
                if first:
                    delta = {"role": "assistant", "content": None, "refusal": None, **delta}
                    first = False
                yield chunk(delta)
                for fragment in _fragments(args):
                    yield chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
        else:
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            for word in re.findall(r"\S+\s*|\s+", answer.content or ""):
                yield chunk({"content": word})
        yield chunk({}, answer.finish_reason)
        if include_usage:
            yield {**base, "choices": [], "usage": self._usage(request, answer)}


def _fragments(arguments: str, size: int = 8) -> list[str]:
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]
