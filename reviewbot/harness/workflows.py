"""``run.workflow(name, **params)``: a built-in or saved harness as one step of another.

The step runs against the calling run itself, so it shares the budget, the
concurrency limit, the journal (its agent calls resume like the parent's) and
the event log; a budget stop inside the step is the parent's stop. One level
deep: a step cannot start a step. The repository is always the run's own: a
``repo`` parameter is set to the workspace, never taken from the caller (a
sandboxed harness must not point a built-in at another directory).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from reviewbot.errors import UsageError
from reviewbot.harness.loader import builtin_dirs, coerce_params, is_generated, load_harness
from reviewbot.harness.saved import find_harness
from reviewbot.runtime.run import Run

_inside: ContextVar[str | None] = ContextVar("reviewbot_workflow", default=None)

# What a sandboxed harness may not hand a step: a shell command runs unsandboxed here, and
# a rule file would be read from the user's file system.
SANDBOX_REFUSED_PARAMS = frozenset({"repo", "verify", "rule"})


def check_sandboxed_step(run: Run, name: str, params: dict[str, Any]) -> None:
    """Refuse what a generated harness's ``run.workflow`` call could use to act outside its
    sandbox: a verify command, a rule file, another repository, a branch of the user's, or a
    step that is a plain Python file of the repository (only built-ins and generated
    harnesses, which run sandboxed again, may be steps of a generated harness)."""
    refused = sorted(SANDBOX_REFUSED_PARAMS & set(params))
    if refused:
        raise UsageError(f"run.workflow({name!r}): a generated harness cannot pass "
                         f"{', '.join(refused)}= (configure migrate.verify instead)")
    branch = params.get("branch")
    if branch is not None and not str(branch).startswith("reviewbot/"):
        raise UsageError(f"run.workflow({name!r}): branch= must start with reviewbot/ from a "
                         "generated harness")
    path = find_harness(run.workspace, name)
    if path is None:
        return  # run_workflow says so
    builtin = any(path.resolve().parent == d.resolve() for d in builtin_dirs() if d.is_dir())
    if not builtin and not is_generated(path):
        raise UsageError(f"run.workflow({name!r}): {path.name} is not a generated harness; a "
                         "generated harness may only run built-in or generated ones as steps")


async def run_workflow(run: Run, name: str, params: dict[str, Any]) -> Any:
    """Run the harness called ``name`` as a step of ``run``; its result (typed, in-process)."""
    outer = _inside.get()
    if outer is not None:
        raise UsageError(f"run.workflow({name!r}) inside workflow {outer!r}: workflows are one "
                         "level deep; call it from the top-level harness")
    path = find_harness(run.workspace, name)
    if path is None:
        raise UsageError(f"no harness named {name!r}; see `reviewbot harness list`")
    harness = load_harness(path)
    declared = harness.meta.parameters
    if "repo" in params:
        raise UsageError(f"run.workflow({name!r}) runs on this run's repository; drop repo=")
    given = dict(params)
    if "repo" in declared:
        if run.workspace is None:
            raise UsageError(f"workflow {name!r} needs a repository; run inside one")
        given["repo"] = str(run.workspace)
    values = coerce_params(harness.meta, given)
    token = _inside.set(name)
    try:
        return await harness.main(run, **values)
    finally:
        _inside.reset(token)
