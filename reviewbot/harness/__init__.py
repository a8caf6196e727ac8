"""Harness files: loading (``META`` + ``async def main(run, **params)``) and running them."""

from reviewbot.harness.loader import (
    Harness,
    HarnessMeta,
    ParamSpec,
    builtin_harness,
    coerce_params,
    load_harness,
    parse_param_args,
)
from reviewbot.harness.runner import (
    HarnessFailed,
    HarnessOutcome,
    new_run_id,
    resume_harness,
    run_dir,
    run_harness,
)

__all__ = [
    "Harness",
    "HarnessFailed",
    "HarnessMeta",
    "HarnessOutcome",
    "ParamSpec",
    "builtin_harness",
    "coerce_params",
    "load_harness",
    "new_run_id",
    "parse_param_args",
    "resume_harness",
    "run_dir",
    "run_harness",
]
