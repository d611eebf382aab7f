"""What the lake holds: files and rows per area and source, and why records were quarantined."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from ingestion.store import LakeStore

AREAS = ("bronze", "quarantine")


@dataclass
class SourceInventory:
    area: str
    source: str
    files: int = 0
    rows: int = 0
    days: set[str] = field(default_factory=set)


def _parts(path: str) -> tuple[str, str, str] | None:
    # <area>/<source>/dt=YYYY-MM-DD/<name>.parquet
    pieces = path.split("/")
    if len(pieces) != 4 or not pieces[2].startswith("dt="):
        return None
    return pieces[0], pieces[1], pieces[2][3:]


def inventory(store: LakeStore) -> list[SourceInventory]:
    found: dict[tuple[str, str], SourceInventory] = {}
    for area in AREAS:
        for path in store.list_files(area, suffix=".parquet"):
            parts = _parts(path)
            if parts is None:
                continue
            _, source, day = parts
            entry = found.setdefault((area, source), SourceInventory(area, source))
            with store.filesystem.open_input_file(store.full_path(path)) as handle:
                entry.rows += pq.read_metadata(handle).num_rows
            entry.files += 1
            entry.days.add(day)
    return sorted(found.values(), key=lambda e: (AREAS.index(e.area), e.source))


def quarantine_reasons(store: LakeStore) -> Counter[tuple[str, str]]:
    """(source, reason) -> records; the reason's detail after a colon is left out."""
    reasons: Counter[tuple[str, str]] = Counter()
    for path in store.list_files("quarantine", suffix=".parquet"):
        with store.filesystem.open_input_file(store.full_path(path)) as handle:
            table = pq.read_table(handle, columns=["source", "reason"])
        for source, reason in zip(
            table.column("source").to_pylist(), table.column("reason").to_pylist(), strict=True
        ):
            reasons[(source, _reason_kind(reason))] += 1
    return reasons


def _reason_kind(reason: str) -> str:
    for marker in (", got ", ": ", " '", ' "'):
        if marker in reason and not reason.startswith("malformed"):
            return reason.split(marker, 1)[0]
    return reason
