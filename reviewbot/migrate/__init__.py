"""Migrations: sites, rewrite rules, gates, per-file tasks, assembly.

The built-in harness ``harnesses/migrate.py`` composes these; ``reviewbot migrate``
runs it.
"""

from reviewbot.migrate.assembly import assemble_results
from reviewbot.migrate.discover import Discovery, Site, discover, order_files, sites_in_source
from reviewbot.migrate.engine import (
    ALL_ALREADY,
    AuthorResult,
    MigrationJob,
    migrate_file,
    rule_rewrite,
    worktree_changes,
)
from reviewbot.migrate.estimate import estimate_cost
from reviewbot.migrate.executor import (
    FileTask,
    LocalExecutor,
    MigrationExecutor,
    run_task,
    task_for,
)
from reviewbot.migrate.gates import (
    FileChange,
    GateResult,
    RemainingSite,
    SkepticVerdict,
    parse_gate,
    scope_gate,
    sites_gate,
    verify_gate,
    weakened_tests_gate,
)
from reviewbot.migrate.import_order import ImportSections, sections_for_view
from reviewbot.migrate.result import (
    Assembly,
    Attempt,
    Estimate,
    FilePlan,
    FileResult,
    MigrationResult,
    SiteResult,
)
from reviewbot.migrate.rewrite import RuleNotApplicable, apply_edits, rewrite_file
from reviewbot.migrate.rules import MigrationSpec, load_rule, spec_from_options
from reviewbot.migrate.store import TaskStore, task_key
from reviewbot.migrate.template import Template, parse_template, render
from reviewbot.migrate.tools import worktree_tools

__all__ = [
    "ALL_ALREADY",
    "Assembly",
    "Attempt",
    "AuthorResult",
    "Discovery",
    "Estimate",
    "ImportSections",
    "FileChange",
    "FilePlan",
    "FileTask",
    "FileResult",
    "GateResult",
    "LocalExecutor",
    "MigrationExecutor",
    "MigrationJob",
    "MigrationResult",
    "MigrationSpec",
    "RemainingSite",
    "RuleNotApplicable",
    "Site",
    "SiteResult",
    "SkepticVerdict",
    "TaskStore",
    "Template",
    "apply_edits",
    "assemble_results",
    "discover",
    "estimate_cost",
    "load_rule",
    "migrate_file",
    "order_files",
    "parse_gate",
    "parse_template",
    "render",
    "rewrite_file",
    "rule_rewrite",
    "run_task",
    "scope_gate",
    "sites_gate",
    "sites_in_source",
    "sections_for_view",
    "spec_from_options",
    "task_for",
    "task_key",
    "weakened_tests_gate",
    "verify_gate",
    "worktree_changes",
    "worktree_tools",
]
