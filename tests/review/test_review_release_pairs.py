"""The deterministic tier on six real release pairs agrees with ruff and node run by hand.

Runs `bench/deterministic.py`'s comparison (downloads once into bench/.cache/, then reuses
it): every ruff diagnostic reported must be new at head on a changed line by the by-hand
reference, and every such diagnostic reported; no syntax error may be reported in a file
the language's own parser accepts.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench() -> Any:
    sys.path.insert(0, str(BENCH))  # the bench's own helper module (sdist)
    try:
        spec = importlib.util.spec_from_file_location("bench_deterministic",
                                                      BENCH / "deterministic.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                    reason="needs node and npm")
def test_release_pairs_agree_with_ruff_and_node_by_hand() -> None:
    bench = _bench()
    rows = [bench.compare(pair) for pair in bench.PAIRS]
    print("\n" + bench.table(rows))
    for row, pair in zip(rows, bench.PAIRS, strict=True):
        assert row.files > 0, f"{pair.name}: the pair changed nothing"
        assert row.syntax_extra == [], f"{pair.name}: syntax errors the parser accepts"
        if pair.registry == "pypi":
            assert sorted(row.extra) == [], f"{pair.name}: reported, not new by hand"
            assert sorted(row.missed) == [], f"{pair.name}: new by hand, not reported"
    # The comparison has something to compare: ruff finds new diagnostics in these pairs.
    assert sum(len(r.ruff_new) for r in rows) >= 10
