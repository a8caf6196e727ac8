"""A small instance that validates against a JSON schema (for the default handler)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# The SDK moves constraints the API does not enforce (minimum, minLength, ...) into
# the description as "{minimum: 1, maxLength: 5}"; honour them so answers also
# satisfy the caller's pydantic model.
_HINTS = re.compile(r"\{([^{}]*)\}\s*$")
_HINT_KEYS = ("minimum", "exclusiveMinimum", "maximum", "minLength", "minItems")

_FORMAT_EXAMPLES = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "user@example.com",
    "hostname": "example.com",
    "uri": "https://example.com/",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def minimal_instance(schema: Mapping[str, Any]) -> Any:
    """An instance of ``schema``: required properties only, smallest allowed values."""
    return _instance(schema, schema, depth=0)


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref is supported, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _with_hints(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    match = _HINTS.search(str(schema.get("description", "")))
    if not match:
        return schema
    merged = dict(schema)
    for pair in match.group(1).split(", "):
        key, _, value = pair.partition(": ")
        if key in _HINT_KEYS and key not in merged:
            try:
                merged[key] = float(value) if "." in value else int(value)
            except ValueError:
                continue
    return merged


def _instance(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    schema = _with_hints(schema)
    if depth > 32:
        raise ValueError("schema nests too deeply (recursive without a way out?)")
    if "$ref" in schema:
        return _instance(_resolve(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            variants = schema[key]
            # prefer a null variant: the smallest possible answer
            for variant in variants:
                if variant.get("type") == "null":
                    return None
            return _instance(variants[0], root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve(part["$ref"], root) if "$ref" in part else part
            merged.update(part)
        return _instance(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "null" if "null" in kind else kind[0]
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties", {})
        return {
            name: _instance(props.get(name, {}), root, depth + 1)
            for name in schema.get("required", [])
        }
    if kind == "array":
        count = int(schema.get("minItems", 0))
        items = schema.get("items", {})
        return [_instance(items, root, depth + 1) for _ in range(count)]
    if kind == "string":
        fmt = schema.get("format")
        if fmt in _FORMAT_EXAMPLES:
            return _FORMAT_EXAMPLES[fmt]
        return "x" * max(int(schema.get("minLength", 0)), 1)
    if kind == "integer":
        return _number(schema, integer=True)
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return {}


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum")
    if low is None and "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"] + (1 if integer else 1e-6)
    high = schema.get("maximum")
    value = low if low is not None else (min(0, high) if high is not None else 0)
    return int(value) if integer else float(value)
