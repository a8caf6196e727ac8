"""The terminal report (rich): findings by severity with code excerpts, funnel, coverage."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from reviewbot.config import Severity
from reviewbot.report.cost import failed_phases
from reviewbot.report.markdown import funnel_line
from reviewbot.review.evidence import reproducing_test
from reviewbot.review.findings import Finding, ReviewResult, line_label, ranked

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _lexer(path: str) -> str:
    return Syntax.guess_lexer(path, code="") if "." in path else "text"


def _finding(f: Finding) -> Panel:
    lines = line_label(f)
    head = Text.assemble(
        (f" {f.severity.value.upper()} ", _STYLE[f.severity]), " ",
        (f"{f.path}:{lines}", "bold"), "  ", (f.title, ""),
    )
    parts: list[Text | Syntax] = [head]
    meta = f.category if f.category == f.source.value else f"{f.category} · {f.source.value}"
    if f.verification is not None:
        meta += f" · {f.verification.status.value}"
        if f.verification.escalated:
            meta += " (judge)"
        if reproducing_test(f.verification) is not None:
            meta += " (reproduced by a test)"
    if f.rule:
        meta += f" · rule {f.rule}"
    parts.append(Text(meta, style="dim"))
    if f.explanation:
        parts.append(Text(f.explanation))
    if f.evidence:
        parts.append(Syntax(f.evidence.rstrip("\n"), _lexer(f.path), line_numbers=True,
                            start_line=f.start_line, word_wrap=True))
    if f.replacement is not None:
        parts.append(Text("suggested replacement:", style="dim"))
        parts.append(Syntax(f.replacement.rstrip("\n") or " ", _lexer(f.path), word_wrap=True))
    proof = reproducing_test(f.verification)
    if proof is not None:
        parts.append(Text(f"{proof.reason} (`{proof.command}`); suggested test "
                          f"{proof.test_path}:", style="dim"))
        parts.append(Syntax(proof.test.rstrip("\n") or " ", _lexer(proof.test_path),
                            word_wrap=True))
    return Panel(Group(*parts), border_style=_STYLE[f.severity].split()[-1], expand=True)


def render_terminal(result: ReviewResult, console: Console, *, cost: str | None = None) -> None:
    if result.partial:
        console.print(Text("PARTIAL review: the run stopped early; unverified findings are "
                           "not reported.", style="bold yellow"))
    if result.summary:
        console.print(Panel(result.summary, title="summary", expand=True))
    findings = ranked(list(result.findings))
    if not findings and (failed_phases(result.stats) or result.partial):
        console.print(Text("No findings from the checks that ran; the review is incomplete "
                           "(see the summary).", style="bold red"))
    elif not findings:
        console.print(Text("No findings.", style="green"))
    for f in findings:
        console.print(_finding(f))
    console.print(Text.assemble(("funnel: ", "bold"), funnel_line(result)))
    cov = result.coverage
    console.print(f"coverage: {len(cov.reviewed)} files reviewed, {len(cov.skipped)} skipped")
    for s in cov.skipped:
        console.print(f"  skipped {s.path}: {s.reason}", markup=False)
    for note in result.notes:
        console.print(Text(note, style="yellow"))
    if cost:
        console.print(cost, markup=False, highlight=False)
