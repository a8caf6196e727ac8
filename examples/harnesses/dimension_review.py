# reviewbot: generated harness
"""Review a change across two dimensions, then try to refute every finding.

A pipeline, not a barrier: a dimension's findings go to their skeptics as soon
as that dimension's reviewer answers. Each finding gets three skeptics told to
refute when unsure; only findings they (or the judge on a split) confirm stay.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from reviewbot.runtime import AgentError

META = {
    "name": "dimension_review",
    "description": "Review the change from BASE across correctness and security, and "
    "adversarially verify each finding before it survives.",
    "phases": ["review", "verify"],
    "parameters": {
        "base": {"type": "str", "default": "HEAD~1", "description": "the change's base commit"},
        "max_findings": {"type": "int", "default": 10, "description": "per dimension"},
    },
    "max_agents": 80,
    "budget_usd": 1.0,
}

DIMENSIONS = [
    {"name": "correctness", "ask": "bugs: wrong logic, unhandled cases, broken contracts"},
    {"name": "security", "ask": "injection, missing authorization, secrets, unsafe input"},
]

ANGLES = [
    "is the flagged code actually changed or reached by this change?",
    "does the claimed failure really happen for some input, step by step?",
    "is it already handled elsewhere (a caller, a guard, a test)?",
]


class Finding(BaseModel):
    path: str
    line: int
    title: str
    explanation: str = ""


class Findings(BaseModel):
    findings: list[Finding] = Field(default_factory=list)


class Reviewed(BaseModel):
    dimension: str
    path: str
    line: int
    title: str
    verdict: str


class ReviewResult(BaseModel):
    files: list[str] = []
    confirmed: list[Reviewed] = []
    refuted: list[Reviewed] = []


async def main(run, base: str = "HEAD~1", max_findings: int = 10) -> ReviewResult:
    change = await run.repo.diff(base)
    result = ReviewResult(files=[f["path"] for f in change])
    if not change:
        run.note("nothing changed")
        return result
    patches = [f"--- {f['path']} ({f['status']})\n{f['patch']}" for f in change[:50]]

    async def review(dimension: dict) -> tuple[str, list[Finding]]:
        found = await run.agent(
            f"Review this change for {dimension['name']}: {dimension['ask']}. The diff is in "
            "the context; read more of the repository with the tools when needed. Report only "
            "real problems in changed code, with the new-side line.",
            schema=Findings, role="finder", tools="repo", context=patches, phase="review",
        )
        return dimension["name"], found.findings[:max_findings]

    async def verify(reviewed: tuple[str, list[Finding]]) -> None:
        name, findings = reviewed

        async def one(finding: Finding) -> None:
            claim = f"{finding.path}:{finding.line}: {finding.title}. {finding.explanation}"
            try:
                vote = await run.vote(claim, angles=ANGLES, context=patches, tools="repo",
                                      phase="verify")
            except AgentError:
                return
            row = Reviewed(dimension=name, path=finding.path, line=finding.line,
                           title=finding.title, verdict=vote.verdict)
            (result.confirmed if vote.confirmed else result.refuted).append(row)

        await run.pipeline(findings, one)

    await run.pipeline(DIMENSIONS, review, verify)
    run.note(f"{len(result.confirmed)} confirmed, {len(result.refuted)} refuted")
    return result
