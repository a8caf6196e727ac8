"""What a migration returns: a status for every file and every site, and the branch."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field

from reviewbot.migrate.gates import GateResult

FileStatus = Literal["migrated", "skipped", "failed", "dropped"]
SiteState = Literal["migrated", "skipped", "failed"]
RULE_TIER = "rule"


class Attempt(BaseModel):
    tier: str  # "rule", "fast", "balanced", "deep"
    gates: list[GateResult] = Field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.gates) and all(g.passed for g in self.gates)

    @property
    def failed_gate(self) -> GateResult | None:
        return next((g for g in self.gates if not g.passed), None)


class SiteResult(BaseModel):
    path: str
    line: int
    status: SiteState
    tier: str | None = None
    reason: str = ""


class FileResult(BaseModel):
    path: str
    site_lines: list[int]
    status: FileStatus
    tier: str | None = None  # the tier whose change was kept
    reason: str = ""  # skipped: why; failed/dropped: which gate and a short line
    failed_gate: str | None = None
    output: str = ""  # the failing gate's output
    attempts: list[Attempt] = Field(default_factory=list)
    commit: str | None = None
    cost_usd: float = 0.0
    reused: bool = False  # finished by an earlier run with the same task key
    kept_sites: dict[int, str] = Field(default_factory=dict)  # line -> the agent's reason

    def sites(self) -> list[SiteResult]:
        out = []
        for line in self.site_lines:
            if self.status == "migrated":
                if line in self.kept_sites:
                    out.append(
                        SiteResult(
                            path=self.path,
                            line=line,
                            status="skipped",
                            tier=self.tier,
                            reason=f"kept: {self.kept_sites[line]}",
                        )
                    )
                else:
                    out.append(
                        SiteResult(path=self.path, line=line, status="migrated", tier=self.tier)
                    )
            elif self.status == "skipped":
                out.append(
                    SiteResult(path=self.path, line=line, status="skipped", reason=self.reason)
                )
            else:
                out.append(
                    SiteResult(path=self.path, line=line, status="failed", reason=self.reason)
                )
        return out


class FilePlan(BaseModel):
    path: str
    site_lines: list[int]
    rule_covers: bool | None = None  # None: not checked (no rule)
    rule_note: str = ""


class Estimate(BaseModel):
    model_files: int
    low_usd: float
    high_usd: float


class Assembly(BaseModel):
    head: str | None = None
    verify: GateResult | None = None
    bisect_rounds: int = 0
    conflicts: dict[str, list[str]] = Field(default_factory=dict)


class MigrationResult(BaseModel):
    instruction: str
    base: str
    branch: str
    dry_run: bool = False
    models_available: bool = False
    files_found: int = 0  # files with sites before --limit
    sites_found: int = 0
    plan: list[FilePlan] = Field(default_factory=list)  # dry run
    estimate: Estimate | None = None
    files: list[FileResult] = Field(default_factory=list)
    assembly: Assembly | None = None
    discovery_skipped: list[tuple[str, str]] = Field(default_factory=list)
    timings: dict[str, float] = Field(
        default_factory=dict
    )  # seconds: worktrees, transform, gates, ...
    peak_worktrees: int = 0
    wall_seconds: float = 0.0
    stopped: str | None = None  # budget / backstop
    # task branches deleted once the finished run was assembled (none for a partial run)
    task_branches_deleted: int = 0

    @property
    def sites(self) -> list[SiteResult]:
        return [s for f in self.files for s in f.sites()]

    def counts(self) -> Counter[str]:
        return Counter(f.status for f in self.files)

    def tier_counts(self) -> Counter[str]:
        return Counter(f.tier or "" for f in self.files if f.status == "migrated")

    def nothing_migrated(self) -> str | None:
        """Why a finished run landed no file on its branch (every file skipped, failed or
        dropped), in one line; None when something landed, when there was nothing to do
        (no sites, or every site already in the target form) and for a dry run."""
        if self.dry_run or not self.files or any(f.status == "migrated" for f in self.files):
            return None
        if all(f.status == "skipped" and f.reason.startswith("every site is") for f in self.files):
            return None
        parts: list[str] = []
        for status in ("skipped", "failed", "dropped"):
            files = [f for f in self.files if f.status == status]
            if not files:
                continue
            reasons = Counter(f.reason for f in files)
            reason, n = reasons.most_common(1)[0]
            more = f"; {len(reasons) - 1} other reason(s)" if len(reasons) > 1 else ""
            where = files[0].path if n == 1 else f"{n} of them"
            parts.append(f"{len(files)} {status} ({where}: {reason}{more})")
        return f"nothing migrated: {', '.join(parts)}"

    def failures_by_gate(self) -> dict[str, list[FileResult]]:
        out: dict[str, list[FileResult]] = {}
        for f in self.files:
            if f.status in ("failed", "dropped"):
                out.setdefault(f.failed_gate or "other", []).append(f)
        return out
