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
from reviewbot.harness.loader import coerce_params, load_harness
from reviewbot.harness.saved import find_harness
from reviewbot.runtime.run import Run

_inside: ContextVar[str | None] = ContextVar("reviewbot_workflow", default=None)


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
