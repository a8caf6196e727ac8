"""`reviewbot serve-model`: the loopback model server in the foreground."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import click

from reviewbot.errors import ReviewbotError, UsageError
from reviewbot.testing import Handler, Lognormal, ModelServer, default_handler


def load_script(path: Path) -> Handler:
    """The ``handle(request)`` function of a trusted local Python file."""
    spec = importlib.util.spec_from_file_location(f"_model_script_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: cannot load it as a Python file; pass a .py file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handle = getattr(module, "handle", None)
    if not callable(handle):
        raise UsageError(f"{path}: define a function `handle(request)` that returns the reply")
    return handle


@click.command("serve-model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, type=int, help="Port (default: a free one, printed).")
@click.option(
    "--script",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Python file defining handle(request) -> reply.",
)
@click.option("--latency-median", default=0.0, type=float, help="Median latency in seconds.")
@click.option("--latency-sigma", default=1.0, type=float, show_default=True)
@click.option("--seed", default=0, type=int, show_default=True, help="Seed of the latency draws.")
@click.option("--api-key", default=None, help="Require this key (x-api-key or Bearer).")
@click.option("--any-model", is_flag=True, help="Accept any model id, not only the SDK's.")
def serve_model(
    host: str,
    port: int,
    script: Path | None,
    latency_median: float,
    latency_sigma: float,
    seed: int,
    api_key: str | None,
    any_model: bool,
) -> int:
    """Serve an Anthropic-compatible Messages API on loopback, to run harnesses offline.

    Without --script, structured requests get a minimal instance of their schema
    and other requests a short text.
    """
    handler = load_script(script) if script is not None else default_handler
    latency = (
        Lognormal(median=latency_median, sigma=latency_sigma, seed=seed)
        if latency_median > 0
        else None
    )
    server = ModelServer(
        handler,
        host=host,
        port=port,
        latency=latency,
        api_key=api_key,
        models=["*"] if any_model else None,
        max_recorded=1000,  # a long offline session must not grow without bound
    )
    try:
        server.start()
    except OSError as exc:
        raise ReviewbotError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port "
            "(0 picks a free one)"
        ) from None
    click.echo(f"model server listening on {server.base_url}")
    click.echo(f"export ANTHROPIC_BASE_URL={server.base_url}")
    if api_key is None:
        click.echo("export ANTHROPIC_API_KEY=any-value  # no key is checked")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    usage = server.usage
    click.echo(
        f"served {server.calls} calls: {usage.input_tokens} input, {usage.output_tokens} "
        f"output, {usage.cache_read_input_tokens} cache-read, "
        f"{usage.cache_creation_input_tokens} cache-write tokens; "
        f"{len(server.rejections)} requests refused"
    )
    for error in server.handler_errors[:3]:
        click.echo(f"handler error: {type(error).__name__}: {error}", err=True)
    return 0
