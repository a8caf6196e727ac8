"""Agreement with Python's own `ast` on real code: the standard library's source files.

The reference below walks `ast` with the same import rules the tree-sitter search
uses (every import in the file counts; `import a.b` binds `a`; `from m import x as y`
binds `y` to `m.x`; relative imports resolve against the file's package, by Python's
own `importlib.util.resolve_name`; `from m import *`
makes unbound names possible members of `m`). Both must find exactly the same calls.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import sysconfig
from pathlib import Path

import pytest
from conftest import GitRepo

from reviewbot.code import find_calls
from reviewbot.git import Repo, RepoView

NAMES = [
    "os.path.join",
    "re.compile",
    "json.dumps",
    "subprocess.run",
    "os.getcwd",
    "shutil.rmtree",
    "sys.exit",
    "warnings.warn",
    "os.path.exists",
    "open",
    # reached only through relative imports (`from .decoder import JSONDecoder` in json/)
    "json.decoder.JSONDecoder",
    "json.encoder.JSONEncoder",
]

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SMALL = [
    "shutil.py",
    "subprocess.py",
    "tempfile.py",
    "zipfile.py",
    "tarfile.py",
    "pathlib.py",
    "glob.py",
    "sysconfig.py",
    "site.py",
    "platform.py",
    "pydoc.py",
    "ntpath.py",
    "posixpath.py",
    "compileall.py",
    "py_compile.py",
    "modulefinder.py",
    "pkgutil.py",
    "mimetypes.py",
    "webbrowser.py",
    "uuid.py",
    "getpass.py",
    "trace.py",
    "filecmp.py",
    "json/__init__.py",
    "json/encoder.py",
    "json/tool.py",
    "logging/config.py",
    "logging/handlers.py",
    "importlib/resources/_common.py",
    "venv/__init__.py",
    "ensurepip/__init__.py",
    "unittest/main.py",
    "http/server.py",
    "email/utils.py",
]


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class AstIndex:
    """One `ast` walk of a file: its import bindings and every call with a dotted callee."""

    def __init__(self, source: bytes, path: str) -> None:
        package = ".".join(path.split("/")[:-1])  # json/encoder.py and json/__init__.py: json
        self.bound: dict[str, set[str]] = {}
        self.stars: list[str] = []
        self.calls: list[tuple[str, int, int]] = []
        # single-assignment aliases (`j = os.path.join`): uncertain when bound again
        self.uncertain: set[str] = set()
        counts: dict[str, int] = {}
        aliases: list[tuple[int, int, str, str]] = []  # (line, col, name, dotted value)

        def binds(name: str) -> None:
            counts[name] = counts.get(name, 0) + 1

        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        binds(t.id)
                last = targets[-1]
                value = _dotted(node.value) if node.value is not None else None
                if (
                    not isinstance(node, ast.AugAssign)
                    and isinstance(last, ast.Name)
                    and value is not None
                ):
                    aliases.append((last.lineno, last.col_offset, last.id, value))
            elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
                binds(node.target.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                binds(node.name)
            elif isinstance(node, ast.arguments):
                for arg in [*node.posonlyargs, *node.args, *node.kwonlyargs]:
                    binds(arg.arg)
                for arg in (node.vararg, node.kwarg):
                    if arg is not None:
                        binds(arg.arg)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bound.setdefault(alias.asname, set()).add(alias.name)
                    else:
                        head = alias.name.split(".")[0]
                        self.bound.setdefault(head, set()).add(head)
            elif isinstance(node, ast.ImportFrom):
                module = node.module
                if node.level:
                    try:
                        module = importlib.util.resolve_name(
                            "." * node.level + (node.module or ""), package
                        )
                    except (ImportError, ValueError):
                        continue  # climbs above the top-level package
                if not module:
                    continue
                for alias in node.names:
                    if alias.name == "*":
                        self.stars.append(module)
                    else:
                        local = alias.asname or alias.name
                        self.bound.setdefault(local, set()).add(f"{module}.{alias.name}")
            elif isinstance(node, ast.Call):
                chain = _dotted(node.func)
                if chain is not None:
                    self.calls.append((chain, node.lineno, node.col_offset))
        if not self.bound:
            return
        for _line, _col, name, value in sorted(aliases):
            head, _, rest = value.partition(".")
            if head not in self.bound or (name == head and not rest):
                continue
            suffix = f".{rest}" if rest else ""
            self.bound.setdefault(name, set()).update(q + suffix for q in list(self.bound[head]))
            if counts.get(name, 0) > 1:
                self.uncertain.add(name)

    def calls_of(self, target: str) -> set[tuple[int, int, bool]]:
        """(line, byte column, uncertain) of every call of ``target`` per the rules above."""
        found: set[tuple[int, int, bool]] = set()
        for chain, line, col in self.calls:
            head, _, rest = chain.partition(".")
            suffix = f".{rest}" if rest else ""
            if head in self.bound:
                if target in {q + suffix for q in self.bound[head]}:
                    found.add((line, col, head in self.uncertain))
            elif self.stars and target in {chain} | {f"{m}.{chain}" for m in self.stars}:
                found.add((line, col, True))
            elif "." not in target and chain == target:
                found.add((line, col, False))
        return found


def _repo_of(files: list[Path], root: Path, git_repo: GitRepo) -> RepoView:
    for f in files:
        dest = git_repo.path / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
    git_repo.commit("stdlib subset")
    return RepoView.at(Repo.open(git_repo.path), "HEAD")


def _compare(view: RepoView, names: list[str]) -> dict[str, int]:
    totals: dict[str, int] = {}
    py_files = [p for p in view.files() if p.endswith(".py")]
    indexes = {p: AstIndex(view.read_bytes(p), p) for p in py_files}
    for name in names:
        ours = find_calls(view, name, jobs=1)
        got: dict[str, set[tuple[int, int, bool]]] = {}
        for s in ours.sites:
            got.setdefault(s.path, set()).add((s.start_line, s.start_col - 1, s.uncertain))
        want = {p: calls for p, index in indexes.items() if (calls := index.calls_of(name))}
        assert got == want, name
        totals[name] = sum(len(v) for v in want.values())
    return totals


def test_agrees_with_ast_on_stdlib_subset(git_repo: GitRepo) -> None:
    files = [STDLIB / rel for rel in SMALL if (STDLIB / rel).is_file()]
    assert len(files) >= 25, "the standard library's sources are not on this machine"
    view = _repo_of(files, STDLIB, git_repo)
    totals = _compare(view, NAMES)
    # the comparison is only meaningful if the names are actually used here
    assert totals["os.path.join"] > 20 and totals["re.compile"] > 5 and totals["open"] > 10
    assert totals["json.decoder.JSONDecoder"] > 0 and totals["json.encoder.JSONEncoder"] > 0
    assert sum(1 for n in NAMES if totals[n] > 0) >= 8


@pytest.mark.slow
def test_agrees_with_ast_on_whole_stdlib(git_repo: GitRepo) -> None:
    files = []
    for f in sorted(STDLIB.rglob("*.py")):
        rel = f.relative_to(STDLIB).as_posix()
        if rel.startswith(("site-packages/", "test/", "lib2to3/tests/", "idlelib/idle_test/")):
            continue
        try:
            ast.parse(f.read_bytes())
        except (SyntaxError, ValueError):
            continue  # deliberately broken fixtures
        files.append(f)
    view = _repo_of(files, STDLIB, git_repo)
    _compare(view, NAMES)
