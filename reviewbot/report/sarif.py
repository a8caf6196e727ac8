"""SARIF 2.1.0 for GitHub code scanning: rules, levels, regions, ``partialFingerprints``.

One rule per ruff code, per parser (``syntax/python``) and per review dimension
(``reviewbot/correctness``). The fingerprint goes into ``partialFingerprints`` so
code scanning tracks an alert across pushes even when unrelated lines move.
"""

from __future__ import annotations

import json
from typing import Any

from reviewbot import __version__
from reviewbot.config import Severity
from reviewbot.review.findings import Finding, ReviewResult, Source, ranked

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "reviewbotFingerprint/v1"

# Which severities block, warn or inform; GitHub check annotations follow the same split.
SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub reads `security-severity` (0.0-10.0) on rules to rank security alerts.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}


def rule_id(f: Finding) -> str:
    if f.source is Source.RUFF and f.rule:
        return f"ruff/{f.rule}"
    if f.source is Source.SYNTAX and f.rule:
        return f.rule
    return f"reviewbot/{f.category.lower().replace(' ', '-')}"


def _rule(f: Finding) -> dict[str, Any]:
    rid = rule_id(f)
    if f.source is Source.RUFF:
        text = f"ruff rule {f.rule}"
        help_uri: str | None = f"https://docs.astral.sh/ruff/rules/#{(f.rule or '').lower()}"
    elif f.source is Source.SYNTAX:
        text = "The change introduces a parse error"
        help_uri = None
    else:
        text = f"Verified review finding: {f.category}"
        help_uri = None
    rule: dict[str, Any] = {
        "id": rid,
        "name": rid.replace("/", "_"),
        "shortDescription": {"text": text},
        "defaultConfiguration": {"level": SARIF_LEVEL[f.severity]},
        "properties": {"tags": sorted({f.category, f.source.value})},
    }
    if help_uri:
        rule["helpUri"] = help_uri
    if f.category.lower() == "security":
        rule["properties"]["security-severity"] = _SECURITY_SEVERITY[f.severity]
        rule["properties"]["tags"] = sorted({*rule["properties"]["tags"], "security"})
    return rule


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": f.start_line, "endLine": f.end_line}
    if f.start_column is not None:
        region["startColumn"] = f.start_column
        if f.end_column is not None:
            region["endColumn"] = f.end_column
    if f.evidence:
        region["snippet"] = {"text": f.evidence}
    location = {
        "physicalLocation": {
            "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
            "region": region,
        }
    }
    message = f.title + (f"\n\n{f.explanation}" if f.explanation else "")
    result: dict[str, Any] = {
        "ruleId": rule_id(f),
        "ruleIndex": rule_index,
        "level": SARIF_LEVEL[f.severity],
        "message": {"text": message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": {
            "severity": f.severity.value,
            "category": f.category,
            "source": f.source.value,
            "inDiff": f.in_diff,
        },
    }
    if f.verification is not None:
        result["properties"]["verification"] = f.verification.status.value
        result["properties"]["escalated"] = f.verification.escalated
    if f.replacement is not None:
        result["fixes"] = [{
            "description": {"text": "Suggested replacement"},
            "artifactChanges": [{
                "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                "replacements": [{
                    "deletedRegion": {"startLine": f.start_line, "endLine": f.end_line},
                    "insertedContent": {"text": f.replacement},
                }],
            }],
        }]
    return result


def to_sarif(result: ReviewResult) -> dict[str, Any]:
    findings = ranked(list(result.findings))
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for f in findings:
        rid = rule_id(f)
        if rid not in index:
            index[rid] = len(rules)
            rules.append(_rule(f))
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "reviewbot",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root"}}},
        "results": [_result(f, index[rule_id(f)]) for f in findings],
        "invocations": [{
            "executionSuccessful": True,
            "toolExecutionNotifications": [
                {"level": "note", "message": {"text": note}} for note in result.notes
            ],
        }],
        "properties": {
            "base": result.base,
            "head": result.head,
            "partial": result.partial,
            "funnel": result.funnel.model_dump(),
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(result: ReviewResult) -> str:
    return json.dumps(to_sarif(result), indent=2) + "\n"
