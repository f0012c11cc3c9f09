"""Per-provider resilience policies: deadlines, retries, breakers, quotas, bulkheads, fallbacks.

`ProviderPolicy` (policy.py) says what applies to a provider; `PolicyRunner` (runner.py) applies
it around every call of `BaseApiProvider.execute`. Each policy is a small module of its own with
an injectable clock (clock.py), so tests drive them without real sleeps.
"""
