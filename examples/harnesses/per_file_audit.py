# reviewbot: generated harness
"""A per-file audit with cross-checks and a synthesis (the shape of a bug sweep).

1. Audit: one agent per matching file, reading it (and what it calls) with the
   repository tools, reports the worst instance of the concern it finds.
2. Cross-check: every high or medium report goes to three independent skeptics
   (a split goes to a judge); no barrier between audit and cross-check.
3. Synthesis: one deep-tier agent writes the report from confirmed findings only.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from reviewbot.runtime import AgentError

META = {
    "name": "per_file_audit",
    "description": "Audit each matching file for one concern, cross-check escalated "
    "findings with independent skeptics, and synthesise a report of the confirmed ones.",
    "phases": ["audit", "cross-check", "synthesis"],
    "parameters": {
        "concern": {"type": "str", "required": True,
                    "description": "what to look for, e.g. 'authentication bypass'"},
        "prefix": {"type": "str", "default": "", "description": "only files under this path"},
        "suffix": {"type": "str", "default": ".py", "description": "only files ending so"},
        "max_files": {"type": "int", "default": 40, "description": "cap on files audited"},
    },
    "max_agents": 200,
    "budget_usd": 2.0,
}

ANGLES = [
    "does the code path really reach the flagged lines with attacker- or user-controlled input?",
    "is there a check elsewhere (caller, decorator, middleware) that already prevents it?",
    "does the claimed consequence follow from the code as written, not as imagined?",
]


class FileReport(BaseModel):
    severity: str = Field(description="high, medium, low or none")
    finding: str = Field(default="", description="what is wrong, in one or two sentences")
    start_line: int = 0
    end_line: int = 0


class Confirmed(BaseModel):
    path: str
    severity: str
    finding: str
    start_line: int
    end_line: int
    reason: str


class Summary(BaseModel):
    report: str = Field(description="markdown: a severity table and recommended fixes")


class AuditResult(BaseModel):
    files_scanned: int = 0
    escalated: int = 0
    confirmed: list[Confirmed] = []
    report: str = ""


async def main(run, concern: str, prefix: str = "", suffix: str = ".py",
               max_files: int = 40) -> AuditResult:
    files = [p for p in await run.repo.files(prefix) if p.endswith(suffix)][:max_files]
    result = AuditResult(files_scanned=len(files))

    async def audit(path: str) -> tuple[str, FileReport]:
        report = await run.agent(
            f"Audit {path} for: {concern}. Read the file with read_file (and what it calls, "
            "if needed). Report the single most severe instance with its line range, or "
            "severity 'none' if there is none.",
            schema=FileReport, role="finder", tools="repo", phase="audit",
        )
        return path, report

    async def cross_check(found: tuple[str, FileReport]) -> None:
        path, report = found
        if report.severity not in ("high", "medium"):
            return
        result.escalated += 1
        claim = (f"{path}:{report.start_line}-{report.end_line} has a {concern} problem: "
                 f"{report.finding}")
        try:
            vote = await run.vote(claim, angles=ANGLES, tools="repo", phase="cross-check")
        except AgentError:
            return
        if vote.confirmed:
            reason = vote.votes[0].reason if vote.votes else ""
            result.confirmed.append(Confirmed(
                path=path, severity=report.severity, finding=report.finding,
                start_line=report.start_line, end_line=report.end_line, reason=reason,
            ))

    await run.pipeline(files, audit, cross_check)
    if result.confirmed and not run.stopped:
        with run.phase("synthesis"):
            listed = [f"{c.path}:{c.start_line}-{c.end_line} ({c.severity}): {c.finding}"
                      for c in result.confirmed]
            summary = await run.agent(
                f"Write an executive summary of these confirmed {concern} findings with "
                "remediation priorities.",
                schema=Summary, role="writer", tier="deep", context=listed,
            )
            result.report = summary.report
    run.note(f"{len(files)} files audited, {result.escalated} escalated, "
             f"{len(result.confirmed)} confirmed")
    return result
