"""Lints for harnesses: the structural bugs the seeds warn about, found in the AST.

A harness that passes the checker may still be slow, dear or non-terminating for
structural reasons (a model wrote it in one go and no human reviewed it). These
rules name those shapes; they are warnings, never refusals, because each has
legitimate exceptions the AST cannot see.

- ``barrier-then-map``: ``R = await run.parallel(...)`` whose results are only mapped
  item by item into the next model stage (no dedup, no whole-set use first): every
  item waits for the slowest branch for nothing; a ``run.pipeline`` would not.
- ``until-dry-accepted-key``: ``run.until_dry`` whose key is built from a collection
  of *accepted* items rather than from the item: rejected items come back as new every
  round and the loop never dries.
- ``uncapped-fanout``: a fan-out (``parallel``/``pipeline``/a loop that starts agents)
  over a list a model produced, with no slice: one long answer multiplies the agents.
- ``single-skeptic``: one skeptic (an agent with a verifying role, or a vote with one
  angle) decides a high-severity claim.
- ``model-bound-loop``: a loop that starts agents whose bound (``range(n)``,
  ``max_rounds=``) comes from model output.

The analysis is per top-level function (nested functions share its names, as closures
do) and flow-insensitive: a name is "model output" if any assignment makes it so.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pydantic import BaseModel

# run.* calls that start model work.
SPENDING = frozenset({"agent", "vote", "parallel", "pipeline", "until_dry", "workflow"})
# Their awaited results and whether the result's length is set by the model (parallel and
# pipeline return one entry per input item).
_MODEL_LENGTH = {"agent": True, "vote": True, "until_dry": True, "workflow": True,
                 "parallel": False, "pipeline": False}
VERIFYING_ROLES = frozenset({"skeptic", "verifier", "judge", "critic", "checker", "refuter"})
HIGH_WORDS = ("high", "critical", "blocker", "severe")
_VERDICT_WORDS = frozenset({"confirmed", "accepted", "real", "valid", "ok", "passed",
                            "approved", "survived", "is_real", "holds", "verdict"})
_ACCUMULATE = frozenset({"append", "extend", "add", "insert", "update", "appendleft"})
# Wrappers that keep a collection's items (and so its length) as they are.
_ITEMWISE_CALLS = frozenset({"list", "tuple", "reversed", "enumerate", "filter", "zip"})
_PASS_LENGTH = _ITEMWISE_CALLS | {"sorted", "set", "frozenset", "chain"}
_CAPS = frozenset({"islice", "min"})
MAX_PASSES = 12
MAX_BARRIERS = 20  # per function


class HarnessLint(BaseModel):
    line: int
    rule: str
    message: str  # what is wrong and what to do, one line

    def __str__(self) -> str:
        return f"line {self.line}: warning: {self.message} [{self.rule}]"


def lint_source(source: str) -> list[HarnessLint]:
    """The lints of a harness's source (none when it does not parse: the checker says why)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return lint_tree(tree)


def lint_tree(tree: ast.Module) -> list[HarnessLint]:
    found: list[HarnessLint] = []
    try:
        module = _Module(tree)
        for fn in tree.body:
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                found += _Scope(fn, module).lints()
    except RecursionError:
        # Expressions nested past the interpreter's limit: the checker refuses those files
        # itself (its depth rule); lints are advice and give none.
        return []
    unique = {(w.line, w.rule): w for w in found}
    return sorted(unique.values(), key=lambda w: (w.line, w.rule))


# module facts -------------------------------------------------------------------


class _Module:
    """What holds for the whole file: the name of ``run``, spending helpers, constants."""

    def __init__(self, tree: ast.Module) -> None:
        self.run_names = {"run"}
        for node in tree.body:
            if isinstance(node, ast.AsyncFunctionDef) and node.name == "main" and node.args.args:
                self.run_names.add(node.args.args[0].arg)
        # Module constants that are literal lists: an angle list, a dimension list.
        self.sizes: dict[str, int] = {}
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.List | ast.Tuple)):
                self.sizes[node.targets[0].id] = len(node.value.elts)
        # Schema fields declared with Field(max_length=N): lists the model cannot overfill.
        self.capped_fields: set[str] = set()
        for field_ in ast.walk(tree):
            if (isinstance(field_, ast.AnnAssign) and isinstance(field_.target, ast.Name)
                    and isinstance(field_.value, ast.Call) and _name(field_.value.func) == "Field"
                    and any(k.arg == "max_length" for k in field_.value.keywords)):
                self.capped_fields.add(field_.target.id)
        self.spending = self._spending_functions(tree)

    def run_call(self, node: ast.AST) -> str | None:
        """``agent``, ``parallel``, ... when ``node`` is a call of that method of ``run``."""
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in self.run_names and node.func.attr in SPENDING):
            return node.func.attr
        return None

    def _spending_functions(self, tree: ast.Module) -> set[str]:
        """Functions that start model work themselves or through a function they call
        (a worklist over the call graph: linear in the file, whatever a hostile one holds)."""
        direct: set[str] = set()
        callers: dict[str, set[str]] = {}
        for d in ast.walk(tree):
            if not isinstance(d, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            for n in ast.walk(d):
                if self.run_call(n) is not None:
                    direct.add(d.name)
                elif isinstance(n, ast.Call) and _name(n.func):
                    callers.setdefault(_name(n.func), set()).add(d.name)
        spending, todo = set(direct), list(direct)
        while todo:
            for caller in callers.get(todo.pop(), ()):
                if caller not in spending:
                    spending.add(caller)
                    todo.append(caller)
        return spending

    def _starts_work(self, node: ast.AST, spending: set[str]) -> bool:
        if self.run_call(node) is not None:
            return True
        return isinstance(node, ast.Call) and _name(node.func) in spending

    def spends(self, node: ast.AST) -> bool:
        """Whether ``node`` (an expression or a statement) starts model work."""
        return any(self._starts_work(n, self.spending) for n in ast.walk(node))


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _store_names(target: ast.AST) -> list[ast.Name]:
    """The names an assignment target binds (``a``, ``a, b``; not ``a[i]`` or ``a.x``)."""
    if isinstance(target, ast.Name):
        return [target]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for e in target.elts for n in _store_names(e)]
    if isinstance(target, ast.Starred):
        return _store_names(target.value)
    return []


def _bound_in(scope: ast.AST) -> set[str]:
    """The names ``scope`` binds itself (not those of scopes nested in it)."""
    if isinstance(scope, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        return {n.id for g in scope.generators for n in _store_names(g.target)}
    assert isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    args = scope.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    body: list[ast.AST] = [scope.body] if isinstance(scope, ast.Lambda) else list(scope.body)
    outer: set[str] = set()
    while body:
        node = body.pop()
        if isinstance(node, ast.Nonlocal | ast.Global):
            outer.update(node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            continue
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        if not isinstance(node, _SCOPES):
            body.extend(ast.iter_child_nodes(node))
    return names - outer


def _text(node: ast.AST, limit: int = 40) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# per function -------------------------------------------------------------------


# Python's scopes: a name bound in one of these is its own there (comprehension
# variables included), so `c` in one function is not `c` in another.
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp,
           ast.GeneratorExp, ast.DictComp)
_Key = tuple[int, str]


@dataclass
class _Taint:
    model: set[_Key] = field(default_factory=set)  # values that came from a model
    uncapped: set[_Key] = field(default_factory=set)  # collections whose length a model set


class _Scope:
    def __init__(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, module: _Module) -> None:
        self.fn = fn
        self.m = module
        self.nodes = list(ast.walk(fn))
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in self.nodes:
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.bound = {id(n): _bound_in(n) for n in self.nodes if isinstance(n, _SCOPES)}
        self._keys: dict[int, _Key] = {}
        self.defs: dict[str, ast.AST] = {}
        for node in self.nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.defs.setdefault(node.name, node)
        self._site_names: dict[int, set[str]] = {}
        self.t = _Taint()
        self._site_list: list[tuple[ast.expr | ast.stmt, ast.expr]] | None = None
        self._propagate()

    def key(self, name: ast.Name) -> _Key:
        """Which binding ``name`` means: the innermost scope around it that binds it."""
        found = self._keys.get(id(name))
        if found is not None:
            return found
        node: ast.AST | None = name
        found = (0, name.id)
        while node is not None:
            if isinstance(node, _SCOPES) and name.id in self.bound[id(node)]:
                found = (id(node), name.id)
                break
            node = self.parents.get(node)
        self._keys[id(name)] = found
        return found

    def lints(self) -> list[HarnessLint]:
        return [*self._barriers(), *self._until_dry(), *self._fanouts(), *self._skeptics(),
                *self._bounds()]

    # model output ---------------------------------------------------------------

    def refs_model(self, expr: ast.AST) -> bool:
        return any(
            (isinstance(n, ast.Name) and self.key(n) in self.t.model)
            or (isinstance(n, ast.Await) and self.m.run_call(n.value) is not None)
            for n in ast.walk(expr)
        )

    def unbounded(self, expr: ast.AST) -> bool:
        """Whether ``expr`` is a collection whose length model output decides, uncapped."""
        if isinstance(expr, ast.Name):
            return self.key(expr) in self.t.uncapped
        if isinstance(expr, ast.Await):
            kind = self.m.run_call(expr.value)
            if kind == "until_dry" and isinstance(expr.value, ast.Call) and expr.value.args:
                # at most max_rounds rounds: as long as what one round returns
                return self._returns_unbounded(expr.value.args[0])
            return kind is not None and _MODEL_LENGTH[kind]
        if isinstance(expr, ast.Attribute):
            return expr.attr not in self.m.capped_fields and self.refs_model(expr.value)
        if isinstance(expr, ast.Subscript):
            if isinstance(expr.slice, ast.Slice):
                return expr.slice.upper is None and self.unbounded(expr.value)
            return self.refs_model(expr.value)
        if isinstance(expr, ast.Call):
            name = _name(expr.func)
            if name in _CAPS:
                return False
            if name in _PASS_LENGTH:
                return any(self.unbounded(a) for a in expr.args)
            if isinstance(expr.func, ast.Attribute) and name in ("values", "items", "keys"):
                return self.unbounded(expr.func.value) or self.refs_model(expr.func.value)
            return False  # an unknown function: say nothing rather than guess
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return any(self.unbounded(g.iter) for g in expr.generators)
        if isinstance(expr, ast.BinOp):
            return self.unbounded(expr.left) or self.unbounded(expr.right)
        if isinstance(expr, ast.BoolOp):
            return any(self.unbounded(v) for v in expr.values)
        if isinstance(expr, ast.IfExp):
            return self.unbounded(expr.body) or self.unbounded(expr.orelse)
        if isinstance(expr, ast.List | ast.Tuple | ast.Set):
            return any(isinstance(e, ast.Starred) and self.unbounded(e.value) for e in expr.elts)
        return False

    def _returns_unbounded(self, fn: ast.expr) -> bool:
        body = self._body_of(fn)
        if isinstance(body, ast.Lambda):
            return self.unbounded(body.body)
        return any(isinstance(n, ast.Return) and n.value is not None
                   and self.unbounded(n.value) for n in ast.walk(body))

    def _loop_iters(self, node: ast.AST) -> Iterator[ast.expr]:
        """The iterables of the loops and comprehensions around ``node``, innermost first."""
        child, parent = node, self.parents.get(node)
        while parent is not None:
            if isinstance(parent, ast.For | ast.AsyncFor) and child is not parent.iter:
                yield parent.iter
            if isinstance(parent, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
                yield from (g.iter for g in parent.generators)
            child, parent = parent, self.parents.get(parent)

    def _mark(self, names: Iterable[ast.Name], *, model: bool, uncapped: bool) -> bool:
        before = (len(self.t.model), len(self.t.uncapped))
        for name in names:
            if model:
                self.t.model.add(self.key(name))
            if uncapped:
                self.t.uncapped.add(self.key(name))
        return before != (len(self.t.model), len(self.t.uncapped))

    def _propagate(self) -> None:
        # Each pass carries model output one assignment further. Real harnesses pass a
        # value through a few names; the cap keeps a hostile file's lint time linear.
        for _ in range(MAX_PASSES):
            changed = False
            for node in self.nodes:
                changed |= self._step(node)
            if not changed:
                return

    def _step(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n for t in targets for n in _store_names(t)]
            return self._mark(names, model=self.refs_model(node.value),
                              uncapped=self.unbounded(node.value))
        if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            # An item of model output is model output, and its length is the model's too.
            model = self.refs_model(node.iter)
            return self._mark(_store_names(node.target), model=model, uncapped=model)
        if isinstance(node, ast.Lambda):
            # `lambda h=h: judge(h)`: the default is evaluated outside, the name bound inside
            spec = node.args
            pairs = zip(spec.args[len(spec.args) - len(spec.defaults):], spec.defaults,
                        strict=True)
            before = len(self.t.model) + len(self.t.uncapped)
            for arg, default in pairs:
                if self.refs_model(default):
                    self.t.model.add((id(node), arg.arg))
                if self.unbounded(default):
                    self.t.uncapped.add((id(node), arg.arg))
            return before != len(self.t.model) + len(self.t.uncapped)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.attr in _ACCUMULATE):
            args = [*node.args, *(k.value for k in node.keywords)]
            if not any(self.refs_model(a) for a in args):
                return False
            grows = (any(self.unbounded(i) for i in self._loop_iters(node))
                     or (node.func.attr in ("extend", "update")
                         and any(self.unbounded(a) for a in args)))
            return self._mark([node.func.value], model=True, uncapped=grows)
        return False

    # fan-out sites ----------------------------------------------------------------

    def _sites(self) -> list[tuple[ast.expr | ast.stmt, ast.expr]]:
        """(where, the items it fans out over) for every place that starts agents per item."""
        if self._site_list is None:
            self._site_list = list(self._find_sites())
        return self._site_list

    def _find_sites(self) -> Iterator[tuple[ast.expr | ast.stmt, ast.expr]]:
        for node in self.nodes:
            kind = self.m.run_call(node)
            if kind == "pipeline" and isinstance(node, ast.Call) and node.args:
                yield node, node.args[0]
            elif kind == "parallel" and isinstance(node, ast.Call) and node.args:
                thunks = node.args[0]
                if isinstance(thunks, ast.ListComp | ast.GeneratorExp):
                    yield from ((node, g.iter) for g in thunks.generators)
                else:
                    yield node, thunks
            elif isinstance(node, ast.For | ast.AsyncFor) and any(
                    self.m.spends(s) for s in node.body):
                yield node, node.iter
            elif (isinstance(node, ast.ListComp | ast.GeneratorExp)
                  and self.m.spends(node.elt) and not self._is_thunks(node)):
                yield from ((node, g.iter) for g in node.generators)

    def _names_at(self, site: ast.AST) -> set[str]:
        if id(site) not in self._site_names:
            self._site_names[id(site)] = _names_in(site)
        return self._site_names[id(site)]

    def _is_thunks(self, comp: ast.AST) -> bool:
        parent = self.parents.get(comp)
        return parent is not None and self.m.run_call(parent) == "parallel"

    def _fanouts(self) -> Iterator[HarnessLint]:
        for site, items in self._sites():
            if self.unbounded(items):
                yield HarnessLint(
                    line=site.lineno, rule="uncapped-fanout",
                    message=f"fan-out over model output ({_text(items)}) without a cap: slice "
                    "it (items[:N]) or cap the schema's list (Field(max_length=N)) so one long "
                    "answer cannot multiply the agents",
                )

    def _bounds(self) -> Iterator[HarnessLint]:
        advice = "cap it with min(value, N) or use a constant"
        for site, items in self._sites():
            if (isinstance(items, ast.Call) and _name(items.func) == "range"
                    and any(self._model_number(a) for a in items.args)):
                yield HarnessLint(
                    line=site.lineno, rule="model-bound-loop",
                    message=f"the loop bound {_text(items)} comes from model output: {advice}",
                )
        for node in self.nodes:
            if self.m.run_call(node) == "until_dry" and isinstance(node, ast.Call):
                for k in node.keywords:
                    if k.arg in ("max_rounds", "dry_rounds") and self._model_number(k.value):
                        yield HarnessLint(
                            line=node.lineno, rule="model-bound-loop",
                            message=f"run.until_dry's {k.arg}={_text(k.value)} comes from model "
                            f"output: {advice}",
                        )

    def _model_number(self, expr: ast.expr) -> bool:
        if (isinstance(expr, ast.Call) and _name(expr.func) == "min"
                and any(not self.refs_model(a) for a in expr.args)):
            return False
        return self.refs_model(expr)

    # barrier, then item by item -----------------------------------------------------

    def _barriers(self) -> Iterator[HarnessLint]:
        # Each barrier costs a pass over the function; a real harness has a few, and the
        # cap keeps a hostile file from making the checker slow.
        barriers = 0
        for node in self.nodes:
            call = node.value.value if isinstance(node, ast.Assign) and isinstance(
                node.value, ast.Await) else None
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and isinstance(call, ast.Call) and self._is_barrier(call)):
                barriers += 1
                if barriers > MAX_BARRIERS:
                    return
                stage = self._only_mapped(node.targets[0].id, node)
                if stage is not None:
                    what = "run.parallel" if self.m.run_call(call) else "gather"
                    yield HarnessLint(
                        line=node.lineno, rule="barrier-then-map",
                        message=f"{what} waits for every {node.targets[0].id!r} before "
                        f"line {stage} maps them one by one: chain the stages with "
                        "run.pipeline(items, first, then) so early items go on at once",
                    )

    def _is_barrier(self, call: ast.Call) -> bool:
        """``run.parallel(...)``, or ``asyncio.gather(...)`` of agents (trusted harnesses)."""
        if self.m.run_call(call) == "parallel":
            return True
        return _name(call.func) == "gather" and any(self.m.spends(a) for a in call.args)

    def _family(self, start: str, barrier: ast.AST) -> set[str]:
        """``start`` and the names built from it item by item (filtered, flattened)."""
        family = {start}
        for _ in range(MAX_PASSES):  # as in _propagate
            changed = False
            for node in self.nodes:
                if node is barrier:
                    continue
                new: set[str] = set()
                if (isinstance(node, ast.Assign) and len(node.targets) == 1
                        and isinstance(node.targets[0], ast.Name)
                        and isinstance(node.value, ast.ListComp | ast.GeneratorExp)
                        and any(self._iterates(g.iter, family) for g in node.value.generators)):
                    new.add(node.targets[0].id)
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                      and isinstance(node.func.value, ast.Name)
                      and node.func.attr in _ACCUMULATE
                      and any(self._iterates(i, family) for i in self._loop_iters(node))):
                    new.add(node.func.value.id)  # a list, or a `seen` set that dedups
                elif (isinstance(node, ast.Assign) and len(node.targets) == 1
                      and isinstance(node.targets[0], ast.Subscript)
                      and isinstance(node.targets[0].value, ast.Name)
                      and any(self._iterates(i, family) for i in self._loop_iters(node))):
                    new.add(node.targets[0].value.id)  # `by_key[k] = item`: dedup by key
                if new - family:
                    family |= new
                    changed = True
            if not changed:
                break
        return family

    def _iterates(self, expr: ast.expr, family: set[str]) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in family
        if isinstance(expr, ast.Call) and _name(expr.func) in _ITEMWISE_CALLS:
            return any(self._iterates(a, family) for a in expr.args)
        if isinstance(expr, ast.BoolOp):
            return any(self._iterates(v, family) for v in expr.values)
        if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Slice):
            return self._iterates(expr.value, family)
        if isinstance(expr, ast.ListComp | ast.GeneratorExp):  # filtered or flattened inline
            return any(self._iterates(g.iter, family) for g in expr.generators)
        return False  # (loops over an element of the family: see _elements)

    def _only_mapped(self, start: str, barrier: ast.Assign) -> int | None:
        """The line of the stage that maps the barrier's results item by item, when nothing
        before it uses them as a whole; else None."""
        family = self._family(start, barrier)
        elements = self._elements(family)
        stages = [site.lineno for site, items in self._sites()
                  if site.lineno > barrier.lineno
                  and (self._iterates(items, family) or self._iterates(items, elements))]
        if not stages:
            return None
        first = min(stages)
        for node in self.nodes:
            if (isinstance(node, ast.Name) and node.id in family
                    and isinstance(node.ctx, ast.Load)
                    and barrier.lineno < node.lineno <= first
                    and not self._itemwise_use(node, family)):
                return None  # dedup, a count, the whole set in a prompt: the barrier is earned
        return first

    def _elements(self, family: set[str]) -> set[str]:
        found: set[str] = set()
        for node in self.nodes:
            if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension) and self._iterates(
                    node.iter, family):
                found |= _names_in(node.target)
        return found

    def _itemwise_use(self, name: ast.Name, family: set[str]) -> bool:
        child: ast.AST = name
        parent = self.parents.get(name)
        # climb through the wrappers that keep items as they are
        while parent is not None and (
                isinstance(parent, ast.BoolOp)
                or (isinstance(parent, ast.Call) and _name(parent.func) in _ITEMWISE_CALLS
                    and child in parent.args)
                or (isinstance(parent, ast.Subscript) and isinstance(parent.slice, ast.Slice)
                    and child is parent.value)):
            child, parent = parent, self.parents.get(parent)
        if parent is None:
            return False
        if isinstance(parent, ast.For | ast.AsyncFor | ast.comprehension):
            return child is parent.iter
        if isinstance(parent, ast.Attribute) and parent.attr in _ACCUMULATE:
            return True  # accumulating into the family
        if isinstance(parent, ast.Call) and self.m.run_call(parent) == "pipeline":
            return bool(parent.args) and child is parent.args[0]
        if isinstance(parent, ast.Return):
            return True
        return False

    # until_dry's key ------------------------------------------------------------------

    def _until_dry(self) -> Iterator[HarnessLint]:
        calls = [n for n in self.nodes
                 if isinstance(n, ast.Call) and self.m.run_call(n) == "until_dry"]
        if not calls:
            return
        accepted = self._accepted(calls)
        for call in calls:
            key = next((k.value for k in call.keywords if k.arg == "key"), None)
            if key is None:
                continue
            bad = next(iter(sorted(_names_in(self._body_of(key)) & accepted)), None)
            if bad is not None:
                yield HarnessLint(
                    line=call.lineno, rule="until-dry-accepted-key",
                    message=f"run.until_dry dedups against {bad!r}, which holds only accepted "
                    "items: rejected ones come back every round and the loop never dries; "
                    "key on the item itself (key=lambda f: (f.path, f.line)), until_dry "
                    "remembers everything seen",
                )

    def _body_of(self, fn: ast.expr) -> ast.AST:
        """A lambda itself, or the local function a name refers to."""
        if isinstance(fn, ast.Name):
            return self.defs.get(fn.id, fn)
        return fn

    def _accepted(self, calls: list[ast.Call]) -> set[str]:
        """Collections that hold only accepted items: until_dry's own result, what an
        ``accept=`` function collects, what is collected under a verdict test."""
        accepted: set[str] = set()
        in_accept = {id(n) for c in calls for k in c.keywords if k.arg == "accept"
                     for n in ast.walk(self._body_of(k.value))}
        for node in self.nodes:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Await)
                    and self.m.run_call(node.value.value) == "until_dry"):
                accepted |= set().union(*(_names_in(t) for t in node.targets))
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.attr in _ACCUMULATE):
                continue
            if id(node) in in_accept or self._under_verdict(node):
                accepted.add(node.func.value.id)
        return accepted

    def _under_verdict(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        while parent is not None:
            if isinstance(parent, ast.If) and any(
                    _name(n) in _VERDICT_WORDS for n in ast.walk(parent.test)):
                return True
            parent = self.parents.get(parent)
        return False

    # one skeptic on a high-severity claim ----------------------------------------------

    def _skeptics(self) -> Iterator[HarnessLint]:
        high = self._high_collections()
        for node in self.nodes:
            kind = self.m.run_call(node)
            if not isinstance(node, ast.Call) or kind not in ("agent", "vote"):
                continue
            if kind == "vote" and not self._one_angle(node):
                continue
            if kind == "agent" and not (self._verifying_role(node) and not self._in_panel(node)):
                continue
            if self._high_context(node, high):
                yield HarnessLint(
                    line=node.lineno, rule="single-skeptic",
                    message="one skeptic decides a high-severity claim: verify it with "
                    "run.vote(claim, angles=[...]) and at least three independent angles",
                )

    def _one_angle(self, call: ast.Call) -> bool:
        angles = next((k.value for k in call.keywords if k.arg == "angles"), None)
        if isinstance(angles, ast.List | ast.Tuple):
            return len(angles.elts) == 1 and not isinstance(angles.elts[0], ast.Starred)
        return isinstance(angles, ast.Name) and self.m.sizes.get(angles.id) == 1

    def _verifying_role(self, call: ast.Call) -> bool:
        role = next((k.value for k in call.keywords if k.arg == "role"), None)
        return isinstance(role, ast.Constant) and role.value in VERIFYING_ROLES

    def _panel_size(self, items: ast.expr) -> int:
        if isinstance(items, ast.List | ast.Tuple):
            return len(items.elts)
        if isinstance(items, ast.Name):
            return self.m.sizes.get(items.id, 0)
        if (isinstance(items, ast.Call) and _name(items.func) == "range" and len(items.args) == 1
                and isinstance(items.args[0], ast.Constant)
                and isinstance(items.args[0].value, int)):
            return items.args[0].value
        return 0

    def _in_panel(self, call: ast.Call) -> bool:
        """Whether the agent is one of several over a fixed list of angles (a panel)."""
        if any(self._panel_size(i) > 1 for i in self._loop_iters(call)):
            return True
        owner = self._enclosing_function(call)
        return owner is not None and any(
            self._panel_size(items) > 1 and owner.name in self._names_at(site)
            for site, items in self._sites()
        )

    def _enclosing_function(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        parent = self.parents.get(node)
        while parent is not None and parent is not self.fn:
            if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
                return parent
            parent = self.parents.get(parent)
        return None

    def _high_collections(self) -> set[str]:
        """Names built by keeping only high-severity items."""
        out: set[str] = set()
        for node in self.nodes:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.ListComp | ast.GeneratorExp)
                    and any(_mentions_high(cond) for g in node.value.generators
                            for cond in g.ifs)):
                out.add(node.targets[0].id)
        return out

    def _high_context(self, call: ast.Call, high: set[str]) -> bool:
        if any(_mentions_high(a) for a in call.args[:1]):  # the prompt or claim says so
            return True
        chain: list[ast.AST] = []
        parent = self.parents.get(call)
        while parent is not None:
            chain.append(parent)
            parent = self.parents.get(parent)
        for node in chain:
            if isinstance(node, ast.If | ast.IfExp) and _mentions_high(node.test):
                return True
        if any(self._iterates(i, high) for i in self._loop_iters(call)):
            return True
        owner = self._enclosing_function(call)
        return owner is not None and any(
            self._iterates(items, high) and owner.name in self._names_at(site)
            for site, items in self._sites()
        )


def _mentions_high(node: ast.AST) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            if any(w in HIGH_WORDS for w in re.findall(r"[a-z]+", n.value.lower())):
                return True
        if isinstance(n, ast.Attribute) and n.attr.lower() in HIGH_WORDS:
            return True
    return False
