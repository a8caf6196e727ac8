"""Shared bits of the runtime tests (imported by conftest and the test modules)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from reviewbot.config import Config

T = TypeVar("T")

API_KEY = "test-key"


class Answer(BaseModel):
    answer: str


def make_config(**runtime: Any) -> Config:
    models = runtime.pop("models", {})
    models.setdefault("max_retries", 2)
    return Config.model_validate({"runtime": runtime, "models": models})
