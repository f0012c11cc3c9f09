"""Benchmarks: `python -m bench.transport_cpu`, `python -m bench.run` (see README.md)."""
