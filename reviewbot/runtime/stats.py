"""What a run spent and how it ended: the data behind every cost line."""

from __future__ import annotations

from pydantic import BaseModel, Field

from reviewbot.models.usage import Usage


class Spend(BaseModel):
    """Agents, tokens and dollars for one slice of a run (a phase, a tier, a role)."""

    agents: int = 0
    failed: int = 0
    replayed: int = 0  # answered from the journal on resume, no model call
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0


class RunStats(BaseModel):
    run_id: str
    harness: str
    partial: bool = False
    stop_reason: str | None = None  # "budget", "max_agents", "interrupted", ...
    total: Spend = Field(default_factory=Spend)
    by_phase: dict[str, Spend] = Field(default_factory=dict)
    by_tier: dict[str, Spend] = Field(default_factory=dict)
    wall_seconds: float = 0.0
    hedges: int = 0  # duplicate requests sent for the tail (runtime.hedge)
    budget_usd: float | None = None  # the caps the run enforced (None: no cap)
    budget_tokens: int | None = None
    errors: list[str] = Field(default_factory=list)  # one line per failed agent/branch
    skipped_phases: list[str] = Field(default_factory=list)  # e.g. model phases with no key
    notes: list[str] = Field(default_factory=list)  # lines the harness asked to report (run.note)

    def failed_phases(self) -> list[str]:
        """Phases whose every model agent failed (none answered, none was replayed).

        Such a phase did not run in any useful sense: the run is journaled as failed and
        the command says so and exits 3 (the model service refused or could not be
        reached). A budget stop is not a failure.
        """
        if self.partial and self.stop_reason == "budget":
            return []
        return [
            phase for phase, spend in self.by_phase.items()
            if spend.agents > 0 and spend.failed == spend.agents and spend.replayed == 0
        ]
