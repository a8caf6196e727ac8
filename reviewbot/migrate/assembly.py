"""Land the passing task commits on one branch, verify it, and bisect out what breaks it.

Each file passed ``--verify`` alone; together they may not (two files that each work
with the old API of the other). When the assembled branch fails, a binary search
over prefixes of the task commits finds the first commit whose addition breaks it;
that file is dropped and the search repeats on the rest, until the branch passes.
Each probe is a tree-level assembly on a scratch branch plus one verify run.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio.to_thread

from reviewbot.git import AssemblyResult, assemble, delete_branch
from reviewbot.migrate.engine import MigrationJob
from reviewbot.migrate.gates import GateResult, verify_gate
from reviewbot.migrate.result import Assembly, FileResult


async def _verify_at(job: MigrationJob, commit: str) -> GateResult:
    assert job.verify is not None
    async with job.pool.checkout(commit) as wt:
        with job.tally.timed("verify"):
            return await verify_gate(job.verify, wt.path, timeout=job.verify_timeout)


async def _assemble(
    job: MigrationJob, commits: Sequence[tuple[str, str]], branch: str
) -> AssemblyResult:
    """The task commits onto ``branch`` from the base, committed as the job's identity."""
    with job.tally.timed("assembly"):
        return await anyio.to_thread.run_sync(
            assemble, job.repo, job.base, list(commits), branch, job.identity
        )


async def _probe(job: MigrationJob, commits: Sequence[tuple[str, str]], scratch: str) -> GateResult:
    probe = await _assemble(job, commits, scratch)
    return await _verify_at(job, probe.head)


async def assemble_results(job: MigrationJob, files: list[FileResult], branch: str) -> Assembly:
    """Assemble the migrated files onto ``branch``; files that conflict or break the
    assembled ``--verify`` are marked ``dropped`` in ``files`` (in place) with the reason."""
    by_path = {f.path: f for f in files}
    commits = [(f.path, f.commit) for f in files if f.status == "migrated" and f.commit]
    if not commits:
        return Assembly()
    result = await _assemble(job, commits, branch)
    out = Assembly(head=result.head, conflicts=dict(result.conflicts))
    for path, conflicting in result.conflicts.items():
        by_path[path].status = "dropped"
        by_path[path].failed_gate = "assembly"
        by_path[path].reason = "conflicts with files assembled before it"
        by_path[path].output = "conflicting paths: " + ", ".join(conflicting)
    if job.verify is None or not result.merged:
        return out
    kept = [(p, sha) for p, sha in commits if p in set(result.merged)]
    out.verify = await _verify_at(job, result.head)
    if out.verify.passed:
        return out
    scratch = f"{branch}-bisect"
    try:
        while kept:
            lo, hi = 1, len(kept)  # the whole list fails; find the shortest failing prefix
            failing = out.verify
            while lo < hi:
                mid = (lo + hi) // 2
                probe = await _probe(job, kept[:mid], scratch)
                out.bisect_rounds += 1
                if probe.passed:
                    lo = mid + 1
                else:
                    hi, failing = mid, probe
            culprit = kept.pop(hi - 1)[0]
            dropped = by_path[culprit]
            dropped.status = "dropped"
            dropped.failed_gate = "verify"
            dropped.reason = "the assembled branch fails --verify once this file is added"
            dropped.output = failing.output
            job.run.note(
                f"migrate: dropped {culprit}: the assembled branch failed --verify with it"
            )
            result = await _assemble(job, kept, branch)
            out.head = result.head
            out.verify = await _verify_at(job, result.head)
            if out.verify.passed:
                break
    finally:
        await anyio.to_thread.run_sync(delete_branch, job.repo, scratch)
    return out
