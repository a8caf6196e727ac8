from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reviewbot.config import Config, Tier, load_config
from reviewbot.errors import ConfigError


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reviewbot", *args], cwd=cwd, capture_output=True, text=True
    )


def test_help_lists_commands_without_importing_them() -> None:
    proc = _cli("--help")
    assert proc.returncode == 0
    for name in ("review", "migrate", "run", "find", "diff", "action"):
        assert name in proc.stdout


def test_unknown_command_is_a_usage_error() -> None:
    proc = _cli("no-such-command")
    assert proc.returncode == 2
    assert "No such command" in proc.stderr


def test_defaults_without_any_file(tmp_path: Path) -> None:
    assert load_config(tmp_path) == Config()


def test_reviewbot_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.reviewbot.runtime]\nconcurrency = 3\n")
    assert load_config(tmp_path).runtime.concurrency == 3
    (tmp_path / ".reviewbot.toml").write_text("[runtime]\nconcurrency = 5\n")
    assert load_config(tmp_path).runtime.concurrency == 5


def test_pyproject_without_section_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert load_config(tmp_path) == Config()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[runtime]\nconcurency = 3\n", "unknown key 'runtime.concurency'"),
        ("[review]\nfail_on = 'huge'\n", "'review.fail_on'"),
        ("[models.roles]\nfinder = 'giant'\n", "'models.roles.finder'"),
        ("[runtime\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / ".reviewbot.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = info.value.message
    assert expected in message
    assert ".reviewbot.toml" in message
    assert "\n" not in message


def test_config_errors_carry_the_usage_exit_code(tmp_path: Path) -> None:
    explicit = tmp_path / "custom.toml"
    explicit.write_text("[runtime]\nconcurency = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, explicit)
    assert info.value.exit_code == 2
    assert "custom.toml" in info.value.message


def test_missing_explicit_config_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path, tmp_path / "nope.toml")


def test_tier_escalation_order() -> None:
    assert Tier.FAST.up() is Tier.BALANCED
    assert Tier.BALANCED.up() is Tier.DEEP
    assert Tier.DEEP.up() is None
