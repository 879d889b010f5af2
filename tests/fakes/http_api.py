"""A base for the fake external APIs the tests start on 127.0.0.1 (Tavily, Serper, GitHub, X, LinkedIn, ...).

Standard library only: a ``ThreadingHTTPServer`` in a background thread speaking HTTP/1.1 with keep-alive. A
subclass (or a test) registers routes; every request is recorded; faults can be scripted per path so the real
clients meet 429 with ``Retry-After``, 5xx, slow answers and error bodies exactly as the real APIs send them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeApi", "Recorded", "Response", "ScriptedFault"]


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What a route answers: a JSON value (``body``) or raw bytes (``raw``), with a status and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"


@dataclass
class ScriptedFault:
    """A failure answered instead of the route, for requests whose path matches ``path`` (a regex; None = any)."""

    response: Response
    path: str | None = None
    times: int = 1
    delay_s: float = 0.0


Handler = Callable[[Recorded, re.Match[str]], Response]


class FakeApi:
    """An HTTP API on loopback. Use as a context manager, or call ``start``/``stop``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[ScriptedFault] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- configuration -------------------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer ``method`` requests whose path fully matches the regex ``pattern`` with ``handler``."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def fail(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        path: str | None = None,
        times: int = 1,
        delay_s: float = 0.0,
    ) -> None:
        """Answer the next ``times`` matching requests with an error instead of the route."""
        with self._lock:
            self._faults.append(
                ScriptedFault(Response(status, body, dict(headers or {})), path, times, delay_s)
            )

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, filtered by method and by a regex the path must fully match."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or re.fullmatch(path, r.path))
            ]

    # --- lifecycle -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeApi:
        """Listen on a free loopback port."""
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with api._lock:
                    api.requests.append(recorded)
                self._send(api._answer(recorded))

            def _send(self, response: Response) -> None:
                payload = (
                    response.raw
                    if response.raw is not None
                    else (b"" if response.body is None else json.dumps(response.body).encode())
                )
                self.send_response(response.status)
                headers = {k.lower(): v for k, v in response.headers.items()}
                if payload and "content-type" not in headers:
                    self.send_header("content-type", response.content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- answering -----------------------------------------------------------------------------------------

    def _answer(self, request: Recorded) -> Response:
        fault = self._take_fault(request.path)
        if fault is not None:
            time.sleep(fault.delay_s)
            return fault.response
        for method, pattern, handler in self._routes:
            if method == request.method and (match := pattern.fullmatch(request.path)):
                try:
                    return handler(request, match)
                except Exception as exc:  # a bug in a fake route must show up as a 500, not a hang
                    return Response(500, {"message": f"fake route failed: {exc!r}"})
        return Response(404, {"message": f"no route for {request.method} {request.path}"})

    def _take_fault(self, path: str) -> ScriptedFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or re.fullmatch(fault.path, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None
