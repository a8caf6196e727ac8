"""The GitHub surface: the Action entry, PR review posting with tracking, migration PRs."""

from reviewbot.git import TokenCredentials
from reviewbot.github.action import ActionOptions, ActionOutcome, run_action
from reviewbot.github.checks import post_check_run
from reviewbot.github.client import RateLimitAdapter, connect
from reviewbot.github.diffmap import DiffMap
from reviewbot.github.events import ActionEnv, Task, Trigger, parse_event
from reviewbot.github.migration_pr import MigrationPR, open_or_update_pr, push_branch
from reviewbot.github.publish import PublishOutcome, publish_review
from reviewbot.github.tracking import TrackingState, reconcile

__all__ = [
    "ActionEnv",
    "ActionOptions",
    "ActionOutcome",
    "DiffMap",
    "MigrationPR",
    "PublishOutcome",
    "RateLimitAdapter",
    "Task",
    "TokenCredentials",
    "TrackingState",
    "Trigger",
    "connect",
    "open_or_update_pr",
    "parse_event",
    "post_check_run",
    "publish_review",
    "push_branch",
    "reconcile",
    "run_action",
]
