"""HTTP plumbing of the sandbox: the request/answer types, faults and the server."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Call", "Fault", "Reply", "serve"]


@dataclass(frozen=True)
class Call:
    """One request as the sandbox received it."""

    server: str
    method: str
    path: str
    query: Mapping[str, str]
    headers: Message
    body: bytes

    def header(self, name: str) -> Optional[str]:
        """Return a request header (any letter case), or None."""
        return self.headers.get(name)

    def json(self) -> Any:
        """Decode the body as JSON (raises ValueError)."""
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """Decode the body as an HTML form (the last value of a repeated field wins)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def content_type(self) -> str:
        """The media type of the body, lower case, without parameters."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Reply:
    """An answer the sandbox sends."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any, headers: Optional[Mapping[str, str]] = None) -> Reply:
        """An answer with a JSON body."""
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass(frozen=True)
class Fault:
    """A misbehaviour queued for the next request(s) to an endpoint.

    Build one with the class methods; :meth:`Sandbox.add_fault` queues it.
    """

    reply: Optional[Reply] = None
    #: "hang": answer nothing for ``seconds``; "reset": start an answer, then reset
    #: the connection; "close": close the connection without a byte.
    action: Optional[str] = None
    seconds: float = 30.0

    @classmethod
    def status(cls, status: int, body: Any = None, headers: Optional[Mapping[str, str]] = None) -> Fault:
        """Answer ``status`` with a JSON ``body`` (or an empty one)."""
        if body is None:
            return cls(Reply(status, b"", dict(headers or {})))
        return cls(Reply.json(status, body, headers))

    @classmethod
    def raw(cls, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> Fault:
        """Answer ``status`` with exactly ``body``."""
        return cls(Reply(status, body, {"Content-Type": content_type, **headers}))

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        """Accept the request and answer nothing for ``seconds`` (or until the sandbox stops)."""
        return cls(action="hang", seconds=seconds)

    @classmethod
    def reset(cls) -> Fault:
        """Send the start of a 200 answer, then reset the connection."""
        return cls(action="reset")

    @classmethod
    def close(cls) -> Fault:
        """Close the connection without answering."""
        return cls(action="close")

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Fault:
        """Answer with a redirect to ``location``."""
        return cls(Reply(status, b"", {"Location": location}))

    @classmethod
    def from_dict(cls, spec: Any) -> Fault:
        """Build a fault from its JSON form, one class method per ``kind``.

        ``{"kind": "status", "status": 503, "body": {...}, "headers": {...}}``,
        ``{"kind": "raw", "status": 500, "body": "<html>...", "content_type": "text/html"}``,
        ``{"kind": "hang", "seconds": 5}``, ``{"kind": "reset"}``, ``{"kind": "close"}``,
        ``{"kind": "redirect", "location": "https://...", "status": 302}``; the keys
        other than ``kind`` are the class method's arguments, each optional where it is there.

        Raises:
            ValueError: the spec is not one of these; the message says what is wrong.
        """
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object with a 'kind'")
        kind = spec.get("kind")
        allowed = _FAULT_KEYS.get(kind) if isinstance(kind, str) else None
        if allowed is None:
            raise ValueError(f"fault kind must be one of {', '.join(sorted(_FAULT_KEYS))}")
        unknown = sorted(set(spec) - allowed - {"kind"})
        if unknown:
            raise ValueError(f"a {kind!r} fault takes no {', '.join(map(repr, unknown))}")
        headers = spec.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError("fault headers must be a JSON object of strings")
        if kind in ("status", "raw", "redirect"):
            default = 302 if kind == "redirect" else None
            status = spec.get("status", default)
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise ValueError("fault status must be an HTTP status code (100-599)")
            if kind == "status":
                return cls.status(status, spec.get("body"), headers)
            if kind == "raw":
                body, content_type = spec.get("body", ""), spec.get("content_type", "application/json")
                if not isinstance(body, str) or not isinstance(content_type, str):
                    raise ValueError("a 'raw' fault's body and content_type must be strings")
                return cls(Reply(status, body.encode(), {"Content-Type": content_type, **headers}))
            location = spec.get("location")
            if not isinstance(location, str) or not location:
                raise ValueError("a 'redirect' fault needs a location")
            return cls.redirect(location, status)
        if kind == "hang":
            seconds = spec.get("seconds", 30.0)
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 3600:
                raise ValueError("a 'hang' fault's seconds must be a number from 0 to 3600")
            return cls.hang(float(seconds))
        return cls.reset() if kind == "reset" else cls.close()


# What each ``kind`` of Fault.from_dict() takes besides "kind".
_FAULT_KEYS: dict[str, set[str]] = {
    "status": {"status", "body", "headers"},
    "raw": {"status", "body", "content_type", "headers"},
    "hang": {"seconds"},
    "reset": set(),
    "close": set(),
    "redirect": {"location", "status"},
}


Handler = Callable[[Call], "Reply | Fault"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Many clients connect at once in the load tests.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], name: str, handle: Handler, stopping: threading.Event) -> None:
        super().__init__(address, _RequestHandler)
        self.name = name
        self.handle_call = handle
        self.stopping = stopping

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (timeouts, resets in fault tests) are expected here.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the client's delayed
    # ACK holds the second one back ~40 ms on every keep-alive request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: request lines may hold tokens, and tests read stderr.
        pass

    def _serve(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        call = Call(
            server=self.server.name,
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),  # ?vendor= is a value, not none
            headers=self.headers,
            body=body,
        )
        outcome = self.server.handle_call(call)
        if isinstance(outcome, Fault):
            if outcome.action is not None:
                self._misbehave(outcome)
                return
            assert outcome.reply is not None
            outcome = outcome.reply
        self.send_response(outcome.status)
        for name, value in outcome.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(outcome.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(outcome.body)

    def _read_chunked(self) -> bytes:
        # Streamed request bodies (a generator passed as data=) arrive chunked.
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _misbehave(self, fault: Fault) -> None:
        self.close_connection = True
        if fault.action == "hang":
            self.server.stopping.wait(fault.seconds)
            return
        if fault.action == "reset":
            self.wfile.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"acc')
            self.wfile.flush()
        # SO_LINGER 0: close() sends RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


def serve(
    host: str,
    name: str,
    handle: Handler,
    stopping: threading.Event,
    ssl_context: Optional[ssl.SSLContext] = None,
    port: int = 0,
) -> tuple[_Server, threading.Thread]:
    """Start a threaded server on ``host`` and ``port`` (0: a free one); return it and its thread."""
    server = _Server((host, port), name, handle, stopping)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True, name=f"adtech-sandbox-{name}"
    )
    thread.start()
    return server, thread
