"""Fixtures of the dashboard tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $REVIEWBOT_TEST_ARTIFACTS (CI uploads it), else a temp dir."""
    where = Path(os.environ.get("REVIEWBOT_TEST_ARTIFACTS") or tmp_path / "artifacts")
    where.mkdir(parents=True, exist_ok=True)
    return where
