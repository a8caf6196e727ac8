"""An optional check run with one annotation per finding.

github3.py only creates check runs with GitHub App installation auth, while the Actions
``GITHUB_TOKEN`` (an installation token given as a plain token) is allowed to create them;
so this goes through the client's raw session. GitHub takes at most 50 annotations per
request: the run is created with the first batch and updated with the rest.
"""

from __future__ import annotations

from typing import Any

import github3

from reviewbot.config import Severity
from reviewbot.github.client import raw_json
from reviewbot.report.sarif import SARIF_LEVEL
from reviewbot.review.findings import ReviewResult

ANNOTATIONS_PER_REQUEST = 50
CHECK_NAME = "reviewbot"
# A check annotation's name for each SARIF level.
_ANNOTATION_LEVEL = {"error": "failure", "warning": "warning", "note": "notice"}


def build_annotations(result: ReviewResult) -> list[dict[str, Any]]:
    out = []
    for f in result.findings:
        out.append(
            {
                "path": f.path,
                "start_line": f.start_line,
                "end_line": f.end_line,
                "annotation_level": _ANNOTATION_LEVEL[SARIF_LEVEL[f.severity]],
                "title": f"{f.severity.value} · {f.category}: {f.title}"[:255],
                "message": (f.explanation or f.title)[:64_000],
            }
        )
    return out


def conclusion(result: ReviewResult, fail_on: Severity | None) -> str:
    if fail_on is not None and any(f.severity.rank >= fail_on.rank for f in result.findings):
        return "failure"
    return "neutral" if result.findings else "success"


def post_check_run(
    gh: github3.GitHub,
    repository: str,
    head_sha: str,
    result: ReviewResult,
    *,
    fail_on: Severity | None,
    summary: str,
) -> int:
    """Create the completed check run; returns its id."""
    notes = build_annotations(result)
    batches = [
        notes[i : i + ANNOTATIONS_PER_REQUEST]
        for i in range(0, len(notes), ANNOTATIONS_PER_REQUEST)
    ] or [[]]
    title = f"{len(result.findings)} finding{'s' if len(result.findings) != 1 else ''}"
    output = {"title": title, "summary": summary[:65_000]}
    created = raw_json(
        gh,
        "POST",
        f"/repos/{repository}/check-runs",
        {
            "name": CHECK_NAME,
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": conclusion(result, fail_on),
            "output": {**output, "annotations": batches[0]},
        },
    )
    run_id = int(created["id"])
    for batch in batches[1:]:
        raw_json(
            gh,
            "PATCH",
            f"/repos/{repository}/check-runs/{run_id}",
            {"output": {**output, "annotations": batch}},
        )
    return run_id
