"""Harness files: loading (``META`` + ``async def main(run, **params)``) and running them."""

from reviewbot.harness.checker import MARKER, CheckReport, Problem, check_harness_source
from reviewbot.harness.dryrun import DryRunReport, dry_run
from reviewbot.harness.generator import GeneratedHarness, generate_harness
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
from reviewbot.harness.sandbox import SandboxViolation, load_sandboxed

__all__ = [
    "MARKER",
    "CheckReport",
    "DryRunReport",
    "GeneratedHarness",
    "Problem",
    "SandboxViolation",
    "check_harness_source",
    "dry_run",
    "generate_harness",
    "load_sandboxed",
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
