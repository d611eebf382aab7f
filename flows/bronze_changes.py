"""Which Bronze sources have data the last scheduled build did not see.

On Athena every statement is billed (10 MB at least) and takes a second or
more, so a scheduled build there runs only the models downstream of the
sources that got new files: `dbt build --select source:bronze.<source>+ ...`,
the same graph selection as dbt's `source_status:fresher+`, with freshness
taken from the lake's file listing instead of `dbt source freshness` (which
would send a query per source). A run with no new Bronze builds nothing.

The listing is the one the Bronze check makes before every build (plus the
quarantine files, which pipeline_health counts). After a build that succeeded,
its listing is recorded (`BuildRecord`); the next run compares. A build that
failed records nothing, so the next run selects its sources again; files that
land during a build are not in its record, so the next run selects them.
Compaction rewrites closed days into new files: that run rebuilds their
sources, which changes nothing (the merges keep only what is new or newer).

Gold models tagged `rolls_daily` hold values relative to today (key_metrics'
rolling windows) and are built, with what is downstream of them, on the first
run of each UTC day as well.

The same comparison names the Bronze files the last successful build did not
see. Every file that build listed had been read by it (its listing came
first), so locally a Silver model reads only the unseen files
(lakehouse.new_bronze_files_environment): the watermark's lookback otherwise
has it read the last minutes of Bronze again every run, hundreds of thousands
of rows at thousands of events a second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from flows.bronze_check import area_files
from ingestion.store import LakeStore

ROLLS_DAILY_TAG = "rolls_daily"


@dataclass(frozen=True)
class BuildSelection:
    """What a scheduled build must run: the sources with unseen files, and
    whether today's first run still has to roll the date-relative models."""

    sources: tuple[str, ...] = ()
    new_day: bool = False
    # No record of an earlier build: the whole project, seeds included.
    everything: bool = False
    # The Bronze files the last successful build did not see (lake-relative paths),
    # which are all a Silver model has to read (dbt_project/macros/merge_target_days.sql).
    new_files: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.sources or self.new_day or self.everything)

    def dbt_args(self) -> list[str]:
        """`--select` for dbt build: each changed source and everything downstream."""
        if self.everything:
            return []
        selectors = [f"source:bronze.{source}+" for source in self.sources]
        if self.new_day:
            selectors.append(f"tag:{ROLLS_DAILY_TAG}+")
        return ["--select", *selectors] if selectors else []

    def describe(self) -> str:
        if self.is_empty:
            return "no new Bronze since the last build: nothing to build"
        if self.everything:
            return "no record of an earlier scheduled build: everything"
        parts = [f"new Bronze in {', '.join(self.sources)}"] if self.sources else []
        if self.new_day:
            parts.append("a new day for the date-relative models")
        return "; ".join(parts)


@dataclass(frozen=True)
class BuildRecord:
    """The landed files a successful scheduled build saw, and its UTC day."""

    files: dict[str, str] = field(default_factory=dict)
    day: str | None = None

    @classmethod
    def load(cls, store: LakeStore, path: str) -> BuildRecord | None:
        """The record at path, or None when there is none (or it is damaged: build all)."""
        if not store.exists(path):
            return None
        try:
            data = json.loads(store.read_bytes(path))
            return cls(files=dict(data["files"]), day=data.get("day"))
        except (ValueError, KeyError, TypeError):
            return None

    def save(self, store: LakeStore, path: str) -> None:
        data = {"day": self.day, "files": self.files}
        store.write_atomic(path, json.dumps(data, sort_keys=True, indent=0).encode())


def landed_files(store: LakeStore, bronze: dict[str, str]) -> dict[str, str]:
    """The readable Bronze files (BronzeCheck.files) and the quarantine files, with stamps."""
    return {**bronze, **area_files(store, "quarantine")}


def plan(
    store: LakeStore, bronze: dict[str, str], last: BuildRecord | None, today: date
) -> tuple[BuildSelection, BuildRecord]:
    """What a scheduled build selects, given the Bronze files (the check's listing)
    and the last successful build's record, and the record to keep once it succeeded."""
    files = landed_files(store, bronze)
    return selection(last, files, today), BuildRecord(files, today.isoformat())


def selection(record: BuildRecord | None, files: dict[str, str], today: date) -> BuildSelection:
    """What to build, given the last successful build's record (None: everything)
    and the files landed now."""
    if record is None:
        return BuildSelection(everything=True)
    unseen = sorted(p for p, stamp in files.items() if record.files.get(p) != stamp)
    changed = {_source_of(p) for p in unseen}
    return BuildSelection(
        tuple(sorted(changed)),
        new_day=record.day != today.isoformat(),
        new_files=tuple(p for p in unseen if p.startswith("bronze/")),
    )


def _source_of(path: str) -> str:
    """bronze/<source>/... is that source; quarantine/... is the quarantine source."""
    area, source = path.split("/", 2)[:2]
    return source if area == "bronze" else "quarantine"
