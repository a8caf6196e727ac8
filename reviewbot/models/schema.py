"""JSON schemas in the subset that structured outputs accept.

The Messages API constrains the answer to ``output_config.format.schema``, and
accepts only part of JSON Schema: every object needs ``additionalProperties:
false``; numeric bounds, string lengths and patterns, array sizes other than
``minItems`` 0 or 1, and recursive definitions are not supported; ``oneOf`` is
not supported (``anyOf`` is). Pydantic emits all of these, so the schema is
rewritten: unsupported constraints move into the description (the model still
sees them, and pydantic validates them on our side afterwards).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from reviewbot.errors import UsageError

_STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
# Keywords kept as they are; everything not handled explicitly goes to the description.
_PASS_THROUGH = ("description", "title", "enum", "const")
_DROPPED = frozenset(
    {"default", "examples", "discriminator", "deprecated", "readOnly", "writeOnly"}
)


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref.removeprefix("#/$defs/"))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _check_not_recursive(name: str, defs: dict[str, Any]) -> None:
    graph = {key: _refs(value) for key, value in defs.items()}
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        if node in visiting:
            raise UsageError(
                f"output schema {name} is recursive (through {node}); structured output "
                "does not support recursive schemas, so flatten the model"
            )
        visiting.add(node)
        for child in graph.get(node, ()):
            visit(child)
        visiting.discard(node)
        done.add(node)

    for key in graph:
        visit(key)


def _strict(node: dict[str, Any], model_name: str, path: str = "") -> dict[str, Any]:
    node = dict(node)
    out: dict[str, Any] = {}
    if "$ref" in node:
        # Siblings of $ref (pydantic adds description/default) are not needed for decoding.
        return {"$ref": node["$ref"]}
    for key in _PASS_THROUGH:
        if key in node:
            out[key] = node.pop(key)
    for key in _DROPPED:
        node.pop(key, None)
    for combinator in ("anyOf", "oneOf"):
        if combinator in node:
            out["anyOf"] = [_strict(v, model_name, path) for v in node.pop(combinator)]
    if "allOf" in node:
        out["allOf"] = [_strict(v, model_name, path) for v in node.pop("allOf")]
    type_ = node.pop("type", None)
    if type_ is not None:
        out["type"] = type_
    types = set(type_) if isinstance(type_, list) else {type_}
    if "object" in types:
        out["properties"] = {
            k: _strict(v, model_name, f"{path}.{k}" if path else k)
            for k, v in node.pop("properties", {}).items()
        }
        if "required" in node:
            out["required"] = list(node.pop("required"))
        extra = node.pop("additionalProperties", None)
        if extra not in (None, False) and not out["properties"]:
            # A dict[str, X] field would be forced to {} by a closed object.
            raise UsageError(
                f"output schema {model_name}: '{path or '(root)'}' is an open mapping (dict); "
                "structured output needs fixed keys, so use a list of key/value models"
            )
        out["additionalProperties"] = False
    if "array" in types:
        if "items" in node:
            out["items"] = _strict(node.pop("items"), model_name, f"{path}[]")
        min_items = node.pop("minItems", None)
        if min_items in (0, 1):
            out["minItems"] = min_items
        elif min_items is not None:
            node["minItems"] = min_items
    if "string" in types and "format" in node and node["format"] in _STRING_FORMATS:
        out["format"] = node.pop("format")
    if node:
        # Unsupported constraints: keep them visible to the model via the description.
        note = ", ".join(f"{k}: {json.dumps(v)}" for k, v in node.items())
        base = out.get("description")
        out["description"] = f"{base}\n\n{{{note}}}" if base else f"{{{note}}}"
    return out


@lru_cache(maxsize=256)
def _output_schema_text(model: type[BaseModel]) -> str:
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})
    _check_not_recursive(model.__name__, defs)
    schema = _strict(raw, model.__name__)
    if defs:
        schema["$defs"] = {key: _strict(value, model.__name__, key) for key, value in defs.items()}
    if schema.get("type") != "object":
        raise UsageError(f"output schema {model.__name__} must be a pydantic model (a JSON object)")
    # Key order is kept: the model writes properties in schema order.
    return json.dumps(schema)


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structured-output JSON schema for ``model`` (a fresh copy each call)."""
    result: dict[str, Any] = json.loads(_output_schema_text(model))
    return result
