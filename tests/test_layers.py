"""The layering of DESIGN.md, enforced: a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import reviewbot

PACKAGE = Path(reviewbot.__file__).parent

# Lowest first. Modules not listed (config, errors) are importable from anywhere.
LAYERS: list[set[str]] = [
    {"process"},
    {"git"},
    {"code"},
    {"models"},
    {"runtime"},
    {"review", "migrate"},
    {"harness"},
    {"temporal"},  # the distributed engine: runs migrate's tasks and harness on Temporal
    {"cli", "github", "report", "dashboard"},
]
ANYWHERE = {"config", "errors", "lazy", "__init__", "__main__"}
UNLAYERED = {"testing"}  # test servers and fixtures may use anything
# `reviewbot serve-model` exposes the test server: only surfaces may import it.
SURFACES = LAYERS[-1]


def _layer_of(part: str) -> int | None:
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    return None


def _imported_modules(node: ast.AST) -> list[str]:
    """The absolute module names an import statement names (none for other nodes)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module]
    return []


def _imported_reviewbot_parts(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts: set[str] = set()
    for node in ast.walk(tree):
        for name in _imported_modules(node):
            pieces = name.split(".")
            if pieces[0] == "reviewbot" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


def test_no_module_imports_a_higher_layer() -> None:
    violations: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        top = rel.parts[0].removesuffix(".py")
        if top in ANYWHERE or top in UNLAYERED or top.startswith("_"):
            continue
        own = _layer_of(top)
        assert own is not None, f"{rel}: package '{top}' has no layer; add it to LAYERS"
        for part in _imported_reviewbot_parts(path):
            if part in ANYWHERE:
                continue
            if part in UNLAYERED and top not in SURFACES:
                violations.append(f"{rel} imports reviewbot.{part} (test-only code)")
            if part in UNLAYERED:
                continue
            other = _layer_of(part)
            if other is not None and other > own:
                violations.append(f"{rel} imports reviewbot.{part} (a higher layer)")
    assert not violations, "\n".join(violations)


HARNESSES = PACKAGE.parent / "harnesses"
GIT_PACKAGE = PACKAGE / "git"


def _pygit2_uses(path: Path) -> list[str]:
    """Where ``path`` imports pygit2 or reaches a raw repository through ``.pygit2``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    uses: list[str] = []
    for node in ast.walk(tree):
        if any(name.split(".")[0] == "pygit2" for name in _imported_modules(node)):
            uses.append(f"line {node.lineno}: imports pygit2")
        if isinstance(node, ast.Attribute) and node.attr == "pygit2":
            uses.append(f"line {node.lineno}: uses .pygit2")
    return uses


def test_only_the_git_package_uses_pygit2() -> None:
    """pygit2 stays behind reviewbot.git's typed functions; its errors are GitError there."""
    modules = sorted(PACKAGE.rglob("*.py")) + sorted(HARNESSES.rglob("*.py"))
    assert any(path.is_relative_to(HARNESSES) for path in modules), "no harnesses found"
    violations = [
        f"{path.relative_to(PACKAGE.parent)} {use}"
        for path in modules
        if not path.is_relative_to(GIT_PACKAGE)
        for use in _pygit2_uses(path)
    ]
    assert not violations, "\n".join(violations)
