"""Writing one batch's Bronze and quarantine files, named for what they hold.

A file's name derives from the batch's identity (shard and the lowest and
highest sequence number in it), so a redelivered batch rewrites its own file
instead of adding a second one. dt is the ingestion date.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingestion.schemas import DICTIONARY_COLUMNS, QUARANTINE, STATISTICS_COLUMNS
from ingestion.store import LakeStore

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


# Kinesis sequence numbers have up to 56 digits, DynamoDB's up to 40.
_SEQUENCE_WIDTH = 64


def is_decimal(sequence: Any) -> bool:
    """A sequence number as the streams write them: ASCII digits only (str.isdigit()
    also takes digits such as "²", and a file named for other text could hold "/",
    ".." or NUL)."""
    return isinstance(sequence, str) and sequence.isascii() and sequence.isdigit()


def sequence_key(sequence_number: str) -> tuple[int, str]:
    """Orders decimal sequence numbers as numbers, whatever their length."""
    digits = sequence_number.lstrip("0")
    return (len(digits), digits)


@dataclass(frozen=True)
class BatchIdentity:
    source: str
    shard: str
    first_sequence: str
    last_sequence: str

    @classmethod
    def of(cls, source: str, shard: str, sequence_numbers: pa.Array | list[str]) -> BatchIdentity:
        """Identity from the lowest and highest sequence number, in numeric order."""
        numbers = pa.array(sequence_numbers, pa.string()).drop_null()
        if not len(numbers):
            raise ValueError("a batch identity needs at least one sequence number")
        # Left-padding makes string order numeric order for these decimal strings.
        padded = pc.utf8_lpad(pc.utf8_ltrim(numbers, "0"), _SEQUENCE_WIDTH, "0")
        extremes = pc.min_max(padded)
        first, last = (extremes[k].as_py().lstrip("0") or "0" for k in ("min", "max"))
        return cls(source, shard, first, last)

    @property
    def file_name(self) -> str:
        shard = _UNSAFE_IN_NAME.sub("", self.shard) or "shard"
        return f"{shard}-{self.first_sequence}-{self.last_sequence}.parquet"


def partition_path(area: str, source: str, day: str, file_name: str) -> str:
    return f"{area}/{source}/dt={day}/{file_name}"


def to_parquet_bytes(table: pa.Table, compression: str) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    names = table.column_names
    pq.write_table(
        table,
        sink,
        compression=compression,
        use_dictionary=[name for name in names if name in DICTIONARY_COLUMNS],
        write_statistics=[name for name in names if name in STATISTICS_COLUMNS],
    )
    return sink.getvalue()


@dataclass
class LandingResult:
    landed: int = 0
    quarantined: int = 0
    bytes_written: int = 0
    paths: list[str] = field(default_factory=list)
    skipped_as_already_landed: bool = False


def land_batch(
    store: LakeStore,
    identity: BatchIdentity,
    good: pa.Table,
    bad: pa.Table,
    ingestion_time: datetime,
    compression: str,
) -> LandingResult:
    """Land a batch's good rows in Bronze and its bad rows in quarantine.

    Quarantine is written first: if Bronze then fails, the retry rewrites both
    files under the same names and nothing is counted twice.

    Every row is stamped with ingestion_time here, just before the write: the
    gap between the stamp and the file becoming visible is one PUT, which is
    what the incremental models' watermark lookback has to cover.
    """
    good, bad = _stamped(good, ingestion_time), _stamped(bad, ingestion_time)
    day = ingestion_time.date()
    result = LandingResult()
    yesterday = (day - timedelta(days=1)).isoformat()
    # A retry that crosses midnight would land under a new dt. The last file a
    # batch writes, found under its own name in yesterday's partition, shows that
    # the batch landed whole already.
    last_area = "bronze" if good.num_rows else "quarantine"
    if store.exists(partition_path(last_area, identity.source, yesterday, identity.file_name)):
        result.skipped_as_already_landed = True
        return result

    for area, table in (("quarantine", bad), ("bronze", good)):
        if not table.num_rows:
            continue
        path = partition_path(area, identity.source, day.isoformat(), identity.file_name)
        payload = to_parquet_bytes(table, compression)
        store.write_atomic(path, payload)
        result.bytes_written += payload.size
        result.paths.append(path)
    result.landed = good.num_rows
    result.quarantined = bad.num_rows
    return result


def _stamped(table: pa.Table, ingestion_time: datetime) -> pa.Table:
    position = table.schema.get_field_index("ingestion_time")
    field = table.schema.field(position)
    stamp = pa.repeat(pa.scalar(ingestion_time, field.type), table.num_rows)
    return table.set_column(position, field, stamp)


def quarantine_table(
    source: str,
    rows: list[dict],
    ingestion_time: datetime,
) -> pa.Table:
    """Quarantine rows built in Python (the rare, slow path)."""
    for row in rows:
        row.setdefault("source", source)
        row.setdefault("ingestion_time", ingestion_time)
    return pa.Table.from_pylist(rows, schema=QUARANTINE)


def content_digest(chunks: Iterable[bytes]) -> str:
    """A name for records that carry no usable sequence number."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()[:32]
