"""Static rules for generated harnesses, checked before one may load or spend anything.

A generated harness is untrusted code. It may use the runtime API (``run``) and a
few pure standard modules; it may not reach files, processes, the network, the
environment or the interpreter's internals, and it must be bounded: no ``while``,
no recursion, ``run.until_dry`` with ``max_rounds``, and ``META`` declaring a
``max_agents`` backstop and a ``budget_usd``.

Why these imports and no others (:data:`ALLOWED_IMPORTS`): each is pure
computation over values the harness already holds.

- ``pydantic`` (``BaseModel``, ``Field``, ``ConfigDict``, ``ValidationError``):
  agent schemas and the result are pydantic models.
- ``typing`` (annotation names only): field types. Not ``get_type_hints`` or
  ``ForwardRef``, which evaluate strings as code.
- ``enum``, ``re``, ``json`` (``loads``/``dumps``, no file variants), ``math``,
  ``textwrap``: text and numbers.
- ``itertools`` without ``count``, ``cycle`` and ``repeat`` (endless iterators
  would unbound a ``for`` loop), ``collections`` without ``namedtuple`` (it builds
  classes by ``exec``), ``collections.abc`` (annotation names), ``functools``
  (``partial``, ``reduce``, ``cmp_to_key``).
- ``reviewbot.runtime`` (``AgentError``, ``RunStopped``, ``Verdict``,
  ``VoteResult``): to catch agent failures and reuse the vote's schema.

``dataclasses`` is left out: pydantic covers structured data, and dataclasses
generate methods with ``exec`` from field names.

Every rule is also enforced at run time by the sandbox (``sandbox.py``); the
checker exists to give the author (often a model) clear per-line feedback.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from reviewbot.harness.lints import HarnessLint, lint_tree
from reviewbot.harness.loader import GENERATED_MARKER, HarnessMeta
from reviewbot.harness.restricted import compile_harness

MARKER = GENERATED_MARKER
MAX_AGENTS_LIMIT = 2000
MAX_ROUNDS_LIMIT = 50
MAX_POWER = 64
# Hostile sources must get one line, not a RecursionError from the parser or a visitor.
MAX_SOURCE_BYTES = 200_000
MAX_DEPTH = 100

ALLOWED_IMPORTS: Mapping[str, frozenset[str]] = {
    "pydantic": frozenset({"BaseModel", "Field", "ConfigDict", "ValidationError"}),
    "typing": frozenset({
        "Any", "Literal", "Optional", "Union", "List", "Dict", "Tuple", "Set", "Sequence",
        "Mapping", "Iterable", "Callable", "Awaitable",
    }),
    "enum": frozenset({"Enum", "StrEnum", "IntEnum", "auto"}),
    "re": frozenset({
        "compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn",
        "split", "escape", "error", "Pattern", "Match", "IGNORECASE", "I", "MULTILINE", "M",
        "DOTALL", "S", "VERBOSE", "X", "ASCII", "A",
    }),
    "json": frozenset({"loads", "dumps", "JSONDecodeError"}),
    "math": frozenset(n for n in dir(math) if not n.startswith("_")),
    "itertools": frozenset({
        "chain", "islice", "product", "permutations", "combinations",
        "combinations_with_replacement", "groupby", "accumulate", "pairwise", "zip_longest",
        "starmap", "takewhile", "dropwhile", "compress", "filterfalse", "tee",
    }),
    "collections": frozenset({"Counter", "defaultdict", "OrderedDict", "deque", "ChainMap"}),
    "collections.abc": frozenset({
        "Awaitable", "Callable", "Hashable", "Iterable", "Iterator", "Mapping", "Sequence",
    }),
    "functools": frozenset({"partial", "reduce", "cmp_to_key"}),
    "textwrap": frozenset({"dedent", "indent", "shorten", "wrap", "fill"}),
    "reviewbot.runtime": frozenset({"AgentError", "RunStopped", "Verdict", "VoteResult"}),
}

# What a harness may use on `run` (the capability the sandbox hands it).
RUN_API = frozenset({
    "agent", "parallel", "pipeline", "until_dry", "vote", "phase", "note", "stopped",
    "stop_reason", "models_available", "params", "repo", "skip_phase", "workflow", "budget",
    "failures", "config", "concurrency", "edit", "assemble", "progress", "run_id",
})

# Modules a harness might reach for, with the reason it may not.
_PRIVILEGED_MODULES = frozenset({
    "os", "sys", "subprocess", "socket", "pathlib", "shutil", "io", "importlib", "builtins",
    "ctypes", "asyncio", "anyio", "threading", "multiprocessing", "signal", "tempfile",
    "urllib", "http", "requests", "httpx", "httpx2", "inspect", "gc", "pickle", "marshal",
    "glob", "fcntl", "pty", "resource", "sqlite3", "pygit2", "anthropic", "reviewbot",
})

FORBIDDEN_NAMES: Mapping[str, str] = {
    "open": "files are out of reach of a generated harness",
    "exec": "code execution is not available",
    "eval": "code execution is not available",
    "compile": "code execution is not available",
    "__import__": "imports are statements at the top of the file",
    "globals": "interpreter internals are out of reach",
    "locals": "interpreter internals are out of reach",
    "vars": "interpreter internals are out of reach",
    "dir": "interpreter internals are out of reach",
    "type": "use isinstance(); classes are made with `class`",
    "setattr": "assign attributes with `obj.name = value`",
    "delattr": "interpreter internals are out of reach",
    "input": "a harness does not read the terminal",
    "breakpoint": "a harness does not debug itself",
    "help": "a harness does not read the terminal",
    "exit": "return from main instead",
    "quit": "return from main instead",
    "memoryview": "interpreter internals are out of reach",
    "iter": "loop over a collection instead (iter(f, sentinel) is unbounded)",
    "print": "use run.note(message)",
    "object": "interpreter internals are out of reach",
}

# Attributes that reach outside through allowed objects.
FORBIDDEN_ATTRIBUTES: Mapping[str, str] = {
    "format": "str.format can read attributes of its arguments; use an f-string",
    "format_map": "str.format_map can read attributes of its arguments; use an f-string",
    "parse_file": "it reads a file",
    "mro": "interpreter internals are out of reach",
    # pydantic evaluates annotations in the caller's frames when it (re)builds a model
    "model_rebuild": "it evaluates annotations in the interpreter's frames",
    "update_forward_refs": "it evaluates annotations in the interpreter's frames",
    "model_construct": "it skips validation; build models with Model(...)",
    "construct": "it skips validation; build models with Model(...)",
}
INSPECT_ATTRIBUTES = frozenset({
    "tb_frame", "tb_next", "f_back", "f_builtins", "f_code", "f_generator", "f_globals",
    "f_locals", "f_trace", "co_code", "gi_frame", "gi_code", "gi_yieldfrom", "cr_await",
    "cr_frame", "cr_code", "cr_origin", "ag_await", "ag_frame", "ag_code",
})


class Problem(BaseModel):
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class CheckReport(BaseModel):
    ok: bool
    problems: list[Problem]
    meta: HarnessMeta | None = None  # when META is valid
    budget_usd: float | None = None  # META["budget_usd"]
    # Structural harness bugs (lints.py): shown, never a reason to refuse.
    warnings: list[HarnessLint] = []

    def describe(self) -> str:
        """Every problem on its own line (what the generator feeds back)."""
        return "\n".join(str(p) for p in self.problems)


def check_harness_file(path: Path | str) -> CheckReport:
    return check_harness_source(Path(path).read_text(encoding="utf-8"), filename=str(path))


def check_harness_source(source: str, *, filename: str = "<harness>") -> CheckReport:
    """Check a generated harness; ``ok`` only when there is no problem at all."""
    if len(source.encode("utf-8", "replace")) > MAX_SOURCE_BYTES:
        return _refused(f"the harness is larger than {MAX_SOURCE_BYTES} bytes; keep it short")
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        problem = Problem(line=exc.lineno or 0, message=f"syntax error: {exc.msg}")
        return CheckReport(ok=False, problems=[problem])
    except (RecursionError, MemoryError, ValueError):
        return _refused("the harness is nested too deeply to parse; split long expressions")
    deepest = _depth(tree)
    if deepest > MAX_DEPTH:
        return _refused(f"expressions nest {deepest} levels deep (at most {MAX_DEPTH}); "
                        "split long expressions")
    rules = _Rules()
    rules.visit(tree)
    problems = list(rules.problems)
    problems += _recursion(tree)
    meta, budget, meta_problems = _meta(tree)
    problems += meta_problems
    problems += _main(tree, meta)
    seen_lines = {p.line for p in problems}
    for line, message in compile_harness(source, filename).errors:
        # The restricted compiler re-finds most of our problems; keep only new ones.
        if line not in seen_lines:
            problems.append(Problem(line=line, message=message))
    problems.sort(key=lambda p: p.line)
    unique = list({(p.line, p.message): p for p in problems}.values())
    return CheckReport(ok=not unique, problems=unique, meta=meta, budget_usd=budget,
                       warnings=lint_tree(tree))


def _refused(message: str) -> CheckReport:
    return CheckReport(ok=False, problems=[Problem(line=0, message=message)])


def _depth(tree: ast.AST) -> int:
    """The deepest nesting of the tree, without recursion (hostile input is deep)."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


class _Rules(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, node: ast.AST, message: str) -> None:
        self.problems.append(Problem(line=getattr(node, "lineno", 0), message=message))

    # imports ------------------------------------------------------------

    def _module_problem(self, node: ast.AST, module: str) -> None:
        root = module.split(".")[0]
        if root in _PRIVILEGED_MODULES and module not in ALLOWED_IMPORTS:
            self.add(node, f"import of {module} is not allowed: a generated harness reaches "
                           "files, processes and the network only through `run`")
        else:
            allowed = ", ".join(sorted(ALLOWED_IMPORTS))
            self.add(node, f"import of {module} is not allowed; allowed modules: {allowed}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name not in ALLOWED_IMPORTS:
                self._module_problem(node, alias.name)
            elif "." in alias.name:
                self.add(node, f"write `from {alias.name} import NAME` instead of importing "
                               "the package")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.add(node, "relative imports are not allowed")
            return
        if module == "__future__":
            for alias in node.names:
                if alias.name != "annotations":
                    self.add(node, f"from __future__ import {alias.name} is not allowed")
            return
        allowed = ALLOWED_IMPORTS.get(module)
        if allowed is None:
            self._module_problem(node, module)
            return
        for alias in node.names:
            if alias.name not in allowed:
                self.add(node, f"{module}.{alias.name} is not allowed; from {module} you may "
                               f"import: {', '.join(sorted(allowed))}")

    # names and attributes -----------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        reason = FORBIDDEN_NAMES.get(node.id)
        if reason is not None:
            self.add(node, f"{node.id} is not available: {reason}")
        elif node.id.startswith("__"):
            self.add(node, f"{node.id} is not available: names starting with '__' are "
                           "interpreter internals")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("_"):
            self.add(node, f"attribute .{attr} is not allowed: attribute names starting with "
                           "'_' are private")
        elif attr in FORBIDDEN_ATTRIBUTES:
            self.add(node, f"attribute .{attr} is not allowed: {FORBIDDEN_ATTRIBUTES[attr]}")
        elif attr in INSPECT_ATTRIBUTES:
            self.add(node, f"attribute .{attr} is not allowed: interpreter internals")
        elif isinstance(node.value, ast.Name) and node.value.id == "run" and attr not in RUN_API:
            self.add(node, f"run.{attr} is not part of the runtime API; use one of: "
                           f"{', '.join(sorted(RUN_API))}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr"):
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)
                    and not name.value.startswith("_")):
                self.add(node, f"{func.id}() needs a literal attribute name that does not start "
                               "with '_'")
        for keyword in node.keywords:
            if keyword.arg is not None and keyword.arg.startswith("_"):
                self.add(node, f"keyword argument {keyword.arg}= is private: not available")
        if (isinstance(func, ast.Name | ast.Attribute)
                and (func.id if isinstance(func, ast.Name) else func.attr) == "product"
                and any(k.arg == "repeat" for k in node.keywords)):
            self.add(node, "itertools.product(..., repeat=N) grows exponentially; "
                           "spell the factors out")
        if isinstance(func, ast.Attribute) and func.attr == "until_dry":
            bound = next((k.value for k in node.keywords if k.arg == "max_rounds"), None)
            if bound is None:
                self.add(node, "run.until_dry must pass max_rounds=N (a hard stop)")
            elif isinstance(bound, ast.Constant) and not (
                isinstance(bound.value, int) and 1 <= bound.value <= MAX_ROUNDS_LIMIT
            ):
                self.add(node, f"max_rounds must be an integer from 1 to {MAX_ROUNDS_LIMIT}")
        if isinstance(func, ast.Attribute) and func.attr in ("agent", "vote"):
            tools = next((k.value for k in node.keywords if k.arg == "tools"), None)
            if tools is not None and not (
                isinstance(tools, ast.Constant) and tools.value in ("repo", "none")
            ):
                self.add(node, 'tools= takes the literal "repo" (read-only repository tools: '
                               'read, grep, list, find symbol, find callers) or "none"')
        self.generic_visit(node)

    # control flow -------------------------------------------------------

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Pow) and not (
            isinstance(node.right, ast.Constant)
            and isinstance(node.right.value, int | float)
            and abs(node.right.value) <= MAX_POWER
        ):
            self.add(node, f"a ** exponent must be a number literal of at most {MAX_POWER}; "
                           "use math.pow for other powers")
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self.add(node, "while loops are not allowed: loop over a bounded collection "
                       "(for x in items / range(N)) or use run.until_dry(..., max_rounds=N)")
        self.generic_visit(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self.add(node, "async for is not allowed; use run.parallel or run.pipeline")
        self.generic_visit(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self.add(node, "async with is not allowed; use `with run.phase(name):`")
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.add(node, "global is not allowed; keep state in local variables of main")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is None:
            self.add(node, "a bare `except:` would also catch cancellation; catch AgentError "
                           "or Exception")
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if any(k.arg == "metaclass" for k in node.keywords):
            self.add(node, "metaclass= is not allowed")
        self.generic_visit(node)

    # annotations: pydantic evaluates string annotations as code --------

    def _annotation(self, node: ast.expr | None) -> None:
        if node is None:
            return
        for text in _strings_outside_literal(node):
            self.add(text, "string annotations are not allowed (they are evaluated as code); "
                           "write the type itself, or Literal['a', 'b'] for fixed values")

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self._annotation(node.annotation)
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._annotation(node.returns)
        if node.decorator_list and not all(
            isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod", "property")
            for d in node.decorator_list
        ):
            self.add(node, "decorators other than staticmethod, classmethod and property are "
                           "not allowed")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)


def _strings_outside_literal(node: ast.expr) -> Iterable[ast.Constant]:
    if isinstance(node, ast.Subscript):
        base = node.value
        name = base.id if isinstance(base, ast.Name) else (
            base.attr if isinstance(base, ast.Attribute) else "")
        yield from _strings_outside_literal(base)
        if name != "Literal":
            yield from _strings_outside_literal(node.slice)
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.expr):
            yield from _strings_outside_literal(child)


# recursion ----------------------------------------------------------------


def _recursion(tree: ast.Module) -> list[Problem]:
    """A cycle among the file's functions (by any reference, not only calls: a function
    handing itself to run.parallel recurses too)."""
    edges: dict[str, dict[str, int]] = {}
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    names = {d.name for d in defs}
    for d in defs:
        out = edges.setdefault(d.name, {})
        for node in _own_body_nodes(d):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
                out.setdefault(node.id, node.lineno)
    problems: list[Problem] = []
    reported: set[frozenset[str]] = set()
    for start in sorted(edges):
        cycle = _find_cycle(start, edges)
        if cycle is None or frozenset(cycle) in reported:
            continue
        reported.add(frozenset(cycle))
        line = edges[cycle[-2]][cycle[-1]] if len(cycle) > 1 else 0
        path = " -> ".join(cycle)
        problems.append(Problem(line=line, message=f"recursion is not allowed ({path}); loop "
                                "over a bounded collection instead"))
    return problems


def _own_body_nodes(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterable[ast.AST]:
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                stack.append(child)


def _find_cycle(start: str, edges: Mapping[str, Mapping[str, int]]) -> list[str] | None:
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def walk(name: str) -> list[str] | None:
        path.append(name)
        on_path.add(name)
        for nxt in edges.get(name, {}):
            if nxt == start:
                return [*path, nxt]
            if nxt not in on_path and nxt not in done:
                found = walk(nxt)
                if found:
                    return found
        path.pop()
        on_path.discard(name)
        done.add(name)
        return None

    return walk(start)


# META and main --------------------------------------------------------------


def _meta(tree: ast.Module) -> tuple[HarnessMeta | None, float | None, list[Problem]]:
    node = next(
        (n for n in tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1
         and isinstance(n.targets[0], ast.Name) and n.targets[0].id == "META"),
        None,
    )
    if node is None:
        return None, None, [Problem(line=1, message="META is missing; define META = {'name': "
                                    "..., 'max_agents': N, 'budget_usd': X, ...} at the top")]
    line = node.lineno
    try:
        raw = ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, None, [Problem(line=line, message="META must be a literal dict (strings, "
                                    "numbers, lists and dicts only)")]
    if not isinstance(raw, dict):
        return None, None, [Problem(line=line, message="META must be a dict")]
    problems: list[Problem] = []
    agents = raw.get("max_agents")
    if not (isinstance(agents, int) and not isinstance(agents, bool)
            and 1 <= agents <= MAX_AGENTS_LIMIT):
        problems.append(Problem(line=line, message="META must declare max_agents, an integer "
                                f"from 1 to {MAX_AGENTS_LIMIT} (the backstop)"))
    budget = raw.get("budget_usd")
    if not (isinstance(budget, int | float) and not isinstance(budget, bool) and budget > 0):
        problems.append(Problem(line=line, message="META must declare budget_usd, a dollar "
                                "amount > 0"))
        budget = None
    try:
        meta: HarnessMeta | None = HarnessMeta.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "META"
        problems.append(Problem(line=line, message=f"bad META: {where}: {err['msg']}"))
        meta = None
    return meta, float(budget) if budget is not None else None, problems


def _main(tree: ast.Module, meta: HarnessMeta | None) -> list[Problem]:
    node: Any = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
         and n.name == "main"),
        None,
    )
    if node is None:
        return [Problem(line=1, message="main is missing; define `async def main(run, **params)`")]
    if isinstance(node, ast.FunctionDef):
        return [Problem(line=node.lineno, message="main must be `async def main(run, **params)`")]
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if not positional or positional[0].arg != "run":
        return [Problem(line=node.lineno, message="main must take `run` as its first argument")]
    problems: list[Problem] = []
    rest = positional[1:]
    without_default = max(1, len(positional) - len(args.defaults))
    required = [a.arg for a in positional[1:without_default]]
    required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                 if d is None]
    declared = set(meta.parameters) if meta is not None else set()
    for name in required:
        if meta is not None and name not in declared:
            problems.append(Problem(line=node.lineno, message=f"main argument '{name}' has no "
                                    "default and is not in META['parameters']"))
    named = {a.arg for a in [*rest, *args.kwonlyargs]}
    if meta is not None and args.kwarg is None:
        for name in sorted(declared - named):
            problems.append(Problem(line=node.lineno, message=f"META parameter '{name}' is not "
                                    "an argument of main; add it or take **params"))
    return problems
