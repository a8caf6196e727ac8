"""action.yml, the README's example workflows and `reviewbot action` agree with each other."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from gh_scenario import REPO, PullScenario

from reviewbot.cli.action import ACTION_INPUTS, ACTION_OUTPUTS, action
from reviewbot.config import Severity
from reviewbot.github.events import ActionEnv
from reviewbot.models.access import model_access
from reviewbot.review.findings import Finding, ReviewResult

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
README = (ROOT / "README.md").read_text()


def _readme_section() -> str:
    start = README.index("## GitHub Action")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def _yaml_blocks(text: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def _action_steps(workflow: dict[str, Any], uses: str) -> list[dict[str, Any]]:
    return [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).split("@")[0] == uses
    ]


def test_action_inputs_are_what_reviewbot_action_reads() -> None:
    assert set(ACTION["inputs"]) == set(ACTION_INPUTS)
    assert set(ACTION["outputs"]) == set(ACTION_OUTPUTS)
    assert ACTION["runs"]["using"] == "composite"
    [step] = [s for s in ACTION["runs"]["steps"] if s.get("id") == "reviewbot"]
    assert "reviewbot action" in step["run"]
    for name, variable in ACTION_INPUTS.items():
        assert step["env"][variable] == f"${{{{ inputs.{name} }}}}", name
    for output in ACTION_OUTPUTS:
        assert ACTION["outputs"][output]["value"] == f"${{{{ steps.reviewbot.outputs.{output} }}}}"

    # Each variable is really read: the command's options, the Actions env, the model layer.
    envvars = {p.envvar for p in action.params if getattr(p, "envvar", None)}
    own = {v for v in ACTION_INPUTS.values() if v.startswith("REVIEWBOT_")} - {
        "REVIEWBOT_GITHUB_API_URL"
    }
    assert own <= envvars
    parsed = ActionEnv.from_env(
        {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": "/e.json",
            "GITHUB_REPOSITORY": "a/b",
            "GITHUB_TOKEN": "t0k",
            "GITHUB_API_URL": "https://api.github.com",
            "REVIEWBOT_GITHUB_API_URL": "https://ghe.example/api/v3",
        },
        cwd=Path("."),
    )
    assert (
        parsed.token.get_secret_value() == "t0k" and parsed.api_url == "https://ghe.example/api/v3"
    )
    access = model_access({"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://127.0.0.1:1"})
    assert access is not None and access.base_url == "http://127.0.0.1:1"
    # Unset inputs arrive empty and are unset before the command runs.
    assert "unset" in step["run"]


def test_readme_example_workflows_are_valid_and_use_documented_inputs() -> None:
    section = _readme_section()
    blocks = _yaml_blocks(section)
    assert len(blocks) == 3
    example, fork_job, post_job = blocks
    [step] = _action_steps(example, "reviewbot/reviewbot")
    assert set(step["with"]) <= set(ACTION["inputs"])
    for name in ACTION["inputs"]:
        assert f"`{name}`" in section, f"input {name} is not documented"
    for name in ACTION["outputs"]:
        assert f"`{name}`" in section
    assert example[True]["pull_request"]["types"] == [
        "opened",
        "synchronize",
        "reopened",
        "ready_for_review",
    ]
    # The two-job fork pattern: no secrets in the first, post-only in the second.
    assert "secrets" not in json.dumps(fork_job)
    assert any("--result-out" in str(s.get("run", "")) for s in fork_job["jobs"]["review"]["steps"])
    assert list(post_job[True]) == ["workflow_run"]
    assert any("--post-only" in str(s.get("run", "")) for s in post_job["jobs"]["post"]["steps"])
    assert not any("checkout" in str(s.get("uses", "")) for s in post_job["jobs"]["post"]["steps"])

    # The repository's own workflow is the same example, using this checkout.
    own = yaml.safe_load((ROOT / ".github/workflows/reviewbot.yml").read_text())
    [own_step] = _action_steps(own, "./")
    assert own_step["with"] == step["with"] and own[True] == example[True]


def test_ci_workflow_runs_the_readme_test_command() -> None:
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    command = re.search(
        r"```sh\n(pip install -e '\.\[test\]' && python -m pytest[^\n]*)\n```", README
    )
    assert command is not None
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert command.group(1) in runs


def test_cli_reads_the_inputs_from_the_environment(scenario: PullScenario) -> None:
    """The real `reviewbot action` process: fail-on from REVIEWBOT_FAIL_ON sets the exit code."""
    r = scenario.repo
    r.write("a.py", "x = 1\n")
    scenario.base = r.commit("base")
    r.write("a.py", "x = 2\n")
    scenario.head = r.commit("change")
    scenario.open()
    finding = Finding(
        path="a.py",
        start_line=1,
        end_line=1,
        severity=Severity.HIGH,
        category="correctness",
        title="wrong constant",
        evidence="x = 2",
    )
    result = scenario.tmp / "result.json"
    result.write_text(
        ReviewResult(base=scenario.base, head=scenario.head, findings=[finding]).model_dump_json()
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ANTHROPIC_"))}
    env.update(scenario.env("pull_request", scenario.pull_event("opened")))
    command = [sys.executable, "-m", "reviewbot", "action", "--post-only", str(result)]

    failing = subprocess.run(
        command, env={**env, "REVIEWBOT_FAIL_ON": "high"}, capture_output=True, text=True
    )
    assert failing.returncode == 1, failing.stderr
    assert "1 new inline" in failing.stderr
    passing = subprocess.run(
        command, env={**env, "REVIEWBOT_FAIL_ON": "critical"}, capture_output=True, text=True
    )
    assert passing.returncode == 0, passing.stderr
    outputs = (scenario.tmp / "output.txt").read_text()
    assert "findings=1" in outputs
    # The token went to GitHub in the Authorization header and nowhere else.
    token = scenario.server.token
    assert token not in failing.stderr + failing.stdout + passing.stderr + passing.stdout
    assert all(token not in json.dumps(req.body) for req in scenario.server.requests)
    assert len(scenario.server.repos[REPO].reviews[scenario.number]) == 1
