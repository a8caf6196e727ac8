"""Markdown for a PR body or a file: summary, findings by severity, funnel, coverage, cost."""

from __future__ import annotations

import re
from collections.abc import Callable

from reviewbot.report.cost import failed_phases
from reviewbot.review.evidence import reproducing_test
from reviewbot.review.findings import Finding, Funnel, ReviewResult, line_label, ranked
from reviewbot.review.thorough import round_line

_BACKTICKS = re.compile(r"`+")
_LANG_BY_SUFFIX = {".py": "python", ".js": "javascript", ".ts": "typescript", ".go": "go",
                   ".rs": "rust", ".java": "java", ".rb": "ruby", ".c": "c", ".cpp": "cpp",
                   ".cs": "csharp", ".php": "php", ".tsx": "tsx", ".jsx": "jsx"}


def fenced(code: str, path: str = "") -> str:
    """A code fence longer than any backtick run inside, so quoted code cannot break out."""
    longest = max((len(m) for m in _BACKTICKS.findall(code)), default=0)
    fence = "`" * max(3, longest + 1)
    lang = next((v for k, v in _LANG_BY_SUFFIX.items() if path.endswith(k)), "")
    return f"{fence}{lang}\n{code.rstrip()}\n{fence}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _lines(f: Finding) -> str:
    return line_label(f)


def funnel_line(result: ReviewResult) -> str:
    return funnel_text(result.funnel)


def funnel_text(fn: Funnel) -> str:
    """Candidates to confirmed findings in one line, with what was dropped at each step."""
    line = (
        f"{fn.candidates} candidates → {fn.grounded} grounded ({fn.ungrounded} dropped) → "
        f"{fn.deduplicated} distinct ({fn.duplicates} duplicates) → {fn.confirmed} confirmed, "
        f"{fn.refuted} refuted, {fn.unverified} unverified ({fn.escalated} escalated to the judge)"
        f"; {fn.deterministic} from ruff/parsers"
    )
    if fn.reproduced or fn.disproved:
        line += (f"; tests run at head: {fn.reproduced} reproduced, "
                 f"{fn.disproved} passed (refuted)")
    if len(fn.rounds) > 1:
        line += f"; {len(fn.rounds)} finder rounds: {round_line(fn.rounds)}"
    return line


def _same(text: str, inline: bool) -> str:
    return text


def render_markdown(
    result: ReviewResult,
    *,
    cost: str | None = None,
    text: Callable[[str, bool], str] = _same,
) -> str:
    """``text(value, inline)`` renders each model-written text (GitHub passes an inert one)."""
    out: list[str] = ["## reviewbot review", ""]
    if result.partial:
        out += ["> **Partial review**: the run stopped early; some findings were not verified.", ""]
    if result.summary:
        out += [text(result.summary, False), ""]
    findings = ranked(list(result.findings))
    if findings:
        out += ["| severity | location | finding | source |", "| --- | --- | --- | --- |"]
        for f in findings:
            title = _escape(text(f.title, True))
            out.append(f"| {f.severity.value} | `{f.path}:{_lines(f)}` | {title} "
                       f"| {f.source.value} |")
        out.append("")
        for f in findings:
            out += [f"### {f.severity.value.upper()}: {_escape(text(f.title, True))}",
                    f"`{f.path}:{_lines(f)}` · {text(f.category, True)} · "
                    f"fingerprint `{f.fingerprint}`", ""]
            if f.explanation:
                out += [text(f.explanation, False), ""]
            if f.rule:
                out += [f"Rule: {_escape(text(f.rule, True))}", ""]
            if f.evidence:
                out += [fenced(f.evidence, f.path), ""]
            if f.replacement is not None:
                out += ["Suggested replacement:", "", fenced(f.replacement, f.path), ""]
            proof = reproducing_test(f.verification)
            if proof is not None:
                out += [f"Reproduced at head: {_escape(text(proof.reason, True))} "
                        f"(`{_escape(proof.command)}`). Suggested test, "
                        f"`{_escape(proof.test_path)}`:", "",
                        fenced(proof.test, proof.test_path), ""]
    elif failed_phases(result.stats) or result.partial:
        out += ["No findings from the checks that ran; the review is incomplete (see above).", ""]
    else:
        out += ["No findings.", ""]
    out += [f"**Funnel:** {funnel_line(result)}", ""]
    cov = result.coverage
    out.append(f"**Coverage:** {len(cov.reviewed)} files reviewed, {len(cov.skipped)} skipped")
    for s in cov.skipped:
        out.append(f"- `{s.path}`: {text(s.reason, True)}")
    out.append("")
    for note in result.notes:
        out.append(f"> {text(note, True)}")
    if result.notes:
        out.append("")
    if cost:
        out += [f"<sub>{cost}</sub>", ""]
    return "\n".join(out)
