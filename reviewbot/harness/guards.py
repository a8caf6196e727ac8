"""The run-time layer of the sandbox, inside the process that runs generated code.

The file is compiled by RestrictedPython (``restricted.py``): every attribute
read, subscript, iteration, attribute/item write, ``*args`` call and in-place
operator goes through a guard defined here, and names and attributes starting
with ``_`` do not compile. The module sees a minimal set of builtins, imports
resolve to stripped copies of the allowed modules (only the allowed names), and
``run`` is a capability proxy (:func:`capability`) exposing only the runtime
API, over an object held in closures the harness cannot reach.

This layer gives clear errors; it is not what keeps secrets safe. That is the
process boundary (``reviewbot.harness.host``): the process these guards run in
holds no key, no client, no repository and no network.
"""

from __future__ import annotations

import builtins
import hashlib
import operator
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any

from pydantic import BaseModel
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.Guards import safer_getattr as _rp_getattr
from RestrictedPython.Guards import safer_getattr_raise as _rp_getattr_raise

from reviewbot.config import Tier
from reviewbot.errors import UsageError
from reviewbot.harness.checker import ALLOWED_IMPORTS, FORBIDDEN_ATTRIBUTES, MAX_ROUNDS_LIMIT
from reviewbot.harness.loader import registered
from reviewbot.harness.restricted import compile_harness

MAX_ITERATIONS = 100_000
MAX_TOTAL_ITERATIONS = 2_000_000


class SandboxViolation(UsageError):
    """A generated harness tried something the sandbox does not allow."""


def module_name(source_hash: str) -> str:
    return f"reviewbot_generated_{source_hash[:16]}"


def harness_line(exc: BaseException, filename: str) -> str:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" at line {line}" if line is not None else ""


def _module_name(source_hash: str) -> str:
    return f"reviewbot_generated_{source_hash[:16]}"


def exec_restricted(source: str, *, filename: str, name: str | None = None) -> ModuleType:
    """Compile with RestrictedPython and execute with the sandbox's guards and builtins.

    This is the run-time half of the sandbox alone (no checker): ``load_sandboxed``
    calls it after the checker passed; tests call it to prove that the run-time
    guards hold even for code the checker would refuse.
    """
    compiled = compile_harness(source, filename)
    if compiled.code is None:
        line, message = compiled.errors[0]
        raise SandboxViolation(f"harness {filename}:{line}: {message}")
    if name is None:
        name = module_name(hashlib.sha256(source.encode("utf-8")).hexdigest())
    module = ModuleType(name)
    module.__dict__.update(_sandbox_globals(name))
    with registered(module, failure=f"harness {filename} failed while loading"):
        try:
            exec(compiled.code, module.__dict__)
        except SandboxViolation as exc:
            raise SandboxViolation(f"harness {filename}: {exc.message}") from None
    return module


# the capability ---------------------------------------------------------------


class _Phase:
    """``with run.phase(name):`` without exposing the runtime's context manager."""

    __slots__ = ("_cm",)

    def __init__(self, cm: Any) -> None:
        self._cm = cm

    def __enter__(self) -> None:
        self._cm.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._cm.__exit__(*exc)


def _schema(schema: Any) -> type[BaseModel]:
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise SandboxViolation("schema= must be a pydantic model class")
    return schema


def _tools(tools: Any) -> dict[str, str]:
    if tools not in ("none", "repo"):
        raise SandboxViolation('tools= takes "repo" (read-only repository tools) or "none"')
    return {} if tools == "none" else {"tools": tools}


def _texts(values: Iterable[Any], what: str) -> list[str]:
    out = list(values)
    if not all(isinstance(v, str) for v in out):
        raise SandboxViolation(f"{what} must be a list of strings")
    return out


def capability(run: Any) -> Any:
    """The object a generated harness receives as ``run``: the runtime API and nothing else.

    Each method re-checks its arguments and forwards to the object behind it (in
    the sandbox process, ``GuestRun``), which is only held in these closures. Tools
    are granted by name only (``tools="repo"``); ``run.repo`` reads the repository.
    """

    async def agent(
        prompt: str,
        *,
        schema: Any = None,
        role: str | None = None,
        phase: str | None = None,
        context: Iterable[str] = (),
        system: str | None = None,
        tier: str | None = None,
        timeout: float | None = None,
        tools: str = "none",
        isolation: str = "none",
        paths: Iterable[str] = (),
    ) -> Any:
        if isolation == "worktree":
            if schema is not None or system is not None or timeout is not None or tools != "none":
                raise SandboxViolation('an agent with isolation="worktree" takes no schema=, '
                                       "tools=, system= or timeout=")
            return await edit(prompt, role=role or "author", paths=paths, context=context,
                              tier=tier, phase=phase)
        if isolation != "none" or schema is None or role is None:
            raise SandboxViolation('run.agent needs schema= and role=, or isolation="worktree"')
        return await run.agent(
            str(prompt), schema=_schema(schema), role=str(role), phase=phase,
            context=_texts(context, "context="), system=system,
            tier=Tier(tier) if tier is not None else None, timeout=timeout, **_tools(tools),
        )

    async def parallel(thunks: Iterable[Callable[[], Awaitable[Any]]]) -> list[Any]:
        return await run.parallel(list(thunks))

    async def pipeline(items: Iterable[Any], *stages: Callable[[Any], Awaitable[Any]]) -> list[Any]:
        return await run.pipeline(list(items), *stages)

    async def until_dry(
        round_fn: Callable[[int], Awaitable[Iterable[Any]]],
        *,
        key: Callable[[Any], Hashable],
        max_rounds: int,
        dry_rounds: int = 2,
        accept: Callable[[Any], Awaitable[bool]] | None = None,
    ) -> list[Any]:
        if not isinstance(max_rounds, int) or not 1 <= max_rounds <= MAX_ROUNDS_LIMIT:
            raise SandboxViolation(f"max_rounds must be an integer from 1 to {MAX_ROUNDS_LIMIT}")
        return await run.until_dry(
            round_fn, key=key, max_rounds=max_rounds, dry_rounds=dry_rounds, accept=accept
        )

    async def vote(
        claim: str,
        *,
        angles: Iterable[str],
        context: Iterable[str] = (),
        role: str = "skeptic",
        judge_role: str = "judge",
        phase: str | None = None,
        tools: str = "none",
    ) -> Any:
        return await run.vote(
            str(claim), angles=_texts(angles, "angles="), context=_texts(context, "context="),
            role=str(role), judge_role=str(judge_role), phase=phase, **_tools(tools),
        )

    def phase(name: str) -> _Phase:
        return _Phase(run.phase(str(name)))

    def note(message: str) -> None:
        run.note(str(message))

    def progress(message: str) -> None:
        run.progress(str(message))

    def skip_phase(name: str, why: str = "") -> None:
        run.skip_phase(str(name), str(why))

    async def workflow(name: str, **params: Any) -> Any:
        return await run.workflow(str(name), **params)

    async def edit(prompt: str, *, role: str = "author", paths: Iterable[str] = (),
                   context: Iterable[str] = (), tier: str | None = None,
                   phase: str | None = None) -> Any:
        return await run.edit(str(prompt), role=str(role), paths=_texts(paths, "paths="),
                              context=_texts(context, "context="), tier=tier, phase=phase)

    async def assemble(commits: Iterable[str], branch: str) -> Any:
        return await run.assemble(_texts(commits, "commits="), str(branch))

    async def files(prefix: str = "") -> list[str]:
        return list(await run.repo_call("files", path=str(prefix)))

    async def read(path: str) -> str:
        return str(await run.repo_call("read", path=str(path)))

    async def grep(pattern: str, prefix: str = "") -> list[dict[str, Any]]:
        return list(await run.repo_call("grep", pattern=str(pattern), path=str(prefix)))

    async def find_calls(symbol: str, prefix: str = "") -> list[dict[str, Any]]:
        return list(await run.repo_call("find_calls", pattern=str(symbol), path=str(prefix)))

    async def diff(base: str) -> list[dict[str, Any]]:
        return list(await run.repo_call("diff", base=str(base)))

    async def changed_symbols(base: str) -> list[dict[str, Any]]:
        return list(await run.repo_call("changed_symbols", base=str(base)))

    repo = type("Repository", (), {
        "__slots__": (), "__module__": __name__,
        "__doc__": "The repository at HEAD, read-only: files(prefix), read(path), "
                   "grep(pattern, prefix), find_calls(symbol, prefix), diff(base), "
                   "changed_symbols(base).",
        "files": staticmethod(files), "read": staticmethod(read), "grep": staticmethod(grep),
        "find_calls": staticmethod(find_calls), "diff": staticmethod(diff),
        "changed_symbols": staticmethod(changed_symbols),
    })()

    namespace: dict[str, Any] = {
        "__slots__": (),
        "__doc__": "The runtime API of a generated harness.",
        "__module__": __name__,
        "agent": staticmethod(agent),
        "parallel": staticmethod(parallel),
        "pipeline": staticmethod(pipeline),
        "until_dry": staticmethod(until_dry),
        "vote": staticmethod(vote),
        "phase": staticmethod(phase),
        "note": staticmethod(note),
        "skip_phase": staticmethod(skip_phase),
        "progress": staticmethod(progress),
        "run_id": property(lambda self: run.run_id),
        "workflow": staticmethod(workflow),
        "edit": staticmethod(edit),
        "assemble": staticmethod(assemble),
        "budget": property(lambda self: run.budget),
        "failures": property(lambda self: run.failures),
        "config": property(lambda self: run.config.model_copy(deep=True)),
        "concurrency": property(lambda self: run.concurrency),
        "repo": property(lambda self: repo),
        "stopped": property(lambda self: run.stopped),
        "stop_reason": property(lambda self: run.stop_reason),
        "models_available": property(lambda self: run.models_available),
        "params": property(lambda self: dict(run.params)),
    }
    return type("Run", (), namespace)()


# guards -----------------------------------------------------------------------

_BUILTIN_NAMES = (
    "None", "False", "True", "Ellipsis", "NotImplemented", "abs", "all", "any", "bool",
    "callable", "chr", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "hash",
    "int", "isinstance", "issubclass", "len", "list", "map", "max", "min", "next", "ord",
    "pow", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "staticmethod", "classmethod", "property", "super", "__build_class__",
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError",
    "KeyError", "LookupError", "NotImplementedError", "RuntimeError", "StopIteration",
    "TypeError", "ValueError", "ZeroDivisionError",
)

_INPLACE: Mapping[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "<<=": operator.ilshift, ">>=": operator.irshift, "|=": operator.ior,
    "^=": operator.ixor, "&=": operator.iand, "@=": operator.imatmul,
}


def _getattr_strict(obj: Any, name: str, *default: Any) -> Any:
    if not isinstance(name, str):
        raise SandboxViolation("attribute names must be strings")
    if name.startswith("_"):
        raise SandboxViolation(
            f"attribute .{name} is private: not available in a generated harness"
        )
    if name in FORBIDDEN_ATTRIBUTES:
        raise SandboxViolation(f"attribute .{name} is not available in a generated harness")
    try:
        if default:
            return _rp_getattr(obj, name, default[0])
        return _rp_getattr_raise(obj, name)
    except NotImplementedError as exc:  # RestrictedPython's refusal of str.format & co.
        raise SandboxViolation(str(exc)) from None


def _hasattr(obj: Any, name: str) -> bool:
    try:
        _getattr_strict(obj, name)
    except AttributeError:
        return False
    return True


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _make_getiter() -> Callable[[Iterable[Any]], Iterator[Any]]:
    """Iteration for ``for`` loops and comprehensions: at most MAX_ITERATIONS items per
    loop and MAX_TOTAL_ITERATIONS over the harness's whole life (nested loops multiply)."""
    total = [MAX_TOTAL_ITERATIONS]

    def getiter(iterable: Iterable[Any]) -> Iterator[Any]:
        left = MAX_ITERATIONS
        for item in iterable:
            if left <= 0:
                raise SandboxViolation(
                    f"a loop ran past {MAX_ITERATIONS} items; generated harnesses must be bounded"
                )
            if total[0] <= 0:
                raise SandboxViolation(
                    f"the harness iterated over more than {MAX_TOTAL_ITERATIONS} items in all; "
                    "generated harnesses must be bounded"
                )
            left -= 1
            total[0] -= 1
            yield item

    return getiter


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_ITERATIONS:
        raise SandboxViolation(f"range() of more than {MAX_ITERATIONS} items is not allowed")
    return r


def _apply(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    fn = _INPLACE.get(op)
    if fn is None:
        raise SandboxViolation(f"operator {op} is not available")
    return fn(target, value)


def _make_inplace(write: Callable[[Any], Any]) -> tuple[Callable[..., None], Callable[..., None]]:
    """``obj.name op= value`` and ``obj[key] op= value`` through the read and write guards."""

    def attr(obj: Any, name: str, op: str, value: Any) -> None:
        current = _getattr_strict(obj, name)
        setattr(write(obj), name, _inplacevar(op, current, value))

    def item(obj: Any, key: Any, op: str, value: Any) -> None:
        write(obj)[key] = _inplacevar(op, obj[key], value)

    return attr, item


def _make_write_guard(module_name: str) -> Callable[[Any], Any]:
    """Writes (``obj.x = v``, ``obj[k] = v``) only to plain containers and to instances of
    classes the harness itself defined; never to modules, classes, functions or runtime
    objects."""
    from collections import deque

    def write(obj: Any) -> Any:
        if isinstance(obj, (list, dict, set, deque)):
            return obj
        if not isinstance(obj, type) and type(obj).__module__ == module_name:
            return obj
        raise SandboxViolation(
            f"cannot assign to {type(obj).__name__} objects in a generated harness"
        )

    return write


def _stripped_module(name: str, allowed: frozenset[str]) -> ModuleType:
    real = __import__(name, fromlist=["_"])
    proxy = ModuleType(name)
    for attr in allowed:
        setattr(proxy, attr, getattr(real, attr))
    return proxy


def _make_import(modules: dict[str, ModuleType]) -> Callable[..., ModuleType]:
    def guarded_import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> ModuleType:
        if level != 0:
            raise SandboxViolation("relative imports are not allowed")
        if name == "__future__":
            return _stripped_module("__future__", frozenset({"annotations"}))
        allowed = ALLOWED_IMPORTS.get(name)
        if allowed is None or ("." in name and not fromlist):
            raise SandboxViolation(f"import of {name} is not allowed in a generated harness")
        if name not in modules:
            modules[name] = _stripped_module(name, allowed)
        module = modules[name]
        for wanted in fromlist or ():
            if wanted not in allowed:
                raise SandboxViolation(f"{name}.{wanted} is not allowed in a generated harness")
        return module

    return guarded_import


def _sandbox_globals(module_name: str) -> dict[str, Any]:
    safe = {name: getattr(builtins, name) for name in _BUILTIN_NAMES}
    safe["range"] = _range
    safe["getattr"] = _getattr_strict
    safe["hasattr"] = _hasattr
    safe["__import__"] = _make_import({})
    write = _make_write_guard(module_name)
    inplace_attr, inplace_item = _make_inplace(write)
    return {
        "__name__": module_name,
        "__builtins__": safe,
        "__metaclass__": type,
        "_getattr_": _getattr_strict,
        "_getitem_": _getitem,
        "_getiter_": _make_getiter(),
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": write,
        "_inplaceattr_": inplace_attr,
        "_inplaceitem_": inplace_item,
        "_apply_": _apply,
        "_inplacevar_": _inplacevar,
    }
