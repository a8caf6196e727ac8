"""Where an added Python import goes: its isort section, in sorted position.

Sections as isort and ruff's ``I`` rules order them: ``__future__``, standard library,
third party, first party, local folder (relative). A module is first party when the
project's settings say so (``known-first-party`` in ``[tool.ruff.lint.isort]``,
``[tool.ruff.isort]``, ``ruff.toml`` or ``[tool.isort]``) or when it exists in one of the
project's source roots (ruff's ``src``, default ``.`` and ``src``; isort's ``src_paths``),
as ruff decides in a checkout. Within a section ``import x`` lines come before
``from x import y`` ones (unless ``force-sort-within-sections``), each sorted by module,
case-insensitively. A ``from`` import of a module the file already imports from on one
line joins that line, its names in ruff's order (constants, classes, the rest).
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tree_sitter import Node, Tree

from reviewbot.git import RepoView

FUTURE, STDLIB, THIRD_PARTY, FIRST_PARTY, LOCAL_FOLDER = range(5)
_STDLIB = frozenset(sys.stdlib_module_names)
_IMPORT_TYPES = {"import_statement", "import_from_statement", "future_import_statement"}
_PY_IMPORT = re.compile(
    r"^\s*from\s+(\.*[\w.]*)\s+import\s+(.+?)\s*$|^\s*import\s+([\w.]+)\s*(?:#.*)?$"
)


@dataclass(frozen=True)
class ImportSections:
    """How one project classifies and orders imports."""

    project_modules: frozenset[str] = frozenset()  # top-level names found in its source roots
    known_first_party: frozenset[str] = frozenset()
    known_third_party: frozenset[str] = frozenset()
    known_local_folder: frozenset[str] = frozenset()
    extra_stdlib: frozenset[str] = frozenset()
    force_sort_within_sections: bool = False

    def section(self, module: str) -> int:
        if module.startswith("."):
            return LOCAL_FOLDER
        if module == "__future__":
            return FUTURE
        top = module.split(".", 1)[0]
        for names, section in (
            (self.known_first_party, FIRST_PARTY),
            (self.known_third_party, THIRD_PARTY),
            (self.known_local_folder, LOCAL_FOLDER),
        ):
            if module in names or top in names:
                return section
        if top in _STDLIB or top in self.extra_stdlib:
            return STDLIB
        if top in self.project_modules:
            return FIRST_PARTY
        return THIRD_PARTY


def _table(data: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    for key in keys:
        value = data.get(key)
        if not isinstance(value, Mapping):
            return {}
        data = value
    return data


def _names(settings: Mapping[str, Any], key: str) -> frozenset[str]:
    value = settings.get(key, settings.get(key.replace("-", "_"), ()))
    return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()


def sections_for_project(
    read: Callable[[str], bytes | None], files: Iterable[str]
) -> ImportSections:
    """The project's import sections from its root config files and its file list.

    ``read(path)`` returns a file's content (None when absent); ``files`` are every file
    path of the project, relative to its root.
    """
    ruff: Mapping[str, Any] = {}
    isort: Mapping[str, Any] = {}
    for name in ("ruff.toml", ".ruff.toml", "pyproject.toml"):
        data = read(name)
        if data is None:
            continue
        try:
            parsed = tomllib.loads(data.decode("utf-8", errors="replace"))
        except tomllib.TOMLDecodeError:
            continue
        if name == "pyproject.toml":
            isort = _table(parsed, "tool", "isort")
            parsed = dict(_table(parsed, "tool", "ruff"))
            if not parsed:
                continue
        ruff = parsed
        break
    settings = dict(_table(ruff, "lint", "isort") or _table(ruff, "isort"))
    if not settings and isort:
        settings = dict(isort)
    src = ruff.get("src") or isort.get("src_paths") or [".", "src"]
    roots = [str(s).strip("/").removeprefix("./") for s in src if isinstance(s, str)]
    roots = ["" if r in ("", ".") else r + "/" for r in roots]
    modules: set[str] = set()
    for path in files:
        if not path.endswith((".py", ".pyi")):
            continue
        for root in roots:
            if root and not path.startswith(root):
                continue
            first = path[len(root) :].split("/", 1)[0]
            modules.add(first.removesuffix(".pyi").removesuffix(".py"))
    return ImportSections(
        project_modules=frozenset(modules),
        known_first_party=_names(settings, "known-first-party"),
        known_third_party=_names(settings, "known-third-party"),
        known_local_folder=_names(settings, "known-local-folder"),
        extra_stdlib=_names(settings, "extra-standard-library"),
        force_sort_within_sections=bool(
            settings.get("force-sort-within-sections", settings.get("force_sort_within_sections"))
        ),
    )


def sections_for_view(view: RepoView) -> ImportSections:
    """The import sections of the project as ``view`` shows it (a commit or a checkout)."""

    def read(path: str) -> bytes | None:
        return view.read_bytes(path) if view.exists(path) else None

    return sections_for_project(read, view.files())


# --- placement ---------------------------------------------------------------------


@dataclass
class _Existing:
    node: Node
    module: str
    is_from: bool
    section: int
    names: list[str] = field(default_factory=list)  # a one-line `from m import a, b` (no alias)


def _natural(text: str) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text.lower()))


def _module_key(module: str) -> tuple[object, ...]:
    # relative imports: furthest first (`from .. import` before `from . import`)
    dots = len(module) - len(module.lstrip("."))
    return (-dots, _natural(module.lstrip(".")))


def _member_key(name: str) -> tuple[object, ...]:
    bare = name.split(" as ")[0].strip()
    if len(bare) > 1 and bare.isupper():
        kind = 0
    elif bare[:1].isupper():
        kind = 1
    else:
        kind = 2
    return (kind, _natural(bare), name)


def _key(sections: ImportSections, section: int, is_from: bool, module: str) -> tuple[Any, ...]:
    kind = 0 if sections.force_sort_within_sections else int(is_from)
    return (section, kind, _module_key(module))


def _parse_line(line: str) -> tuple[str, bool, list[str]] | None:
    """(module, is a from-import, names of a plain one-line from-import)."""
    m = _PY_IMPORT.match(line)
    if m is None:
        return None
    if m.group(3) is not None:
        return m.group(3), False, []
    module, rest = m.group(1), m.group(2)
    if "(" in rest or "#" in rest or ";" in rest or "\\" in rest or rest.strip() == "*":
        return module, True, []
    names = [n.strip() for n in rest.split(",") if n.strip()]
    if any(" as " in n for n in names):
        return module, True, []
    return module, True, names


def _leading_imports(tree: Tree, source: bytes, sections: ImportSections) -> list[_Existing]:
    out: list[_Existing] = []
    seen_code = False
    for i, child in enumerate(tree.root_node.children):
        if child.type == "comment":
            continue
        if (
            i == 0
            and not out
            and child.type == "expression_statement"
            and child.named_child_count == 1
            and child.named_children[0].type in {"string", "concatenated_string"}
        ):
            continue  # the module docstring
        if child.type not in _IMPORT_TYPES or seen_code:
            seen_code = True
            break
        text = source[child.start_byte : child.end_byte].decode("utf-8", errors="replace")
        parsed = _parse_line(text if "\n" not in text else text.split("\n", 1)[0])
        if parsed is None:
            continue  # `import a, b` or `import a as b`: no single place in the order
        module, is_from, names = parsed
        if "\n" in text:
            names = []
        out.append(_Existing(child, module, is_from, sections.section(module), names))
    return out


def _line_start(source: bytes, offset: int) -> int:
    return source.rfind(b"\n", 0, offset) + 1


def _line_end(source: bytes, offset: int) -> int:
    nl = source.find(b"\n", offset)
    return len(source) if nl == -1 else nl + 1


def _above_comments(source: bytes, start: int, floor: int) -> int:
    """Move ``start`` (a line start) up over the comment lines right above it."""
    while start > floor:
        prev = _line_start(source, start - 1)
        if not source[prev:start].lstrip().startswith(b"#"):
            break
        start = prev
    return start


Insertion = tuple[int, int, bytes]  # (start, end, replacement)


def place_imports(
    tree: Tree, source: bytes, imports: Sequence[str], sections: ImportSections
) -> list[Insertion] | None:
    """Edits that put each of ``imports`` where isort would; None when the file has no
    leading import block (the caller falls back to its own placement)."""
    existing = _leading_imports(tree, source, sections)
    if not existing:
        return None
    edits: list[Insertion] = []
    for imp in imports:
        line = imp.strip()
        parsed = _parse_line(line)
        if parsed is None:
            return None
        module, is_from, names = parsed
        section = sections.section(module)
        if is_from and names:
            same = next((e for e in existing if e.is_from and e.module == module and e.names), None)
            if same is not None and not any(e[0] == same.node.start_byte for e in edits):
                merged = sorted(set(same.names) | set(names), key=_member_key)
                text = f"from {module} import {', '.join(merged)}".encode()
                edits.append((same.node.start_byte, same.node.end_byte, text))
                same.names = merged
                continue
        key = _key(sections, section, is_from, module)
        after = next(
            (
                i
                for i, e in enumerate(existing)
                if _key(sections, e.section, e.is_from, e.module) > key
            ),
            len(existing),
        )
        prev = existing[after - 1] if after > 0 else None
        nxt = existing[after] if after < len(existing) else None
        text = line.encode() + b"\n"
        if prev is not None and prev.section == section:
            at = _line_end(source, prev.node.end_byte)
            edits.append((at, at, text))
        elif nxt is not None and nxt.section == section:
            floor = _line_end(source, prev.node.end_byte) if prev is not None else 0
            at = _above_comments(source, _line_start(source, nxt.node.start_byte), floor)
            edits.append((at, at, text))
        elif prev is not None:
            # a section of its own after `prev`, a blank line on either side
            at = _line_end(source, prev.node.end_byte)
            lead = b"" if source[:at].endswith(b"\n") else b"\n"
            edits.append((at, at, lead + b"\n" + text))
        else:
            assert nxt is not None
            at = _above_comments(source, _line_start(source, nxt.node.start_byte), 0)
            edits.append((at, at, text + b"\n"))
    return edits
