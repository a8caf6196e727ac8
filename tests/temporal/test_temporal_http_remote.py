"""An HTTP shared remote with a token: the client and the workers reach it with
REVIEWBOT_GIT_TOKEN (sent as a header, never on a command line) and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reviewbot import process
from reviewbot.testing.distributed import SharedRemote, git
from reviewbot.testing.git_http import GitHttpServer
from reviewbot.testing.temporal_server import DevServer

TOKEN = "ghs_remote_token_for_tests"


@pytest.mark.slow  # ~10 s; the default suite keeps the kill and budget tests
def test_workers_and_client_use_an_http_remote_with_a_token(tmp_path: Path,
                                                            server: DevServer) -> None:
    setup = SharedRemote(tmp_path, 30)
    with GitHttpServer(token=TOKEN, root=tmp_path / "http", watch_argv=True) as http:
        http.add_repo("acme/widgets", setup.remote)
        url = http.url("acme/widgets")
        git(setup.user, "remote", "set-url", "origin", url)
        token = {"REVIEWBOT_GIT_TOKEN": TOKEN}
        try:
            setup.start_worker(server, "w1", queue="q-http", extra=token)
            proc = process.run(setup.migrate_argv(server, "q-http"), cwd=setup.user,
                               extra=token, timeout=180)
        finally:
            setup.stop()
        assert proc.returncode == 0, proc.stderr
        assert http.argv_leaks == []
        users = {r.user for r in http.requests}
        assert users == {"x-access-token"}  # every request authenticated with the token
    data = json.loads(proc.stdout)
    assert [f["status"] for f in data["files"]] == ["migrated"] * 10
    # the branch came back over HTTP into the user's repository, and it is on the remote
    assert git(setup.user, "rev-parse", data["branch"]) == data["assembly"]["head"]
    assert git(setup.remote, "rev-parse", data["branch"]) == data["assembly"]["head"]
