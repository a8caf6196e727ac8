"""A loopback Anthropic-compatible model server, for tests and offline harness runs.

The server is a real HTTP server on 127.0.0.1 speaking the Messages API
(``POST /v1/messages``, ``POST /v1/messages/count_tokens``, ``GET /v1/models``),
so the official ``anthropic`` SDK talks to it unchanged::

    from anthropic import AsyncAnthropic
    from reviewbot.testing import ModelServer, Reply, Router, Script, Lognormal, Faults

    def handler(req):                      # req: MessagesRequest
        if req.tool_results:               # second turn: the tool answered
            return {"verdict": "ok"}       # dict / pydantic model -> Reply.json
        return Reply.tool_use("read_file", {"path": "a.py"})

    with ModelServer(handler, api_key="test-key",
                     latency=Lognormal(median=0.05, sigma=1.0, seed=7),
                     faults=Faults(rate_429=0.1, retry_after=0.01, seed=1)) as srv:
        client = AsyncAnthropic(base_url=srv.base_url, api_key="test-key")
        ...
        srv.requests            # validated MessagesRequest list, arrival order
        srv.calls               # requests answered with a model message
        srv.usage               # total billed Usage (cache reads/writes included)
        srv.rejections          # requests the server refused (our own should never be)
        srv.schema_violations   # structured replies that did not match the schema
        srv.errors              # every non-200 answer, injected ones marked as such
        srv.service_times, srv.peak_in_flight   # for latency and concurrency checks

Handlers
    A handler is ``(MessagesRequest) -> Reply | dict | list | BaseModel | str``. A
    dict, list or model means ``Reply.json`` (a structured-output answer), a str
    ``Reply.text``. ``MessagesRequest`` offers ``model``, ``max_tokens``,
    ``messages``, ``system_text``, ``role`` (the ``Role: <role>`` line of the
    system prompt), ``last_user_text``, ``all_text``, ``tools`` (names),
    ``output_schema``, ``tool_results`` (of the last user turn), ``turn``,
    ``headers`` and the raw ``body``. Exceptions raised by a handler are answered
    as 500 and re-raised when the server's ``with`` block ends.

    ``Script([...], then=None)`` (alias ``Queue``) answers in order;
    ``Router().role("finder", h).contains("needle", h).when(pred, h).otherwise(h)``
    and ``by_role({...})`` route; ``default_handler`` answers any structured
    request with a minimal valid instance of its schema and others with "OK".

Replies
    ``Reply.text(s)``, ``Reply.json(obj)`` (not checked against the schema, so
    schema-invalid output is just a wrong object), ``Reply.tool_use(name, input,
    id=None, text=None)``, ``Reply.tool_uses([(name, input), ...])``,
    ``Reply.blocks(content, stop_reason)``, ``Reply.refusal()``,
    ``reply.with_thinking(text)`` (a thinking block first), ``Reply.error(status, type, message,
    retry_after=None)``, ``Reply.rate_limited(retry_after)``,
    ``Reply.overloaded()``, ``Reply.server_error()``, ``Reply.hang(seconds)``
    (holds the connection open, then drops it), ``Reply.malformed(body=...,
    content_type=...)`` (a raw body: by default JSON cut short; also JSON that is not
    a Message), ``Reply.html()`` (a proxy's HTML page with status 200).

Behaviour
    Requests are validated like the real API (400 ``invalid_request_error``: missing
    or unknown fields, empty or whitespace-only text blocks, non-alternating roles,
    unmatched tool_use/tool_result, more
    than 4 cache breakpoints, sampling parameters under anthropic-version
    2026-10-21, bad tool names or schemas, an ``output_config`` schema outside the
    structured-output subset: objects without ``additionalProperties: false``,
    numeric or length bounds, ``oneOf``, recursion, ...), 401 on a wrong key (``x-api-key``
    or ``Authorization: Bearer``), 404 on a model outside ``models`` (default: the
    ids the installed SDK lists; ``["*"]`` accepts any). Usage is estimated at four
    characters per token; ``cache_control`` breakpoints cache prefixes (tools,
    system, messages) per model, with the API's minimum cacheable length
    (``min_cache_tokens`` overrides it), so a repeated prefix is billed as
    ``cache_read_input_tokens``; an entry is readable once the request that wrote
    it has been answered, so siblings sent together all pay the write. Text
    longer than ``max_tokens`` is cut with stop_reason ``max_tokens``. ``latency``
    (seconds, ``Fixed``, ``Lognormal``, or any ``() -> float``) is slept in the
    connection thread before a model answer.
    ``Faults(rate_429=, rate_529=, rate_500=, rate_hang=, rate_malformed=,
    retry_after=, seed=)`` injects seeded failures before the handler runs.

    ``stream: true`` requests (``client.messages.stream``) get the same answer as
    server-sent events (text and partial-JSON deltas). Consecutive turns of the
    same role are refused, stricter than the API's documented merging, so that our
    own conversations stay well-formed.

``reviewbot serve-model`` runs the same server in the foreground; the pytest
plugin ``reviewbot.testing.pytest_plugin`` provides the ``model_server`` factory
fixture (which fails a test whose requests the server refused as invalid, unless
``allow_invalid=True``) and ``model_env`` (also sets ``ANTHROPIC_BASE_URL`` and
``ANTHROPIC_API_KEY``).
"""

from reviewbot.testing.accounting import PromptCache, count_input_tokens, min_cache_tokens_for
from reviewbot.testing.faults import Faults
from reviewbot.testing.git_http import GitHttpServer
from reviewbot.testing.handlers import (
    Handler,
    Queue,
    Router,
    Script,
    ScriptExhausted,
    by_role,
    default_handler,
)
from reviewbot.testing.latency import Fixed, Lognormal
from reviewbot.testing.model_server import ErrorRecord, ModelServer, SchemaViolation, sdk_model_ids
from reviewbot.testing.replies import Reply
from reviewbot.testing.request import MessagesRequest, ToolResult
from reviewbot.testing.schema_instance import minimal_instance

__all__ = [
    "GitHttpServer",
    "ErrorRecord",
    "Faults",
    "Fixed",
    "Handler",
    "Lognormal",
    "MessagesRequest",
    "ModelServer",
    "PromptCache",
    "Queue",
    "Reply",
    "Router",
    "SchemaViolation",
    "Script",
    "ScriptExhausted",
    "ToolResult",
    "by_role",
    "count_input_tokens",
    "default_handler",
    "minimal_instance",
    "min_cache_tokens_for",
    "sdk_model_ids",
]
