"""What a migration looks for and, when it can, how it rewrites deterministically.

A :class:`MigrationSpec` is built from the command line (``--find`` / ``--query``,
``--rewrite``, ``--add-import``) or from a rule file (``--rule FILE``, TOML or
YAML)::

    # rule.toml
    language = "python"
    find = "os.path.join"              # or: query = '''(call ...) @site'''
    template = "join({args})"
    imports = ["from os.path import join"]

With a query, the capture named ``site`` (else the match's first capture) is the
span that gets replaced; every capture is available to the template.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reviewbot.errors import UsageError
from reviewbot.migrate.template import Template, parse_template

# `@name` in a tree-sitter query (not inside strings; a predicate's `@name` is a capture too)
_CAPTURE = re.compile(r"@([A-Za-z_][A-Za-z0-9_.-]*)")


class MigrationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    find: str | None = None
    query: str | None = None
    language: str | None = None  # required with a query; optional with find
    template: str | None = None
    imports: tuple[str, ...] = ()
    site_capture: str = "site"
    # Python: drop imports the rewrite left unused (`import os` after os.path.join -> join).
    prune_imports: bool = True
    paths: tuple[str, ...] = Field(default=(), description="glob patterns limiting the files")

    @model_validator(mode="after")
    def _one_finder(self) -> MigrationSpec:
        if (self.find is None) == (self.query is None):
            raise ValueError("give exactly one of find (a symbol) or query (a tree-sitter query)")
        if self.query is not None and not self.language:
            raise ValueError('a query needs a language (e.g. language = "python")')
        if self.imports and self.template is None:
            raise ValueError("imports need a template (--rewrite or a rule's template)")
        if self.template is not None:
            unknown = sorted(
                name
                for name in parse_template(self.template).names
                if name.removesuffix(".inner") not in self._capture_names() and not name.isdigit()
            )
            if unknown:
                offered = ", ".join("{" + n + "}" for n in sorted(self._capture_names()))
                raise ValueError(
                    f"template uses {', '.join('{' + n + '}' for n in unknown)}, which no site "
                    f"offers; use {offered}" + (", {0}, {1}, ..." if self.find else "")
                )
        return self

    def _capture_names(self) -> set[str]:
        """What a template may name: a call's parts, or the query's own ``@captures``."""
        if self.query is not None:
            return set(_CAPTURE.findall(self.query))
        return {"call", "callee", "args"}

    @property
    def parsed_template(self) -> Template | None:
        return parse_template(self.template) if self.template is not None else None

    @property
    def has_rule(self) -> bool:
        return self.template is not None

    def key(self) -> str:
        """Stable identity of what is found and how it is rewritten (part of task keys).

        ``paths`` only selects files, so a run over fewer files reuses the same tasks.
        """
        payload = json.dumps(self.model_dump(mode="json", exclude={"paths"}), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _read_rule_data(path: Path) -> dict[str, object]:
    if not path.is_file():
        raise UsageError(f"rule file {path} does not exist; pass an existing .toml or .yaml file")
    text = path.read_text(encoding="utf-8")
    data: object
    if path.suffix in {".yaml", ".yml"}:
        try:
            import yaml  # only YAML rules need it
        except ImportError:
            raise UsageError(
                "YAML rules need PyYAML (pip install pyyaml); or write the rule in TOML"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"rule file {path}: not valid YAML ({exc})") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"rule file {path}: not valid TOML ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"rule file {path}: expected a table of keys (find/query, template, ...)")
    return data


def load_rule(path: Path) -> MigrationSpec:
    data = _read_rule_data(path)
    if "site" in data and "site_capture" not in data:
        data["site_capture"] = data.pop("site")
    if isinstance(data.get("imports"), str):
        data["imports"] = [data["imports"]]
    if "query_file" in data:
        data["query"] = (path.parent / str(data.pop("query_file"))).read_text(encoding="utf-8")
    return _validate(data, source=str(path))


def spec_from_options(
    *,
    find: str | None,
    query: str | None,
    language: str | None,
    template: str | None,
    imports: tuple[str, ...] | list[str] | None,
    rule_file: Path | str | None,
    paths: tuple[str, ...] | list[str] | None = (),
    prune_imports: bool = True,
    site_capture: str = "site",
) -> MigrationSpec:
    """The spec the migrate parameters describe (``query`` is the query's text); one-line
    UsageError when they do not add up. A rule file gives the defaults; the finder, language,
    imports and paths given alongside it win over (or add to) the rule's."""
    imports, paths = tuple(imports or ()), tuple(paths or ())
    if rule_file is not None:
        if template is not None:
            raise UsageError("give either --rewrite TEMPLATE or --rule FILE, not both")
        rule_path = Path(rule_file)
        if not rule_path.is_file():
            raise UsageError(f"rule file {rule_path} does not exist")
        spec = load_rule(rule_path)
        updates: dict[str, object] = {}
        if find is not None or query is not None:
            updates["find"] = find
            updates["query"] = query
        if language is not None:
            updates["language"] = language
        if imports:
            updates["imports"] = tuple(spec.imports) + imports
        if paths:
            updates["paths"] = paths
        if not prune_imports:
            updates["prune_imports"] = False
        return _validate(spec.model_dump() | updates, source=str(rule_path))
    if find is None and query is None:
        raise UsageError("say what to migrate: --find SYMBOL, --query FILE or --rule FILE")
    data: dict[str, object] = {
        "find": find,
        "query": query,
        "language": language,
        "template": template,
        "imports": imports,
        "paths": paths,
        "prune_imports": prune_imports,
        "site_capture": site_capture,
    }
    return _validate(data, source="command line")


def _validate(data: dict[str, object], *, source: str) -> MigrationSpec:
    try:
        return MigrationSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{source}: {where + ': ' if where else ''}{msg}") from None
