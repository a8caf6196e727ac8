"""Loading harness files: ``META`` plus ``async def main(run, **params)``.

A harness is a trusted local Python file here (checking and sandboxing
generated ones is a separate step). Loading validates ``META`` and the shape of
``main`` and turns every problem into one ``UsageError`` line.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

import reviewbot
from reviewbot.errors import ReviewbotError, UsageError
from reviewbot.harness.options import Option

ParamType = Literal["str", "int", "float", "bool", "list[str]", "list[int]", "path"]

_PY_TYPES: dict[Any, ParamType] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    list[str]: "list[str]",
    list[int]: "list[int]",
    Path: "path",
}

_ADAPTERS: dict[ParamType, TypeAdapter[Any]] = {
    "str": TypeAdapter(str),
    "int": TypeAdapter(int),
    "float": TypeAdapter(float),
    "bool": TypeAdapter(bool),
    "list[str]": TypeAdapter(list[str]),
    "list[int]": TypeAdapter(list[int]),
    "path": TypeAdapter(str),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ParamType = "str"
    default: Any = None
    required: bool = False
    description: str = ""
    option: Option = Field(default_factory=Option)  # how surfaces spell it (CLI, comments)

    @field_validator("type", mode="before")
    @classmethod
    def _python_type(cls, value: Any) -> Any:
        return _PY_TYPES.get(value, value)


class HarnessMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    phases: list[str] = Field(default_factory=list)
    parameters: dict[str, ParamSpec] = Field(default_factory=dict)
    max_agents: int | None = Field(default=None, ge=1)
    # The harness's own spending cap; a configured budget below it still wins, --budget overrides.
    budget_usd: float | None = Field(default=None, gt=0)

    @field_validator("phases", mode="before")
    @classmethod
    def _phase_titles(cls, value: Any) -> Any:
        # Phases may be plain names or {"title": ...} entries.
        if isinstance(value, list):
            return [p.get("title", p.get("name")) if isinstance(p, Mapping) else p for p in value]
        return value

    @field_validator("parameters", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `{"n": int}` or `{"n": "int"}` is shorthand for a required parameter of that type.
        if isinstance(value, Mapping):
            return {
                k: v if isinstance(v, Mapping | ParamSpec) else {"type": v, "required": True}
                for k, v in value.items()
            }
        return value


@dataclass(frozen=True)
class Harness:
    path: Path
    meta: HarnessMeta
    main: Callable[..., Any]
    source_hash: str
    sandboxed: bool = False  # runs checked, in the sandbox process (a generated harness)

    @property
    def name(self) -> str:
        return self.meta.name

    def function(self, name: str) -> Callable[..., Any]:
        """A module-level function of a trusted harness file (never of a sandboxed one:
        its code runs only in the sandbox process)."""
        if self.sandboxed:
            raise UsageError(f"harness {self.name} is sandboxed; its functions run only there")
        found = self.main.__globals__.get(name)
        if not callable(found):
            raise UsageError(f"harness {self.name} has no function {name}")
        return found


def _one_line_validation(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "META"
    return f"{where}: {err['msg']}"


def _import(path: Path, source_hash: str) -> ModuleType:
    module_name = f"reviewbot_harness_{path.stem}_{source_hash[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"harness {path} cannot be imported; pass a .py file")
    module = importlib.util.module_from_spec(spec)
    with registered(module, failure=f"harness {path} failed while importing"):
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise UsageError(f"harness {path}:{exc.lineno}: syntax error: {exc.msg}") from None
    return module


@contextlib.contextmanager
def registered(module: ModuleType, *, failure: str) -> Iterator[ModuleType]:
    """Hold ``module`` in ``sys.modules`` while a harness file's top level runs in it
    (dataclasses and pydantic look their module up there), and keep it there if that works.

    If the top level fails, the module is dropped again: a ReviewbotError passes through,
    any other error becomes the one line ``<failure>: <error type>: <message>``.
    """
    sys.modules[module.__name__] = module
    try:
        yield module
    except Exception as exc:  # any import-time failure of a harness file is a usage problem
        del sys.modules[module.__name__]
        if isinstance(exc, ReviewbotError):
            raise
        raise UsageError(f"{failure}: {type(exc).__name__}: {exc}") from exc


GENERATED_MARKER = "# reviewbot: generated harness"


def is_generated(path: Path) -> bool:
    """Whether the file carries the generator's first-line marker."""
    with path.open("rb") as fh:
        first = fh.readline()
    return first.decode("utf-8", "replace").rstrip("\r\n") == GENERATED_MARKER


def load_harness(path: Path | str) -> Harness:
    """Import a harness file and validate ``META`` and ``main``."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"harness file {path} does not exist; pass the path of a harness .py file")
    if is_generated(path):
        # A generated harness is untrusted code: it only ever runs checked and sandboxed.
        from reviewbot.harness.sandbox import load_sandboxed  # sandbox imports this module

        return load_sandboxed(path)
    source_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    module = _import(path, source_hash)

    raw_meta = getattr(module, "META", None)
    if raw_meta is None:
        raise UsageError(f"harness {path} has no META; define META = {{'name': ..., ...}}")
    if isinstance(raw_meta, BaseModel):
        raw_meta = raw_meta.model_dump()
    try:
        meta = HarnessMeta.model_validate(raw_meta)
    except ValidationError as exc:
        raise UsageError(f"harness {path}: bad META: {_one_line_validation(exc)}") from None

    main = getattr(module, "main", None)
    if main is None or not inspect.iscoroutinefunction(main):
        raise UsageError(f"harness {path} needs `async def main(run, **params)`")
    if "parameters" not in raw_meta:
        # Stated once: the annotated signature of `main` is the parameter list.
        meta = meta.model_copy(update={"parameters": parameters_from_signature(path, main)})
    _check_signature(path, meta, main)
    return Harness(path=path.resolve(), meta=meta, main=main, source_hash=source_hash)


def parameters_from_signature(path: Path, main: Callable[..., Any]) -> dict[str, ParamSpec]:
    """``main``'s arguments after ``run`` as parameters: the type from the annotation, the
    default from the default (none: required), the description from ``Annotated[T, "text"]``.
    """
    try:
        hints = typing.get_type_hints(main, include_extras=True)
    except (NameError, TypeError) as exc:
        raise UsageError(f"harness {path}: main's annotations do not resolve ({exc})") from None
    out: dict[str, ParamSpec] = {}
    for p in list(inspect.signature(main).parameters.values())[1:]:
        if p.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
            continue
        hint, description, option = hints.get(p.name, str), "", Option()
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extras = typing.get_args(hint)
            description = " ".join(e for e in extras if isinstance(e, str))
            option = next((e for e in extras if isinstance(e, Option)), option)
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # `T | None`
            options = [a for a in typing.get_args(hint) if a is not type(None)]
            hint = options[0] if len(options) == 1 else hint
        kind = _PY_TYPES.get(hint)
        if kind is None:
            allowed = "str, int, float, bool, list[str], list[int], Path"
            raise UsageError(f"harness {path}: parameter '{p.name}' has type {hint!r}; use one "
                             f"of {allowed}")
        required = p.default is inspect.Parameter.empty
        out[p.name] = ParamSpec(type=kind, required=required, description=description,
                                default=None if required else p.default, option=option)
    return out


def _check_signature(path: Path, meta: HarnessMeta, main: Callable[..., Any]) -> None:
    params = list(inspect.signature(main).parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise UsageError(f"harness {path}: main must take `run` as its first argument")
    rest = params[1:]
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest)
    named = {
        p.name: p
        for p in rest
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    for name in meta.parameters:
        if name not in named and not takes_kwargs:
            raise UsageError(f"harness {path}: META parameter '{name}' is not an argument of main")
    for name, p in named.items():
        if p.default is inspect.Parameter.empty and name not in meta.parameters:
            raise UsageError(
                f"harness {path}: main argument '{name}' has no default and is not in "
                "META['parameters']"
            )


def _coerce(name: str, spec: ParamSpec, value: Any) -> Any:
    if isinstance(value, str) and spec.type != "str" and spec.type != "path":
        text = value.strip()
        if spec.type == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise UsageError(f"parameter '{name}' must be true or false, not {value!r}")
        if spec.type.startswith("list["):
            value = [part.strip() for part in text.split(",") if part.strip()]
        else:
            value = text
    try:
        return _ADAPTERS[spec.type].validate_python(value)
    except ValidationError:
        raise UsageError(f"parameter '{name}' must be of type {spec.type}, not {value!r}") from None


def coerce_params(meta: HarnessMeta, given: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters by ``META`` types (strings from ``--param k=v`` included), defaults filled."""
    out: dict[str, Any] = {}
    for name, value in given.items():
        spec = meta.parameters.get(name)
        if spec is None:
            known = ", ".join(sorted(meta.parameters)) or "none"
            raise UsageError(
                f"unknown parameter '{name}' for harness {meta.name}; known parameters: {known}"
            )
        out[name] = _coerce(name, spec, value)
    for name, spec in meta.parameters.items():
        if name in out:
            continue
        if spec.required and spec.default is None:
            raise UsageError(
                f"harness {meta.name} needs parameter '{name}' ({spec.type}); "
                f"pass --param {name}=..."
            )
        if spec.default is not None:
            out[name] = _coerce(name, spec, spec.default)
    return out


def parse_param_args(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["k=v", ...]`` from the command line into a mapping."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param takes KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def builtin_dirs() -> list[Path]:
    package_dir = Path(reviewbot.__file__).resolve().parent
    # In a wheel the harnesses ship inside the package; in an editable install
    # they are the top-level `harnesses/` directory of the checkout.
    return [package_dir / "_harnesses", package_dir.parent / "harnesses"]


def builtin_harness(name: str) -> Harness:
    """A built-in harness (``review``, ``migrate``, ...) by name."""
    for directory in builtin_dirs():
        candidate = directory / f"{name}.py"
        if candidate.is_file():
            return load_harness(candidate)
    available = sorted(
        {p.stem for d in builtin_dirs() if d.is_dir() for p in d.glob("*.py")} - {"__init__"}
    )
    raise UsageError(
        f"no built-in harness '{name}'; available: {', '.join(available) or 'none'} "
        "(or pass the path of a .py file)"
    )
