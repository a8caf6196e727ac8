"""How a harness parameter is spelled where people type it: the command line, a pull
request comment, a workflow_dispatch input.

A parameter is stated once, in the annotated signature of the harness's ``main``::

    template: Annotated[str | None, "rewrite template", Option("--rewrite", comment=True)]

Its type, default and description come from the annotation; ``Option`` adds only what
a surface needs beyond that. Every surface derives its parser from these (the CLI's
options in ``reviewbot.cli.params``, the comment command in ``reviewbot.github.jobs``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    flag: str | None = None  # default: --name-with-dashes
    metavar: str | None = None
    # The command line takes a file and the parameter is the file's text (a query file).
    from_file: bool = False
    # A pull request comment or a workflow_dispatch input may set it. Off by default:
    # what runs a command or reads a file (verify, rule files) is never set from a comment.
    comment: bool = False
    # Lists in one workflow_dispatch input are split on this (imports may hold commas).
    separator: str = ";"
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    # A flag that sets the parameter to this value (``--thorough`` for mode="thorough").
    flag_value: str | None = None
    # An optional positional argument on the command line (a path), not an option.
    argument: bool = False
    hidden: bool = False
    cli: bool = True  # False: not on the command line (set by the job that runs it)

    def __init__(self, flag: str | None = None, /, **data: object) -> None:
        super().__init__(flag=flag, **data)

    def flag_for(self, name: str, *, negated: bool = False) -> str:
        """The option's spelling; a bool whose default is true is spelled ``--no-name``."""
        return self.flag or ("--no-" if negated else "--") + name.replace("_", "-")

    def input_for(self, name: str) -> str:
        """The workflow_dispatch input's name: the flag without its dashes."""
        return self.flag_for(name).lstrip("-")
