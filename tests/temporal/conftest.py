"""A Temporal dev server on a random loopback port (with its database in the test's
directory); the shared remote, clones and workers come from reviewbot.testing.distributed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("temporalio", reason="pip install 'reviewbot[temporal]'")

from reviewbot.testing.temporal_server import DevServer  # noqa: E402


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    with DevServer(tmp_path, db=tmp_path / "temporal.sqlite") as s:
        yield s
