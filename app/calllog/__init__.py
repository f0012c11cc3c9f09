"""The call log's write side: every provider call becomes exactly one `external_api_logs` row.

The path of a row, and the module of each step:

    manager (one fan-out's results)
      -> writer.py    CallLogWriter.record, the app's one way in (strict mode returns once the
                      rows are durable; fast mode at once)
      -> intake.py    the bounded queue: the event loop appends, never waits for the database
      -> pipeline.py  the coordinator thread takes a batch; row.py builds its rows (log_id)
         (strict)     journal first: spool.py's journal file; its requests are released
      -> pipeline.py  a batch goes, within the commit bound, through dbworker.py's thread to
           database:  insert.py   BatchInsert: COPY or an idempotent insert, one transaction
           or spool:  spool.py    Spool.append: checksummed records on local disk
      -> pipeline.py  replay: spool chunks -> insert.py (ignore-on-conflict), paced, whenever
                      the database takes rows; writer.py moves a crashed run's journal to the
                      spool, and orphans.py the rows of slots no process holds any more
      -> rollup.py    in each insert's own transaction, the inserted rows' tally is merged
                      into the 5-minute buckets (histogram.py bins the latencies)

Beside the path: status.py (WriterStats and WriterHealth, read by /metrics and /readyz),
http.py (strict mode's back-pressure as a 503), prune.py (retention), rollup_rebuild.py
(buckets recomputed from the rows). The read side is `app.queries`.
"""

from app.calllog.row import to_row
from app.calllog.status import CallLogBackpressureError, Durability, WriterHealth, WriterStats
from app.calllog.writer import CallLogWriter

__all__ = [
    "CallLogBackpressureError",
    "CallLogWriter",
    "Durability",
    "WriterHealth",
    "WriterStats",
    "to_row",
]
