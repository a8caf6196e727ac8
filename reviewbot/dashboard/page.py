"""The dashboard's one HTML page: inline CSS and a small script, no CDN, no build step.

The CSS and script live in ``static/`` and are inlined into the page. The server
embeds the first snapshot as JSON; the script renders it, then re-renders from the
server-sent events of ``/api/stream`` or ``/api/runs/<id>/stream``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

_STATIC = Path(__file__).with_name("static")
CSS = (_STATIC / "dashboard.css").read_text(encoding="utf-8")
SCRIPT = (_STATIC / "dashboard.js").read_text(encoding="utf-8")

RUNS_BODY = """<h1>Runs</h1><div id="filters" class="filters card"></div>
<div id="runs" class="card"></div>"""

RUN_BODY = """<h1 id="title"></h1><div id="meta"></div><p id="steer" class="steer"></p>
<p id="save" class="steer"></p>
<h2>Budget</h2><div id="budget" class="card"></div>
<h2>Phases</h2><div id="phases" class="card"></div>
<h2>Timeline</h2><div id="timeline-box" class="card"></div>
<div id="extra"></div><div id="agent"></div>"""


def _embed(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return (
        json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def render_page(view: str, data: Any, *, token: str, title: str = "reviewbot") -> str:
    """The page for ``view`` ("runs" or "run") with ``data`` as its first snapshot."""
    body = RUNS_BODY if view == "runs" else RUN_BODY
    heading = html.escape(title)
    home = f"/?token={html.escape(token)}"
    initial = _embed({"view": view, "token": token, "data": data})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{heading} dashboard</title><style>{CSS}</style></head>
<body><header><a href="{home}">{heading} dashboard</a><span id="live" class="live"></span></header>
<main>{body}</main>
<script id="initial" type="application/json">{initial}</script>
<script>{SCRIPT}</script>
</body></html>
"""
