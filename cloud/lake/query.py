"""SQL over the lake with DuckDB: views `telemetry` (the Parquet files, partition columns
included) and `latest_state` (one row per device, the DynamoDB item shape)."""

from __future__ import annotations

from typing import Any, Final

import duckdb
import pyarrow as pa

from cloud.lake.schema import COLUMNS, PARTITION_KEYS, STATE_TABLE, TABLE
from cloud.lake.store import Lake

# Glue/Hive type -> DuckDB type, so the local view has the types the Glue table declares.
DUCKDB_TYPES: Final = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER",
                       "boolean": "BOOLEAN"}  # fmt: skip


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    files = sorted((lake.root / TABLE).rglob("*.parquet"))
    if files:
        hive_types = ", ".join(f"'{name}': '{DUCKDB_TYPES[t]}'" for name, t in PARTITION_KEYS)
        glob = (lake.root / TABLE).as_posix() + "/**/*.parquet"
        names = ", ".join([c.name for c in COLUMNS] + [name for name, _ in PARTITION_KEYS])
        con.execute(
            f"CREATE VIEW {TABLE} AS SELECT {names} FROM read_parquet('{_quote(glob)}', "
            f"hive_partitioning = true, hive_types = {{{hive_types}}})"
        )
    else:
        columns = [f"{c.name} {DUCKDB_TYPES[c.glue_type]}" for c in COLUMNS]
        columns += [f"{name} {DUCKDB_TYPES[t]}" for name, t in PARTITION_KEYS]
        con.execute(f"CREATE TABLE {TABLE} ({', '.join(columns)})")
    items = list(lake.latest_state().values())
    state = (
        pa.Table.from_pylist(items) if items else pa.table({"device": pa.array([], pa.string())})
    )
    con.register("_state_arrow", state)
    con.execute(f"CREATE VIEW {STATE_TABLE} AS SELECT * FROM _state_arrow")
    return con


def _quote(text: str) -> str:
    return text.replace("'", "''")


def query(lake: Lake, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of `sql` over the lake."""
    con = connect(lake)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description or []]
        return names, cursor.fetchall()
    finally:
        con.close()
