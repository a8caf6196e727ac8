"""`reviewbot dashboard`: the live web dashboard; `reviewbot control`: steer a live run."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from reviewbot.cli.common import repo_root
from reviewbot.errors import UsageError
from reviewbot.runtime.control import ACTIONS
from reviewbot.runtime.journal import state_dir


@click.command()
@click.argument("path", type=click.Path(path_type=Path, exists=True), default=".",
                required=False)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
def dashboard(path: Path, port: int, open_browser: bool) -> None:
    """Serve a live dashboard of the runs journaled for the repository at PATH.

    Binds 127.0.0.1 only; the printed URL carries a random token that every request
    needs. Stop, pause and continue a running run from its page; save a run's harness
    as a command (the same as `reviewbot harness save`).
    """
    try:
        from reviewbot.dashboard.server import Dashboard
    except ImportError as exc:
        raise UsageError(
            f"the dashboard needs starlette and uvicorn ({exc.name} is missing); "
            "install them with `pip install 'reviewbot[dashboard]'`"
        ) from None
    root = repo_root(path.resolve())
    state = state_dir(root)
    try:
        server = Dashboard(state, port=port, repo_root=root)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    click.echo(f"reviewbot dashboard for {state}: {server.url}", err=True)
    click.echo(server.url)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


@click.command()
@click.argument("run_id")
@click.argument("action", type=click.Choice(ACTIONS))
@click.option("--repo", type=click.Path(path_type=Path, exists=True), default=Path("."),
              help="The repository whose run it is.")
def control(run_id: str, action: str, repo: Path) -> None:
    """Stop, pause or continue the live run RUN_ID (picked up within a second).

    stop: no new agent starts, running ones finish, the result is partial.
    pause: no new agent starts until `continue`.
    Of a distributed migration its client follows: no new batch starts; batches in flight
    finish first.
    """
    from reviewbot.cli.runs import steer_run

    steer_run(repo, run_id, action)
