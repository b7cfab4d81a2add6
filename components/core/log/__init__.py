"""The durable edge log: one SQLite file shared by every floorline process on a device.

Guarantee (stated the way Vector states its sink guarantees):

* **Durable on return.** `append*` returns only after the transaction is committed in WAL mode
  with `synchronous=FULL`: the WAL is fsynced at every commit, so a record whose append returned
  survives a process kill and a power cut. A record whose append did not return may or may not
  be there, and if it is, it is there exactly once with a valid sequence number.
* **Identity.** Every record gets `(device, stream, seq)`; `seq` is gapless per (device,
  stream), assigned in the committing transaction, and never reused (not after a restart,
  not after a corrupt file is salvaged: numbers stay below a mark kept beside the file,
  `seqmark.py`, and a salvage resumes above it).
* **At-least-once to each consumer.** A named consumer reads past its durable offset and
  acknowledges after its own work is committed; a crash between the two re-delivers.
* **Bounded.** A byte budget (database pages in use plus the WAL) and a free-disk floor. A new
  record may push out only records of its own or a lower priority (raw < health < aggregate <
  event < alert), oldest first; if that is not enough the append raises `BudgetExceeded`
  (the caller counts it; HTTP ingest turns it into 429). Every eviction is recorded with the
  exact sequence range it removed, so nothing is ever dropped silently.

Layout: one table per record class (so eviction and consumption are prefix deletes on the
rowid, with no secondary index to pay for), a `streams` table that owns the sequence counters
and a per-stream field list (records whose keys match it are stored as a bare JSON array, which
keeps a scalar reading near 30 bytes on disk).

The parts, one module each: `schema.py` (tables, statements, connecting), `db.py` (the
connection and its write transactions), `writer.py` (appending), `streams.py` and
`sequence.py` (identities and the mark), `budget.py` (budget, eviction, refusals),
`consumers.py` (offsets, acknowledgement, retirement, checkpoints), `epochs.py` (clock
epochs), `decode.py` and `rows.py` (records from rows and back), `inspection.py` (stats and
snapshots), `handle.py` (`Log`, which opens the file and assembles them). At the file level:
`file.py` (one opener at a time, damage vs. errors, moving aside), `seqmark.py`, `wal.py`
and `salvage.py` (recovering a damaged file); `config.py` holds the keys every component
that opens the log shares.
"""

from components.core.log.errors import (
    BudgetExceeded,
    LogError,
    StreamClassMismatch,
    UnknownConsumer,
)
from components.core.log.handle import Log
from components.core.log.records import KeyedAppend, KeyedResult, NewRecord, ReadBatch
from components.core.log.schema import CHECKPOINTS_SQL, CLASS_TABLES, LOG_FORMAT_VERSION

__all__ = [
    "CHECKPOINTS_SQL",
    "CLASS_TABLES",
    "LOG_FORMAT_VERSION",
    "BudgetExceeded",
    "KeyedAppend",
    "KeyedResult",
    "Log",
    "LogError",
    "NewRecord",
    "ReadBatch",
    "StreamClassMismatch",
    "UnknownConsumer",
]
