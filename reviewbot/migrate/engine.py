"""One file's migration task: transform (rule, then model tiers), gates, commit.

The harness sends every file through :func:`migrate_file` in a pipeline; this module
holds what happens to one file. Tiers are tried cheapest first: the deterministic
rule, then the author agent on the fast, balanced and deep tiers, one try each, the
next one shown the previous gate failure. The worktree is restored between tries.

The rule tier needs no file system unless a ``--verify`` command must run: it reads the
blob at the base, rewrites and gates it in memory and commits straight into the object
store (:func:`reviewbot.git.commit_files`). A worktree is taken only when a task needs one:
a verify command, or a model author editing with tools.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

import anyio
import anyio.to_thread
from pydantic import BaseModel, Field

from reviewbot.code.languages import language_for_path
from reviewbot.code.parsing import parse, resolve_language
from reviewbot.config import Tier
from reviewbot.errors import UsageError
from reviewbot.git import (
    Identity,
    Repo,
    RepoView,
    Worktree,
    WorktreePool,
    commit_files,
    commit_worktree,
    restore,
    set_branch,
)
from reviewbot.migrate.discover import Site, sites_in_source, spans_for
from reviewbot.migrate.gates import (
    FileChange,
    GateResult,
    RemainingSite,
    SkepticVerdict,
    clip,
    line_matcher,
    parse_gate,
    scope_gate,
    sites_gate,
    unified_diff,
    verify_gate,
    weakened_tests_gate,
)
from reviewbot.migrate.import_order import ImportSections, sections_for_view
from reviewbot.migrate.result import RULE_TIER, Attempt, FileResult
from reviewbot.migrate.rewrite import RuleNotApplicable, rewrite_file
from reviewbot.migrate.rules import MigrationSpec
from reviewbot.migrate.store import TaskStore, task_key
from reviewbot.migrate.tools import worktree_tools
from reviewbot.models import data_block
from reviewbot.runtime import AgentError, RunStopped
from reviewbot.runtime.api import HarnessRun

MODEL_TIERS = tuple(Tier)  # the escalation order: fast -> balanced -> deep
# Every gate a change passes, cheapest first. The harness states the order; verify (a
# worktree) and skeptic (a model) come last because they cost the most.
GATES = ("parse", "sites", "scope", "tests", "verify", "skeptic")
_LAST_GATES = ("verify", "skeptic")
NO_MODEL = "no model configured (set ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL)"


class AuthorResult(BaseModel):
    """What the author agent reports after editing the file in its worktree."""

    summary: str = Field(description="one or two sentences on what was changed")
    kept_sites: list[RemainingSite] = Field(
        default_factory=list,
        description="target call sites deliberately left unchanged, each with why",
    )
    justification: str | None = Field(
        default=None, description="why anything outside the call sites and imports had to change"
    )


@dataclass
class Tally:
    """Live counts for the progress line and the timings in the report."""

    done: int = 0
    failed: int = 0
    in_flight: int = 0
    unfinished: int = 0  # outcomes a re-run could change (no model, run stopped): not recorded
    peak_worktrees: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    _last_note: float = 0.0

    def due(self, force: bool) -> bool:
        """Whether a progress line is due (at most one a second, unless forced)."""
        now = time.monotonic()
        if not force and now - self._last_note < 1.0:
            return False
        self._last_note = now
        return True

    @contextmanager
    def timed(self, what: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - start


@dataclass
class MigrationJob:
    """Everything the per-file tasks of one migration share."""

    run: HarnessRun
    repo: Repo
    base: str
    spec: MigrationSpec
    instruction: str
    verify: str | None
    verify_timeout: float
    pool: WorktreePool
    store: TaskStore
    task_branch_prefix: str
    total_files: int
    # rule-tier tasks without --verify run in memory; False sends them through worktrees
    # too (the same result, slower: kept to compare the two)
    rules_in_memory: bool = True
    # The model tiers the author agent climbs after the rule tier, one try each.
    ladder: tuple[Tier, ...] = MODEL_TIERS
    # The gates in the order they run; the first failure ends the attempt.
    gates: tuple[str, ...] = GATES
    tally: Tally = field(default_factory=Tally)
    # who task and assembly commits are by (None: ``migrate.commit_name/commit_email`` of
    # the run's config); dated at the base, so a task's commit id depends on its inputs alone
    identity: Identity | None = None
    # tasks queue here, not inside the pool, so worktree time measures handling, not waiting
    slots: anyio.Semaphore = field(init=False)
    cpu: anyio.Semaphore = field(init=False)

    _sections: ImportSections | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if sorted(self.gates) != sorted(GATES) or self.gates[-2:] != _LAST_GATES:
            raise UsageError(f"migration gates must be an order of {', '.join(GATES)} ending "
                             "with verify, skeptic (every gate runs; those two cost the most)")
        if not self.ladder:
            raise UsageError("the migration's tier ladder needs at least one model tier")
        if self.identity is None:
            conf = self.run.config.migrate
            self.identity = Identity(conf.commit_name, conf.commit_email)
        self.slots = anyio.Semaphore(self.pool.size)
        # rewrites and gates hold the GIL: more files at once than cores only interleave
        # them, and a file that goes through alone has its commit (and its verify) sooner
        self.cpu = anyio.Semaphore(os.cpu_count() or 1)

    def import_sections(self) -> ImportSections:
        """How the project at the base sorts imports (read once)."""
        if self._sections is None:
            self._sections = sections_for_view(RepoView.at(self.repo, self.base))
        return self._sections

    def key(self, path: str) -> str:
        return task_key(
            instruction=self.instruction,
            spec_key=self.spec.key(),
            verify=self.verify,
            path=path,
            base=self.base,
        )

    def task_branch(self, path: str) -> str:
        """The branch that holds ``path``'s task commit (one per task key)."""
        return f"{self.task_branch_prefix}/{self.key(path)[:16]}"

    def progress(self, force: bool = False) -> None:
        t = self.tally
        if not t.due(force):
            return
        self.run.progress(
            f"files {t.done + t.failed}/{self.total_files} done ({t.failed} failed) · "
            f"{t.in_flight} in flight · ${self.run.budget.spent:.2f} so far"
        )


# --- the task --------------------------------------------------------------------------


async def migrate_file(job: MigrationJob, path: str, sites: Sequence[Site]) -> FileResult:
    """Migrate one file, or reuse what an earlier run with the same task key finished."""
    key = job.key(path)
    prior = job.store.get(key)
    if prior is not None and (prior.commit is None or job.repo.has_commit(prior.commit)):
        _count(job, prior)
        return prior.model_copy(update={"reused": True})
    lines = sorted({s.line for s in sites})
    if job.run.stopped:
        return FileResult(
            path=path,
            site_lines=lines,
            status="skipped",
            reason=f"run stopped ({job.run.stop_reason}) before this file",
        )
    if not job.spec.has_rule and not job.run.models_available:
        return FileResult(path=path, site_lines=lines, status="skipped", reason=NO_MODEL)
    result, final = await _task(job, key, path, sites, lines)
    if final:
        await anyio.to_thread.run_sync(job.store.put, key, job.base, result, job.run.run_id)
    else:
        job.tally.unfinished += 1
    _count(job, result)
    return result


def _count(job: MigrationJob, result: FileResult) -> None:
    if result.status in ("failed", "dropped"):
        job.tally.failed += 1
    else:
        job.tally.done += 1
    job.progress(force=job.tally.done + job.tally.failed == job.total_files)


@dataclass
class _Tried:
    """What the tiers of one task tried so far (the rule tier may run before any worktree)."""

    attempts: list[Attempt] = field(default_factory=list)
    failure: Attempt | None = None
    rule_note: str = ""  # why the rule does not apply, when it does not
    rule_done: bool = False


Outcome = tuple[FileResult, bool]


def in_memory(job: MigrationJob) -> bool:
    """Whether the rule tier runs without a worktree (one is taken for --verify alone)."""
    return job.rules_in_memory and job.spec.has_rule


async def _task(
    job: MigrationJob, key: str, path: str, sites: Sequence[Site], lines: list[int]
) -> Outcome:
    """(result, final): ``final`` is False when a re-run could end differently
    (no model, run stopped)."""
    tally = job.tally
    tally.in_flight += 1
    try:
        tried = _Tried()
        if in_memory(job):
            outcome = await _rule_tier(job, None, key, path, sites, lines, tried)
            if outcome is None and not job.run.models_available:
                outcome = _without_model(path, lines, tried)
            if outcome is not None:
                return outcome
        async with _worktree(job) as wt:
            return await _tiers(job, wt, key, path, sites, lines, tried)
    finally:
        tally.in_flight -= 1


@asynccontextmanager
async def _worktree(job: MigrationJob) -> AsyncIterator[Worktree]:
    """A pooled worktree at the base for as long as the task needs a file system.

    Tasks queue on ``job.slots``, not inside the pool, so worktree time measures handling,
    not waiting."""
    tally = job.tally
    async with job.slots:
        entered = time.perf_counter()
        async with job.pool.checkout(job.base) as wt:
            handed = time.perf_counter() - entered
            tally.seconds["worktree"] = tally.seconds.get("worktree", 0.0) + handed
            tally.peak_worktrees = max(tally.peak_worktrees, _worktrees_on_disk(job.pool))
            try:
                yield wt
            finally:
                leaving = time.perf_counter()
        tally.seconds["worktree"] += time.perf_counter() - leaving


async def _rule_tier(
    job: MigrationJob,
    wt: Worktree | None,
    key: str,
    path: str,
    sites: Sequence[Site],
    lines: list[int],
    tried: _Tried,
) -> Outcome | None:
    """The rule's try, in ``wt`` or (None) in memory: a final outcome, or None with what it
    found recorded in ``tried`` for the model tiers."""
    tried.rule_done = True
    # in memory, a file holds a core from its read to its commit: it then goes on to verify
    # while later files are still being rewritten
    async with job.cpu if wt is None else nullcontext():
        attempt, tried.rule_note, kept, after = await _rule_attempt(job, wt, path, sites)
        if tried.rule_note == ALL_ALREADY:
            result = FileResult(path=path, site_lines=lines, status="skipped", reason=ALL_ALREADY)
            return result, True
        if attempt is None:
            return None
        tried.attempts.append(attempt)
        if not attempt.passed:
            tried.failure = attempt
            return None
        if wt is not None:
            write = partial(commit_worktree, wt, paths=[path], identity=job.identity)
        elif not job.verify:
            write = partial(commit_files, job.repo, job.base, {path: after}, identity=job.identity)
        else:
            # the commit exists before its check, and is named once that passed
            write = partial(_unnamed_commit, job, {path: after})
        result = await _commit(job, write, path, lines, tried.attempts, RULE_TIER, kept)
    if wt is not None or not job.verify or result.commit is None:
        return result, True
    # a worktree only to run the verify command on the commit's files
    verified = await _verify_change(job, {path: after})
    attempt.gates.append(verified)
    if not verified.passed:
        tried.failure = attempt
        return None
    await anyio.to_thread.run_sync(set_branch, job.repo, job.task_branch(path), result.commit)
    return result, True


def _unnamed_commit(
    job: MigrationJob, files: dict[str, bytes | None], message: str, branch: str
) -> str | None:
    return commit_files(job.repo, job.base, files, message, None, job.identity)


async def _verify_change(job: MigrationJob, files: dict[str, bytes | None]) -> GateResult:
    """The verify command's verdict on ``files`` written over the base in a worktree."""
    assert job.verify is not None
    async with _worktree(job) as wt:
        await anyio.to_thread.run_sync(_apply_files, wt.path, files)
        with job.tally.timed("verify"):
            return await verify_gate(job.verify, wt.path, timeout=job.verify_timeout)


def _without_model(path: str, lines: list[int], tried: _Tried) -> Outcome:
    """Where the rule left a file when no model may take it on. Not final: a run with a
    model configured would go on to the model tiers."""
    if tried.failure is not None:
        return _failed(path, lines, tried.attempts, note=NO_MODEL), False
    note = tried.rule_note
    return FileResult(
        path=path,
        site_lines=lines,
        status="skipped",
        reason=f"{note}; {NO_MODEL}" if note else NO_MODEL,
    ), False


async def _tiers(
    job: MigrationJob,
    wt: Worktree,
    key: str,
    path: str,
    sites: Sequence[Site],
    lines: list[int],
    tried: _Tried,
) -> Outcome:
    if job.spec.has_rule and not tried.rule_done:
        outcome = await _rule_tier(job, wt, key, path, sites, lines, tried)
        if outcome is not None:
            return outcome
        if tried.failure is not None:
            await _restore(job, wt)
    if not job.run.models_available:
        return _without_model(path, lines, tried)
    attempts = tried.attempts
    failure = tried.failure
    stopped = False
    for tier in job.ladder:
        if job.run.stopped:
            stopped = True
            break
        try:
            attempt, author, edited = await _agent_attempt(
                job, wt, key, path, sites, tier, failure, tried.rule_note
            )
        except RunStopped:
            stopped = True
            break
        attempts.append(attempt)
        if attempt.passed and author is not None:
            kept = {k.line: k.reason for k in author.kept_sites}
            write = partial(commit_worktree, wt, paths=edited, identity=job.identity)
            return await _commit(job, write, path, lines, attempts, tier.value, kept), True
        failure = attempt
        await _restore(job, wt)
    if stopped:
        # not every tier had its try: a later run (more budget) may still finish this file
        reason = f"run stopped ({job.run.stop_reason}) before every tier was tried"
        if attempts:
            return _failed(path, lines, attempts, note=reason), False
        return FileResult(path=path, site_lines=lines, status="skipped", reason=reason), False
    return _failed(path, lines, attempts), True


def _worktrees_on_disk(pool: WorktreePool) -> int:
    return sum(1 for p in pool.dir.iterdir() if p.is_dir())


def _failed(path: str, lines: list[int], attempts: list[Attempt], note: str = "") -> FileResult:
    last = attempts[-1]
    gate = last.failed_gate
    gate_name = gate.gate if gate is not None else "agent"
    tiers = ", ".join(a.tier for a in attempts)
    reason = f"failed the {gate_name} gate (tried: {tiers})" + (f"; {note}" if note else "")
    return FileResult(
        path=path,
        site_lines=lines,
        status="failed",
        reason=reason,
        failed_gate=gate_name,
        output=gate.output if gate is not None else last.note,
        attempts=attempts,
    )


async def _restore(job: MigrationJob, wt: Worktree) -> None:
    with job.tally.timed("worktree"):
        await anyio.to_thread.run_sync(restore, wt)


async def _commit(
    job: MigrationJob,
    write: Callable[[str, str], str | None],
    path: str,
    lines: list[int],
    attempts: list[Attempt],
    tier: str,
    kept: dict[int, str],
) -> FileResult:
    """Commit the task's change on its task branch. ``write(message, branch)`` commits
    exactly the files the transformation edited (listed before any verify command ran:
    what that command built in a worktree stays out) and returns the sha, None when
    nothing changed."""
    message = f"{job.instruction}\n\nreviewbot migrate: {path} ({tier} tier)\n"
    branch = job.task_branch(path)
    with job.tally.timed("commit"):
        sha = await anyio.to_thread.run_sync(write, message, branch)
    if sha is None:
        return FileResult(
            path=path,
            site_lines=lines,
            status="skipped",
            reason="the change left the file as it was",
            attempts=attempts,
        )
    return FileResult(
        path=path,
        site_lines=lines,
        status="migrated",
        tier=tier,
        attempts=attempts,
        commit=sha,
        kept_sites=kept,
    )


# --- the rule tier -----------------------------------------------------------------------


ALREADY = "already in the target form"
ALL_ALREADY = f"every site is {ALREADY}"


@dataclass(frozen=True)
class RuleRewrite:
    source: bytes
    already: tuple[int, ...]  # start bytes of the sites the rule leaves as they are


def rule_rewrite(
    spec: MigrationSpec,
    path: str,
    source: bytes,
    sites: Sequence[Site],
    sections: ImportSections | None = None,
) -> RuleRewrite | str:
    """The file rewritten by the spec's rule, or why the rule does not apply to it.

    ``sections``: how the project sorts imports (where an added Python import goes)."""
    template = spec.parsed_template
    assert template is not None
    lang = resolve_language(spec.language) if spec.language else language_for_path(path)
    if lang is None:
        return "no grammar for this file type"
    tree = parse(source, lang)
    spans = spans_for(spec, tree, sites)
    try:
        outcome = rewrite_file(
            source,
            tree,
            lang.name,
            spans,
            template,
            spec.imports,
            strip_args=spec.query is not None,
            # A package's __init__ imports are often re-exports other modules rely on.
            prune_imports=spec.prune_imports and PurePosixPath(path).name != "__init__.py",
            sections=sections,
        )
    except RuleNotApplicable as exc:
        return f"rule not applied: {exc}"
    if not outcome.rewritten:
        if outcome.already and not outcome.unmatched:
            return ALL_ALREADY
        why = outcome.unmatched[0][1] if outcome.unmatched else "no site matched the rule"
        return f"rule not applied: {why}"
    return RuleRewrite(outcome.source, tuple(outcome.already))


def _rule_transform(
    job: MigrationJob, root: Path | None, path: str, sites: Sequence[Site]
) -> tuple[bytes, RuleRewrite] | str:
    """(before, rewrite), or why the rule does not apply. With a worktree ``root`` the file
    is read from it and the rewrite written into it; without, the blob at the base is read."""
    target = root / path if root is not None else None
    source = target.read_bytes() if target is not None else job.repo.read_blob(job.base, path)
    done = rule_rewrite(job.spec, path, source, sites, job.import_sections())
    if isinstance(done, str):
        return done
    if target is not None:
        target.write_bytes(done.source)
    return source, done


async def _rule_attempt(
    job: MigrationJob, wt: Worktree | None, path: str, sites: Sequence[Site]
) -> tuple[Attempt | None, str, dict[int, str], bytes]:
    """(the rule tier's attempt, "", sites it left as they were, the rewritten file), or
    (None, why the rule does not apply, {}, b"")."""
    root = wt.path if wt is not None else None
    with job.tally.timed("transform"):
        done = await anyio.to_thread.run_sync(_rule_transform, job, root, path, sites)
    if isinstance(done, str):
        return None, done, {}, b""
    before, rewrite = done
    changes = [FileChange(path, before, rewrite.source)]
    # sites already in the target form are not targets: `join(...)` must not count as a
    # leftover of `os.path.join(...)` in a file that imported join before
    targets = [s for s in sites if s.start_byte not in rewrite.already]
    gates = await _gates(job, root, path, targets, changes, tier=RULE_TIER)
    attempt = Attempt(tier=RULE_TIER, gates=gates, note=clip(unified_diff(changes), 6000))
    kept = {s.line: ALREADY for s in sites if s.start_byte in rewrite.already}
    return attempt, "", kept, rewrite.source


# --- the model tiers ---------------------------------------------------------------------

AUTHOR_SYSTEM = (
    "You migrate code in a git worktree, one file per task, using only the tools given. "
    "Make the smallest change that carries out the instruction at the listed call sites, plus "
    "the imports it needs. Never delete, skip or weaken tests, never change behaviour the "
    "instruction does not ask for. When a call site must stay as it is, list it in kept_sites "
    "with the reason; when something outside the call sites and imports must change, explain "
    "why in justification."
)


def _author_prompt(
    job: MigrationJob, path: str, sites: Sequence[Site], previous: Attempt | None, rule_note: str
) -> str:
    listing = "\n".join(f"line {s.line}: {s.snippet}" for s in sites)
    parts = [
        f"Migrate the call sites in `{path}` as the instruction says.",
        data_block("call sites", listing),
        "Read the file with read_file, edit it with replace_in_file or write_file, then answer.",
    ]
    if rule_note:
        parts.append(f"The deterministic rewrite rule did not apply here: {rule_note}.")
    if previous is not None:
        gate = previous.failed_gate
        what = gate.gate if gate is not None else "agent"
        output = gate.output if gate is not None else previous.note
        parts.append(
            f"An earlier attempt ({previous.tier} tier) was rejected by the {what} gate. "
            "Start again from the original file and avoid that failure."
        )
        parts.append(data_block("gate output", clip(output, 3000)))
        if previous.note:
            parts.append(data_block("rejected diff", previous.note))
    return "\n\n".join(parts)


async def _agent_attempt(
    job: MigrationJob,
    wt: Worktree,
    key: str,
    path: str,
    sites: Sequence[Site],
    tier: Tier,
    previous: Attempt | None,
    rule_note: str,
) -> tuple[Attempt, AuthorResult | None, list[str]]:
    """(attempt, the author's answer, the files it edited, listed before any gate ran)."""
    recorded = await anyio.to_thread.run_sync(job.store.get_attempt, key, tier.value)
    if recorded is not None:
        # a resumed task: put back what this tier's author left, without asking again
        answer, files = recorded
        author = AuthorResult.model_validate_json(answer)
        await anyio.to_thread.run_sync(_apply_files, wt.path, files)
    else:
        # The nonce keeps the journal from replaying an author call on resume: a replay
        # returns the answer but not the edits the agent made with its tools.
        prompt = _author_prompt(job, path, sites, previous, rule_note)
        prompt += f"\n\n(task attempt {key[:12]}-{tier.value}-{secrets.token_hex(4)})"
        with job.tally.timed("transform"):
            try:
                author = await job.run.agent(
                    prompt,
                    schema=AuthorResult,
                    role="author",
                    tools=worktree_tools(wt.path),
                    phase="migrate",
                    tier=tier,
                    system=AUTHOR_SYSTEM,
                    context=(data_block("instruction", job.instruction),),
                )
            except AgentError as exc:
                failed = GateResult(gate="agent", passed=False, output=str(exc))
                return Attempt(tier=tier.value, gates=[failed]), None, []
    changes = await anyio.to_thread.run_sync(worktree_changes, job.repo, wt)
    if recorded is None:
        files = {c.path: c.after for c in changes}
        await anyio.to_thread.run_sync(
            job.store.put_attempt, key, tier.value, author.model_dump_json(), files
        )
    gates = await _gates(
        job,
        wt.path,
        path,
        sites,
        changes,
        tier=tier.value,
        kept=author.kept_sites,
        justification=author.justification,
    )
    attempt = Attempt(tier=tier.value, gates=gates, note=clip(unified_diff(changes), 6000))
    return attempt, author, [c.path for c in changes]


def _apply_files(root: Path, files: dict[str, bytes | None]) -> None:
    for rel, content in files.items():
        target = root / rel
        if content is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


def worktree_changes(repo: Repo, wt: Worktree) -> list[FileChange]:
    """Every file the task changed in its worktree, with content before and after."""
    out: list[FileChange] = []
    for rel in wt.changed_paths():
        before: bytes | None
        try:
            before = repo.read_blob(wt.commit, rel)
        except FileNotFoundError:
            before = None
        target = wt.path / rel
        after = target.read_bytes() if target.is_file() else None
        if before != after:
            out.append(FileChange(rel, before, after))
    return out


# --- gates ---------------------------------------------------------------------------------


async def _gates(
    job: MigrationJob,
    cwd: Path | None,
    path: str,
    sites: Sequence[Site],
    changes: list[FileChange],
    *,
    tier: str,
    kept: Sequence[RemainingSite] = (),
    justification: str | None = None,
) -> list[GateResult]:
    """Run the gates in order; stop at the first failure (later gates cost more).

    ``cwd``: the worktree a verify command runs in (None: a change gated in memory, whose
    commit is verified once it exists)."""
    if not changes:
        return [GateResult(gate="sites", passed=False, output="the attempt changed nothing")]
    with job.tally.timed("gates"):
        results = await anyio.to_thread.run_sync(
            _deterministic_gates, job, path, sites, changes, kept, justification
        )
    if not results[-1].passed:
        return results
    if job.verify and cwd is not None:  # in memory, the caller verifies the commit
        with job.tally.timed("verify"):
            results.append(await verify_gate(job.verify, cwd, timeout=job.verify_timeout))
        if not results[-1].passed:
            return results
    if tier != RULE_TIER:
        results.append(await _skeptic_gate(job, changes))
    return results


def _deterministic_gates(
    job: MigrationJob,
    path: str,
    sites: Sequence[Site],
    changes: list[FileChange],
    kept: Sequence[RemainingSite],
    justification: str | None,
) -> list[GateResult]:
    """parse, sites, scope, tests: up to the first that fails (in one worker thread)."""
    target = next((c for c in changes if c.path == path), None)
    site_lines = {n for s in sites for n in range(s.line, s.end_line + 1)}
    by_name: dict[str, Callable[[], GateResult]] = {
        "parse": partial(parse_gate, changes),
        "sites": partial(_sites_gate, job, path, sites, target, kept),
        "scope": partial(scope_gate, path, changes, site_lines, justification=justification),
        "tests": partial(weakened_tests_gate, changes),
    }
    results: list[GateResult] = []
    for name in job.gates[: -len(_LAST_GATES)]:
        results.append(by_name[name]())
        if not results[-1].passed:
            break
    return results


def _sites_gate(
    job: MigrationJob,
    path: str,
    sites: Sequence[Site],
    target: FileChange | None,
    kept: Sequence[RemainingSite],
) -> GateResult:
    if target is None:
        return GateResult(gate="sites", passed=False, output=f"{path} was not changed")
    if target.after is None:
        return sites_gate([], kept)
    after = sites_in_source(job.spec, path, target.after)
    if job.spec.find is not None:
        # a call still written the old way; `join(...)` after `from os.path import join` is the
        # same function, but it is the migrated form, not a leftover
        written = {s.callee for s in sites}
        after = [s for s in after if s.callee in written]
    if not after:
        return sites_gate([], kept)
    # explanations name lines of the original file: map the new file's lines back
    back = original_lines(target.before or b"", target.after)
    return sites_gate([(back.get(s.line, s.line), s.snippet) for s in after], kept)


def original_lines(before: bytes, after: bytes) -> dict[int, int]:
    """New line number -> old line number, for lines the change left in place."""
    out: dict[int, int] = {}
    for block in line_matcher(before, after).get_matching_blocks():
        for k in range(block.size):
            out[block.b + k + 1] = block.a + k + 1
    return out


SKEPTIC_SYSTEM = (
    "You review one change made by an automated migration. You see only the instruction and "
    "the diff. Reject it if it changes behaviour beyond what the instruction asks (changed "
    "logic, arguments, error handling, removed or weakened tests) or if you are unsure; accept "
    "it only when it does exactly what the instruction asks."
)


async def _skeptic_gate(job: MigrationJob, changes: Sequence[FileChange]) -> GateResult:
    prompt = "\n\n".join(
        [
            data_block("instruction", job.instruction),
            data_block("diff", clip(unified_diff(changes), 20000)),
            "Does this diff do only what the instruction asks?",
        ]
    )
    try:
        verdict = await job.run.agent(
            prompt,
            schema=SkepticVerdict,
            role="skeptic",
            tier=Tier.FAST,
            phase="skeptic",
            system=SKEPTIC_SYSTEM,
        )
    except AgentError as exc:
        return GateResult(
            gate="skeptic", passed=False, output=f"the skeptic gave no verdict: {exc}"
        )
    return GateResult(gate="skeptic", passed=verdict.verdict == "accept", output=verdict.reason)
