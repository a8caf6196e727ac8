"""The review's context names what a change deletes and quotes the callers it leaves behind."""

from __future__ import annotations

from reviewbot.review import open_target
from reviewbot.review.context import changed_symbols_for, shard_context


def test_shard_context_shows_a_deleted_function_and_its_callers_at_head(git_repo) -> None:
    git_repo.write("lib.py", "def keep():\n    return 1\n\n\ndef legacy(x):\n    return x\n")
    git_repo.write("app.py", "from lib import legacy\n\n\ndef main():\n    return legacy(3)\n")
    git_repo.commit("base")
    git_repo.write("lib.py", "def keep():\n    return 2\n")  # uncommitted: legacy() is gone
    target = open_target(git_repo.path, base="HEAD")

    without_base = changed_symbols_for(target.head_view, target.changes)
    assert [s.qualified for s in without_base] == ["keep"]
    symbols = changed_symbols_for(target.head_view, target.changes, target.base_view)
    assert [(s.qualified, s.deleted) for s in symbols] == [("keep", False), ("legacy", True)]

    [change] = target.reviewable
    ctx = shard_context([change], target.head_view, symbols, base=target.base, head_ref=target.head)
    assert "function legacy DELETED by this change (was at base lib.py:5-6)" in ctx.text
    assert "called from app.py:5 in main" in ctx.text
    assert "return legacy(3)" in ctx.text  # the caller's line, quoted from head
    # findings may point at the caller; the deleted lines (5-6 at base) are not head lines
    assert [(r.start, r.end) for r in ctx.context_ranges["app.py"]] == [(2, 5)]
    assert all(r.end <= 2 for r in ctx.context_ranges.get("lib.py", []))
