"""The migrate parameters are stated once, in the harness's ``main``: the command line,
the pull request comment command and the workflow_dispatch inputs are derived from them."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from reviewbot.cli import review as review_cli
from reviewbot.cli.migrate import PARAMS
from reviewbot.cli.migrate import migrate as migrate_command
from reviewbot.cli.params import harness_options, harness_values
from reviewbot.errors import UsageError
from reviewbot.github.events import Task, Trigger
from reviewbot.github.jobs import migration_request
from reviewbot.harness import load_harness

EXTRA = '''
from typing import Annotated
from reviewbot.harness.options import Option

META = {"name": "extra", "description": "one more parameter"}


async def main(run, target: Annotated[str, "what to look at"],
               depth: Annotated[int, "how deep", Option("--max-depth", minimum=1)] = 2,
               notes: Annotated[str | None, "a notes file", Option(metavar="FILE",
                                                                  from_file=True)] = None,
               tags: Annotated[list[str] | None, "labels"] = None, loud: bool = False):
    return {}
'''


def test_every_migrate_parameter_is_an_option_of_the_command() -> None:
    help_text = CliRunner().invoke(migrate_command, ["--help"], terminal_width=200).output
    shown = [n for n, s in PARAMS.items() if not s.required and not s.option.hidden]
    assert len(shown) >= 15
    for name in shown:
        spec = PARAMS[name]
        flag = spec.option.flag_for(name)
        assert flag in help_text, flag
        # the help is the parameter's description, not a second text
        assert spec.description[1:30] in " ".join(help_text.split()), name
    assert "INSTRUCTION" in help_text
    assert "--rewrite TEMPLATE" in help_text and "--lang LANG" in help_text


def test_the_review_command_is_the_review_harness_parameters() -> None:
    params = review_cli.PARAMS
    help_text = " ".join(CliRunner().invoke(review_cli.review, ["--help"],
                                            terminal_width=200).output.split())
    assert "[PATH]" in help_text  # repo, the optional argument
    for flag in ("--base REF", "--head REF", "--no-uncommitted", "--dimensions A,B",
                 "--thorough", "--reproduce [off|high|all]"):
        assert flag in help_text, flag
    # what only the GitHub job sets is no option
    assert not params["description"].option.cli and "--description" not in help_text
    assert "--rules-at" not in help_text
    seen: dict[str, Any] = {}

    @click.command()
    @harness_options(params)
    def command(**given: Any) -> None:
        seen.update(harness_values(params, given))

    result = CliRunner().invoke(command, ["src", "--thorough", "--no-uncommitted",
                                          "--reproduce", "high"])
    assert result.exit_code == 0, result.output
    assert seen == {"repo": "src", "mode": "thorough", "uncommitted": False,
                    "reproduce": "high"}
    seen.clear()
    CliRunner().invoke(command, [])
    assert seen == {}  # nothing given: the harness's defaults and the configuration decide


def test_a_new_harness_parameter_becomes_an_option(tmp_path: Path) -> None:
    path = tmp_path / "extra.py"
    path.write_text(EXTRA)
    params = load_harness(path).meta.parameters
    seen: dict[str, Any] = {}

    @click.command()
    @harness_options(params)
    def command(**given: Any) -> None:
        seen.update(harness_values(params, given))

    notes = tmp_path / "notes.txt"
    notes.write_text("read me")
    runner = CliRunner()
    result = runner.invoke(command, ["src", "--max-depth", "5", "--notes", str(notes),
                                     "--tags", "a", "--tags", "b", "--loud"])
    assert result.exit_code == 0, result.output
    assert seen == {"target": "src", "depth": 5, "notes": "read me", "tags": ["a", "b"],
                    "loud": True}
    seen.clear()
    assert runner.invoke(command, ["src"]).exit_code == 0
    assert seen == {"target": "src", "depth": 2}  # defaults are the harness's, not restated
    bad = runner.invoke(command, ["src", "--max-depth", "0"])
    assert bad.exit_code == 2 and "--max-depth" in bad.output
    missing = runner.invoke(command, ["src", "--notes", str(tmp_path / "nope")])
    assert isinstance(missing.exception, UsageError)
    assert "--notes file" in missing.exception.message
    nothing = runner.invoke(command, [])
    assert isinstance(nothing.exception, UsageError)
    assert "TARGET" in nothing.exception.message


def _comment(words: str) -> dict[str, Any]:
    return migration_request(Trigger(task=Task.MIGRATE, command_args=shlex.split(words)))


def test_the_comment_command_takes_the_parameters_the_harness_allows() -> None:
    allowed = [n for n, s in PARAMS.items() if s.option.comment]
    assert set(allowed) >= {"instruction", "find", "template", "imports", "paths", "branch",
                            "limit"}
    got = _comment('"use join" --find os.path.join --rewrite "join({args})" '
                   "--add-import 'from os.path import join' --add-import 'import os' "
                   "--paths 'src/*.py' --branch b --limit 3")
    assert got == {"instruction": "use join", "find": "os.path.join",
                   "template": "join({args})",
                   "imports": ["from os.path import join", "import os"],
                   "paths": ["src/*.py"], "branch": "b", "limit": 3}
    # what runs a command or reads a file is not a comment's to set
    for refused in ("--verify 'touch x'", "--rule r.toml", "--query q.scm", "--jobs 9"):
        with pytest.raises(UsageError, match="unrecognized arguments"):
            _comment(f'"x" --find a.b {refused}')
    with pytest.raises(UsageError, match='usage: /reviewbot migrate "INSTRUCTION" --find SYMBOL'):
        _comment('"x"')


def test_dispatch_inputs_are_named_as_the_flags() -> None:
    inputs = {"instruction": "use join", "find": "os.path.join", "rewrite": "join({args})",
              "add-import": "from a import b, c; import os", "paths": "src/*.py, lib/*.py",
              "limit": "4", "base": "main", "verify": "touch pwned"}
    got = migration_request(Trigger(task=Task.MIGRATE, inputs=inputs))
    assert got == {"instruction": "use join", "find": "os.path.join",
                   "template": "join({args})", "imports": ["from a import b, c", "import os"],
                   "paths": ["src/*.py", "lib/*.py"], "limit": 4, "base": "main"}


def test_harness_show_params_says_how_to_pass_each(tmp_path: Path) -> None:
    from reviewbot.cli.harness_saved import parameter_table

    migrate_path = Path(review_cli.HARNESS.path).with_name("migrate.py")
    table = parameter_table("migrate", migrate_path).splitlines()
    template = next(line for line in table if line.startswith("template "))
    assert "--rewrite" in template and "deterministic rewrite" in template
    assert next(line for line in table if line.startswith("instruction ")).split()[2] \
        == "(required)"
    path = tmp_path / "extra.py"
    path.write_text(EXTRA)
    extra = parameter_table("extra", path)  # not a command of its own: --param
    assert "--param depth=..." in extra and "how deep" in extra
