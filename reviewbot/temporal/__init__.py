"""Migrations on Temporal: one durable workflow, per-file tasks on worker machines.

Local mode (``reviewbot migrate``) stays the default. This package runs the same harness
steps and the same per-file task code (``reviewbot.migrate.executor``) as a Temporal
workflow (``workflow``) whose activities (``activities``) run on workers
(``reviewbot worker``) that share one git remote. Install with
``pip install 'reviewbot[temporal]'``; nothing here is imported by local mode.
"""
