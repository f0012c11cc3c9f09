"""Observability: request ids, JSON log lines, Prometheus metrics and the call-log queries."""
