"""A harness states its parameters once: the annotated signature of ``main``."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewbot.errors import UsageError
from reviewbot.harness import builtin_harness, coerce_params, load_harness

SIGNED = '''
from typing import Annotated

META = {"name": "signed", "description": "parameters from the signature"}


async def main(run, text: Annotated[str, "what to read"], n: int = 3,
               tags: Annotated[list[str] | None, "labels"] = None, loud: bool = False):
    return {"text": text, "n": n, "tags": tags, "loud": loud}
'''


def test_parameters_come_from_the_annotated_signature(tmp_path: Path) -> None:
    path = tmp_path / "signed.py"
    path.write_text(SIGNED)
    harness = load_harness(path)
    params = harness.meta.parameters
    assert list(params) == ["text", "n", "tags", "loud"]
    assert params["text"].required and params["text"].description == "what to read"
    assert params["n"].type == "int" and params["n"].default == 3
    assert params["tags"].type == "list[str]" and not params["tags"].required
    assert coerce_params(harness.meta, {"text": "x", "n": "5", "tags": "a,b", "loud": "yes"}) \
        == {"text": "x", "n": 5, "tags": ["a", "b"], "loud": True}
    with pytest.raises(UsageError, match="needs parameter 'text'"):
        coerce_params(harness.meta, {})


def test_an_unsupported_parameter_type_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text(SIGNED.replace("n: int = 3", "n: dict = {}"))
    with pytest.raises(UsageError, match="parameter 'n' has type"):
        load_harness(path)


def test_the_built_in_migrate_states_its_parameters_once() -> None:
    harness = builtin_harness("migrate")
    source = harness.path.read_text()
    assert '"parameters"' not in source  # not in META: the signature is the one statement
    params = harness.meta.parameters
    assert params["instruction"].required
    assert params["jobs"].type == "int" and params["jobs"].default is None  # migrate.jobs
    assert params["template"].option.flag_for("template") == "--rewrite"
    assert params["verify"].description.startswith("shell command")
