"""`reviewbot action`: one Actions job, from the event to what is posted.

The flow is fixed in code: parse the event (identifiers only), check who asked, run the
job, then post from the validated structured result. Text from the pull request never
decides an action; the token goes to GitHub and the git remote and nowhere else.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import github3
from github3.exceptions import ForbiddenError
from pydantic import BaseModel, ValidationError

from reviewbot.config import Config, Severity, load_config
from reviewbot.errors import ExitCode, GitError, GitHubError, UsageError
from reviewbot.github.answer import answer_in_thread
from reviewbot.github.checks import post_check_run
from reviewbot.github.client import connect, raw_json
from reviewbot.github.events import ALWAYS, ActionEnv, Task, Trigger, parse_event
from reviewbot.github.feedback import collect_dismissals, permission_checker
from reviewbot.github.fixes import fix_on_request, fix_report
from reviewbot.github.inert import inert
from reviewbot.github.jobs import (
    ensure_commits,
    head_reader,
    is_ancestor,
    migration_request,
    origin_url,
    pull_base,
    run_migration_job,
    run_review_job,
)
from reviewbot.github.memory_pr import propose_memory
from reviewbot.github.migration_pr import open_or_update_pr, push_branch
from reviewbot.github.publish import PublishOutcome, previous_state, publish_review
from reviewbot.github.threads import resolve_fixed_threads, resolved_by_people
from reviewbot.github.tracking import state_key
from reviewbot.models.access import model_access
from reviewbot.report.run_summary import run_summary_markdown
from reviewbot.review.findings import ReviewResult
from reviewbot.review.memory import MEMORY_FILE, Remembered
from reviewbot.runtime.journal import state_dir

MAX_RESULT_BYTES = 20_000_000


class ActionOptions(BaseModel):
    mode: Literal["review", "migrate"] = "review"
    config: Path | None = None
    fail_on: Severity | None = None
    max_cost: float | None = None
    post_only: Path | None = None  # a result produced by an unprivileged job
    result_out: Path | None = None  # also write the result as JSON (the unprivileged half)
    no_post: bool = False
    sarif_out: Path | None = None


class ActionOutcome(BaseModel):
    task: Task
    reason: str = ""
    exit_code: int = 0
    findings: int = 0
    cost_usd: float = 0.0
    sarif: Path | None = None
    refused: bool = False
    published: PublishOutcome | None = None
    pull_number: int | None = None
    pull_created: bool | None = None
    deterministic_only: bool = False
    memory_pull: int | None = None  # the pull request that proposes remembered dismissals
    answered: bool = False  # a reply was posted in a review thread
    fixed_commit: str | None = None  # /reviewbot fix: the commit pushed to the PR's branch


def _write_outputs(env: ActionEnv, outcome: ActionOutcome) -> None:
    if env.output is None:
        return
    lines = [
        f"findings={outcome.findings}",
        f"sarif={outcome.sarif or ''}",
        f"cost={outcome.cost_usd:.4f}",
    ]
    with env.output.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _run_summary(env: ActionEnv, run_id: str) -> str:
    """The run's phases, agents, cost and timeline (what the dashboard shows) in Markdown."""
    if not run_id:
        return ""
    return run_summary_markdown(state_dir(env.workspace), run_id) or ""


def _step_summary(env: ActionEnv, text: str) -> None:
    if env.step_summary is None:
        return
    with env.step_summary.open("a", encoding="utf-8") as fh:
        fh.write(text.rstrip() + "\n\n")


def _owner_name(full: str) -> tuple[str, str]:
    owner, name = full.split("/", 1)
    return owner, name


def _refuse(gh: github3.GitHub, env: ActionEnv, trigger: Trigger) -> bool:
    """True when the commenter may not run commands (and was told so)."""
    login = trigger.commenter or ""
    if not login:
        return True
    if permission_checker(gh, env.repository)(login):
        return False
    number = trigger.pr_number or _issue_number(env)
    if number is not None:
        raw_json(
            gh,
            "POST",
            f"/repos/{env.repository}/issues/{number}/comments",
            {
                "body": f"@{login} only people with write access to this repository "
                "can run `/reviewbot` commands."
            },
        )
    return True


def _resolved_threads(
    gh: github3.GitHub, env: ActionEnv, number: int, config: Config
) -> dict[str, str]:
    """Who resolved which of our threads; unknown (no dismissal) when GraphQL refuses."""
    try:
        return resolved_by_people(
            gh,
            api_url=env.api_url,
            repository=env.repository,
            number=number,
            bot_login=config.github.bot_login,
        )
    except GitHubError:
        return {}


def _subscribed(gh: github3.GitHub, env: ActionEnv, pull: github3.pulls.PullRequest) -> bool:
    """Someone with write access asked `/reviewbot review always` on this pull request (read
    from its comments, so no state has to survive between jobs)."""
    can_write = permission_checker(gh, env.repository)
    for comment in pull.issue_comments():
        login = getattr(getattr(comment, "user", None), "login", "") or ""
        if ALWAYS.search(comment.body or "") and login and can_write(str(login)):
            return True
    return False


def _issue_number(env: ActionEnv) -> int | None:
    issue = env.load_event().get("issue") or {}
    number = issue.get("number")
    return int(number) if isinstance(number, int) else None


def _load_result(path: Path, expected_head: str) -> ReviewResult:
    """A result from another job is untrusted input: validate it and bind it to this head."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read {path} ({exc}); pass the result file of the review job"
        ) from None
    if len(raw) > MAX_RESULT_BYTES:
        raise UsageError(f"{path} is larger than {MAX_RESULT_BYTES} bytes; refusing to post it")
    try:
        result = ReviewResult.model_validate_json(raw)
    except ValidationError as exc:
        raise UsageError(
            f"{path} is not a reviewbot result ({exc.errors()[0]['msg']}); "
            "produce it with `reviewbot action --result-out`"
        ) from None
    if result.head != expected_head:
        raise UsageError(
            f"{path} reviews commit {result.head[:12]} but the pull request head is "
            f"{expected_head[:12]}; "
            "post only a result of the current head"
        )
    return result


def _cost_line(result: ReviewResult) -> str | None:
    stats = result.stats
    if stats is None:
        return None
    try:
        from reviewbot.report.cost import cost_line
    except ImportError:
        return f"cost: {stats.total.agents} agents · total ${stats.total.cost_usd:.2f}"
    return str(cost_line(stats))


def _markdown(result: ReviewResult, cost: str | None, repository: str = "") -> str:
    """The Markdown report for GitHub (check run, job summary): model text rendered inert."""
    from reviewbot.report.markdown import render_markdown

    def text(value: str, inline: bool) -> str:
        return inert(value, repo=repository, limit=300 if inline else 4_000, inline=inline)

    return str(render_markdown(result, cost=cost, text=text))


def _sarif(result: ReviewResult, path: Path) -> Path:
    from reviewbot.report.sarif import render_sarif

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_sarif(result), encoding="utf-8")
    return path


STATE_KEY_SOURCES = (
    "REVIEWBOT_STATE_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "GITHUB_TOKEN",
)


def job_state_key(env_vars: Mapping[str, str]) -> bytes:
    """The key that signs the tracking state, from the first secret of the job that is set:
    ``REVIEWBOT_STATE_KEY``, the model key, else the GitHub token. The Actions
    ``GITHUB_TOKEN`` changes every run, so with it alone no earlier state verifies and each
    push is reviewed in full from its current findings."""
    for name in STATE_KEY_SOURCES:
        value = (env_vars.get(name) or "").strip()
        if value:
            return state_key(f"{name}\x00{value}")
    return state_key("")


def _find_pull_for_run(repo: github3.repos.Repository, payload: Mapping[str, Any]) -> int:
    """The pull request a `workflow_run` belongs to, from GitHub's own data (never the artifact)."""
    run = payload.get("workflow_run") or {}
    pulls = run.get("pull_requests") or []
    if pulls and isinstance(pulls[0].get("number"), int):
        return int(pulls[0]["number"])
    head_sha = run.get("head_sha")
    # Runs from forks list no pull requests: match the head commit among open ones.
    for pull in repo.pull_requests(state="open"):
        if pull.head.sha == head_sha:
            return int(pull.number)
    raise UsageError(f"no open pull request has head {str(head_sha)[:12]}; nothing to post")


def run_action(
    env_vars: Mapping[str, str], options: ActionOptions, *, cwd: Path | None = None
) -> ActionOutcome:
    env = ActionEnv.from_env(env_vars, cwd=cwd or Path.cwd())
    config = load_config(env.workspace, options.config)
    fail_on = options.fail_on or config.review.fail_on
    payload = env.load_event()
    if env.event_name == "workflow_run":
        trigger = Trigger(task=Task.REVIEW, reason="workflow_run")
        if options.post_only is None:
            raise UsageError("a workflow_run job only posts: pass --post-only RESULT.json")
    else:
        trigger = parse_event(
            env.event_name,
            payload,
            repository=env.repository,
            config=config.github,
            mode=options.mode,
        )
    if trigger.task is Task.SKIP:
        outcome = ActionOutcome(task=Task.SKIP, reason=trigger.reason)
        _step_summary(env, f"reviewbot: nothing to do ({trigger.reason}).")
        _write_outputs(env, outcome)
        return outcome

    gh = None if options.no_post else connect(env.api_url, env.token.get_secret_value())
    # A question in a thread is answered for anyone; an action it asks for needs write access.
    asks = trigger.task is not Task.ANSWER
    if gh is not None and trigger.commenter is not None and asks and _refuse(gh, env, trigger):
        outcome = ActionOutcome(
            task=trigger.task, reason=f"{trigger.commenter} has no write access", refused=True
        )
        _step_summary(
            env, f"reviewbot: refused a command from {trigger.commenter} (no write access)."
        )
        _write_outputs(env, outcome)
        return outcome

    if trigger.task is Task.MIGRATE:
        outcome = _migrate(env, gh, config, trigger, options, env_vars)
    elif trigger.task is Task.ANSWER:
        outcome = _answer(env, gh, config, trigger, options, env_vars)
    elif trigger.task is Task.FIX:
        outcome = _fix(env, gh, config, trigger, env_vars)
    else:
        outcome = _review(env, gh, config, trigger, options, payload, fail_on, env_vars)
    _write_outputs(env, outcome)
    return outcome


def _review(
    env: ActionEnv,
    gh: github3.GitHub | None,
    config: Config,
    trigger: Trigger,
    options: ActionOptions,
    payload: Mapping[str, Any],
    fail_on: Severity | None,
    env_vars: Mapping[str, str],
) -> ActionOutcome:
    repo = gh.repository(*_owner_name(env.repository)) if gh is not None else None
    if gh is not None and repo is None:
        raise GitHubError(f"repository {env.repository} not found with this token")
    number = trigger.pr_number
    if number is None and repo is not None:
        number = _find_pull_for_run(repo, payload)
    pull = repo.pull_request(number) if repo is not None and number is not None else None
    if trigger.only_if_subscribed and pull is not None and gh is not None:
        if not _subscribed(gh, env, pull):
            why = (f"review_on = {config.github.review_on!r} and the pull request is not "
                   "subscribed (`/reviewbot review always`)")
            _step_summary(env, f"reviewbot: nothing to do ({why}).")
            return ActionOutcome(task=Task.SKIP, reason=why)
    head = (pull.head.sha if pull is not None else None) or trigger.head_sha
    base = (pull.base.sha if pull is not None else None) or trigger.base_sha
    if not head or not base:
        raise UsageError(
            "the event names no pull request head and base; run on pull_request events"
        )

    notes: list[str] = []
    key = job_state_key(env_vars)
    incremental = None
    deterministic_only = False
    if options.post_only is not None:
        result = _load_result(options.post_only, head)
    else:
        model_env = dict(env_vars)
        has_model = model_access(model_env) is not None
        token = env.token.get_secret_value()
        ensure_commits(env.workspace, [base, head], token=token)
        review_base = pull_base(env.workspace, base, head, token=token)
        fork_point_unknown = review_base == base and not is_ancestor(env.workspace, base, head)
        before = trigger.before_sha
        if trigger.incremental and pull is not None:
            # Only the new commits, from the head we last reviewed: the push's `before` when we
            # saw every push; never reviewed (e.g. was a draft) or the old head gone: review all.
            state = previous_state(pull, config.github.bot_login, key)
            before = state.head if state is not None and state.head else None
        if trigger.incremental and before and trigger.head_sha == head:
            try:
                ensure_commits(env.workspace, [before], token=token)
            except GitError:
                before = None
            if before and is_ancestor(env.workspace, before, head):
                review_base = before
                incremental = f"{before[:7]}..{head[:7]}"
        result = run_review_job(
            env.workspace,
            base=review_base,
            head=head,
            config=config,
            budget_usd=options.max_cost,
            env=model_env,
            # The rules of the branch it merges into, never the pull request's own.
            rules_at=base,
        )
        if fork_point_unknown and incremental is None:
            result.notes.append(
                "Could not find where this pull request branches off the base (its history "
                "could not be fetched), so the change was taken from the base branch's tip and "
                "may include changes merged into the base since; set `fetch-depth: 0`."
            )
        if not has_model:
            deterministic_only = True
            why = (
                "this pull request comes from a fork, which gets no secrets"
                if trigger.is_fork
                else "no model key is set"
            )
            # In the result itself, so it travels with a result posted by another job.
            result.notes.append(
                f"Deterministic tier only: {why} "
                "(set the `anthropic-api-key` input to enable the model review)."
            )
    if options.result_out is not None:
        options.result_out.parent.mkdir(parents=True, exist_ok=True)
        options.result_out.write_text(result.model_dump_json(indent=2), encoding="utf-8")

    cost = _cost_line(result)
    published = None
    memory_pull: int | None = None
    if pull is not None and gh is not None:
        try:
            read_head = head_reader(env.workspace, head)
            if read_head is None:
                notes.append(
                    "Fixed findings are not tracked in this run: "
                    "the head commit is not in the checkout."
                )
            published = publish_review(
                pull,
                result,
                config=config.github,
                read_head=read_head,
                state_key=key,
                repository=env.repository,
                fail_on=fail_on,
                cost_line=cost,
                incremental_range=incremental,
                extra_notes=notes,
                feedback=lambda comments: collect_dismissals(
                    gh,
                    env.repository,
                    comments,
                    config.github.bot_login,
                    resolved=_resolved_threads(gh, env, int(pull.number), config),
                ),
                resolve_threads=lambda fixed: resolve_fixed_threads(
                    gh,
                    api_url=env.api_url,
                    repository=env.repository,
                    number=int(pull.number),
                    fixed=fixed,
                    bot_login=config.github.bot_login,
                ),
            )
            if config.github.check_run:
                post_check_run(
                    gh,
                    env.repository,
                    head,
                    result,
                    fail_on=fail_on,
                    summary=_markdown(result, cost, env.repository),
                )
            if config.github.remember_dismissals and published.to_remember and repo is not None:
                memory_pull = _remember(env, repo, pull, published.to_remember, config, notes)
        except ForbiddenError:
            if not trigger.is_fork:
                raise GitHubError(
                    "GitHub refused to post: give the job `pull-requests: write`, `issues: write` "
                    "(and `checks: write` for check runs) permissions"
                ) from None
            published = None
            notes.append(
                "Nothing was posted: a pull request from a fork gets a read-only token. "
                "Use the two-job pattern (`--result-out`, then `--post-only`) to post reviews."
            )

    sarif_path = (
        options.sarif_out
        or Path(env_vars.get("RUNNER_TEMP") or tempfile.gettempdir()) / "reviewbot.sarif"
    )
    _sarif(result, sarif_path)
    report = _markdown(result, cost, env.repository)
    parts = [*[f"> {n}" for n in notes], report]
    if options.post_only is None and result.stats is not None:  # the run happened in this job
        parts.append(_run_summary(env, result.stats.run_id))
    _step_summary(env, "\n\n".join(p for p in parts if p))
    # On a push only the new commits were reviewed: earlier findings still open count too.
    severities = (
        published.open_severities
        if published is not None
        else [f.severity for f in result.findings]
    )
    blocking = fail_on is not None and any(s.rank >= fail_on.rank for s in severities)
    return ActionOutcome(
        task=Task.REVIEW,
        reason=trigger.reason,
        exit_code=int(ExitCode.FINDINGS) if blocking else 0,
        findings=len(result.findings),
        cost_usd=result.stats.total.cost_usd if result.stats else 0.0,
        sarif=sarif_path,
        published=published,
        deterministic_only=deterministic_only,
        memory_pull=memory_pull,
    )


def _answer(
    env: ActionEnv,
    gh: github3.GitHub | None,
    config: Config,
    trigger: Trigger,
    options: ActionOptions,
    env_vars: Mapping[str, str],
) -> ActionOutcome:
    """A question in the thread of one of our comments: answer it there."""
    if gh is None or trigger.pr_number is None:
        return ActionOutcome(task=Task.ANSWER, reason="nothing is posted with --no-post")
    repo = gh.repository(*_owner_name(env.repository))
    pull = repo.pull_request(trigger.pr_number) if repo is not None else None
    if pull is None:
        raise GitHubError(f"pull request #{trigger.pr_number} not found with this token")
    head = str(pull.head.sha)
    ensure_commits(env.workspace, [head], token=env.token.get_secret_value())
    state = previous_state(pull, config.github.bot_login, job_state_key(env_vars))
    done = answer_in_thread(
        gh,
        repository=env.repository,
        workspace=env.workspace,
        trigger=trigger.model_copy(update={"head_sha": head}),
        config=config,
        state=state,
        budget_usd=options.max_cost,
        env=dict(env_vars),
    )
    _step_summary(env, f"reviewbot: {done.reason or 'answered in the review thread'}.")
    return ActionOutcome(
        task=Task.ANSWER,
        reason=done.reason or trigger.reason,
        refused=done.refused,
        answered=done.posted and not done.refused,
        cost_usd=done.cost_usd,
    )


def _fix(
    env: ActionEnv,
    gh: github3.GitHub | None,
    config: Config,
    trigger: Trigger,
    env_vars: Mapping[str, str],
) -> ActionOutcome:
    """``/reviewbot fix`` from someone with write access: one gated commit on the branch."""
    if gh is None or trigger.pr_number is None:
        return ActionOutcome(task=Task.FIX, reason="nothing is pushed with --no-post")
    done = fix_on_request(
        gh,
        repository=env.repository,
        api_url=env.api_url,
        workspace=env.workspace,
        server_url=env.server_url,
        trigger=trigger,
        config=config,
        state_key=job_state_key(env_vars),
        token=env.token.get_secret_value(),
    )
    _step_summary(env, "reviewbot /reviewbot fix:\n\n" + fix_report(done))
    return ActionOutcome(
        task=Task.FIX,
        reason=done.refused or trigger.reason,
        refused=bool(done.refused),
        findings=len(done.fixed) if done.pushed else 0,
        fixed_commit=done.pushed,
    )


def _remember(
    env: ActionEnv,
    repo: github3.repos.Repository,
    pull: github3.pulls.PullRequest,
    entries: list[Remembered],
    config: Config,
    notes: list[str],
) -> int | None:
    """Propose the dismissed findings for the repository's memory; a failure is a note."""
    try:
        update = propose_memory(
            repo,
            env.workspace,
            base_ref=str(pull.base.ref),
            base_sha=str(pull.base.sha),
            entries=entries,
            remote_url=origin_url(env.workspace)
            or f"{env.server_url.rstrip('/')}/{env.repository}.git",
            token=env.token.get_secret_value(),
            push_attempts=config.github.push_attempts,
        )
    except (GitError, GitHubError, ForbiddenError) as exc:
        why = exc.message if isinstance(exc, GitError | GitHubError) else "forbidden"
        notes.append(f"Could not propose the dismissed findings for {MEMORY_FILE}: {why}")
        return None
    if update.pull is None:
        return None
    notes.append(
        f"Proposed {len(update.added)} dismissed finding(s) for {MEMORY_FILE} "
        f"in #{update.pull.number}."
    )
    return update.pull.number


def _migrate(
    env: ActionEnv,
    gh: github3.GitHub | None,
    config: Config,
    trigger: Trigger,
    options: ActionOptions,
    env_vars: Mapping[str, str],
) -> ActionOutcome:
    request = migration_request(trigger)
    repo = gh.repository(*_owner_name(env.repository)) if gh is not None else None
    default = repo.default_branch if repo is not None else None
    base = request.get("base") or trigger.base_ref or default
    if not base:
        raise UsageError("no base branch for the migration; pass `base` in the workflow inputs")
    job = run_migration_job(
        env.workspace,
        request,
        base=base,
        config=config,
        budget_usd=options.max_cost,
        env=dict(env_vars),
    )
    _step_summary(env, "\n\n".join(p for p in (job.report_markdown,
                                                _run_summary(env, job.run_id)) if p))
    outcome = ActionOutcome(task=Task.MIGRATE, reason=trigger.reason, cost_usd=job.cost_usd)
    if gh is None or repo is None or job.changed_files == 0:
        if job.changed_files == 0:
            outcome.reason = "the migration changed nothing; no pull request"
        return outcome
    remote_url = job.remote_url or f"{env.server_url.rstrip('/')}/{env.repository}.git"
    push_branch(
        env.workspace,
        job.branch,
        remote_url,
        env.token.get_secret_value(),
        max_attempts=config.github.push_attempts,
    )
    pr = open_or_update_pr(
        repo,
        branch=job.branch,
        base=base,
        title="reviewbot: " + inert(request["instruction"], limit=238, inline=True),
        body=job.report_markdown,
    )
    outcome.pull_number, outcome.pull_created = pr.number, pr.created
    if trigger.commenter is not None and trigger.pr_number is None:
        number = _issue_number(env)
        if number is not None:
            raw_json(
                gh,
                "POST",
                f"/repos/{env.repository}/issues/{number}/comments",
                {"body": f"Migration pull request: #{pr.number}"},
            )
    return outcome
