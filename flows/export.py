"""Exports of a Gold model, filtered, to CSV, JSON or Parquet.

Names are checked against the dbt manifest (the model, and every column a filter
names); filter values are bound as query parameters and never pasted into SQL.
Files go to the lake's exports/ folder, and nowhere else: a name that would
leave it is refused. On the aws target the file goes to S3 with server-side
encryption, and the caller gets a presigned URL that expires within the hour.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any, Literal

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from botocore.config import Config
from prefect import flow

from flows.warehouse.gold_queries import TRANSIENT_RETRIES, Warehouse, warehouse_for
from flows.warehouse.manifest import check_column, gold_model
from ingestion.settings import Settings
from ingestion.store import LakeStore

ExportFormat = Literal["csv", "json", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "json", "parquet")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class ExportRequest:
    model: str
    format: str = "csv"
    # Equality filters: column -> value.
    filters: tuple[tuple[str, str], ...] = ()
    time_column: str | None = None
    start: date | None = None  # inclusive
    end: date | None = None  # inclusive
    file_name: str | None = None


@dataclass(frozen=True)
class ExportResult:
    location: str
    rows: int
    url: str | None = None


def export_path(request: ExportRequest) -> str:
    """The file's path relative to the lake root, always under exports/."""
    if request.format not in FORMATS:
        raise ValueError(f"unknown export format {request.format!r}; choose one of {FORMATS}")
    name = request.file_name or (
        f"{request.model}-{datetime.now().strftime('%Y%m%dT%H%M%S')}.{request.format}"
    )
    # Only a plain file name: no folders, no "..", nothing absolute.
    if PurePosixPath(name).name != name or not _FILE_NAME.fullmatch(name):
        raise ValueError(f"export file name {name!r} is not a plain file name inside exports/")
    return f"exports/{name}"


def export_query(request: ExportRequest, settings: Settings, warehouse: Warehouse):
    """The SELECT for a request, with every name checked and every value a parameter."""
    model = gold_model(settings, request.model)
    conditions, parameters = [], []
    for column, value in request.filters:
        check_column(model, column, "filter column")
        conditions.append(f"cast({column} as varchar) = ?")
        parameters.append(value)
    if request.start or request.end:
        if not request.time_column:
            raise ValueError("a time range needs --time-column, the column it applies to")
        check_column(model, request.time_column, "time column")
        if request.start and request.end and request.start > request.end:
            raise ValueError(f"time range starts ({request.start}) after it ends ({request.end})")
        if request.start:
            conditions.append(f"cast({request.time_column} as date) >= cast(? as date)")
            parameters.append(request.start.isoformat())
        if request.end:
            conditions.append(f"cast({request.time_column} as date) <= cast(? as date)")
            parameters.append(request.end.isoformat())
    columns = ", ".join(model.columns)
    where = " and ".join(conditions) or "1 = 1"
    return f"select {columns} from {warehouse.gold(model.name)} where {where}", parameters


def encode(table: pa.Table, export_format: str) -> bytes:
    sink = io.BytesIO()
    if export_format == "csv":
        pacsv.write_csv(table, sink)
    elif export_format == "parquet":
        pq.write_table(table, sink, compression="zstd")
    else:
        for row in table.to_pylist():
            sink.write(json.dumps(row, default=_json_value).encode() + b"\n")
    return sink.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def run_export(request: ExportRequest, settings: Settings) -> ExportResult:
    relative = export_path(request)
    warehouse = warehouse_for(settings)
    sql, parameters = export_query(request, settings, warehouse)
    table = warehouse.query(sql, parameters)
    payload = encode(table, request.format)
    store = LakeStore.from_settings(settings)
    if store.is_local:
        store.write_atomic(relative, payload)
        return ExportResult(str(store.local_path(relative)), table.num_rows)
    return _to_s3(settings, relative, payload, table.num_rows)


def _to_s3(settings: Settings, relative: str, payload: bytes, rows: int) -> ExportResult:
    bucket, key = LakeStore.from_settings(settings).s3_object(relative)
    # SigV4: presigned URLs of KMS-encrypted objects work only with it.
    s3 = boto3.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url,
        config=TRANSIENT_RETRIES.merge(Config(signature_version="s3v4")),
    )
    s3.put_object(Bucket=bucket, Key=key, Body=payload, ServerSideEncryption="aws:kms")
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key},
        ExpiresIn=min(settings.export_url_expiry_seconds, 3600),
    )
    return ExportResult(f"s3://{bucket}/{key}", rows, url)


@flow(name="export", log_prints=True)
def export(
    model: str,
    format: ExportFormat = "csv",
    filters: dict[str, str] | None = None,
    time_column: str | None = None,
    start: date | None = None,
    end: date | None = None,
    file_name: str | None = None,
) -> ExportResult:
    """Export a Gold model, filtered, to the lake's exports/."""
    request = ExportRequest(
        model=model,
        format=format,
        filters=tuple((filters or {}).items()),
        time_column=time_column,
        start=start,
        end=end,
        file_name=file_name,
    )
    result = run_export(request, Settings())
    print(f"exported {result.rows} rows of {model} to {result.location}")
    return result
