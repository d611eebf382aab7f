"""Compaction of a closed day's Bronze: many batch files into a few large ones.

A closed day is one no handler writes to any more: older than yesterday, since
a retry that crosses midnight looks for its file in yesterday's folder only.

The compacted file is written whole first (atomically), naming the files it
replaces in its Parquet metadata; only then are those files deleted. Runs hold
the catalog's writer lock, so no transform reads Bronze in between. A run killed
between the two steps leaves a compacted file whose members still exist; the
next run finds it and finishes the deletes, so no row is ever counted twice for
long, and Silver's dedupe by event id and sequence number absorbs even that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.landing import to_parquet_bytes
from ingestion.store import LakeStore

COMPACTED_PREFIX = "compacted-"
MEMBERS_KEY = b"streamlake.compacted_from"
# Rows per compacted file: large enough for few files, small enough to write in
# a Lambda-sized memory budget.
ROWS_PER_FILE = 1_000_000


@dataclass
class DayCompaction:
    source: str
    day: str
    files_before: int
    files_after: int
    rows: int
    recovered: int = 0  # members of an earlier, interrupted compaction deleted now


def closed_days(store: LakeStore, source: str, today: date) -> list[str]:
    """Days of a Bronze source with more than one file, old enough to compact."""
    last_closed = (today - timedelta(days=2)).isoformat()
    days: dict[str, int] = {}
    for path in store.list_files(f"bronze/{source}", ".parquet"):
        day = _day_of(path)
        if day and day <= last_closed:
            days[day] = days.get(day, 0) + 1
    return sorted(day for day, files in days.items() if files > 1)


def sources(store: LakeStore) -> list[str]:
    return sorted({path.split("/")[1] for path in store.list_files("bronze", ".parquet")})


def compact_closed_days(store: LakeStore, today: date, compression: str) -> Iterator[DayCompaction]:
    """Compact every closed day of every source, each day's result as it is done."""
    for source in sources(store):
        for day in closed_days(store, source, today):
            yield compact_day(store, source, day, compression)


def compact_day(store: LakeStore, source: str, day: str, compression: str) -> DayCompaction:
    folder = f"bronze/{source}/dt={day}"
    files = store.list_files(folder, ".parquet")
    recovered = _finish_interrupted(store, folder, files)
    if recovered:
        files = store.list_files(folder, ".parquet")
    if len(files) <= 1:
        return DayCompaction(source, day, len(files), len(files), 0, recovered)

    tables = [pq.read_table(store.filesystem.open_input_file(store.full_path(f))) for f in files]
    combined = pa.concat_tables(tables, promote_options="default")
    order = [("ingestion_time", "ascending"), ("sequence_number", "ascending")]
    combined = combined.sort_by([key for key in order if key[0] in combined.column_names])
    members = [f.rsplit("/", 1)[1] for f in files]
    digest = hashlib.sha256("\n".join(members).encode()).hexdigest()[:16]
    written = []
    for part, start in enumerate(range(0, combined.num_rows, ROWS_PER_FILE)):
        chunk = combined.slice(start, ROWS_PER_FILE)
        chunk = chunk.replace_schema_metadata(
            {**(chunk.schema.metadata or {}), MEMBERS_KEY: json.dumps(members).encode()}
        )
        name = f"{folder}/{COMPACTED_PREFIX}{digest}-{part}.parquet"
        store.write_atomic(name, to_parquet_bytes(chunk, compression))
        written.append(name)
    for path in files:
        if path not in written:
            store.delete(path)
    return DayCompaction(source, day, len(files), len(written), combined.num_rows, recovered)


def _finish_interrupted(store: LakeStore, folder: str, files: list[str]) -> int:
    """Delete the members of any compacted file that a killed run left in place."""
    names = {f.rsplit("/", 1)[1]: f for f in files}
    deleted = 0
    for name, path in names.items():
        if not name.startswith(COMPACTED_PREFIX):
            continue
        metadata = pq.read_schema(store.filesystem.open_input_file(store.full_path(path))).metadata
        for member in json.loads((metadata or {}).get(MEMBERS_KEY, b"[]")):
            if member in names and member != name:
                store.delete(names[member])
                deleted += 1
    return deleted


def _day_of(path: str) -> str | None:
    for part in path.split("/"):
        if part.startswith("dt="):
            return part[3:]
    return None
