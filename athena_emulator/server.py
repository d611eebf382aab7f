"""The Athena emulator: moto's server on 127.0.0.1 with Athena's front end in front.

moto serves S3, Glue, STS and Athena's workgroups, but marks every Athena query
SUCCEEDED without looking at it. This server sits in front of moto: each
StartQueryExecution goes through `engine.Frontend` (grammar, functions, names,
catalog effects) and then runs on DuckDB (`executor.Engine`), GetQueryExecution
reports what happened (state FAILED with Athena's reason and AthenaError when a
check or the execution fails; the bytes scanned in its Statistics) and
GetQueryResults returns the rows as Athena does: the column metadata with
Trino's type names, a SELECT's header row first, values as text and NULL as a
missing VarCharValue, in pages of up to MaxResults (at most 1000) rows with
NextToken. Everything else is moto's.

Every statement is appended to a log file (the CI artifact), one block each:

    -- #0007 2026-11-21T07:00:01Z SUCCEEDED DDL/CREATE_TABLE_AS_SELECT silver.orders
    -- kind=CTAS scanned=48213 billed=10485760
    <the statement as dbt sent it>
    ;

with `-- reason: ...` after the second line when the statement failed, and
`-- note: ...` when it committed to an Iceberg table while another write to
that table was in flight (Athena may fail one of them with
ICEBERG_COMMIT_ERROR; the emulator runs one statement at a time).

Run `python -m athena_emulator` to serve it by hand.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from athena_emulator.catalog import GlueCatalog
from athena_emulator.engine import Frontend, Outcome
from athena_emulator.executor import Engine

ACCESS_KEY = "emulator"  # moto accepts any; nothing here is a credential
REGION = "us-east-1"
# Athena bills at least 10 MB per query; DDL and failed queries are not billed.
MEGABYTE = 1024 * 1024
MINIMUM_BILLED_BYTES = 10 * MEGABYTE
MAX_RESULTS = 1000
RESULT_TYPE_NAMES = {"real": "float"}
SYNCHRONOUS_SECONDS = 20


# Statements that commit to an Iceberg table, which Athena may fail with
# ICEBERG_COMMIT_ERROR when another commits to the same table meanwhile.
ICEBERG_COMMITS = {"MERGE_INTO", "INSERT", "DELETE", "UPDATE", "OPTIMIZE"}
COMMIT_CONFLICT_NOTE = (
    "ran while another write to {target} was in flight: on Athena concurrent commits "
    "to one Iceberg table can fail with ICEBERG_COMMIT_ERROR, which the emulator, "
    "running one statement at a time, cannot reproduce"
)


@dataclass(frozen=True)
class Statement:
    number: int
    query_id: str
    sql: str
    database: str | None
    outcome: Outcome
    at: datetime
    # From its arrival to its end (time.monotonic), queueing for the engine included.
    arrived: float = 0.0
    finished: float = 0.0
    note: str | None = None

    @property
    def kind(self) -> str:
        return self.outcome.kind

    @property
    def bytes_scanned(self) -> int:
        return self.outcome.bytes_scanned

    @property
    def billed_bytes(self) -> int:
        """What Athena bills: the bytes scanned rounded up to the megabyte, at
        least 10 MB, for queries that ran (Athena pricing: "rounded up to the
        nearest megabyte, with a 10 MB minimum per query"; DDL is free)."""
        if self.outcome.state != "SUCCEEDED" or self.kind == "DDL":
            return 0
        megabytes = -(-self.outcome.bytes_scanned // MEGABYTE)
        return max(megabytes * MEGABYTE, MINIMUM_BILLED_BYTES)


def _column_info(name: str, kind: str) -> dict[str, Any]:
    """A column as GetQueryResults describes it: base type name, precision, scale."""
    base, _, rest = kind.partition("(")
    info: dict[str, Any] = {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": name,
        "Label": name,
        # Athena names Trino's real `float` here, as the clients built against it
        # read it (dbt-athena's cursor converts only float and double to a float).
        "Type": RESULT_TYPE_NAMES.get(base.strip(), base.strip()),
        "Nullable": "UNKNOWN",
        "CaseSensitive": base.strip() == "varchar",
    }
    if kind.endswith("with time zone"):
        info["Type"] = f"{base.strip()} with time zone"  # timestamp or time
    numbers = [p.strip() for p in rest.split(")")[0].split(",")] if rest else []
    if numbers and numbers[0].isdigit():
        info["Precision"] = int(numbers[0])
        if len(numbers) > 1 and numbers[1].isdigit():
            info["Scale"] = int(numbers[1])
    return info


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """The statement log says what matters; no line per HTTP request."""


class AthenaFrontMiddleware:
    """WSGI middleware: Athena's query calls go through the Frontend, the rest to moto."""

    def __init__(self, moto_app: Any, emulator: AthenaEmulator) -> None:
        self.moto_app = moto_app
        self.emulator = emulator

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("AWSGlue.") and not target.split(".", 1)[1].startswith(
            ("Get", "List", "Search", "BatchGet")
        ):
            # Whoever writes to Glue (dbt-athena does too), the emulator reads it afresh.
            self.emulator.catalog_changed()
        if not target.startswith("AmazonAthena."):
            return self.moto_app(environ, start_response)
        action = target.split(".", 1)[1]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        request = json.loads(body or b"{}")
        if action == "GetQueryResults":
            query_id = request.get("QueryExecutionId", "")
            statement = self.emulator.statement(query_id)
            if statement is not None:
                return self._results(statement, request, start_response)
            if self.emulator.running(query_id):
                return _error(
                    start_response,
                    "InvalidRequestException",
                    "Query has not yet finished. Current state: RUNNING",
                )
        status, headers, payload = self._call_moto(environ)
        if status.startswith("200"):
            answer = json.loads(payload or b"{}")
            if action == "StartQueryExecution":
                self.emulator.start_run(answer["QueryExecutionId"], request)
            elif action == "GetQueryExecution":
                self._patch_execution(answer.get("QueryExecution", {}))
            elif action == "BatchGetQueryExecution":
                for execution in answer.get("QueryExecutions", []):
                    self._patch_execution(execution)
            payload = json.dumps(answer).encode()
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(payload))))
        start_response(status, headers)
        return [payload]

    def _call_moto(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        chunks = self.moto_app(environ, capture)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], captured["headers"], payload

    def _patch_execution(self, execution: dict[str, Any]) -> None:
        query_id = execution.get("QueryExecutionId", "")
        statement = self.emulator.statement(query_id)
        if statement is None:
            if self.emulator.running(query_id):
                execution.setdefault("Status", {})["State"] = "RUNNING"
            return
        outcome = statement.outcome
        execution["StatementType"] = outcome.statement_type
        execution["SubstatementType"] = outcome.substatement_type
        statistics = execution.setdefault("Statistics", {})
        statistics["DataScannedInBytes"] = outcome.bytes_scanned
        status = execution.setdefault("Status", {})
        status["State"] = outcome.state
        if outcome.state == "FAILED":
            status["StateChangeReason"] = outcome.reason
            status["AthenaError"] = {
                "ErrorCategory": 2,
                "ErrorType": outcome.error_type,
                "Retryable": False,
                "ErrorMessage": outcome.reason,
            }

    def _results(
        self, statement: Statement, request: dict[str, Any], start_response: Any
    ) -> Iterable[bytes]:
        outcome = statement.outcome
        if outcome.state != "SUCCEEDED":
            return _error(
                start_response,
                "InvalidRequestException",
                f"Query has not yet finished. Current state: {outcome.state}",
            )
        rows: list[dict[str, Any]] = []
        if outcome.statement_type == "DML" and outcome.substatement_type == "SELECT":
            # A SELECT's first row is its header, as in Athena.
            rows.append({"Data": [{"VarCharValue": name} for name, _ in outcome.columns]})
        for row in outcome.rows:
            rows.append({"Data": [{} if v is None else {"VarCharValue": v} for v in row]})
        try:
            size = min(int(request.get("MaxResults") or MAX_RESULTS), MAX_RESULTS)
            start = int(request.get("NextToken") or 0)
        except ValueError:
            return _error(start_response, "InvalidRequestException", "Invalid NextToken")
        page = rows[start : start + size]
        answer: dict[str, Any] = {
            "ResultSet": {
                "Rows": page,
                "ResultSetMetadata": {
                    "ColumnInfo": [_column_info(name, kind) for name, kind in outcome.columns]
                },
            },
        }
        if start + size < len(rows):
            answer["NextToken"] = str(start + size)
        if outcome.update_count is not None:
            answer["UpdateCount"] = outcome.update_count
        payload = json.dumps(answer).encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("Content-Length", str(len(payload))),
            ],
        )
        return [payload]


class AthenaEmulator:
    """A moto server on 127.0.0.1 whose Athena checks statements like Athena's front end."""

    def __init__(
        self,
        log_path: Path,
        port: int = 0,
        region: str = REGION,
        cache_dir: Path | None = None,
        database: Path | None = None,
    ) -> None:
        """`cache_dir` holds local copies of the S3 objects Hive tables read
        (a temporary folder when None); `database` is the DuckDB file of the
        Iceberg tables' rows (in memory when None, see Engine)."""
        self.log_path = log_path
        self.cache_dir = cache_dir
        self.database = database
        self.region = region
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._statements: dict[str, Statement] = {}
        self._order: list[str] = []
        self._running: set[str] = set()
        self._running_lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self.frontend: Frontend | None = None

    # --------------------------------------------------------------- lifecycle

    def start(self) -> AthenaEmulator:
        app = AthenaFrontMiddleware(DomainDispatcherApplication(create_backend_app), self)
        self._server = make_server(
            "127.0.0.1", self._port, app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        # moto's backends live in the process: an emulator starts from an empty AWS.
        urllib.request.urlopen(
            urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        ).close()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text(
            f"-- Athena emulator statement log, started {_stamp(datetime.now(UTC))}\n"
        )
        catalog, s3 = GlueCatalog(self.client("glue")), self.client("s3")
        self.frontend = Frontend(catalog, s3)
        self.frontend.engine = Engine(
            catalog,
            s3,
            cache_dir=self.cache_dir,
            analyze_view=self.frontend.view_sql,
            database=self.database,
        )
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.frontend is not None and self.frontend.engine is not None:
            self.frontend.engine.close()

    def __enter__(self) -> AthenaEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def client(self, service: str) -> Any:
        """A boto3 client of the emulator, one per service: every statement reads its
        workgroup through one, and building a client costs tens of milliseconds.
        boto3 clients are thread-safe; a race builds one twice, which is harmless."""
        key = f"{service}@{self.endpoint_url}"
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service,
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=ACCESS_KEY,
            )
        return self._clients[key]

    def environment(self) -> dict[str, str]:
        """What a process needs to talk to the emulator instead of AWS."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def process_environment(self) -> dict[str, str]:
        """This process's environment for a child that talks to the emulator: no AWS,
        dbt or Streamlake setting of the machine's user reaches it, nor any profile,
        config or credentials file of theirs."""
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "DBT_", "STREAMLAKE_"))
        }
        environment.update(
            {
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                **self.environment(),
            }
        )
        return environment

    # -------------------------------------------------------------- statements

    def run(self, query_id: str, request: dict[str, Any]) -> Outcome:
        """Check one statement as Athena would, apply its effect, and log it."""
        assert self.frontend is not None
        sql = request.get("QueryString", "")
        database = (request.get("QueryExecutionContext") or {}).get("Database")
        # A workgroup that enforces its configuration overrides the request's location.
        output_location = (request.get("ResultConfiguration") or {}).get("OutputLocation")
        if request.get("WorkGroup"):
            workgroup = self.client("athena").get_work_group(WorkGroup=request["WorkGroup"])
            configuration = workgroup["WorkGroup"].get("Configuration", {})
            own = configuration.get("ResultConfiguration", {}).get("OutputLocation")
            if own and (configuration.get("EnforceWorkGroupConfiguration") or not output_location):
                output_location = own
        arrived = time.monotonic()
        with self._lock:
            outcome = self.frontend.run(sql, database, query_id, output_location)
            statement = Statement(
                number=len(self._order) + 1,
                query_id=query_id,
                sql=sql,
                database=database,
                outcome=outcome,
                at=datetime.now(UTC),
                arrived=arrived,
                finished=time.monotonic(),
            )
            statement = self._noted(statement)
            self._statements[query_id] = statement
            self._order.append(query_id)
            with self.log_path.open("a") as log:
                log.write(_log_block(statement))
        return outcome

    def _noted(self, statement: Statement) -> Statement:
        """A commit to an Iceberg table that was in flight with another to the same
        table, noted as such: Athena might have failed one of them."""
        outcome = statement.outcome
        if outcome.substatement_type not in ICEBERG_COMMITS or not outcome.target:
            return statement
        assert self.frontend is not None
        table = self.frontend.catalog.table(*outcome.target.split(".", 1))
        if table is None or table.kind != "iceberg":
            return statement
        for query_id in reversed(self._order[-50:]):
            earlier = self._statements[query_id]
            if (
                earlier.outcome.target == outcome.target
                and earlier.outcome.substatement_type in ICEBERG_COMMITS
                and earlier.finished > statement.arrived
            ):
                note = COMMIT_CONFLICT_NOTE.format(target=outcome.target)
                return dataclasses.replace(statement, note=note)
        return statement

    def start_run(self, query_id: str, request: dict[str, Any]) -> None:
        """Run a statement, answering StartQueryExecution when it is done or
        after SYNCHRONOUS_SECONDS, whichever comes first; GetQueryExecution
        says RUNNING until it is done. A statement that outlasted the client's
        read timeout (60 s in botocore) would otherwise be sent again by the
        client's retry; a quick one is done by the time its caller asks."""
        with self._running_lock:
            self._running.add(query_id)

        def run() -> None:
            try:
                self.run(query_id, request)
            finally:
                with self._running_lock:
                    self._running.discard(query_id)

        thread = threading.Thread(target=run, name=f"athena-{query_id[:8]}", daemon=True)
        thread.start()
        thread.join(SYNCHRONOUS_SECONDS)

    def running(self, query_id: str) -> bool:
        with self._running_lock:
            return query_id in self._running

    def catalog_changed(self) -> None:
        if self.frontend is not None:
            self.frontend.catalog.changed()

    def statement(self, query_id: str) -> Statement | None:
        return self._statements.get(query_id)

    @property
    def statements(self) -> list[Statement]:
        return [self._statements[query_id] for query_id in self._order]

    def mark(self, text: str) -> None:
        """A comment line in the log, e.g. which dbt command the next statements come from."""
        with self._lock, self.log_path.open("a") as log:
            log.write(f"\n-- ==== {text} ====\n")


def _error(start_response: Any, kind: str, message: str) -> Iterable[bytes]:
    payload = json.dumps({"__type": kind, "Message": message}).encode()
    start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")])
    return [payload]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _log_block(statement: Statement) -> str:
    outcome = statement.outcome
    kind = f"{outcome.statement_type}/{outcome.substatement_type}"
    head = f"-- #{statement.number:04d} {_stamp(statement.at)} {outcome.state} {kind}"
    if outcome.target:
        head += f" {outcome.target}"
    lines = [
        head,
        f"-- kind={statement.kind} scanned={statement.bytes_scanned} "
        f"billed={statement.billed_bytes}",
    ]
    if outcome.state == "FAILED":
        lines.append(f"-- reason: {outcome.reason}")
    if statement.note:
        lines.append(f"-- note: {statement.note}")
    lines.append(statement.sql.rstrip().rstrip(";"))
    lines.append(";\n")
    return "\n".join(lines)
