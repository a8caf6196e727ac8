"""Package facades that import their modules on first use (PEP 562).

A facade re-exports names from its private modules; importing them eagerly
would make every command pay for the heaviest of them (the model SDK takes most
of a second), and the sandbox process of a generated harness must start without
a model client at all. ``lazy_exports`` gives a package's ``__getattr__``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """``__getattr__`` for ``package``: ``name`` comes from ``package.<where[name]>``."""
    namespace = importlib.import_module(package).__dict__

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # later lookups skip this function
        return value

    return getattr_
