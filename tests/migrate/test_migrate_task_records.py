"""A file's task is a record that survives serialisation: what a worker machine receives is
what the local executor runs."""

from __future__ import annotations

from reviewbot.git import Repo, RepoView
from reviewbot.migrate import FileTask, MigrationSpec, discover, task_key


def test_task_record_round_trips_through_json(git_repo) -> None:
    git_repo.write("a.py", "import os\n\nX = os.path.join('a', 'b')\nY = os.path.join('c', 'd')\n")
    base = git_repo.commit("initial")
    repo = Repo.open(git_repo.path)
    spec = MigrationSpec(find="os.path.join", template="join({args})",
                         imports=("from os.path import join",))
    found = discover(RepoView.at(repo, base), spec)
    sites = found.by_file["a.py"]
    key = task_key(instruction="use join", spec_key=spec.key(), verify=None, path="a.py",
                   base=base)
    task = FileTask(path="a.py", sites=tuple(sites), spec=spec, base=base, key=key)
    again = FileTask.model_validate_json(task.model_dump_json())
    assert again == task
    assert [s.line for s in again.sites] == [3, 4]
    assert again.sites[0].snippet == "X = os.path.join('a', 'b')"
    assert again.spec.key() == spec.key()
