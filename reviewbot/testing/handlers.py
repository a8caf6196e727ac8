"""Ready-made handlers: a script of replies, routing by role or content, and a default.

A handler is any callable ``(MessagesRequest) -> Reply | dict | list | BaseModel | str``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from reviewbot.testing.replies import Reply
from reviewbot.testing.request import MessagesRequest
from reviewbot.testing.schema_instance import minimal_instance

Handler = Callable[[MessagesRequest], Any]


class ScriptExhausted(AssertionError):
    """A scripted handler received more requests than it had replies for."""


class Script:
    """Answers with the given replies in order, one per request (thread-safe).

    Items may be replies (or anything a handler may return) or handlers, which are
    called with the request. When the script runs out, ``then`` answers (if given);
    otherwise the request fails with :class:`ScriptExhausted`, which the server
    records and re-raises when it stops.
    """

    def __init__(self, replies: Iterable[Any] = (), *, then: Handler | None = None) -> None:
        self._items: deque[Any] = deque(replies)
        self._then = then
        self._lock = threading.Lock()

    def push(self, *replies: Any) -> None:
        with self._lock:
            self._items.extend(replies)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._items)

    def __call__(self, request: MessagesRequest) -> Any:
        with self._lock:
            item = self._items.popleft() if self._items else None
            empty = item is None
        if empty:
            if self._then is None:
                raise ScriptExhausted(
                    f"script exhausted: no reply left for request with role={request.role!r}, "
                    f"prompt {request.last_user_text[:80]!r}"
                )
            return self._then(request)
        return item(request) if callable(item) else item


Queue = Script


class Router:
    """Sends each request to the first route whose predicate matches.

    ``Router().role("finder", h1).contains("TODO", h2).otherwise(h3)``: ``role``
    matches the ``Role: <role>`` line of the system prompt, ``contains`` a
    substring of the system prompt or any message, ``when`` any predicate.
    Handlers in routes may also be plain replies (answered every time) or lists
    (turned into a :class:`Script`).
    """

    def __init__(self) -> None:
        self._routes: list[tuple[Callable[[MessagesRequest], bool], Handler]] = []
        self._fallback: Handler | None = None

    @staticmethod
    def _as_handler(target: Any) -> Handler:
        if isinstance(target, list):
            return Script(target)
        if callable(target):
            return target
        return lambda _request: target

    def when(self, predicate: Callable[[MessagesRequest], bool], target: Any) -> Router:
        self._routes.append((predicate, self._as_handler(target)))
        return self

    def role(self, role: str, target: Any) -> Router:
        return self.when(lambda r: r.role == role, target)

    def contains(self, needle: str, target: Any) -> Router:
        return self.when(lambda r: needle in r.all_text, target)

    def otherwise(self, target: Any) -> Router:
        self._fallback = self._as_handler(target)
        return self

    def __call__(self, request: MessagesRequest) -> Any:
        for predicate, handler in self._routes:
            if predicate(request):
                return handler(request)
        if self._fallback is None:
            raise LookupError(
                f"no route for request with role={request.role!r}, "
                f"prompt {request.last_user_text[:80]!r}"
            )
        return self._fallback(request)


def by_role(routes: dict[str, Any], default: Any = None) -> Router:
    """A :class:`Router` from ``{role: handler-or-reply}``."""
    router = Router()
    for role, target in routes.items():
        router.role(role, target)
    if default is not None:
        router.otherwise(default)
    return router


def default_handler(request: MessagesRequest) -> Reply:
    """A minimal valid answer: an instance of the requested schema, or a short text."""
    schema = request.output_schema
    if schema is not None:
        return Reply.json(minimal_instance(schema))
    return Reply.text("OK")
