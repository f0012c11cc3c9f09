"""Observability: process telemetry (request ids, JSON log lines, Prometheus metrics).

The call log's read side (logs, stats, rollup queries) is `app.queries`.
"""
