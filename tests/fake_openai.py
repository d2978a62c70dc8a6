"""A real chat-completions server on loopback, with scriptable faults.

Tests of the ``openai`` model path talk HTTP to this server, so everything the
OpenAI client does (connection pool, SSE parsing, timeouts, its own retries)
is exercised for real. Each request takes the next scripted behaviour from a
queue; when the queue is empty the server answers normally with a
deterministic echo of the last user message.

    with FakeOpenAI() as fake:
        fake.status(429, headers={"Retry-After": "1"}).ok("hello")
        model = make_openai_model("fake", api_key="k", base_url=fake.base_url)
        ...
        assert fake.count == 2

Every request is recorded (path, headers including Authorization, JSON body,
arrival time) so tests can assert the exact number of HTTP attempts. With
``context_limit`` set, a request over that many tokens is refused with the
400 a real server gives for a context overflow. Sleeps
are bounded and end early when the server stops.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["Behaviour", "FakeOpenAI", "RecordedRequest", "fake_openai"]


@dataclass(frozen=True)
class Behaviour:
    """What the server does with one request."""

    kind: str
    text: str | None = None
    code: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    n_chunks: int = 0
    data: Any = None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    behaviour: str

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")

    @property
    def stream(self) -> bool:
        return bool(isinstance(self.body, dict) and self.body.get("stream"))


def last_user_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def echo(body: Any) -> str:
    return f"Echo: {last_user_text(body)}"


def tokens(text: str) -> list[str]:
    """Split a reply into stream chunks: one word (with its trailing space) each."""
    return re.findall(r"\S+\s*|\s+", text) or [""]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout fired, or it was cancelled) is an
        # expected event here, not a server bug: count it instead of printing.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            self.fake._note_disconnect()
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else {}
        except ValueError:
            body = raw.decode("utf-8", "replace")
        behaviour = fake._take(self.command, self.path, self.headers.items(), body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        kind = behaviour.kind
        limit = fake.context_limit
        if limit is not None and kind != "status" and prompt_tokens(body) > limit:
            # What a real server answers to a request over its context window.
            message = (
                f"This model's maximum context length is {limit} tokens. However, your"
                f" messages resulted in {prompt_tokens(body)} tokens."
            )
            error = {"message": message, "type": "invalid_request_error"}
            self._json(400, {"error": {**error, "code": "context_length_exceeded"}})
            return
        if kind == "status":
            self._json(behaviour.code, behaviour.body, behaviour.headers)
        elif kind == "hang":
            fake._sleep(behaviour.seconds)
            self.close_connection = True
        elif kind == "slow_first_byte":
            fake._sleep(behaviour.seconds)
            self._reply(body, behaviour)
        else:
            self._reply(body, behaviour)

    # -- replies ---------------------------------------------------------------

    def _json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        if payload is None:
            payload = {"error": {"message": f"scripted status {code}", "type": "server_error"}}
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _reply(self, body: Any, behaviour: Behaviour) -> None:
        request = body if isinstance(body, dict) else {}
        model = str(request.get("model", "fake-model"))
        content, tool_call = self._content(request, behaviour)
        if request.get("stream"):
            self._stream(request, model, content, tool_call, behaviour)
            return
        message: dict[str, Any] = {"role": "assistant", "content": content}
        finish = "stop"
        if tool_call is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [tool_call]}
            finish = "tool_calls"
        self._json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": _usage(request, content or ""),
            },
        )

    def _content(
        self, request: dict[str, Any], behaviour: Behaviour
    ) -> tuple[str, dict[str, Any] | None]:
        """Reply text, or a tool call when the client forced a function (structured output)."""
        if behaviour.kind == "structured":
            arguments = json.dumps(behaviour.data)
            tools = request.get("tools") or []
            if tools and not request.get("response_format"):
                choice = request.get("tool_choice")
                name = ""
                if isinstance(choice, dict):
                    name = str(choice.get("function", {}).get("name", ""))
                name = name or str(tools[0].get("function", {}).get("name", "tool"))
                call = {
                    "id": "call_fake_1",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                return "", call
            return arguments, None
        if behaviour.text is not None:
            return behaviour.text, None
        return echo(request), None

    def _stream(
        self,
        request: dict[str, Any],
        model: str,
        content: str,
        tool_call: dict[str, Any] | None,
        behaviour: Behaviour,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        cut = ("drop_after", "eof_without_finish", "stall_after", "malformed_after")
        limit = behaviour.n_chunks if behaviour.kind in cut else None
        self._event(chunk({"role": "assistant", "content": ""}))
        if tool_call is not None:
            self._event(chunk({"tool_calls": [{"index": 0, **tool_call}]}))
        else:
            for i, token in enumerate(tokens(content)):
                if limit is not None and i >= limit:
                    break
                self._event(chunk({"content": token}))
        if behaviour.kind == "malformed_after":
            # A chunk cut mid-string (a proxy that split a line), then a normal end.
            cut_line = b'data: {"id": "chatcmpl-fake", "choices": [{"delta": {"content": "cut'
            self._write_chunk(cut_line + b"\n\n")
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
            return
        if behaviour.kind == "drop_after":
            # No terminating zero-length chunk: the client sees the body cut short.
            self.close_connection = True
            return
        if behaviour.kind == "stall_after":
            self.server.fake._sleep(behaviour.seconds)
            self.close_connection = True
            return
        if behaviour.kind == "eof_without_finish":
            self._write_chunk(b"")
            self.close_connection = True
            return
        self._event(chunk({}, "tool_calls" if tool_call is not None else "stop"))
        options = request.get("stream_options") or {}
        if options.get("include_usage"):
            usage_chunk = chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = _usage(request, content)
            self._event(usage_chunk)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def prompt_tokens(body: Any) -> int:
    """The server's own estimate of a request's size: four characters a token,
    plus four a message (stricter than the client's estimate, as servers are)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    total = 0
    for m in messages or []:
        content = m.get("content") if isinstance(m, dict) else ""
        total += len(content if isinstance(content, str) else json.dumps(content)) // 4 + 4
    return total


def _usage(request: dict[str, Any], content: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in request.get("messages") or [])
    completion = len(content.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class FakeOpenAI:
    """The server plus its script and its request log. Use as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._script: list[tuple[Behaviour, int | None]] = []
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        # Requests over this many tokens (prompt_tokens) get a context-length 400.
        self.context_limit: int | None = None
        # Connections the client closed while the server was still answering.
        self.client_disconnects = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- script ----------------------------------------------------------------

    def push(self, behaviour: Behaviour, times: int | None = 1) -> FakeOpenAI:
        """Queue a behaviour for the next ``times`` requests (None: every request from then on)."""
        with self._lock:
            self._script.append((behaviour, times))
        return self

    def ok(self, text: str | None = None, *, times: int | None = 1) -> FakeOpenAI:
        """A normal reply (streamed when the client asks); default text echoes the user."""
        return self.push(Behaviour("ok", text=text), times)

    def structured(self, data: Any, *, times: int | None = 1) -> FakeOpenAI:
        """A structured-output reply: ``data`` as JSON content or as the forced tool's args."""
        return self.push(Behaviour("structured", data=data), times)

    def status(
        self,
        code: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        times: int | None = 1,
    ) -> FakeOpenAI:
        """An error response; ``body`` None gives a generic OpenAI-style error body."""
        return self.push(Behaviour("status", code=code, body=body, headers=headers or {}), times)

    def hang(self, seconds: float, *, times: int | None = 1) -> FakeOpenAI:
        """Read the request, then send nothing for ``seconds`` and close."""
        return self.push(Behaviour("hang", seconds=seconds), times)

    def slow_first_byte(
        self, seconds: float, text: str | None = None, *, times: int | None = 1
    ) -> FakeOpenAI:
        """Wait ``seconds`` before the status line, then answer normally."""
        return self.push(Behaviour("slow_first_byte", seconds=seconds, text=text), times)

    def drop_after(
        self, n_chunks: int, text: str | None = None, *, times: int | None = 1
    ) -> FakeOpenAI:
        """Stream ``n_chunks`` content chunks, then close without ending the chunked body."""
        return self.push(Behaviour("drop_after", n_chunks=n_chunks, text=text), times)

    def empty(self, *, times: int | None = 1) -> FakeOpenAI:
        """A complete reply with no text at all (finish_reason "stop")."""
        return self.push(Behaviour("ok", text=""), times)

    def malformed_after(
        self, n_chunks: int, text: str | None = None, *, times: int | None = 1
    ) -> FakeOpenAI:
        """Stream ``n_chunks`` content chunks, then a chunk that is not valid JSON."""
        return self.push(Behaviour("malformed_after", n_chunks=n_chunks, text=text), times)

    def eof_without_finish(
        self, n_chunks: int, text: str | None = None, *, times: int | None = 1
    ) -> FakeOpenAI:
        """Stream ``n_chunks`` content chunks, then end cleanly: no finish_reason, no [DONE]."""
        return self.push(Behaviour("eof_without_finish", n_chunks=n_chunks, text=text), times)

    def stall_after(
        self, n_chunks: int, seconds: float, text: str | None = None, *, times: int | None = 1
    ) -> FakeOpenAI:
        """Stream ``n_chunks`` content chunks, then go silent for ``seconds`` and close."""
        return self.push(
            Behaviour("stall_after", n_chunks=n_chunks, seconds=seconds, text=text), times
        )

    # -- request log -----------------------------------------------------------

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` requests have arrived (or the timeout passes)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.requests) >= n, timeout=timeout)

    def _take(self, method: str, path: str, headers: Any, body: Any) -> Behaviour:
        with self._lock:
            behaviour = Behaviour("ok")
            if self._script:
                behaviour, times = self._script[0]
                if times is not None:
                    if times <= 1:
                        self._script.pop(0)
                    else:
                        self._script[0] = (behaviour, times - 1)
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    headers={k.lower(): v for k, v in headers},
                    body=body,
                    at=time.monotonic(),
                    behaviour=behaviour.kind,
                )
            )
            self._lock.notify_all()
            return behaviour

    def _note_disconnect(self) -> None:
        with self._lock:
            self.client_disconnects += 1
            self._lock.notify_all()

    def _sleep(self, seconds: float) -> None:
        # Bounded, and cut short when the server stops so shutdown never waits on a hang.
        self._stopping.wait(min(seconds, 30.0))


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake
