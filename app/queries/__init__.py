"""The call log's read side: what `/integrations/logs`, `/requests/{id}` and `/stats` ask of it.

Reads run in `def` routes (a worker thread) on a `Session`; nothing here writes. Modules:

    logs.py       /logs: keyset pages of rows, newest first (LogFilter, opaque cursors);
                  /requests/{id}: one fan-out's rows (fanout_rows); `as_utc` for every read
    stats.py      /stats from the rows: exact counts and `percentile_cont` on both
                  databases (SQLite sorts latencies in Python); also the per-provider
                  figures, last errors and series points rollups.py answers with
    _stats_pg.py  stats.py's PostgreSQL statements: one index range per provider or bucket
    rollups.py    /stats over windows longer than an hour (`uses_rollup` decides): the
                  5-minute rollup buckets plus the rows at the window's edges; exact counts,
                  percentiles from the latency histogram
    schemas.py    the response models of those endpoints, with their examples

The rollup itself (`BucketTally`, the buckets' table, the histogram) is written by
`app.calllog.rollup`; this package only reads it.
"""
