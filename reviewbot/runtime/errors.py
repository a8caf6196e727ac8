"""How an agent call can end other than with a result.

These are for harness code: ``AgentError`` fails one agent (catch it, or let
``parallel``/``pipeline`` turn it into ``None``); ``RunStopped`` means the run hit
its budget or backstop and the harness should wrap up with what it has.
Run-fatal problems (a key the service refuses, an unknown model) stay
``ModelServiceError`` and end the run.
"""

from __future__ import annotations

from reviewbot.errors import ExitCode, ReviewbotError


class AgentError(ReviewbotError):
    """One agent failed (invalid output after retry, timeout, turn limit); the run goes on."""

    def __init__(self, message: str, *, role: str = "", phase: str | None = None) -> None:
        super().__init__(message)
        self.role = role
        self.phase = phase


class RunStopped(ReviewbotError):
    """The run is stopped (budget or backstop): no new agent may start."""

    exit_code = ExitCode.PARTIAL

    def __init__(self, reason: str) -> None:
        super().__init__(f"run stopped ({reason}); no new agents start")
        self.reason = reason


class ModelsUnavailable(ReviewbotError):
    """The harness asked for an agent but no model service is configured."""

    exit_code = ExitCode.ENVIRONMENT


class RunInterrupted(ReviewbotError):
    """Ctrl-C: the run was recorded as interrupted and can be resumed."""

    exit_code = ExitCode.INTERRUPTED
