"""`reviewbot serve-model` in a real subprocess, driven by the real SDK."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from anthropic import AsyncAnthropic
from pydantic import BaseModel

from reviewbot.cli.serve import load_script
from reviewbot.errors import UsageError

SCRIPT = """
from reviewbot.testing import Reply

def handle(request):
    if request.role == "finder":
        return {"findings": ["scripted"]}
    return Reply.text("script says hi to " + request.model)
"""


class Findings(BaseModel):
    findings: list[str]


def _serve(*args: str) -> tuple[subprocess.Popen[str], str, str]:
    """The server process, its base URL and the banner it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reviewbot", "serve-model", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("model server listening on http://127.0.0.1:"), first
    second = proc.stdout.readline()
    return proc, first.rsplit(" ", 1)[1].strip(), first + second


def _stop(proc: subprocess.Popen[str]) -> str:
    """Interrupts the server like Ctrl-C; returns what it printed after the banner."""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return out


def test_serve_model_with_a_script(tmp_path: Path) -> None:
    script = tmp_path / "handler.py"
    script.write_text(SCRIPT)
    proc, url, banner = _serve(
        "--script", str(script), "--api-key", "local-key", "--latency-median", "0.01"
    )
    try:

        async def go() -> tuple[Any, Any]:
            c = AsyncAnthropic(base_url=url, api_key="local-key")
            parsed = await c.messages.parse(
                model="claude-haiku-5-5",
                max_tokens=50,
                system="Role: finder",
                messages=[{"role": "user", "content": "review"}],
                output_format=Findings,
            )
            text = await c.messages.create(
                model="claude-opus-5-5",
                max_tokens=50,
                messages=[{"role": "user", "content": "hello"}],
            )
            return parsed.parsed_output, text.content[0].text  # type: ignore[union-attr]

        parsed, text = asyncio.run(go())
    finally:
        out = _stop(proc)
    assert parsed == Findings(findings=["scripted"])
    assert text == "script says hi to claude-opus-5-5"
    assert f"export ANTHROPIC_BASE_URL={url}" in banner
    assert "served 2 calls" in out and "0 requests refused" in out


def test_serve_model_default_answers_structured_requests() -> None:
    proc, url, _ = _serve()
    try:

        async def go() -> Any:
            c = AsyncAnthropic(base_url=url, api_key="anything")
            msg = await c.messages.parse(
                model="claude-sonnet-5-5",
                max_tokens=50,
                output_format=Findings,
                messages=[{"role": "user", "content": "review"}],
            )
            return msg.parsed_output

        assert asyncio.run(go()) == Findings(findings=[])
    finally:
        _stop(proc)


def test_script_without_handle_is_a_usage_error(tmp_path: Path) -> None:
    script = tmp_path / "empty.py"
    script.write_text("x = 1\n")
    with pytest.raises(UsageError, match="define a function `handle"):
        load_script(script)
