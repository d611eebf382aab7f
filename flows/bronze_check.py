"""Bronze files checked before a build: an unreadable one goes to quarantine, whole.

dbt reads each Bronze source through one glob (`bronze/<source>/*/*.parquet`),
so a single truncated or garbage file would fail every build until someone
removed it by hand. The transform flow calls `check_bronze` first, under the
writer lock: every Bronze file not checked before is decoded in full and its
schema compared with the declared one; a file that fails is moved out of the
glob to `quarantine/<source>/_unreadable/dt=<day>/<name>.<digest>.unreadable`
beside a `.reason.json` that says why. Nothing is deleted: the original bytes
are kept as they were, and the rest of Bronze builds as usual.

Handlers write each file atomically (a hidden temporary file renamed into
place, or one S3 upload), so a visible file that cannot be read is damaged,
not half written. The record of checked files (`_state/bronze_checked.json`)
is only a cache that spares re-reading old files; losing it costs one full
re-check, never a wrong result. A file rewritten since (a redelivered batch)
has a new size or time and is checked again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ingestion.application import ApplicationError, current_application
from ingestion.schemas import DYNAMODB_CHANGES, EVENTS
from ingestion.settings import Settings
from ingestion.store import LakeStore

STATE_PATH = "_state/bronze_checked.json"
UNREADABLE_FOLDER = "_unreadable"
# Not ".parquet": the quarantine report, the inventory and the Glue quarantine
# table read every .parquet under quarantine/ as quarantined records.
UNREADABLE_SUFFIX = ".unreadable"
REASON_SUFFIX = ".reason.json"


def expected_schema(source: str, schema: pa.Schema) -> pa.Schema:
    """What a Bronze file of a source must hold: its kind's schema by the application file;
    for a source the file does not name (the handlers land any table or stream), by shape."""
    try:
        app = current_application(Settings().app_config)
    except ApplicationError:
        app = None
    if app is not None and app.table(source) is not None:
        return DYNAMODB_CHANGES
    if app is not None and app.stream(source) is not None:
        return EVENTS
    return DYNAMODB_CHANGES if "table_name" in schema.names else EVENTS


@dataclass(frozen=True)
class QuarantinedFile:
    source: str
    bronze_path: str
    quarantine_path: str
    reason: str
    size_bytes: int
    quarantined_at: str

    @property
    def message(self) -> str:
        return f"{self.bronze_path} moved to {self.quarantine_path}: {self.reason}"


@dataclass
class BronzeCheck:
    checked: int = 0  # files read now (not before)
    skipped: int = 0  # files checked by an earlier run and unchanged since
    quarantined: list[QuarantinedFile] = field(default_factory=list)
    # The readable Bronze files after the check: relative path -> "size:mtime_ns".
    files: dict[str, str] = field(default_factory=dict)


def problem(store: LakeStore, path: str) -> str | None:
    """Why a Bronze file cannot be read as its source's rows, or None when it can."""
    source = path.split("/")[1]
    try:
        with store.filesystem.open_input_file(store.full_path(path)) as handle:
            reader = pq.ParquetFile(handle)
            schema = reader.schema_arrow
            mismatch = schema_problem(schema, expected_schema(source, schema))
            if mismatch:
                return mismatch
            # Every page decoded: a footer can be intact over a damaged page.
            for _ in reader.iter_batches(batch_size=65_536):
                pass
    except (OSError, pa.ArrowException, ValueError) as error:
        return f"unreadable Parquet: {_first_line(error)}"
    return None


def schema_problem(schema: pa.Schema, expected: pa.Schema | None) -> str | None:
    """A declared column missing (when required) or of another type; extra columns are fine."""
    if expected is None:
        return None
    for declared in expected:
        index = schema.get_field_index(declared.name)
        if index < 0:
            if not declared.nullable:
                return f"required column {declared.name!r} missing"
            continue
        found = schema.field(index).type
        if pa.types.is_dictionary(found):
            found = found.value_type
        if not found.equals(declared.type):
            return f"column {declared.name!r} is {found}, expected {declared.type}"
    return None


def check_bronze(store: LakeStore, now: datetime | None = None) -> BronzeCheck:
    """Check the Bronze files not checked before; quarantine the unreadable ones."""
    seen = _load_state(store)
    result = BronzeCheck()
    current: dict[str, str] = {}
    for info in _area_files(store, "bronze"):
        relative = info.path[len(store.base) + 1 :]
        stamp = file_stamp(info)
        if seen.get(relative) == stamp:
            result.skipped += 1
            current[relative] = stamp
            continue
        result.checked += 1
        reason = problem(store, relative)
        if reason is None:
            current[relative] = stamp
            continue
        result.quarantined.append(quarantine_file(store, relative, reason, now))
    # Files gone since (compacted, quarantined) drop out, so the record stays small.
    if current != seen:
        store.write_atomic(STATE_PATH, json.dumps(current, sort_keys=True, indent=0).encode())
    result.files = current
    return result


def quarantine_file(
    store: LakeStore, path: str, reason: str, now: datetime | None = None
) -> QuarantinedFile:
    """Move one Bronze file out of the Bronze glob into quarantine, with its reason beside it.

    The reason is written first: a run killed in between leaves the file in
    Bronze, where the next run finds it again and finishes the move. The name
    carries the content's digest, so a second bad file of the same name never
    replaces the first.
    """
    data = store.read_bytes(path)
    _, source, day_folder, name = path.split("/", 3)
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = f"quarantine/{source}/{UNREADABLE_FOLDER}/{day_folder}/{name}.{digest}"
    target += UNREADABLE_SUFFIX
    entry = QuarantinedFile(
        source=source,
        bronze_path=path,
        quarantine_path=target,
        reason=reason,
        size_bytes=len(data),
        quarantined_at=(now or datetime.now(UTC)).isoformat(),
    )
    store.write_atomic(target + REASON_SUFFIX, json.dumps(asdict(entry), indent=2).encode())
    store.move(path, target)
    return entry


def quarantined_files(store: LakeStore) -> list[QuarantinedFile]:
    """Every Bronze file quarantined so far, from the reasons written beside them."""
    return [
        QuarantinedFile(**json.loads(store.read_bytes(path)))
        for path in store.list_files("quarantine", REASON_SUFFIX)
        if f"/{UNREADABLE_FOLDER}/" in path
    ]


def bronze_files(store: LakeStore) -> dict[str, str]:
    """The files dbt's Bronze glob reads, with their stamps, as the check records them."""
    return area_files(store, "bronze")


def area_files(store: LakeStore, area: str) -> dict[str, str]:
    """A landed area's files (bronze/ or quarantine/) as their tables read them, with stamps."""
    return {info.path[len(store.base) + 1 :]: file_stamp(info) for info in _area_files(store, area)}


def _area_files(store: LakeStore, area: str) -> list[pafs.FileInfo]:
    # Exactly what dbt's glob reads: <area>/<source>/<folder>/<name>.parquet, not
    # hidden (a handler's file in the making, or one the check moved a folder deeper).
    selector = pafs.FileSelector(store.full_path(area), recursive=True, allow_not_found=True)
    found = []
    for info in store.filesystem.get_file_info(selector):
        parts = info.path[len(store.base) + 1 :].split("/")
        if (
            info.type == pafs.FileType.File
            and len(parts) == 4
            and parts[3].endswith(".parquet")
            and not parts[3].startswith(".")
        ):
            found.append(info)
    return sorted(found, key=lambda i: i.path)


def file_stamp(info: pafs.FileInfo) -> str:
    """What changes when a file is rewritten: its size and modification time."""
    return f"{info.size}:{info.mtime_ns}"


def _load_state(store: LakeStore) -> dict[str, str]:
    if not store.exists(STATE_PATH):
        return {}
    try:
        state = json.loads(store.read_bytes(STATE_PATH))
    except ValueError:  # a damaged cache only means checking everything again
        return {}
    return state if isinstance(state, dict) else {}


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
