"""What the workflow, its activities and the client send each other.

Every message stays small (Temporal refuses payloads over 2 MB and keeps each one in the
workflow's history): paths, commit ids and short per-file records. File contents and full
results travel as commits on the shared remote (``reviewbot.git.records``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from reviewbot.migrate.rules import MigrationSpec
from reviewbot.runtime.stats import RunStats, Spend

DEFAULT_TASK_QUEUE = "reviewbot-migrate"
WORKFLOW_NAME = "reviewbot-migrate"


class MigrationRequest(BaseModel):
    """One migration as submitted: the workflow's input, unchanged across continue-as-new."""

    instruction: str
    spec: MigrationSpec
    base: str
    remote: str  # a URL or path every worker can reach: bases, task commits, results
    branch: str
    task_branch_prefix: str
    verify: str | None = None
    verify_timeout: float = 600.0
    limit: int = 0
    budget_usd: float | None = None
    max_agents: int | None = Field(default=None, ge=1)  # model agents across every worker
    # who task and result commits are by (the submitter's ``migrate.commit_name/email``),
    # the same on every worker: a task's commit id is the same wherever it runs
    identity: tuple[str, str] | None = None
    keep_task_branches: bool = False
    batch_size: int = Field(default=25, ge=1, le=500)
    # batches running at once: far under Temporal's 2,000 pending activities
    max_in_flight: int = Field(default=16, ge=1, le=1000)
    # a batch whose worker stops heartbeating this long is retried on another worker
    heartbeat_seconds: float = Field(default=20.0, ge=1, le=600)
    # continue-as-new once this many events are in the history (limit: 51,200)
    history_limit: int = Field(default=10_000, ge=100, le=40_000)


class Plan(BaseModel):
    """What discovery found: the files in task order; their sites are in ``commit``."""

    commit: str
    paths: list[str]
    files_found: int
    sites_found: int
    skipped: list[tuple[str, str]] = Field(default_factory=list)


class Done(BaseModel):
    """One finished file as the workflow keeps it."""

    path: str
    status: str
    commit: str | None = None
    final: bool = True  # False: a later run could end differently (no model, budget)


class Spent(BaseModel):
    """What some batches spent, by tier and phase (added up by the workflow's ledger)."""

    total: Spend = Field(default_factory=Spend)
    by_tier: dict[str, Spend] = Field(default_factory=dict)
    by_phase: dict[str, Spend] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)

    def add(self, other: Spent) -> None:
        self.total = _plus(self.total, other.total)
        for mine, theirs in ((self.by_tier, other.by_tier), (self.by_phase, other.by_phase)):
            for name, spend in theirs.items():
                mine[name] = _plus(mine.get(name, Spend()), spend)
        self.errors = (self.errors + other.errors)[:50]

    @classmethod
    def of(cls, stats: RunStats) -> Spent:
        return cls(total=stats.total, by_tier=dict(stats.by_tier), by_phase=dict(stats.by_phase),
                   errors=stats.errors[:20])


def _plus(a: Spend, b: Spend) -> Spend:
    return Spend(agents=a.agents + b.agents, failed=a.failed + b.failed,
                 replayed=a.replayed + b.replayed, usage=a.usage + b.usage,
                 cost_usd=a.cost_usd + b.cost_usd)


class BatchInput(BaseModel):
    request: MigrationRequest
    run: str  # the workflow id: names this run's refs on the remote
    plan_commit: str
    index: int
    paths: list[str]
    allowance_usd: float | None = None  # what this batch may spend (the ledger's grant)
    allowance_agents: int | None = None  # model agents this batch may start (the same)


class BatchOutput(BaseModel):
    index: int
    results_commit: str  # a record commit holding the batch's full FileResults
    files: list[Done]
    spent: Spent = Field(default_factory=Spent)
    # model agents the batch's run started (what its allowance counts), plus the whole
    # agent grant of an earlier attempt that was lost with its worker
    agents: int = 0
    lost_usd: float = 0.0  # the dollar grant of such a lost attempt (its spend is unknown)
    executed: int = 0  # tasks that ran (not reused from an earlier attempt or run)
    reused: int = 0
    stopped: str | None = None  # the batch's run stopped ("budget", ...)
    worker: str = ""


class AssembleInput(BaseModel):
    request: MigrationRequest
    run: str
    plan: Plan
    results_commits: list[str]
    lost: list[str] = Field(default_factory=list)  # files whose batch failed for good
    unstarted: list[str] = Field(default_factory=list)  # files no batch started (budget)
    stopped: str | None = None
    # a later run would continue this one (stopped, lost or unfinished files, a --limit
    # sample): its task branches are kept, as in local mode
    partial: bool = False


class AssembleOutput(BaseModel):
    report_commit: str  # a record commit with the MigrationResult as JSON
    head: str | None = None
    task_branches_deleted: int = 0


class Progress(BaseModel):
    """The workflow's answer to the ``progress`` query (the client's progress line)."""

    phase: str = "discover"
    files: int = 0
    done: int = 0
    failed: int = 0
    batches_in_flight: int = 0
    spent_usd: float = 0.0
    budget_usd: float | None = None
    agents: int = 0
    max_agents: int | None = None
    executed: int = 0
    reused: int = 0
    generation: int = 0  # continue-as-new count
    paused: bool = False  # no new batch starts until the ``resume`` signal


class Files(BaseModel):
    """The answer to the ``files`` query: the files finished from the client's cursor on (at
    most a page), the files lost so far and the ledger (the client journals them)."""

    done: list[Done] = Field(default_factory=list)
    count: int = 0  # files finished in all: the cursor the client catches up to
    lost: list[str] = Field(default_factory=list)
    spent: Spent = Field(default_factory=Spent)
    stopped: str | None = None


class State(BaseModel):
    """What one workflow run hands the next on continue-as-new."""

    plan: Plan
    pending: list[str]
    done: list[Done] = Field(default_factory=list)
    results_commits: list[str] = Field(default_factory=list)
    lost: list[str] = Field(default_factory=list)
    unstarted: list[str] = Field(default_factory=list)
    spent: Spent = Field(default_factory=Spent)
    agents: int = 0  # model agents the batches started (the ledger's count)
    lost_usd: float = 0.0  # grants of batch attempts lost with their worker (charged whole)
    stopped: str | None = None
    paused: bool = False  # by the ``pause`` signal, until ``resume``
    executed: int = 0
    reused: int = 0
    next_index: int = 0
    generation: int = 0
    wall_seconds: float = 0.0


class Outcome(BaseModel):
    """The workflow's result."""

    report_commit: str
    branch: str
    remote: str
    head: str | None = None
    stats: RunStats
    executed: int = 0
    reused: int = 0
    batches: int = 0
    generation: int = 0
