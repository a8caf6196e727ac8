"""The README's two commands stay the ones CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", README, flags=re.DOTALL)


def test_readme_has_the_install_and_run_command() -> None:
    assert "pip install . && reviewbot review /path/to/repo" in _sh_blocks()


def test_ci_script_installs_fresh_and_runs_the_readme_test_command() -> None:
    [test_command] = [b for b in _sh_blocks() if b.startswith("pip install -e '.[test]'")]
    pytest_part = test_command.split("&&", 1)[1].strip()
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m venv" in script and "pip install -q -e '.[test]'" in script
    assert re.search(rf"^{re.escape(pytest_part)}$", script, flags=re.MULTILINE)
    assert '"$status" -eq 5' in script  # an empty selection is not a failure


def test_readme_documents_every_configuration_key() -> None:
    from reviewbot.config import Config

    table = README[README.index("| key | default | meaning |"):]
    table = table[: table.index("\n\n")]
    for section, field in Config.model_fields.items():
        annotation = field.annotation
        assert annotation is not None
        for name in annotation.model_fields:
            if section == "github":
                assert f"`{name}`" in table, f"github.{name} is not in the README's table"
            else:
                assert f"`{section}.{name}`" in table or f"/ `{name}`" in table, (
                    f"{section}.{name} is not in the README's configuration table"
                )
