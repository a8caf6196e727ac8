"""Command-line options derived from a harness's parameters (stated once, in ``main``).

A required parameter becomes an argument, in signature order; every other one an option
spelled as its ``Option`` says (``--name-with-dashes`` by default), typed, ranged, with the
parameter's description as its help. A command decorated with ``harness_options`` gets
the values as keyword arguments; ``harness_values`` picks the harness's out of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from reviewbot.errors import UsageError
from reviewbot.harness.loader import ParamSpec

F = TypeVar("F", bound=Callable[..., Any])

_SCALARS: dict[str, Any] = {"str": str, "int": int, "float": float, "path": str,
                            "list[str]": str, "list[int]": int}


def _click_type(spec: ParamSpec) -> Any:
    low, high = spec.option.minimum, spec.option.maximum
    if spec.option.choices is not None:
        return click.Choice(spec.option.choices)
    if spec.option.from_file:
        return click.Path(path_type=Path, dir_okay=False)
    base = _SCALARS[spec.type]
    if low is None and high is None:
        return base
    if base is int:
        return click.IntRange(None if low is None else int(low),
                              None if high is None else int(high))
    if base is float:
        return click.FloatRange(low, high)
    return base


def _decorator(name: str, spec: ParamSpec) -> Callable[[F], F]:
    opt = spec.option
    if spec.required or opt.argument:
        # a required one is checked by harness_values: a command may do without it
        # (migrate --attach)
        metavar = opt.metavar or name.upper()
        return click.argument(name, type=_click_type(spec), required=False,
                              metavar=metavar if spec.required else f"[{metavar}]")
    text = spec.description[:1].upper() + spec.description[1:] + "."
    if spec.type == "bool":
        # the flag says the opposite of a true default: --no-uncommitted
        return click.option(opt.flag_for(name, negated=bool(spec.default)), name, is_flag=True,
                            flag_value=not spec.default, default=bool(spec.default), help=text,
                            hidden=opt.hidden)
    flag = opt.flag_for(name)
    if opt.flag_value is not None:
        return click.option(flag, name, flag_value=opt.flag_value, default=None, help=text,
                            hidden=opt.hidden)
    many = spec.type.startswith("list[")
    # an empty default means "the configuration's": left unset, the harness decides
    default = (tuple(spec.default or ()) if many
               else None if spec.default == "" else spec.default)
    return click.option(
        flag, name, type=_click_type(spec), multiple=many, default=default, metavar=opt.metavar,
        show_default=spec.default not in (None, [], ""), hidden=opt.hidden, help=text,
    )


def harness_options(params: Mapping[str, ParamSpec]) -> Callable[[F], F]:
    """Add an argument or option for every parameter to a click command."""

    def apply(fn: F) -> F:
        for name, spec in reversed(list(params.items())):
            if spec.option.cli:
                fn = _decorator(name, spec)(fn)
        return fn

    return apply


def harness_values(
    params: Mapping[str, ParamSpec], given: dict[str, Any], *, require: bool = True
) -> dict[str, Any]:
    """Pop the harness's parameters out of a command's keyword arguments: what was not given
    is left out (the harness's default applies), a file option becomes the file's text.
    A required argument missing is one UsageError line (unless ``require`` is off)."""
    out: dict[str, Any] = {}
    for name, spec in params.items():
        value = given.pop(name, None)
        if value is None and spec.required and require:
            raise UsageError(f"missing argument {name.upper()}: {spec.description}")
        if value is None or (spec.type.startswith("list[") and not value):
            continue
        if spec.option.from_file:
            path = Path(value)
            if not path.is_file():
                raise UsageError(f"{spec.option.flag_for(name)} file {path} does not exist")
            value = path.read_text(encoding="utf-8")
        elif spec.type.startswith("list["):
            value = list(value)
        elif spec.type == "bool" and value == spec.default:
            continue
        elif spec.type == "path":
            value = str(value)
        out[name] = value
    return out
