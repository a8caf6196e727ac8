"""The dry run counts agents exactly and prices them, spending nothing and writing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hg_samples import FANOUT_VOTE, cli

from reviewbot.cli.harness import simulated_model
from reviewbot.config import Config, Price
from reviewbot.harness.dryrun import dry_run, vary_strings, widen_schema
from reviewbot.harness.sandbox import load_sandboxed

# One price for every tier's model, so the expected cost follows from token counts alone.
PRICE = Price(input=1.0, output=2.0, cache_write=3.0, cache_read=0.5)


def flat_config() -> Config:
    models = Config().models
    pricing = {model: PRICE for model in models.tiers.values()}
    return Config(models=models.model_copy(update={"pricing": pricing}))


def test_widened_schema_fills_lists_and_optional_fields() -> None:
    schema = {"type": "object", "properties": {
        "items": {"type": "array", "items": {"type": "string"}},
        "few": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
        "note": {"type": "string"}}, "required": ["items"]}
    wide = widen_schema(schema, 3)
    assert wide["required"] == ["items", "few", "note"]
    assert wide["properties"]["items"]["minItems"] == 3
    assert wide["properties"]["few"]["minItems"] == 1
    assert schema["required"] == ["items"]  # the input is not changed
    assert vary_strings({"a": ["x", "x"], "b": "x", "c": 1}, "7") == {
        "a": ["x-7-1", "x-7-2"], "b": "x-7-3", "c": 1}


def test_dry_run_counts_fan_out_and_votes_exactly_and_prices_them(tmp_path: Path) -> None:
    path = tmp_path / "claim_check.py"
    path.write_text(FANOUT_VOTE, encoding="utf-8")
    harness = load_sandboxed(path)
    with simulated_model(items_per_list=2) as server:
        report = dry_run(harness, {"text": "a text", "finders": "3"}, config=flat_config(),
                         model=server, api_key=server.api_key, items_per_list=2,
                         output_tokens_high=1000)
        usage = server.usage
    # 3 finders x 2 distinct claims = 6 claims, 3 skeptics each (unanimous), 1 writer
    assert report.agents == 3 + 18 + 1
    assert report.failed == 0
    assert report.agents_by_phase == {"find": 3, "verify": 18, "summarize": 1}
    assert report.agents_by_role == {"finder": 3, "skeptic": 18, "writer": 1}
    assert report.agents_by_tier == {"fast": 21, "deep": 1}
    assert report.model_requests == 22
    assert not report.hit_backstop
    # priced from the sizes the server measured on the real requests
    assert report.est_input_tokens == usage.prompt_tokens > 22 * 100
    assert report.est_tokens_low == usage.total_tokens
    low = (usage.input_tokens * 1.0 + usage.output_tokens * 2.0
           + usage.cache_creation_input_tokens * 3.0 + usage.cache_read_input_tokens * 0.5) / 1e6
    high = (usage.prompt_tokens * 3.0 + 22 * 1000 * 2.0) / 1e6
    assert report.est_cost_low == pytest.approx(low)
    assert report.est_cost_high == pytest.approx(high)
    assert report.est_cost_low < report.est_cost_high


def test_dry_run_reports_the_backstop(tmp_path: Path) -> None:
    path = tmp_path / "claim_check.py"
    path.write_text(FANOUT_VOTE.replace('"max_agents": 60', '"max_agents": 10'),
                    encoding="utf-8")
    with simulated_model() as server:
        report = dry_run(load_sandboxed(path), {"text": "t"}, config=Config(), model=server,
                         api_key=server.api_key)
    assert report.hit_backstop
    assert report.agents == 10
    assert report.stop_reason == "max_agents"


def test_cli_dry_run_spends_nothing_and_leaves_the_repo_state_alone(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    real = model_env()  # what ANTHROPIC_BASE_URL points at: the service that would bill us
    git_repo.write("README.md", "hello\n")
    git_repo.commit("init")
    path = git_repo.path.parent / "claim_check.py"
    path.write_text(FANOUT_VOTE, encoding="utf-8")
    code, out, err = cli(capsys, "harness", "dry-run", str(path), "--param", "text=hi",
                         "--repo", str(git_repo.path))
    assert code == 0, err
    assert "22 agents" in out and "find 3, summarize 1, verify 18" in out
    assert "estimate: $" in out
    assert real.calls == 0 and real.requests == []
    assert not (git_repo.path / ".git" / "reviewbot").exists()
    code, out, _ = cli(capsys, "harness", "dry-run", str(path), "-p", "text=hi",
                       "--items", "1", "--format", "json", "--repo", str(git_repo.path))
    assert code == 0
    assert '"agents": 13' in out  # 3 finders with 1 claim each, 3 skeptics per claim, 1 writer


UNTIL_DRY = '''\
from pydantic import BaseModel

META = {"name": "rounds", "max_agents": 20, "budget_usd": 0.2, "phases": ["search"]}


class Found(BaseModel):
    items: list[str]


async def main(run):
    async def one_round(index: int) -> list[str]:
        found = await run.agent(f"Round {index}: find more.", schema=Found, role="finder",
                                phase="search")
        return found.items

    items = await run.until_dry(one_round, key=str.lower, max_rounds=4, dry_rounds=1)
    return {"items": len(items)}
'''


def test_dry_run_goes_through_until_dry_to_its_max_rounds(tmp_path: Path) -> None:
    path = tmp_path / "rounds.py"
    path.write_text(UNTIL_DRY, encoding="utf-8")
    with simulated_model(items_per_list=3) as server:
        report = dry_run(load_sandboxed(path), {}, config=Config(), model=server,
                         api_key=server.api_key, items_per_list=3)
    # distinct simulated items keep every round "new": the hard stop ends it
    assert report.agents == 4
    assert report.agents_by_phase == {"search": 4}
    assert report.agents_by_role == {"finder": 4}
