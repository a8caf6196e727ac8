"""Harness files: loading (``META`` + ``async def main(run, **params)``) and running them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reviewbot.lazy import lazy_exports

_WHERE = {
    "MARKER": "checker",
    "CheckReport": "checker",
    "Problem": "checker",
    "check_harness_source": "checker",
    "DryRunReport": "dryrun",
    "dry_run": "dryrun",
    "GeneratedHarness": "generator",
    "generate_harness": "generator",
    "Harness": "loader",
    "HarnessMeta": "loader",
    "ParamSpec": "loader",
    "Option": "options",
    "builtin_harness": "loader",
    "coerce_params": "loader",
    "load_harness": "loader",
    "parse_param_args": "loader",
    "HarnessFailed": "runner",
    "HarnessOutcome": "runner",
    "new_run_id": "runner",
    "resume_harness": "runner",
    "run_dir": "runner",
    "run_harness": "runner",
    "SandboxViolation": "sandbox",
    "load_sandboxed": "sandbox",
}

__all__ = [
    "CheckReport",
    "DryRunReport",
    "GeneratedHarness",
    "Harness",
    "HarnessFailed",
    "HarnessMeta",
    "HarnessOutcome",
    "MARKER",
    "Option",
    "ParamSpec",
    "Problem",
    "SandboxViolation",
    "builtin_harness",
    "check_harness_source",
    "coerce_params",
    "dry_run",
    "generate_harness",
    "load_harness",
    "load_sandboxed",
    "new_run_id",
    "parse_param_args",
    "resume_harness",
    "run_dir",
    "run_harness",
]

if TYPE_CHECKING:
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
    from reviewbot.harness.options import Option
    from reviewbot.harness.runner import (
        HarnessFailed,
        HarnessOutcome,
        new_run_id,
        resume_harness,
        run_dir,
        run_harness,
    )
    from reviewbot.harness.sandbox import SandboxViolation, load_sandboxed


__getattr__ = lazy_exports(__name__, _WHERE)
