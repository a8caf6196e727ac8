"""The default handler's minimal instances validate against the schemas the SDK sends."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

import jsonschema
import pytest
from anthropic.lib._parse._transform import transform_schema
from pydantic import BaseModel, Field

from reviewbot.testing import minimal_instance


class Severity(StrEnum):
    low = "low"
    high = "high"


class Location(BaseModel):
    path: str
    line: int = Field(ge=1)


class Finding(BaseModel):
    title: str = Field(min_length=3)
    severity: Severity
    kind: Literal["bug", "style"]
    where: Location
    related: list[Location] = Field(min_length=1)
    confidence: float = Field(gt=0.5)
    note: str | None


class Tree(BaseModel):
    name: str
    children: list[Tree]


@pytest.mark.parametrize("model", [Finding, Tree, Location])
def test_minimal_instance_validates(model: type[BaseModel]) -> None:
    for schema in (model.model_json_schema(), transform_schema(model)):
        instance = minimal_instance(schema)
        jsonschema.validate(instance, schema)
        model.model_validate(instance)


def test_minimal_instance_of_plain_schemas() -> None:
    assert minimal_instance({"type": "object", "properties": {"a": {"type": "integer"}}}) == {}
    assert minimal_instance({"type": ["string", "null"]}) is None
    assert minimal_instance({"type": "string", "format": "date"}) == "2026-01-01"
    assert minimal_instance({"type": "integer", "minimum": 4}) == 4
