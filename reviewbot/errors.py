"""The one user-facing error type and the process exit codes.

Anything that should reach the user as a clean one-line message (bad input, bad
configuration, a repository in a state we cannot work with, a model key the
service refuses) is raised as a :class:`ReviewbotError`. The CLI's top-level
handler prints ``reviewbot: error: <message>`` and exits with ``exit_code``.
Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # a confirmed finding at or above --fail-on
    USAGE = 2  # bad arguments or configuration
    ENVIRONMENT = 3  # git, model service or GitHub refused or failed
    PARTIAL = 4  # the run stopped early (budget, backstop) and `--strict` asked for a full one
    INTERRUPTED = 130


class ReviewbotError(Exception):
    """An error with a message meant for the user: one line, saying what to do."""

    exit_code: ExitCode = ExitCode.ENVIRONMENT

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(ReviewbotError):
    """Bad arguments on the command line or in a harness call."""

    exit_code = ExitCode.USAGE


class ConfigError(ReviewbotError):
    """A configuration file or value that is not valid."""

    exit_code = ExitCode.USAGE


class GitError(ReviewbotError):
    """The repository is not in a state we can work with."""


class ModelServiceError(ReviewbotError):
    """The model service refused us in a way retrying cannot fix (bad key, unknown model)."""


class GitHubError(ReviewbotError):
    """GitHub refused a request in a way retrying cannot fix."""
