"""Loading generated harnesses: checked here, run in a sandbox process.

Three layers, each enough to stop a different mistake:

1. The checker (``checker.py``) refuses the file before anything runs, with
   per-line problems for the model that wrote it.
2. The code runs only in a separate process (``host.py`` starts
   ``guest.py``) that holds nothing worth stealing: no key, no model client, no
   journal, no repository, an environment from an allow-list, an empty working
   directory; inside bubblewrap where the machine has it (no network, no file
   system beyond the Python installation). Its agent calls cross one validated
   channel (``channel.py``) to the real ``Run``, which stays in this process.
3. OS limits, set in that process before harness code exists there: memory,
   CPU seconds, no file writes, no new processes; the wall clock is kept here.

Inside that process RestrictedPython and the guards (``guards.py``) still give
clear errors for what the checker catches.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from reviewbot.errors import UsageError
from reviewbot.harness.checker import CheckReport, check_harness_source
from reviewbot.harness.guards import (
    MAX_ITERATIONS,
    SandboxViolation,
    capability,
    exec_restricted,
    module_name,
)
from reviewbot.harness.host import describe_isolation, host_harness
from reviewbot.harness.loader import Harness
from reviewbot.runtime.run import Run

__all__ = [
    "MAX_ITERATIONS",
    "SandboxViolation",
    "capability",
    "describe_isolation",
    "exec_restricted",
    "load_sandboxed",
]


def load_sandboxed(path_or_source: Path | str, *, filename: str | None = None) -> Harness:
    """Check, compile and load a generated harness (a file path, or its source text).

    Raises ``UsageError`` naming the first problem when the checker refuses it.
    The returned ``Harness.main`` takes the real ``Run`` and runs the harness against
    it in the sandbox process (``host.host_harness``).
    """
    source, path = _source_and_path(path_or_source, filename)
    report = check_harness_source(source, filename=str(path))
    if not report.ok:
        raise UsageError(_refusal(path, report))
    assert report.meta is not None
    source_hash = hashlib.sha256(source.encode("utf-8")).hexdigest()
    name = report.meta.name

    async def main(run: Run, **params: Any) -> Any:
        return await host_harness(
            run, source=source, filename=str(path), name=name,
            module=module_name(source_hash), params=params,
        )

    return Harness(path=path, meta=report.meta, main=main, source_hash=source_hash,
                   sandboxed=True)


def _source_and_path(path_or_source: Path | str, filename: str | None) -> tuple[str, Path]:
    if isinstance(path_or_source, Path) or (
        "\n" not in path_or_source and Path(path_or_source).is_file()
    ):
        path = Path(path_or_source)
        if not path.is_file():
            raise UsageError(f"harness file {path} does not exist; pass the path of a .py file")
        return path.read_text(encoding="utf-8"), path.resolve()
    return path_or_source, Path(filename or "<generated harness>")


def _refusal(path: Path, report: CheckReport) -> str:
    first = report.problems[0]
    more = len(report.problems) - 1
    tail = f" (and {more} more; see `reviewbot harness check {path}`)" if more else ""
    return f"harness {path} is refused by the checker: line {first.line}: {first.message}{tail}"


