"""Incremental re-parsing after edits gives the tree a fresh parse gives."""

from __future__ import annotations

import random
from pathlib import Path

import tree_sitter

from reviewbot.code.languages import language_named
from reviewbot.code.parsing import parse, parse_edited

SOURCES = sorted((Path(__file__).resolve().parents[2] / "reviewbot" / "migrate").glob("*.py"))
SNIPPETS = [b"", b"join", b"x = 1\n", b"\n\n", b"(", b"from os.path import join\n", b"'''"]


def shape(tree: tree_sitter.Tree) -> list[tuple[str, int, int, tuple[int, int]]]:
    """Every node's kind, byte range and start point, in order."""
    out = []
    cursor = [tree.root_node]
    while cursor:
        node = cursor.pop()
        out.append((node.type, node.start_byte, node.end_byte, node.start_point))
        cursor.extend(reversed(node.children))
    return out


def test_edited_trees_are_fresh_trees() -> None:
    python = language_named("python")
    assert python is not None
    fresh = tree_sitter.Parser(python.grammar())  # not the module's parser nor its cache
    rng = random.Random(13)
    checked = 0
    for path in SOURCES:
        source = path.read_bytes()
        tree = parse(source, "python")
        for _ in range(4):
            cuts = sorted(rng.sample(range(len(source)), 6))
            edits = [(cuts[i], cuts[i + 1], rng.choice(SNIPPETS)) for i in range(0, 6, 2)]
            new = source
            for start, end, text in reversed(edits):
                new = new[:start] + text + new[end:]
            edited = parse_edited(source, tree, edits, new, "python")
            assert shape(edited) == shape(fresh.parse(new)), path.name
            checked += 1
        assert shape(tree) == shape(fresh.parse(source))  # left as it was
    assert checked >= 40
