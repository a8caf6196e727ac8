"""The loopback Anthropic-compatible HTTP server (see the package docstring for usage)."""

from __future__ import annotations

import json
import socket
import threading
import time
import typing
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jsonschema
from anthropic.types.model_param import ModelParam

from reviewbot.models.usage import Usage
from reviewbot.testing.accounting import CachePlan, PromptCache, count_input_tokens
from reviewbot.testing.accounting import estimate_tokens as _estimate
from reviewbot.testing.faults import Faults
from reviewbot.testing.handlers import Handler, default_handler
from reviewbot.testing.replies import Reply, coerce_reply, new_id
from reviewbot.testing.request import MessagesRequest
from reviewbot.testing.streaming import sse_body
from reviewbot.testing.validation import ApiError, check_body, check_headers, invalid


def sdk_model_ids() -> tuple[str, ...]:
    """The model ids the installed ``anthropic`` SDK lists in ``types/model_param.py``."""
    ids: list[str] = []
    for arg in typing.get_args(ModelParam):
        ids.extend(a for a in typing.get_args(arg) if isinstance(a, str))
    return tuple(ids)


@dataclass(frozen=True)
class ErrorRecord:
    """A non-200 answer: ``injected`` for scripted/fault errors, else the server refused."""

    path: str
    status: int
    error_type: str
    message: str
    injected: bool


@dataclass(frozen=True)
class SchemaViolation:
    """A structured-output reply that did not validate against the request's schema."""

    request: MessagesRequest
    text: str
    error: str


LatencySpec = float | Callable[[], float] | None


class ModelServer:
    """A real HTTP server on 127.0.0.1 speaking the Anthropic Messages API.

    Use as a context manager (or ``start()``/``stop()``). ``handler`` decides every
    answer (it is called from many connection threads at once); ``None`` answers
    with :func:`default_handler`.

    ``latency``: seconds, or a ``() -> seconds`` such as :class:`Lognormal`, slept
    before each model answer. ``faults``: random injected failures. ``api_key``:
    required key (``None``: any). ``models``: accepted model ids (``None``: the
    SDK's list; ``["*"]``: any). ``min_cache_tokens``: minimum cacheable prefix,
    a number or ``model -> number`` (``None``: the API's per-model minimums).
    ``port``: 0 picks a free one. ``max_recorded``: keep only the latest N
    requests and records (``None``: all).
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        latency: LatencySpec = None,
        faults: Faults | None = None,
        api_key: str | None = None,
        models: Iterable[str] | None = None,
        min_cache_tokens: int | Callable[[str], int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_recorded: int | None = None,
    ) -> None:
        self.handler: Handler = handler or default_handler
        self.latency: Callable[[], float] | None = (
            (lambda: float(latency)) if isinstance(latency, (int, float)) else latency
        )
        self.faults = faults
        self.api_key = api_key
        self.models: frozenset[str] | None = (
            frozenset(sdk_model_ids()) if models is None else frozenset(models)
        )
        if self.models is not None and "*" in self.models:
            self.models = None
        self.cache = PromptCache(min_cache_tokens)
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # a long-running `serve-model` keeps only the latest requests and records
        self._requests: deque[MessagesRequest] = deque(maxlen=max_recorded)
        self._errors: deque[ErrorRecord] = deque(maxlen=max_recorded)
        self._violations: deque[SchemaViolation] = deque(maxlen=max_recorded)
        self._service_times: deque[float] = deque(maxlen=max_recorded)
        self._handler_errors: list[BaseException] = []
        self._usage = Usage()
        self._calls = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> ModelServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self._host, self._port), _RequestHandler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"model-server:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes latency sleeps and hung connections
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None:
            self.raise_handler_errors()

    def raise_handler_errors(self) -> None:
        """Re-raise the first exception a handler raised (it was answered as a 500)."""
        with self._lock:
            errors = list(self._handler_errors)
        if errors:
            raise errors[0]

    # --- what happened --------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the model server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def requests(self) -> list[MessagesRequest]:
        """Every ``/v1/messages`` request that passed validation, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def calls(self) -> int:
        """How many ``/v1/messages`` requests were answered with a model message."""
        with self._lock:
            return self._calls

    @property
    def errors(self) -> list[ErrorRecord]:
        with self._lock:
            return list(self._errors)

    @property
    def rejections(self) -> list[ErrorRecord]:
        """Requests the server refused (validation, auth, model): should be empty for ours."""
        return [e for e in self.errors if not e.injected]

    @property
    def schema_violations(self) -> list[SchemaViolation]:
        with self._lock:
            return list(self._violations)

    @property
    def handler_errors(self) -> list[BaseException]:
        with self._lock:
            return list(self._handler_errors)

    @property
    def usage(self) -> Usage:
        """Total usage billed over all answered calls."""
        with self._lock:
            return self._usage

    @property
    def service_times(self) -> list[float]:
        """Seconds from reading each answered request to having its answer ready."""
        with self._lock:
            return list(self._service_times)

    @property
    def peak_in_flight(self) -> int:
        """Most ``/v1/messages`` requests being handled at the same moment."""
        with self._lock:
            return self._peak_in_flight

    # --- request handling (called from the connection threads) ------------------------
    def _record_error(self, path: str, error: ApiError, injected: bool) -> None:
        with self._lock:
            self._errors.append(
                ErrorRecord(path, error.status, error.error_type, error.message, injected)
            )

    def _validated(
        self, path: str, headers: Mapping[str, str], raw: bytes, *, count_tokens: bool
    ) -> MessagesRequest:
        check_headers(headers, self.api_key)
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise invalid(f"There was an error parsing the body of your request: {exc}") from None
        check_body(body, headers, count_tokens=count_tokens)
        if self.models is not None and body["model"] not in self.models:
            raise ApiError(404, "not_found_error", f"model: {body['model']}")
        return MessagesRequest(body=body, headers=dict(headers), path=path)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def handle_messages(self, headers: Mapping[str, str], raw: bytes) -> _Outcome:
        path = "/v1/messages"
        try:
            request = self._validated(path, headers, raw, count_tokens=False)
        except ApiError as error:
            self._record_error(path, error, injected=False)
            return _Outcome.from_error(error)
        started = time.perf_counter()
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            outcome = self._answer(request)
        finally:
            with self._lock:
                self._in_flight -= 1
        if outcome.status == 200:
            with self._lock:
                self._service_times.append(time.perf_counter() - started)
        return outcome

    def _answer(self, request: MessagesRequest) -> _Outcome:
        path = request.path
        fault = self.faults.draw() if self.faults is not None else None
        plan = self.cache.plan(request.model, request.body)
        if fault is not None:
            reply = fault
        elif request.max_tokens == 0:
            # max_tokens 0 only warms the prompt cache
            reply = Reply.blocks([], "max_tokens")
        else:
            try:
                reply = coerce_reply(self.handler(request))
            except Exception as exc:  # a handler bug: answer 500, re-raised at stop
                with self._lock:
                    self._handler_errors.append(exc)
                error = ApiError(500, "api_error", f"handler raised {type(exc).__name__}: {exc}")
                self._record_error(path, error, injected=True)
                return _Outcome.from_error(error)
        if reply.kind == "error":
            error = ApiError(reply.status, reply.error_type, reply.message)
            self._record_error(path, error, injected=True)
            return _Outcome.from_error(error, retry_after=reply.retry_after)
        if reply.kind == "hang":
            self._sleep(reply.seconds)
            return _Outcome(status=0)
        if self.latency is not None:
            self._sleep(self.latency())
        if reply.kind == "malformed":
            return _Outcome(status=reply.status, body=reply.body, content_type=reply.content_type)
        body = self._message_body(request, reply, plan)
        self.cache.commit(plan)
        if request.body.get("stream"):
            return _Outcome(
                status=200,
                body=sse_body(body),
                headers=dict(reply.headers),
                content_type="text/event-stream",
            )
        return _Outcome(status=200, body=json.dumps(body).encode(), headers=dict(reply.headers))

    def _message_body(self, request: MessagesRequest, reply: Reply, plan: CachePlan) -> dict:
        content = [dict(b) for b in reply.content]
        stop_reason = reply.stop_reason
        output_tokens = sum(_block_tokens(b) for b in content)
        if output_tokens > request.max_tokens and all(b["type"] == "text" for b in content):
            content, output_tokens = _truncate(content, request.max_tokens)
            stop_reason = "max_tokens"
        if reply.output_tokens is not None:
            output_tokens = reply.output_tokens
        schema = request.output_schema
        if schema is not None and any(b.get("type") == "text" for b in content):
            # structured output constrains every text block, tool-use turns included
            self._check_structured(request, content, schema)
        usage = Usage(
            input_tokens=plan.usage.input_tokens,
            output_tokens=output_tokens,
            cache_creation_input_tokens=plan.usage.cache_creation_input_tokens,
            cache_read_input_tokens=plan.usage.cache_read_input_tokens,
        )
        with self._lock:
            self._calls += 1
            self._usage = self._usage + usage
        return {
            "id": new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": reply.stop_sequence,
            "usage": {**usage.model_dump(), "service_tier": "standard"},
        }

    def _check_structured(
        self, request: MessagesRequest, content: list[dict], schema: Mapping[str, Any]
    ) -> None:
        text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
        try:
            jsonschema.validate(json.loads(text), schema)
        except json.JSONDecodeError as exc:
            problem = f"not JSON: {exc}"
        except jsonschema.ValidationError as exc:
            problem = exc.message
        else:
            return
        # Returned anyway: callers must survive schema-invalid output.
        with self._lock:
            self._violations.append(SchemaViolation(request, text, problem))

    def handle_count_tokens(self, headers: Mapping[str, str], raw: bytes) -> _Outcome:
        path = "/v1/messages/count_tokens"
        try:
            request = self._validated(path, headers, raw, count_tokens=True)
        except ApiError as error:
            self._record_error(path, error, injected=False)
            return _Outcome.from_error(error)
        tokens = count_input_tokens(request.body)
        return _Outcome(status=200, body=json.dumps({"input_tokens": tokens}).encode())

    def handle_models(self, headers: Mapping[str, str], model_id: str | None) -> _Outcome:
        try:
            check_headers(headers, self.api_key)
        except ApiError as error:
            return _Outcome.from_error(error)
        ids = sorted(self.models) if self.models is not None else list(sdk_model_ids())

        def info(mid: str) -> dict[str, str]:
            return {
                "type": "model",
                "id": mid,
                "display_name": mid,
                "created_at": "2026-01-01T00:00:00Z",
            }

        if model_id is not None:
            if model_id not in ids and self.models is not None:
                return _Outcome.from_error(ApiError(404, "not_found_error", f"model: {model_id}"))
            return _Outcome(status=200, body=json.dumps(info(model_id)).encode())
        page = {
            "data": [info(m) for m in ids],
            "has_more": False,
            "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None,
        }
        return _Outcome(status=200, body=json.dumps(page).encode())


def _block_tokens(block: Mapping[str, Any]) -> int:
    if block.get("type") == "text":
        return _estimate(str(block.get("text", "")))
    return _estimate(str(block.get("name", "")) + json.dumps(block.get("input", {})))


def _truncate(content: list[dict], max_tokens: int) -> tuple[list[dict], int]:
    budget = max_tokens * 4
    kept: list[dict] = []
    for block in content:
        text = str(block.get("text", ""))
        if budget <= 0:
            break
        kept.append({**block, "text": text[:budget]})
        budget -= len(text)
    return kept, max_tokens


@dataclass
class _Outcome:
    """What to write back; status 0 means close the connection without answering."""

    status: int
    body: bytes = b""
    headers: dict[str, str] | None = None
    content_type: str = "application/json"

    @classmethod
    def from_error(cls, error: ApiError, retry_after: float | None = None) -> _Outcome:
        request_id = new_id("req_")
        body = {
            "type": "error",
            "error": {"type": error.error_type, "message": error.message},
            "request_id": request_id,
        }
        headers = {"request-id": request_id}
        if retry_after is not None:
            headers["retry-after"] = (
                str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
            )
        return cls(status=error.status, body=json.dumps(body).encode(), headers=headers)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # listen backlog: bursts of 64+ concurrent connects

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: ModelServer
    ) -> None:
        self.app = app
        super().__init__(address, handler)


_REASONS = {529: "Overloaded"}


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    # headers and body go out in two writes: with Nagle on, delayed ACKs add ~40 ms
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.app._lock:
            self.server.app._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.app._lock:
            self.server.app._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests and the CLI report through the server's records, not stderr

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _read_body(self) -> bytes | None:
        """The request body, or None when the client went away before sending all of it."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        return raw if len(raw) == length else None

    def do_POST(self) -> None:
        raw = self._read_body()
        if raw is None:
            self.close_connection = True  # a killed client: there is nobody to answer
            return
        app = self.server.app
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/messages":
            outcome = app.handle_messages(self._headers(), raw)
        elif path == "/v1/messages/count_tokens":
            outcome = app.handle_count_tokens(self._headers(), raw)
        else:
            outcome = _Outcome.from_error(ApiError(404, "not_found_error", "Not found"))
        self._send(outcome)

    def do_GET(self) -> None:
        app = self.server.app
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            outcome = app.handle_models(self._headers(), None)
        elif path.startswith("/v1/models/"):
            outcome = app.handle_models(self._headers(), path[len("/v1/models/") :])
        else:
            outcome = _Outcome.from_error(ApiError(404, "not_found_error", "Not found"))
        self._send(outcome)

    def _send(self, outcome: _Outcome) -> None:
        if outcome.status == 0:
            self.close_connection = True
            return
        headers = dict(outcome.headers or {})
        headers.setdefault("request-id", new_id("req_"))
        try:
            self.send_response(outcome.status, _REASONS.get(outcome.status))
            self.send_header("content-type", outcome.content_type)
            self.send_header("content-length", str(len(outcome.body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(outcome.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout): nothing to answer
