"""Queries against Gold on either target, with values always bound as parameters.

The flows that read Gold (alerts, exports) go through here: DuckDB on the local
DuckLake catalog, Athena on the aws target. Identifiers (model and column
names) are never taken from users as SQL: callers check them against the dbt
manifest first (flows/warehouse/manifest.py); values travel as `?` parameters.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import boto3
import pyarrow as pa
from botocore.config import Config

from flows.warehouse.lakehouse import open_lake
from ingestion.settings import Settings

TRANSIENT_RETRIES = Config(retries={"max_attempts": 8, "mode": "adaptive"})

_ALERT_COLUMNS = (
    "fired_at timestamp, rule_name varchar, severity varchar, model varchar, "
    "observed double, alert_condition varchar, threshold double, message varchar"
)


class Warehouse(Protocol):
    def gold(self, model: str) -> str:
        """The qualified name of a Gold model."""

    def ops_table(self, name: str) -> str:
        """The qualified name of an operational table (alert events)."""

    def alert_table_ddl(self) -> list[str]:
        """Statements that create ops.alert_events when it does not exist."""

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> pa.Table: ...

    def execute(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run writes, in order, as one unit where the engine allows it."""


@dataclass
class LocalWarehouse:
    """DuckDB with the lake's DuckLake catalog; a fresh connection per call."""

    settings: Settings

    def gold(self, model: str) -> str:
        return f'lake.gold."{model}"'

    def ops_table(self, name: str) -> str:
        return f"lake.ops.{name}"

    def alert_table_ddl(self) -> list[str]:
        return [
            "create schema if not exists lake.ops",
            f"create table if not exists {self.ops_table('alert_events')} ({_ALERT_COLUMNS})",
        ]

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> pa.Table:
        with open_lake(self.settings) as con:
            return con.execute(sql, list(parameters)).to_arrow_table()

    def execute(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with open_lake(self.settings, read_only=False) as con:
            con.execute("begin")
            for sql, parameters in statements:
                con.execute(sql, list(parameters))
            con.execute("commit")


class AthenaQueryFailed(RuntimeError):
    pass


@dataclass
class AthenaWarehouse:
    """Athena through boto3. Parameters go as ExecutionParameters, quoted as literals."""

    settings: Settings
    poll_seconds: float = 0.5

    def gold(self, model: str) -> str:
        return f'"{self.settings.gold_database}"."{model}"'

    def ops_table(self, name: str) -> str:
        # Unquoted: the same name must serve Hive DDL (backticks) and Trino DML
        # (double quotes), and Glue names here are plain lowercase words anyway.
        return f"{self.settings.gold_database}.ops_{name}"

    def alert_table_ddl(self) -> list[str]:
        location = f"{self.settings.warehouse}/ops/alert_events"
        return [
            f"create table if not exists {self.ops_table('alert_events')} "
            f"({_ALERT_COLUMNS.replace('varchar', 'string')}) "
            f"location '{location}' tblproperties ('table_type' = 'ICEBERG')"
        ]

    def _client(self):
        # botocore's adaptive mode retries throttling and 5xx with backoff.
        return boto3.client(
            "athena", region_name=self.settings.aws_region, config=TRANSIENT_RETRIES
        )

    def _run(self, sql: str, parameters: Sequence[Any]) -> str:
        athena = self._client()
        request: dict[str, Any] = {
            "QueryString": sql,
            "WorkGroup": self.settings.athena_workgroup,
            "QueryExecutionContext": {"Database": self.settings.gold_database},
        }
        if parameters:
            request["ExecutionParameters"] = [athena_literal(value) for value in parameters]
        if self.settings.athena_s3_staging_dir:
            request["ResultConfiguration"] = {"OutputLocation": self.settings.athena_s3_staging_dir}
        query_id = athena.start_query_execution(**request)["QueryExecutionId"]
        while True:
            status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            state = status["Status"]["State"]
            if state == "SUCCEEDED":
                return query_id
            if state in ("FAILED", "CANCELLED"):
                reason = status["Status"].get("StateChangeReason", state)
                raise AthenaQueryFailed(f"Athena query {query_id} {state.lower()}: {reason}")
            time.sleep(self.poll_seconds)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> pa.Table:
        query_id = self._run(sql, parameters)
        pages = self._client().get_paginator("get_query_results")
        names: list[str] = []
        rows: list[list[str | None]] = []
        for page in pages.paginate(QueryExecutionId=query_id):
            result = page["ResultSet"]
            if not names:
                names = [c["Name"] for c in result["ResultSetMetadata"]["ColumnInfo"]]
                data = result["Rows"][1:]  # the first row of the first page is the header
            else:
                data = result["Rows"]
            rows.extend([cell.get("VarCharValue") for cell in row["Data"]] for row in data)
        return pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})

    def execute(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        for sql, parameters in statements:
            self._run(sql, parameters)


def athena_literal(value: Any) -> str:
    """A value as the SQL literal Athena's ExecutionParameters expect."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"timestamp '{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def warehouse_for(settings: Settings) -> Warehouse:
    return AthenaWarehouse(settings) if settings.target == "aws" else LocalWarehouse(settings)
