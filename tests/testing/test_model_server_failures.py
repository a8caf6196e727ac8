"""Auth, unknown models, injected failures and how the real SDK reacts to them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from anthropic import (
    APITimeoutError,
    AsyncAnthropic,
    AuthenticationError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    RateLimitError,
)

from reviewbot.testing import Faults, ModelServer, Reply, Script

MODEL = "claude-haiku-5-5"
HELLO = [{"role": "user", "content": "hello"}]


def ask(srv: ModelServer, *, api_key: str = "test-key", model: str = MODEL, **kw: Any) -> Any:
    async def go() -> Any:
        c = AsyncAnthropic(base_url=srv.base_url, api_key=api_key, **kw)
        return await c.messages.create(model=model, max_tokens=50, messages=HELLO)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_wrong_key_is_refused_with_401(model_server: Any) -> None:
    srv = model_server(api_key="test-key")
    with pytest.raises(AuthenticationError) as info:
        ask(srv, api_key="wrong", max_retries=0)
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert srv.calls == 0 and srv.requests == []
    assert ask(srv).content[0].text == "OK"


def test_key_in_x_api_key_header_is_accepted(model_server: Any) -> None:
    srv = model_server(api_key="test-key")
    response = httpx2.post(
        srv.base_url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 10, "messages": HELLO},
        headers={"x-api-key": "test-key", "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 200 and response.headers["request-id"].startswith("req_")
    missing = httpx2.post(
        srv.base_url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 10, "messages": HELLO},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert missing.status_code == 401


def test_unknown_model_is_refused_with_404(model_server: Any) -> None:
    srv = model_server()
    with pytest.raises(NotFoundError) as info:
        ask(srv, model="claude-imaginary-9", max_retries=0)
    assert info.value.body["error"] == {  # type: ignore[index]
        "type": "not_found_error",
        "message": "model: claude-imaginary-9",
    }
    anything = model_server(models=["*"])
    assert ask(anything, model="my-local-model").content[0].text == "OK"
    only = model_server(models=["my-local-model"])
    with pytest.raises(NotFoundError):
        ask(only, max_retries=0)


def test_429_with_retry_after_is_retried_by_the_sdk(model_server: Any) -> None:
    srv = model_server(Script([Reply.rate_limited(retry_after=0.3), "after the wait"]))
    start = time.monotonic()
    msg = ask(srv)
    elapsed = time.monotonic() - start
    assert msg.content[0].text == "after the wait"
    assert len(srv.requests) == 2 and srv.calls == 1
    assert elapsed >= 0.3  # the SDK honoured retry-after
    (error,) = srv.errors
    assert (error.status, error.error_type, error.injected) == (429, "rate_limit_error", True)


def test_429_without_retries_left_raises(model_server: Any) -> None:
    srv = model_server(Script([Reply.rate_limited(0.01)] * 3))
    with pytest.raises(RateLimitError) as info:
        ask(srv, max_retries=2)
    assert info.value.response.headers["retry-after"] == "0.01"
    assert len(srv.requests) == 3


@pytest.mark.parametrize(
    ("reply", "error_class"),
    [(Reply.overloaded(), OverloadedError), (Reply.server_error(), InternalServerError)],
    ids=["529", "500"],
)
def test_5xx_is_retried_then_raised(model_server: Any, reply: Reply, error_class: type) -> None:
    srv = model_server(Script([reply, "recovered"]))
    assert ask(srv).content[0].text == "recovered"
    assert len(srv.requests) == 2
    failing = model_server(Script([reply, reply]))
    with pytest.raises(error_class):
        ask(failing, max_retries=1)


def test_hung_connection_hits_the_client_timeout(model_server: Any) -> None:
    srv = model_server(Script([Reply.hang(30)]))
    start = time.monotonic()
    with pytest.raises(APITimeoutError):
        ask(srv, timeout=0.3, max_retries=0)
    assert time.monotonic() - start < 5
    stop_start = time.monotonic()
    srv.stop()  # releases the hung connection thread promptly
    assert time.monotonic() - stop_start < 2


def test_malformed_json_raises(model_server: Any) -> None:
    # The SDK surfaces a body that is not JSON as the decoder's own error, not an APIError.
    srv = model_server(Script([Reply.malformed()]))
    with pytest.raises(json.JSONDecodeError):
        ask(srv, max_retries=0)


def test_schema_invalid_output_is_returned_and_recorded(model_server: Any) -> None:
    from pydantic import BaseModel, ValidationError

    class Verdict(BaseModel):
        verdict: str

    srv = model_server(Script([{"verdict": 3}, "not json at all", {"verdict": "ok"}]))

    async def go() -> Any:
        c = AsyncAnthropic(base_url=srv.base_url, api_key="k")
        for _ in range(2):
            with pytest.raises(ValidationError):
                await c.messages.parse(
                    model=MODEL, max_tokens=50, messages=HELLO, output_format=Verdict
                )
        return await c.messages.parse(
            model=MODEL, max_tokens=50, messages=HELLO, output_format=Verdict
        )

    assert asyncio.run(go()).parsed_output == Verdict(verdict="ok")
    violations = srv.schema_violations
    assert [v.text for v in violations] == ['{"verdict": 3}', "not json at all"]
    assert "is not of type 'string'" in violations[0].error
    assert violations[1].error.startswith("not JSON")


def test_random_faults_are_seeded_and_survived_with_retries(model_server: Any) -> None:
    faults = Faults(rate_429=0.2, rate_529=0.1, rate_500=0.1, retry_after=0.01, seed=3)
    srv = model_server(
        lambda req: "fine",
        faults=faults,
    )

    async def go() -> list[str]:
        c = AsyncAnthropic(base_url=srv.base_url, api_key="k", max_retries=8)
        msgs = await asyncio.gather(
            *[c.messages.create(model=MODEL, max_tokens=5, messages=HELLO) for _ in range(20)]
        )
        return [m.content[0].text for m in msgs]  # type: ignore[union-attr]

    # 5xx retries back off ~0.5 s each in the SDK: keep them few
    assert asyncio.run(go()) == ["fine"] * 20
    injected = srv.errors
    assert srv.calls == 20 and len(srv.requests) == 20 + len(injected)
    assert {e.status for e in injected} <= {429, 529, 500} and len(injected) >= 3
    # same seed, same draws
    again = Faults(rate_429=0.2, rate_529=0.1, rate_500=0.1, retry_after=0.01, seed=3)
    first = Faults(rate_429=0.2, rate_529=0.1, rate_500=0.1, retry_after=0.01, seed=3)
    assert [again.draw() for _ in range(50)] == [first.draw() for _ in range(50)]


def test_handler_exception_becomes_500_and_is_reraised() -> None:
    def broken(req: Any) -> str:
        raise KeyError("no such fixture")

    with pytest.raises(KeyError, match="no such fixture"):
        with ModelServer(broken) as srv:
            with pytest.raises(InternalServerError):
                ask(srv, max_retries=0)


def test_client_killed_mid_request_is_not_a_rejection(model_server: Any) -> None:
    import socket

    srv = model_server()
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.sendall(
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
        b'anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n\r\n{"mod'
    )
    sock.close()
    assert ask(srv).content[0].text == "OK"  # the server still answers others
    time.sleep(0.2)  # let the dropped connection's thread finish
    assert srv.rejections == [] and len(srv.requests) == 1


def test_fixture_fails_a_test_whose_requests_were_refused(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["reviewbot.testing.pytest_plugin"]\n')
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            from anthropic import AsyncAnthropic, BadRequestError

            def send_bad(srv):
                async def go():
                    c = AsyncAnthropic(base_url=srv.base_url, api_key="k", max_retries=0)
                    try:
                        await c.messages.create(model="claude-haiku-5-5", max_tokens=5,
                            messages=[{"role": "assistant", "content": "hi"}])
                    except BadRequestError:
                        pass
                asyncio.run(go())

            def test_sends_bad_request(model_server):
                send_bad(model_server())

            def test_sends_bad_request_on_purpose(model_server):
                send_bad(model_server(allow_invalid=True))
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "2 passed, 1 error" in proc.stdout, proc.stdout  # the error is the teardown
    assert "refused requests the real API would refuse too" in proc.stdout
    assert "first message" in proc.stdout
