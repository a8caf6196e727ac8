"""The review harness states its parameters once: the annotated signature of ``main``."""

from __future__ import annotations

from reviewbot.harness import builtin_harness, coerce_params


def test_the_built_in_review_states_its_parameters_once() -> None:
    harness = builtin_harness("review")
    source = harness.path.read_text()
    assert '"parameters"' not in source  # not in META: the signature is the one statement
    params = harness.meta.parameters
    assert list(params) == ["repo", "base", "head", "uncommitted", "dimensions", "description",
                            "rules_at", "mode", "reproduce"]
    assert not any(spec.required for spec in params.values())
    assert params["uncommitted"].type == "bool" and params["uncommitted"].default is True
    assert params["repo"].default == "." and params["mode"].default == ""
    assert params["description"].description.startswith("PR title and body")
    assert all(spec.description for spec in params.values())
    assert coerce_params(harness.meta, {"uncommitted": "no"}) == {
        "repo": ".", "base": "", "head": "", "uncommitted": False, "dimensions": "",
        "description": "", "rules_at": "", "mode": "", "reproduce": ""}
