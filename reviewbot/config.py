"""Configuration: ``[tool.reviewbot]`` in ``pyproject.toml`` or a ``.reviewbot.toml``.

One validated :class:`Config` object is loaded once at the edge (the CLI or the
Action entry) and passed down explicitly. Nothing below the surfaces reads files
or environment variables for settings.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reviewbot.errors import ConfigError

CONFIG_FILE = ".reviewbot.toml"


class Tier(StrEnum):
    FAST = "fast"
    BALANCED = "balanced"
    DEEP = "deep"

    def up(self) -> Tier | None:
        """The next stronger tier, or None at the top."""
        order = list(Tier)
        i = order.index(self)
        return order[i + 1] if i + 1 < len(order) else None


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Section):
    """US dollars per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float


class ModelsConfig(_Section):
    tiers: dict[Tier, str] = Field(
        default_factory=lambda: {
            Tier.FAST: "claude-haiku-5-5",
            Tier.BALANCED: "claude-sonnet-5-5",
            Tier.DEEP: "claude-opus-5-5",
        }
    )
    # role -> tier. Roles not listed use `default_tier`.
    roles: dict[str, Tier] = Field(
        default_factory=lambda: {
            "finder": Tier.FAST,
            "skeptic": Tier.FAST,
            "judge": Tier.DEEP,
            "author": Tier.FAST,
            "synthesizer": Tier.FAST,
            "reproducer": Tier.FAST,  # a failed reproduction is retried one tier up
            "orchestrator": Tier.DEEP,
        }
    )
    default_tier: Tier = Tier.BALANCED
    # model id -> price; merged over the built-in table.
    pricing: dict[str, Price] = Field(default_factory=dict)
    max_turns: int = Field(default=12, ge=1, le=200)
    max_tokens: int = Field(default=4096, ge=1, le=128_000)
    max_retries: int = Field(default=4, ge=0, le=20)
    request_timeout: float = Field(default=600.0, gt=0)

    def tier_for(self, role: str) -> Tier:
        return self.roles.get(role, self.default_tier)

    def model_for(self, tier: Tier) -> str:
        return self.tiers[tier]


class RuntimeConfig(_Section):
    concurrency: int = Field(default=16, ge=1, le=1024)
    role_concurrency: dict[str, int] = Field(default_factory=dict)
    max_agents: int = Field(default=300, ge=1)
    agent_timeout: float = Field(default=600.0, gt=0)
    budget_usd: float | None = Field(default=5.0, ge=0)
    budget_tokens: int | None = Field(default=None, ge=0)
    # Start one agent of a fan-out that shares a cacheable prompt prefix first, and its
    # siblings once the prefix is cached: they then pay cache reads instead of cache writes,
    # for one model turn of extra latency.
    prime_caches: bool = True
    # Hedged requests (off by default): a model request still running past the
    # `hedge_quantile` of its siblings' latencies (same model and role, once
    # `hedge_min_samples` finished) gets one duplicate; the first answer wins, the other is
    # cancelled and booked at its input's worst case. It trades a little spend for the tail.
    hedge: bool = False
    hedge_quantile: float = Field(default=0.95, gt=0.5, lt=1.0)
    hedge_min_samples: int = Field(default=20, ge=5)
    # Address-space cap of a process that runs generated (sandboxed) harness code.
    sandbox_memory_mb: int = Field(default=4096, ge=512)
    # CPU seconds the harness code itself may use (waiting on agents costs none), and the
    # wall-clock time of the whole sandboxed harness.
    sandbox_cpu_seconds: int = Field(default=300, ge=1)
    sandbox_wall_seconds: float = Field(default=21_600, gt=0)


class DimensionConfig(_Section):
    name: str
    prompt: str
    role: str = "finder"


class ReviewConfig(_Section):
    dimensions: list[DimensionConfig] | None = None  # None: the built-in defaults
    fail_on: Severity | None = None
    skeptics: int = Field(default=3, ge=1, le=9)
    shard_tokens: int = Field(default=40_000, ge=1_000)
    # up to this many changed lines (and 3 files) one finder covers every dimension
    tiny_change_lines: int = Field(default=40, ge=0)
    max_file_bytes: int = Field(default=1_000_000, ge=1)
    ruff: bool = True
    # The deterministic tier's linters, by name (`ruff = false` leaves ruff out too).
    linters: list[Literal["ruff", "syntax"]] = ["ruff", "syntax"]  # pydantic copies it
    # Review guidance. The review reads these keys from the configuration at the base commit
    # (like REVIEW.md), so a pull request cannot change the rules it is reviewed under.
    instructions: str = ""
    path_instructions: dict[str, str] = Field(default_factory=dict)  # glob -> text
    ignore: list[str] = Field(default_factory=list)  # globs never reviewed
    max_findings: int | None = Field(default=None, ge=0)
    min_severity_inline: Severity | None = None  # below it: summary only, no inline comment
    # "thorough": finder rounds until two in a row find nothing new (at most max_rounds).
    mode: Literal["default", "thorough"] = "default"
    max_rounds: int = Field(default=5, ge=1, le=20)
    # Reproduce correctness findings with a test run at head: "high" (high and critical
    # ones) or "all"; at most max_reproductions per review, each run under reproduce_timeout.
    reproduce: Literal["off", "high", "all"] = "off"
    max_reproductions: int = Field(default=3, ge=0, le=50)
    reproduce_timeout: float = Field(default=120.0, gt=0)
    # How to run one test file; "{test}" is replaced by its path. Unset: detected.
    test_command: str | None = None
    # A reproducing test runs the change's code: only without network (bubblewrap) unless
    # this is true, so a test cannot send what it can read anywhere.
    reproduce_unsandboxed: bool = False


class MigrateConfig(_Section):
    jobs: int = Field(default=4, ge=1, le=256)
    branch_prefix: str = "reviewbot/migrate-"
    verify: str | None = None
    # Rule-tier tasks without a verify command run in memory, straight on git objects; true
    # sends them through worktrees as well (the same branch, slower).
    rules_in_worktrees: bool = False
    # Who the task commits and the result branch's commits are by. Dated at the base
    # commit, not the clock: a task's commit is the same on every machine and every run.
    commit_name: str = "reviewbot"
    commit_email: str = "reviewbot@users.noreply.github.com"


class GitHubConfig(_Section):
    review_drafts: bool = False
    max_inline_comments: int = Field(default=25, ge=0, le=100)
    check_run: bool = False
    comment_commands: bool = True
    # Whose comments carry our tracking markers; a GitHub App token posts as "<app>[bot]".
    bot_login: str = "github-actions[bot]"
    # Propose the findings people dismissed for .reviewbot/memory.json, through one pull
    # request the bot keeps up to date (needs contents: write), so later pull requests
    # are spared them too.
    remember_dismissals: bool = False
    # When pull requests are reviewed: every push, once when opened (or reopened, or made
    # ready), or only on a /reviewbot command; `/reviewbot review always` on a pull request
    # subscribes it to reviews on every push whatever this says.
    review_on: Literal["push", "open", "command"] = "push"
    push_attempts: int = Field(default=3, ge=1, le=10)


class Config(_Section):
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    migrate: MigrateConfig = Field(default_factory=MigrateConfig)
    github: GitHubConfig = Field(default_factory=GitHubConfig)


def _nearest(loc: tuple[Any, ...] | list[Any]) -> str:
    """``"; did you mean 'review.fail_on'?"`` for a typo of a known key, else ``""``."""
    import difflib

    model: Any = Config
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None or not isinstance(field.annotation, type):
            return ""
        model = field.annotation
    known = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if not close:
        return ""
    return f"; did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?"


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'" + _nearest(error["loc"])
    allowed = error.get("ctx", {}).get("expected")
    msg = error["msg"]
    return f"'{key}': {msg}" + (f" (allowed: {allowed})" if allowed and allowed not in msg else "")


def parse_config(data: dict[str, Any], *, source: str) -> Config:
    """Validate a mapping; the error names the file, the key and what is allowed."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more)" if more else ""
        raise ConfigError(f"{source}: {_describe(dict(first))}{suffix}") from None


def load_config(root: Path, explicit: Path | None = None) -> Config:
    """Load configuration for a repository rooted at ``root``.

    ``explicit`` (``--config FILE``) wins; then ``.reviewbot.toml``; then
    ``[tool.reviewbot]`` in ``pyproject.toml``; else the defaults.
    """
    candidates: list[tuple[Path, bool]] = []
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(
                f"config file {explicit} does not exist; pass an existing file to --config"
            )
        candidates.append((explicit, explicit.name == "pyproject.toml"))
    else:
        candidates += [(root / CONFIG_FILE, False), (root / "pyproject.toml", True)]
    for path, nested in candidates:
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{path}: not valid TOML ({exc}); fix the file or remove it"
            ) from None
        if nested:
            section = data.get("tool", {}).get("reviewbot")
            if section is None:
                continue
            return parse_config(section, source=f"{path} [tool.reviewbot]")
        if isinstance(data.get("tool"), dict) and "reviewbot" in data["tool"]:
            raise ConfigError(
                f"{path}: [tool.reviewbot.*] tables belong in pyproject.toml; in "
                f"{path.name} drop the prefix (write [runtime], not [tool.reviewbot.runtime])"
            )
        return parse_config(data, source=str(path))
    return Config()
