"""Drift core: pure comparisons of stacks, aliases and schema into one report.

``service.run_drift_check`` composes them over injected ports (``ports.py``); the AWS
and PostgreSQL access lives in ``stackflow.adapters`` and ``drift.inspect``.
"""
