"""A live local web dashboard over the runs journaled for a repository.

``reviewbot dashboard`` serves it (:class:`~reviewbot.dashboard.server.Dashboard`):
runs list, run view (phases, budget, timeline, agents) and stop/pause/continue,
which write the run's control file (see :mod:`reviewbot.runtime.control`).
"""
