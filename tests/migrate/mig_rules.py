"""What the migration tests share."""

from __future__ import annotations

# `reviewbot migrate` options of the rule the tests run: os.path.join(...) -> join(...),
# adding the import.
JOIN = [
    "--find",
    "os.path.join",
    "--rewrite",
    "join({args})",
    "--add-import",
    "from os.path import join",
]
