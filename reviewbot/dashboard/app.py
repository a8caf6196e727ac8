"""The dashboard's web app: pages, a JSON API, server-sent events and the steering POSTs.

Every request carries the per-start token (``?token=`` or the ``X-Reviewbot-Token``
header); the page passes it on. Reads are GETs; steering and saving a run's harness
(``reviewbot harness save``) are POST only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reviewbot.dashboard import data
from reviewbot.dashboard.page import render_page
from reviewbot.errors import UsageError
from reviewbot.harness.saved import save_run_harness
from reviewbot.runtime.control import ACTIONS

# How often the event stream looks for changes (the journal and the run's event log).
STREAM_SECONDS = 0.25
# An SSE comment this often keeps proxies and the browser from dropping a quiet stream.
KEEPALIVE_SECONDS = 10.0


def _stamp(state: Path, run_id: str | None) -> tuple[Any, ...]:
    """Cheap change detector: sizes and mtimes of what a view reads."""
    paths = [data.journal_path(state), data.journal_path(state).with_name("journal.sqlite-wal")]
    if run_id is not None:
        paths += [data.events_path(state, run_id), data.run_dir(state, run_id) / "control.json"]
    out: list[Any] = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def create_app(state: Path, token: str, *, title: str = "reviewbot",
               repo_root: Path | None = None) -> Starlette:
    """The app for the runs journaled under ``state`` (``<git dir>/reviewbot``); a run's
    harness is saved into the working tree at ``repo_root`` (None: saving is refused)."""
    def authorized(request: Request) -> bool:
        given = request.query_params.get("token") or request.headers.get("x-reviewbot-token", "")
        return hmac.compare_digest(given.encode(), token.encode())

    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not authorized(request):
                return JSONResponse(
                    {"error": "missing or wrong token; open the URL the command printed"},
                    status_code=403,
                )
            return await handler(request)

        return endpoint

    async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

    async def index(request: Request) -> Response:
        runs = await in_thread(data.list_runs, state, request.query_params.get("status"))
        return HTMLResponse(render_page("runs", {"runs": runs}, token=token, title=title))

    async def run_page(request: Request) -> Response:
        view = await in_thread(data.run_view, state, request.path_params["run_id"])
        if view is None:
            return HTMLResponse("<h1>no such run</h1>", status_code=404)
        return HTMLResponse(render_page("run", view, token=token, title=title))

    async def api_runs(request: Request) -> Response:
        runs = await in_thread(data.list_runs, state, request.query_params.get("status"))
        return JSONResponse({"runs": runs, "statuses": list(data.STATUSES)})

    async def api_run(request: Request) -> Response:
        view = await in_thread(data.run_view, state, request.path_params["run_id"])
        if view is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse(view)

    async def api_agent(request: Request) -> Response:
        try:
            call = int(request.path_params["call"])
        except ValueError:
            return JSONResponse({"error": "call must be a number"}, status_code=400)
        detail = await in_thread(data.agent_detail, state, request.path_params["run_id"], call)
        if detail is None:
            return JSONResponse({"error": "no such agent"}, status_code=404)
        return JSONResponse(detail)

    async def api_control(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        action = request.path_params.get("action")
        if action is None:
            try:
                body = await request.json()
            except ValueError:
                body = {}
            action = body.get("action") if isinstance(body, dict) else None
        if action not in ACTIONS:
            return JSONResponse(
                {"error": f"action must be one of {', '.join(ACTIONS)}"}, status_code=400
            )
        try:
            written = await in_thread(data.steer, state, run_id, action)
        except data.ControlRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"ok": True, "run_id": run_id, **written})

    async def api_save(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return JSONResponse({"error": "send {\"name\": NAME}"}, status_code=400)
        if repo_root is None:
            return JSONResponse({"error": "no working tree to save into"}, status_code=409)
        try:
            path = await in_thread(save_run_harness, state, repo_root, run_id, name)
        except UsageError as exc:
            return JSONResponse({"error": exc.message}, status_code=409)
        return JSONResponse({"ok": True, "name": name, "path": str(path.relative_to(repo_root)),
                             "command": f"reviewbot run {name}"})

    def stream(produce: Callable[[], Any], run_id: str | None) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            async def events() -> AsyncIterator[str]:
                last: tuple[Any, ...] | None = None
                quiet = 0.0
                while not app.state.shutting_down:
                    if await request.is_disconnected():
                        return
                    stamp = _stamp(state, run_id)
                    if stamp != last:
                        last = stamp
                        payload = await in_thread(produce)
                        yield f"data: {json.dumps(payload)}\n\n"
                        quiet = 0.0
                    elif quiet >= KEEPALIVE_SECONDS:
                        yield ": keepalive\n\n"
                        quiet = 0.0
                    await asyncio.sleep(STREAM_SECONDS)
                    quiet += STREAM_SECONDS

            return StreamingResponse(
                events(), media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )

        return endpoint

    async def stream_runs(request: Request) -> Response:
        status = request.query_params.get("status")
        handler = stream(lambda: {"runs": data.list_runs(state, status)}, None)
        response: Response = await handler(request)
        return response

    async def stream_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        handler = stream(lambda: data.run_view(state, run_id), run_id)
        response: Response = await handler(request)
        return response

    routes = [
        Route("/", guarded(index)),
        Route("/runs/{run_id}", guarded(run_page)),
        Route("/api/runs", guarded(api_runs)),
        Route("/api/runs/{run_id}", guarded(api_run)),
        Route("/api/runs/{run_id}/agents/{call}", guarded(api_agent)),
        Route("/api/runs/{run_id}/control", guarded(api_control), methods=["POST"]),
        Route("/api/runs/{run_id}/save", guarded(api_save), methods=["POST"]),
        Route("/api/runs/{run_id}/{action:str}", guarded(api_control), methods=["POST"]),
        Route("/api/stream", guarded(stream_runs)),
        Route("/api/runs/{run_id}/stream", guarded(stream_run)),
    ]
    app = Starlette(routes=routes)
    app.state.shutting_down = False
    return app
