"""What a review costs: our default routing and caching next to "every role on the deep tier,
no caching", on a real multi-file diff (Django 5.1.3 -> 5.1.4, a security release).

Both runs use the real review harness, the real prompts and tools, the real SDK over
HTTP, against the loopback model server, which computes usage from the real request
sizes and does the prompt-cache accounting. A fixed script answers for the model
(finders plant findings on real changed lines, skeptics split on some), identical in
both runs, so both runs start the same agents.

The models layer has no switch to stop sending ``cache_control``; "no caching" is
the loopback server with caching disabled (its minimum cacheable prefix set beyond
any request), so every input token is billed uncached.

Run: python bench/review_cost.py   (downloads two sdists once into bench/.cache)
Goal: default <= 25% of the baseline's dollars at the same number of agents.

``python bench/review_cost.py --deeper`` measures instead what deeper verification adds on
one change: the default review, the same with reproduction (``review.reproduce = "high"``:
real tests written into a pooled worktree and run with pytest) and in thorough mode, on a
small real repository with a planted off-by-one (built in a temporary directory).
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sdist import committed_repo, git, place_sdist

from reviewbot.config import Config
from reviewbot.git import ChangeSet, Repo
from reviewbot.harness import builtin_harness, run_harness
from reviewbot.report.cost import cost_line
from reviewbot.review import ReviewResult
from reviewbot.runtime import RunStats
from reviewbot.testing import Lognormal, MessagesRequest, ModelServer, Reply

DIMENSION = re.compile(r"Review dimension: ([\w-]+)\.")
OLD, NEW = "5.1.3", "5.1.4"
PARTS = ("django", "tests", "LICENSE")
WORDS = ("the value reaches this line without the check the old code had, so a caller that "
         "passes an empty or hostile input now takes the other branch and the result differs "
         "from what the surrounding code and its tests expect").split()


def add_release(tree: Path) -> None:
    git(tree, "checkout", "-q", "-b", "release")
    place_sdist(tree, "django", NEW, keep=PARTS)
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", f"Django {NEW}")


def build_repo() -> Path:
    """Django OLD committed on main, NEW on branch `release` (its django/ and tests/ trees).

    Built once under bench/.cache and reused: committing ~6k files takes a while.
    """
    name = f"review-django-{OLD}-{NEW}"
    return committed_repo("django", OLD, name, keep=PARTS, prepare=add_release)


def _digest(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8], 16)


def _prose(seed: int, words: int) -> str:
    return " ".join(WORDS[(seed + i) % len(WORDS)] for i in range(words)).capitalize() + "."


class Script:
    """Deterministic model answers; the same in both runs, so both start the same agents."""

    def __init__(self, added: dict[str, list[tuple[int, str]]]) -> None:
        self.added = added

    def __call__(self, req: MessagesRequest) -> Any:
        role, text = req.role, req.all_text
        if role == "finder":
            files = [p for p in self.added if f" {p}," in text or f" {p}." in text]
            if not req.tool_results:
                return Reply.tool_use("read_file", {"path": files[0], "start_line": 1,
                                                    "end_line": 120})
            dim = DIMENSION.search(text).group(1)  # type: ignore[union-attr]
            findings = []
            for k in range(2):
                path = files[_digest(dim, str(k)) % len(files)]
                lines = self.added[path]
                line, code = lines[_digest(dim, path, str(k)) % len(lines)]
                findings.append({
                    "path": path, "start_line": line, "end_line": line,
                    "severity": ["low", "medium", "high"][_digest(dim, str(k), "s") % 3],
                    "category": dim, "title": f"{dim} issue {k} near line {line}",
                    "explanation": _prose(line + k, 45), "evidence": code,
                })
            return {"findings": findings}
        if role in ("skeptic", "judge"):
            seed = _digest(req.last_user_text, text[-400:])
            verdict = "confirmed" if seed % 3 else "refuted"
            return {"verdict": verdict, "reason": _prose(seed, 35)}
        if role == "synthesizer":
            return {"summary": _prose(7, 70)}
        raise AssertionError(f"unexpected role {role}")


def added_lines(repo: Path) -> dict[str, list[tuple[int, str]]]:
    r = Repo.open(repo)
    changes = ChangeSet.between(r, "main", "release")
    out: dict[str, list[tuple[int, str]]] = {}
    for c in changes.files:
        text = r.read_blob(changes.head, c.path).decode("utf-8").splitlines()
        lines = [(n, text[n - 1]) for n in sorted(c.added_lines) if len(text[n - 1].strip()) > 12]
        if lines:
            out[c.path] = lines
    return out


def review(
    repo: Path, config: Config, script: Any, *, caching: bool, head: str = "release",
) -> tuple[ReviewResult, RunStats, float]:
    # Real model calls take seconds, so the siblings of a fan-out overlap; an instant server
    # would serialise them by accident and flatter prompt caching.
    options: dict[str, Any] = {
        "api_key": "bench-key", "latency": Lognormal(median=1.0, sigma=0.5, seed=11),
    }
    if not caching:
        options["min_cache_tokens"] = 10**9
    with ModelServer(script, **options) as server:
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "bench-key",
               "PATH": "/usr/bin:/bin"}
        started = time.perf_counter()
        outcome = run_harness(
            builtin_harness("review"),
            {"repo": str(repo), "base": "main", "head": head, "uncommitted": False},
            config=config, repo_path=repo, env=env, budget_usd=1000.0,
        )
        wall = time.perf_counter() - started
    return ReviewResult.model_validate(outcome.result), outcome.stats, wall


def describe(label: str, result: ReviewResult, stats: RunStats, wall: float) -> None:
    u = stats.total.usage
    print(f"\n== {label}")
    print(f"agents {stats.total.agents} (failed {stats.total.failed}) · wall {wall:.1f}s · "
          f"funnel: {result.funnel.candidates} candidates, {result.funnel.deduplicated} distinct,"
          f" {result.funnel.confirmed} confirmed, {result.funnel.refuted} refuted, "
          f"{result.funnel.escalated} escalated; {result.funnel.ungrounded} ungrounded, "
          f"{result.funnel.duplicates} duplicates")
    print(f"{'tier':<9}{'agents':>7}{'input':>10}{'cache wr':>10}{'cache rd':>10}{'output':>9}"
          f"{'dollars':>10}")
    for tier, spend in sorted(stats.by_tier.items()):
        t = spend.usage
        print(f"{tier:<9}{spend.agents:>7}{t.input_tokens:>10,}{t.cache_creation_input_tokens:>10,}"
              f"{t.cache_read_input_tokens:>10,}{t.output_tokens:>9,}{spend.cost_usd:>10.4f}")
    print(f"{'total':<9}{stats.total.agents:>7}{u.input_tokens:>10,}"
          f"{u.cache_creation_input_tokens:>10,}{u.cache_read_input_tokens:>10,}"
          f"{u.output_tokens:>9,}{stats.total.cost_usd:>10.4f}")
    print(f"cache-read share of input-side tokens: {u.cache_read_share:.0%}")
    print(cost_line(stats))


def main() -> int:
    t0 = time.perf_counter()
    repo = build_repo()
    print(f"repository: Django {OLD} -> {NEW} ready in {time.perf_counter() - t0:.1f}s ({repo})")
    added = added_lines(repo)
    print(f"diff: {len(added)} files with added lines: {', '.join(added)}")
    script = Script(added)
    default = Config()
    deep = Config.model_validate({"models": {"roles": {
        "finder": "deep", "skeptic": "deep", "judge": "deep", "synthesizer": "deep"}}})
    unprimed = Config.model_validate({"runtime": {"prime_caches": False}})
    ours = review(repo, default, script, caching=True)
    loose = review(repo, unprimed, script, caching=True)
    base = review(repo, deep, script, caching=False)
    describe("default: per-role tiers, prompt caching", *ours)
    describe("default without cache priming (siblings start together)", *loose)
    describe("baseline: every role on the deep tier, no caching", *base)
    a, b = ours[1].total, base[1].total
    ratio = a.cost_usd / b.cost_usd if b.cost_usd else float("nan")
    same = a.agents == b.agents
    print(f"\ncache priming saves {1 - a.cost_usd / loose[1].total.cost_usd:.1%} of the "
          "unprimed default's dollars")
    print(f"default / baseline dollars: {a.cost_usd:.4f} / {b.cost_usd:.4f} = {ratio:.1%} "
          f"(goal <= 25%) · same number of agents: {same} ({a.agents} vs {b.agents})")
    return 0 if ratio <= 0.25 and same else 1


# --- deeper verification: reproduction and thorough mode over the default -----------------

WINDOWS = '''"""Sliding windows and friends."""


def window(items, size):
    return [items[i:i + size] for i in range(len(items) - size)]


def pairs(items):
    return window(items, 2)


def first(items, default=None):
    return items[0] if items else default
'''
ROUND = re.compile(r"This is finder round (\d+)")
CLAIMS = {  # title -> (finding, the reproducer's test, the failure it predicts)
    "window drops the last full window": ({
        "line": 5, "severity": "high", "category": "correctness",
        "evidence": "return [items[i:i + size] for i in range(len(items) - size)]",
    }, "from windows import window\n\n\ndef test_last():\n"
       "    assert window([1, 2, 3], 2) == [[1, 2], [2, 3]], 'last window missing'\n",
       "last window missing"),
    "first raises on an empty list": ({
        "line": 13, "severity": "high", "category": "correctness",
        "evidence": "return items[0] if items else default",
    }, "from windows import first\n\n\ndef test_empty():\n    assert first([]) is None\n",
       "IndexError"),
    "pairs allocates a list": ({
        "line": 9, "severity": "low", "category": "performance",
        "evidence": "return window(items, 2)",
    }, "", ""),
}


class DeeperScript:
    """Round 1 finds two claims, round 2 one more (and repeats one), later rounds nothing;
    reproducers write real tests; skeptics split by a hash, as in the main bench."""

    def __call__(self, req: MessagesRequest) -> Any:
        role, text = req.role, req.all_text
        if role == "finder":
            m = ROUND.search(req.last_user_text)
            n = int(m.group(1)) if m else 1
            titles = {1: ["window drops the last full window", "pairs allocates a list"],
                      2: ["first raises on an empty list", "pairs allocates a list"]}.get(n, [])
            return {"findings": [self._finding(t) for t in titles]}
        if role == "reproducer":
            title = next(t for t in CLAIMS if t in text)
            _, test, expected = CLAIMS[title]
            path = f"tests/test_repro_{_digest(title) % 1000}.py"
            if not req.tool_results:
                return Reply.tool_use("write_file", {"path": path, "content": test})
            return {"test_path": path, "expected_failure": expected}
        if role in ("skeptic", "judge"):
            seed = _digest(req.last_user_text, text[-400:])
            return {"verdict": "confirmed" if seed % 3 else "refuted", "reason": _prose(seed, 35)}
        return {"summary": _prose(7, 70)}

    @staticmethod
    def _finding(title: str) -> dict[str, Any]:
        spec = CLAIMS[title][0]
        return {"path": "windows.py", "start_line": spec["line"], "end_line": spec["line"],
                "severity": spec["severity"], "category": spec["category"], "title": title,
                "explanation": _prose(len(title), 40), "evidence": spec["evidence"]}


def deeper_repo(root: Path) -> Path:
    """A small real repository: `change` shortens every window by one (the planted bug)."""
    repo = root / "windows"
    (repo / "tests").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "pyproject.toml").write_text("[project]\nname = 'windows'\nversion = '0'\n")
    (repo / "windows.py").write_text(WINDOWS.replace("len(items) - size", "len(items) - size + 1"))
    (repo / "tests" / "test_windows.py").write_text(
        "from windows import pairs\n\n\ndef test_pairs():\n    assert pairs([1, 2]) == [[1, 2]]\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "change")
    (repo / "windows.py").write_text(WINDOWS)
    git(repo, "commit", "-q", "-am", "shorter windows")
    return repo


def deeper() -> int:
    modes: dict[str, dict[str, str]] = {
        "default": {},
        "reproduce = high": {"reproduce": "high"},
        "thorough": {"mode": "thorough"},
        "thorough + reproduce": {"mode": "thorough", "reproduce": "high"},
    }
    with tempfile.TemporaryDirectory(prefix="review-cost-") as tmp:
        repo = deeper_repo(Path(tmp))
        runs = {name: review(repo, Config.model_validate({"review": {
            "tiny_change_lines": 0, **keys}}), DeeperScript(), caching=True, head="change")
            for name, keys in modes.items()}
    base = runs["default"][1].total
    print("the same change, the same scripted model; extra = over the default review")
    print(f"{'mode':<22}{'agents':>7}{'dollars':>10}{'extra':>10}{'extra %':>9}{'wall s':>8}"
          "  funnel")
    for name, (result, stats, wall) in runs.items():
        t, fn = stats.total, result.funnel
        extra = t.cost_usd - base.cost_usd
        share = extra / base.cost_usd if base.cost_usd else 0.0
        rounds = f", {len(fn.rounds)} rounds" if len(fn.rounds) > 1 else ""
        print(f"{name:<22}{t.agents:>7}{t.cost_usd:>10.4f}{extra:>+10.4f}{share:>+9.0%}"
              f"{wall:>8.1f}  {fn.deduplicated} distinct, {fn.confirmed} confirmed "
              f"({fn.reproduced} by a test), {fn.refuted} refuted ({fn.disproved} by a test)"
              f"{rounds}")
    reproduced = runs["reproduce = high"][0].funnel.reproduced
    return 0 if reproduced >= 1 and len(runs["thorough"][0].funnel.rounds) >= 3 else 1


if __name__ == "__main__":
    raise SystemExit(deeper() if "--deeper" in sys.argv[1:] else main())
