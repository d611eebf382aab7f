"""What the emulator does with one statement: check it the way Athena's front end would.

Each statement goes down one of three paths, as in Athena:

- Hive DDL (CREATE EXTERNAL TABLE, CREATE/DROP DATABASE, DROP TABLE, ALTER
  TABLE, ...): the emulator's strict Hive DDL parser, plus trino-sql-validator's
  hive mode for the forms it knows;
- OPTIMIZE and VACUUM, Athena's own maintenance statements: their documented
  syntax, on an existing Iceberg table;
- everything else (SELECT, CTAS, CREATE VIEW, INSERT, MERGE, DELETE, UPDATE,
  DROP VIEW): the Trino 422 grammar (trino-query-parser), then
  trino-sql-validator (syntax again, functions and types missing from Trino's
  catalog), then sqlglot resolves every table and column against Glue and
  infers the result's column types.

A statement that passes changes the Glue catalog the way Athena would (CTAS,
views, DDL, RENAME, DROP) and, when the front end has an engine
(`executor.Engine`), runs for real on DuckDB: a SELECT returns its rows, CTAS
and DML change the rows the emulator holds for Iceberg tables, and every
statement reports its kind and the bytes it scanned.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlglot
import trino_sql_validator
from antlr4 import CommonTokenStream, InputStream
from antlr4.atn.PredictionMode import PredictionMode
from antlr4.error.Errors import ParseCancellationException
from antlr4.error.ErrorStrategy import BailErrorStrategy
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope
from trino_query_parser import TrinoSyntaxError, parse_statement
from trino_query_parser.SqlBaseLexer import SqlBaseLexer
from trino_query_parser.SqlBaseParser import SqlBaseParser

from athena_emulator import hive_ddl, relations, show
from athena_emulator.catalog import (
    CATALOG,
    HIDDEN_COLUMNS,
    GlueCatalog,
    Table,
    table_input,
    view_original_text,
)
from athena_emulator.executor import (
    HIDDEN_PLACEHOLDER,
    ICEBERG_TRANSFORM,
    LAZY_SIMPLE_SERDE,
    Engine,
    ExecutionError,
    duckdb_type,
    hive_storage,
    iceberg_metadata,
    transform_source,
    translate,
    trino_text,
)
from athena_emulator.types import (
    EXPRESSION_METADATA,
    UnsupportedType,
    glue_type_from_trino,
    trino_type_name,
    with_default_precision,
)

# AthenaError fields (Athena's error catalog): category 2 is a user error; type
# 1000 a user error, 1003 a failed DDL task, 233 an Iceberg error.
USER = 2
USER_ERROR = 1000
# Not Athena's: a statement the emulator itself failed on (a bug to fix here).
EMULATOR_ERROR = 9999
DDL_FAILED = 1003
ICEBERG_ERROR = 233

# CTAS table properties Athena documents, per table type.
COMMON_CTAS_PROPERTIES = {"table_type", "format", "write_compression", "compression_level"}
HIVE_CTAS_PROPERTIES = COMMON_CTAS_PROPERTIES | {
    "external_location",
    "is_external",
    "partitioned_by",
    "bucketed_by",
    "bucket_count",
    "field_delimiter",
    "orc_compression",
    "parquet_compression",
}
ICEBERG_TABLE_PROPERTIES = {
    "vacuum_min_snapshots_to_keep",
    "vacuum_max_snapshot_age_seconds",
    "vacuum_max_metadata_files_to_keep",
    "optimize_rewrite_min_data_file_size_bytes",
    "optimize_rewrite_max_data_file_size_bytes",
    "optimize_rewrite_data_file_threshold",
    "optimize_rewrite_delete_file_threshold",
}
ICEBERG_CTAS_PROPERTIES = (
    COMMON_CTAS_PROPERTIES | {"is_external", "location", "partitioning"} | ICEBERG_TABLE_PROPERTIES
)
# ALTER TABLE SET TBLPROPERTIES on an Iceberg table accepts these keys.
ICEBERG_ALTERABLE_PROPERTIES = ICEBERG_TABLE_PROPERTIES | {"format", "write_compression"}

PARQUET_FORMATS = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}
TEXT_FORMATS = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
}
ICEBERG_FORMATS = {
    "InputFormat": "org.apache.hadoop.mapred.FileInputFormat",
    "OutputFormat": "org.apache.hadoop.mapred.FileOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"},
}
# Statement kinds, as issue #17's accounting counts them.
KINDS = ("SELECT", "CTAS", "MERGE", "INSERT", "DELETE", "DDL", "OTHER")
_KIND_OF_SUBSTATEMENT = {
    "SELECT": "SELECT",
    "CREATE_TABLE_AS_SELECT": "CTAS",
    "MERGE_INTO": "MERGE",
    "INSERT": "INSERT",
    "DELETE": "DELETE",
}


class AthenaFailure(Exception):
    """A statement Athena would fail, with the reason in Athena's words."""

    def __init__(
        self,
        name: str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        error_type: int = USER_ERROR,
    ) -> None:
        where = f"line {line}:{column}: " if line is not None and column is not None else ""
        super().__init__(f"{name}: {where}{message}")
        self.error_type = error_type


@dataclass
class Outcome:
    """How a statement ended, as GetQueryExecution and GetQueryResults report it."""

    state: str
    statement_type: str
    substatement_type: str
    reason: str | None = None
    error_type: int | None = None
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    update_count: int | None = None
    target: str | None = None
    # Parquet bytes the statement read (see executor.py for what is counted).
    bytes_scanned: int = 0

    @property
    def kind(self) -> str:
        """SELECT, CTAS, MERGE, INSERT, DELETE, DDL or OTHER (UPDATE, OPTIMIZE,
        VACUUM, SHOW, DESCRIBE and failed statements Athena never classified)."""
        if self.substatement_type in _KIND_OF_SUBSTATEMENT:
            return _KIND_OF_SUBSTATEMENT[self.substatement_type]
        if self.statement_type == "DDL":
            return "DDL"
        return "OTHER"


def _position(error: Exception) -> tuple[int | None, int | None]:
    match = re.search(r"Line: (\d+), Col: (\d+)", str(error))
    if match:
        return int(match.group(1)), int(match.group(2))
    return None, None


_GLUE_NAME = re.compile(r"[a-z0-9_]{1,255}")


def check_name(name: str, what: str) -> None:
    """Athena's names: lowercase letters, digits and underscores (Glue lowercases the
    rest). A column's name may be any UTF-8 string of 1 to 255 bytes
    (tables-databases-columns-names.html), quoted where it is not an identifier:
    dbt-athena's suite adds a column "field-with-dash" on Athena."""
    if what == "Column":
        if not 1 <= len(name.encode()) <= 255 or any(ord(c) < 32 for c in name):
            raise AthenaFailure(
                "INVALID_INPUT", f"Column name '{name}' must be 1 to 255 bytes of UTF-8 text"
            )
        return
    if not _GLUE_NAME.fullmatch(name.lower()):
        raise AthenaFailure(
            "INVALID_INPUT",
            f"{what} name '{name}' has characters Athena does not allow: use only "
            "letters, digits and underscores",
        )


def _strip(sql: str) -> str:
    """The statement without surrounding whitespace and one trailing semicolon."""
    text = sql.strip()
    if text.endswith(";"):
        text = text[:-1].rstrip()
    return text


# trino_sql_validator's own resource limits, not Trino's (nor Athena's, whose
# limit is the query string's 262,144 bytes).
VALIDATOR_BUDGET = (
    "maximum SQL statement complexity exceeded",
    "maximum SQL input complexity exceeded",
)


def check_trino_grammar(text: str) -> None:
    """Parse a statement with the Trino grammar; TrinoSyntaxError if it does not parse.

    ANTLR's two-stage parse: first with SLL prediction, which stops at the first
    error and is about 2.5 times faster in Python (30 ms of a typical dbt
    statement's 40); a statement it rejects is parsed again with full LL
    prediction and trino-query-parser's error listener, which accepts what SLL
    wrongly rejected and otherwise reports the error in Trino's words."""
    parser = SqlBaseParser(CommonTokenStream(SqlBaseLexer(InputStream(text.upper()))))
    parser.removeErrorListeners()
    parser._interp.predictionMode = PredictionMode.SLL
    parser._errHandler = BailErrorStrategy()
    try:
        parser.singleStatement()
    except ParseCancellationException:
        parse_statement(text)


def _first_word(sql: str) -> str:
    text = re.sub(r"^(\s|--[^\n]*\n|/\*.*?\*/)*", "", sql, flags=re.DOTALL)
    match = re.match(r"[A-Za-z]+", text)
    return match.group().lower() if match else ""


def _table_parts(name: str) -> list[str]:
    return [part.strip('`"').lower() for part in name.split(".")]


@dataclass
class Frontend:
    """Athena's front end over a Glue catalog and an S3 bucket, without an engine."""

    catalog: GlueCatalog
    s3: Any
    # Runs what passes on DuckDB; without one the front end only checks.
    engine: Engine | None = None
    _output_location: str | None = None

    def run(
        self, sql: str, database: str | None, query_id: str, output_location: str | None = None
    ) -> Outcome:
        """Check one statement and apply its effect; `output_location` is the query's
        result location (the request's, else its workgroup's)."""
        self._output_location = output_location
        text = _strip(sql)
        kind = _first_word(text)
        try:
            if not text:
                raise AthenaFailure("SYNTAX_ERROR", "Query is empty")
            if kind in ("optimize", "vacuum"):
                return self._maintenance(text, database or "default", kind)
            if hive_ddl.is_hive_ddl(text):
                return self._hive(text, database or "default")
            return self._trino(text, database or "default", query_id)
        except ExecutionError as error:
            return Outcome(
                state="FAILED",
                statement_type="DDL" if hive_ddl.is_hive_ddl(text) else "DML",
                substatement_type=kind.upper() or "UNKNOWN",
                reason=str(error),
                error_type=USER_ERROR,
            )
        except AthenaFailure as failure:
            return Outcome(
                state="FAILED",
                statement_type="DDL" if hive_ddl.is_hive_ddl(text) else "DML",
                substatement_type=kind.upper() or "UNKNOWN",
                reason=str(failure),
                error_type=failure.error_type,
            )
        except Exception as error:
            # Fails the query, loudly: left to the server thread, the query would
            # vanish and moto's Athena would answer SUCCEEDED for it.
            return Outcome(
                state="FAILED",
                statement_type="DDL" if hive_ddl.is_hive_ddl(text) else "DML",
                substatement_type=kind.upper() or "UNKNOWN",
                reason=f"EMULATOR_INTERNAL_ERROR: {type(error).__name__}: {error}",
                error_type=EMULATOR_ERROR,
            )

    # ----------------------------------------------------------------- names

    def _database_name(self, database: str | None, default: str) -> str:
        name = (database or default).lower()
        if not self.catalog.database_exists(name):
            raise AthenaFailure("SCHEMA_NOT_FOUND", f"Schema '{name}' does not exist")
        return name

    def _existing(self, database: str, name: str, line: int | None = None) -> Table:
        table = self.catalog.table(database, name)
        if table is None:
            raise AthenaFailure(
                "TABLE_NOT_FOUND",
                f"Table '{CATALOG}.{database}.{name}' does not exist",
                line=line,
                column=0 if line is not None else None,
            )
        return table

    def _table_ref(self, table: exp.Table, default: str) -> tuple[str, str]:
        catalog = (table.catalog or CATALOG).lower()
        if catalog != CATALOG:
            raise AthenaFailure("CATALOG_NOT_FOUND", f"Catalog '{catalog}' does not exist")
        return self._database_name(table.db, default), table.name.lower()

    # ----------------------------------------------------------- Trino path

    def _trino(self, text: str, database: str, query_id: str) -> Outcome:
        analysis = trino_sql_validator.analyze_statements(text, jinja="reject")
        if len(analysis.statements) > 1:
            raise AthenaFailure(
                "INVALID_INPUT", "Only one sql statement is allowed. Got: " + text[:80]
            )
        try:
            check_trino_grammar(text)
        except TrinoSyntaxError as error:
            # ANTLR counts columns from 0, Trino's messages from 1.
            raise AthenaFailure(
                "SYNTAX_ERROR", error.msg, line=error.line, column=error.column + 1
            ) from None
        result = analysis.validation
        if not result.valid and not _validator_gave_up(result.error):
            error = result.error
            raise AthenaFailure(
                "SYNTAX_ERROR",
                error.message if error else "invalid statement",
                line=error.line if error else None,
                column=error.column if error else None,
            )
        for warning in result.warnings:
            if isinstance(warning, trino_sql_validator.FunctionWarning):
                raise AthenaFailure(
                    "FUNCTION_NOT_FOUND",
                    f"Function '{warning.name}' not registered",
                    line=warning.line,
                    column=warning.column,
                )
            if isinstance(warning, trino_sql_validator.TypeWarning):
                raise AthenaFailure(
                    "TYPE_NOT_FOUND",
                    f"Unknown type: {warning.name}",
                    line=warning.line,
                    column=warning.column,
                )
        return self._trino_statement(text, database, query_id)

    def _trino_statement(self, text: str, database: str, query_id: str) -> Outcome:
        try:
            tree = sqlglot.parse_one(text, read="trino")
        except (ParseError, TokenError) as error:
            raise AthenaFailure(
                "EMULATOR_LIMITATION",
                f"the Trino grammar accepts this statement but sqlglot cannot parse it: {error}",
            ) from None
        with_default_precision(tree)
        tree = relations.rewrite(tree)

        if isinstance(tree, exp.Create) and tree.kind == "TABLE" and tree.expression:
            return self._ctas(tree, database, query_id)
        if isinstance(tree, exp.Create) and tree.kind == "VIEW":
            return self._create_view(tree, text, database)
        if isinstance(tree, exp.Merge):
            return self._merge(tree, database)
        if isinstance(tree, exp.Insert):
            return self._insert(tree, database, query_id)
        if isinstance(tree, exp.Delete | exp.Update):
            return self._delete_or_update(tree, database)
        if isinstance(tree, exp.Drop) and tree.kind == "VIEW":
            return self._drop_view(tree, database)
        if isinstance(tree, exp.Query):
            columns, typed = self.analyze(tree, database)
            outcome = Outcome(
                state="SUCCEEDED", statement_type="DML", substatement_type="SELECT", columns=columns
            )
            if self.engine is not None:
                self._sync(tree, database)
                result = self.engine.run(translate(typed))
                outcome.rows = [
                    [trino_text(value, kind) for value, (_, kind) in zip(row, columns, strict=True)]
                    for row in result.rows
                ]
                outcome.bytes_scanned = result.bytes_scanned
            return outcome
        statement = (
            tree.name.upper()
            if isinstance(tree, exp.Command)
            else f"{type(tree).__name__} statements"
        )
        raise AthenaFailure(
            "EMULATOR_LIMITATION",
            f"the emulator does not run {statement}: it checks and executes queries on "
            "DuckDB, and has no Trino plan or session to show",
        )

    def resolve_query(self, query: exp.Expression, database: str) -> list[tuple[str, str]]:
        """Resolve every table and column of a query against Glue; its output columns."""
        return self.analyze(query, database)[0]

    def analyze(
        self, query: exp.Expression, database: str
    ) -> tuple[list[tuple[str, str]], exp.Expression]:
        """Resolve every table and column of a query against Glue: its output
        columns, and the query qualified, with `*` expanded and types annotated
        (what the engine translates)."""
        query = query.copy()
        cte_names = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
        for table in query.find_all(exp.Table):
            if not table.db and table.name.lower() in cte_names:
                continue
            if not table.name:
                continue
            db, name = self._table_ref(table, database)
            line = table.meta.get("line")
            self._existing(db, name, line)
        self._replace_hidden_columns(query, database)
        schema = self.catalog.sqlglot_schema()
        try:
            qualified = qualify(
                query,
                schema=schema,
                dialect="trino",
                catalog=CATALOG,
                db=database,
                expand_alias_refs=False,
                validate_qualify_columns=True,
                quote_identifiers=False,
                identify=False,
            )
        except OptimizeError as error:
            line, column = _position(error)
            message = re.sub(r"\.? ?Line: \d+, Col: \d+\.?", "", str(error)).strip()
            if "could not be resolved" in message:
                found = re.search(r"Column '([^']+)'", message)
                name = found.group(1) if found else "?"
                if column is not None:
                    # sqlglot points at the name's last character, Trino at its first.
                    column = max(1, column - len(name) + 1)
                raise AthenaFailure(
                    "COLUMN_NOT_FOUND",
                    f"Column '{name}' cannot be resolved",
                    line=line,
                    column=column,
                ) from None
            unknown = re.fullmatch(r"Unknown column: (\S+)", message)
            if unknown:
                # A qualified column its table does not have: Trino names it as written.
                written = next(
                    (
                        c.sql("trino")
                        for c in query.find_all(exp.Column)
                        if c.name.lower() == unknown.group(1).lower()
                    ),
                    unknown.group(1),
                )
                raise AthenaFailure(
                    "COLUMN_NOT_FOUND", f"Column '{written}' cannot be resolved", line=line
                ) from None
            raise AthenaFailure("SEMANTIC_ERROR", message, line=line, column=column) from None
        annotated = annotate_types(
            qualified, schema=schema, expression_metadata=EXPRESSION_METADATA, dialect="trino"
        )
        self._check_comparisons(annotated)
        # Athena names an unnamed column _col0, _col1, ...
        columns = [
            (
                re.sub(r"^_col_(\d+)$", r"_col\1", select.alias_or_name.lower()),
                trino_type_name(select.type),
            )
            for select in annotated.selects
        ]
        return columns, annotated

    # ---------------------------------------------------------- execution

    def _hive_tables_read(
        self, tree: exp.Expression, database: str, seen: set[tuple[str, str]] | None = None
    ) -> set[tuple[str, str]]:
        """The Hive tables a statement reads, straight or through views."""
        seen = set() if seen is None else seen
        found: set[tuple[str, str]] = set()
        for node in tree.find_all(exp.Table):
            if not node.name:
                continue
            key = ((node.db or database).lower(), node.name.lower())
            if key in seen:
                continue
            seen.add(key)
            table = self.catalog.table(*key)
            if table is None:
                continue
            if table.kind == "hive":
                found.add(key)
            elif table.kind == "view":
                body = _view_body(table.raw)
                if body is not None:
                    found |= self._hive_tables_read(body, key[0], seen)
        return found

    def _sync(self, tree: exp.Expression, database: str) -> None:
        assert self.engine is not None
        self.engine.sync(self._hive_tables_read(tree, database))

    def view_sql(self, sql: str, database: str) -> str:
        """A Glue view's Trino SQL as DuckDB SQL (for the engine's catalog sync)."""
        tree = with_default_precision(sqlglot.parse_one(sql, read="trino"))
        # The stored text is sqlglot's Trino rendering, which writes `x AT TIME
        # ZONE z` as at_timezone(x, z): read back as what it was written from.
        tree = tree.transform(
            lambda node: (
                exp.AtTimeZone(this=node.expressions[0], zone=node.expressions[1])
                if isinstance(node, exp.Anonymous)
                and str(node.this).lower() == "at_timezone"
                and len(node.expressions) == 2
                else node
            )
        )
        return translate(self.analyze(tree, database)[1])

    def _replace_hidden_columns(self, query: exp.Expression, database: str) -> None:
        """`"$path"` resolves only straight over a Hive table, never through a CTE or `*`."""
        for scope in traverse_scope(query):
            for column in list(scope.columns):
                if column.name.lower() not in HIDDEN_COLUMNS:
                    continue
                sources = [
                    source
                    for alias, source in scope.sources.items()
                    if not column.table or alias.lower() == column.table.lower()
                ]
                if len(sources) != 1 or not isinstance(sources[0], exp.Table):
                    continue
                db, name = self._table_ref(sources[0], database)
                table = self.catalog.table(db, name)
                if table is None or table.kind != "hive":
                    continue
                alias = column.table or next(
                    alias for alias, source in scope.sources.items() if source is sources[0]
                )
                # Typed like the hidden column; the engine reads the real one.
                stand_in = exp.cast(
                    exp.Anonymous(
                        this=HIDDEN_PLACEHOLDER,
                        expressions=[
                            exp.Literal.string(column.name.lower()),
                            exp.Literal.string(alias.lower()),
                        ],
                    ),
                    HIDDEN_COLUMNS[column.name.lower()],
                )
                if isinstance(column.parent, exp.Select):
                    stand_in = exp.alias_(stand_in, column.name, quoted=True)
                column.replace(stand_in)

    def _check_comparisons(self, tree: exp.Expression) -> None:
        """Trino compares only values of one family: no implicit varchar-to-number casts."""
        comparisons = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeNEQ)
        for node in tree.find_all(*comparisons):
            left = _family(node.left.type)
            right = _family(node.right.type)
            if left and right and left != right:
                meta = node.meta or node.left.meta
                raise AthenaFailure(
                    "TYPE_MISMATCH",
                    f"Cannot apply operator: {trino_type_name(node.left.type)} "
                    f"{_OPERATOR.get(type(node), '?')} {trino_type_name(node.right.type)}",
                    line=meta.get("line"),
                    column=meta.get("col"),
                )
        for node in tree.find_all(exp.Coalesce):
            families = {_family(e.type) for e in [node.this, *node.expressions]} - {None}
            if len(families) > 1:
                raise AthenaFailure(
                    "TYPE_MISMATCH",
                    "All COALESCE operands must be the same type: "
                    + ", ".join(trino_type_name(e.type) for e in [node.this, *node.expressions]),
                )

    def _properties(self, create: exp.Create) -> dict[str, exp.Expression]:
        found: dict[str, exp.Expression] = {}
        properties = create.args.get("properties")
        for prop in properties.expressions if properties else []:
            name, _, value = prop.sql("trino").partition("=")
            found[name.strip().lower()] = sqlglot.parse_one(value, read="trino")
        return found

    def _ctas(self, create: exp.Create, database: str, query_id: str) -> Outcome:
        target = create.this if isinstance(create.this, exp.Table) else create.this.this
        db, name = self._table_ref(target, database)
        check_name(name, "Table")
        if self.catalog.table(db, name) is not None:
            if create.args.get("exists"):
                return Outcome("SUCCEEDED", "DDL", "CREATE_TABLE_AS_SELECT", target=f"{db}.{name}")
            raise AthenaFailure(
                "TABLE_ALREADY_EXISTS", f"Table '{CATALOG}.{db}.{name}' already exists"
            )
        properties = self._properties(create)
        table_type = _literal(properties.get("table_type")) or "hive"
        iceberg = table_type.lower() == "iceberg"
        allowed = ICEBERG_CTAS_PROPERTIES if iceberg else HIVE_CTAS_PROPERTIES
        for key in properties:
            if key not in allowed:
                raise AthenaFailure(
                    "INVALID_TABLE_PROPERTY",
                    f"Catalog '{CATALOG}' table property '{key}' does not exist "
                    f"for table type {table_type.upper()}",
                )
        query = create.expression
        self._check_output_names(query)
        columns, typed = self.analyze(query, database)
        column_names = [c for c, _ in columns]
        for column in column_names:
            check_name(column, "Column")
        for column, kind in columns:
            if kind == "unknown":
                raise AthenaFailure(
                    "EMULATOR_LIMITATION",
                    f"cannot infer the type of column '{column}': teach "
                    "athena_emulator/types.py the expression that makes it",
                )
        try:
            glue_columns = [
                {"Name": c, "Type": glue_type_from_trino(k, iceberg=iceberg)} for c, k in columns
            ]
        except UnsupportedType as error:
            raise AthenaFailure(
                "NOT_SUPPORTED", str(error), error_type=ICEBERG_ERROR if iceberg else USER_ERROR
            ) from None
        if self.engine is not None:
            self._sync(query, database)
        if iceberg:
            return self._create_iceberg(db, name, properties, columns, glue_columns, typed)
        return self._create_hive_ctas(
            db, name, properties, column_names, glue_columns, query_id, typed
        )

    def _check_output_names(self, query: exp.Expression) -> None:
        selects = query.selects
        names: list[str] = []
        for position, select in enumerate(selects, start=1):
            if isinstance(select, exp.Star) or (
                isinstance(select, exp.Column) and isinstance(select.this, exp.Star)
            ):
                continue
            if not isinstance(select, exp.Alias | exp.Column):
                raise AthenaFailure(
                    "MISSING_COLUMN_NAME", f"Column name not specified at position {position}"
                )
            names.append(select.alias_or_name.lower())
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise AthenaFailure(
                "DUPLICATE_COLUMN_NAME", f"Column name '{duplicates[0]}' specified more than once"
            )

    def _create_iceberg(
        self,
        db: str,
        name: str,
        properties: dict[str, exp.Expression],
        columns: list[tuple[str, str]],
        glue_columns: list[dict[str, Any]],
        typed: exp.Expression,
    ) -> Outcome:
        if _literal(properties.get("is_external")) not in ("false", None) or (
            "is_external" not in properties
        ):
            raise AthenaFailure(
                "INVALID_TABLE_PROPERTY",
                "Iceberg tables are not external: set is_external=false",
            )
        location = _literal(properties.get("location"))
        if not location:
            raise AthenaFailure(
                "INVALID_TABLE_PROPERTY", "The location property is required for Iceberg tables"
            )
        self._check_location(location, name)
        partitioning = _array(properties.get("partitioning"))
        spec = []
        names = [c for c, _ in columns]
        for entry in partitioning:
            match = ICEBERG_TRANSFORM.match(entry.strip().lower())
            if not match:
                raise AthenaFailure(
                    "INVALID_TABLE_PROPERTY", f"Unable to parse partitioning value: {entry}"
                )
            column = transform_source(match)
            if column not in names:
                raise AthenaFailure(
                    "INVALID_TABLE_PROPERTY",
                    f"Unable to parse partitioning value: Cannot find source column: {column}",
                )
            kind = dict(columns)[column]
            if match.group("unit") and not kind.startswith(("date", "timestamp")):
                raise AthenaFailure(
                    "INVALID_TABLE_PROPERTY",
                    f"Cannot partition by {match.group('unit')}() of column {column} "
                    f"of type {kind}",
                )
            spec.append(entry.strip().lower())
        table_properties = {
            key: _literal(value) or ""
            for key, value in properties.items()
            if key in ICEBERG_TABLE_PROPERTIES | {"write_compression", "format"}
        }
        outcome = Outcome("SUCCEEDED", "DDL", "CREATE_TABLE_AS_SELECT", target=f"{db}.{name}")
        if self.engine is not None:
            result = self.engine.create_table(
                db, name, columns, translate(typed), location, partitioning=spec
            )
            outcome.update_count = result.update_count
            outcome.bytes_scanned = result.bytes_scanned
        metadata_location = self._write_iceberg_metadata(
            location, columns, spec, table_properties, sequence=0
        )
        for index, column in enumerate(glue_columns, start=1):
            column["Parameters"] = {
                "iceberg.field.current": "true",
                "iceberg.field.id": str(index),
                "iceberg.field.optional": "true",
            }
        self.catalog.create_table(
            db,
            {
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"table_type": "ICEBERG", "metadata_location": metadata_location},
                "StorageDescriptor": {
                    "Columns": glue_columns,
                    "Location": location,
                    **ICEBERG_FORMATS,
                },
            },
        )
        return outcome

    def _create_hive_ctas(
        self,
        db: str,
        name: str,
        properties: dict[str, exp.Expression],
        column_names: list[str],
        glue_columns: list[dict[str, Any]],
        query_id: str,
        typed: exp.Expression,
    ) -> Outcome:
        if _literal(properties.get("is_external")) == "false":
            raise AthenaFailure(
                "NOT_SUPPORTED", "Athena creates only external Hive tables: is_external=false"
            )
        location = _literal(properties.get("external_location"))
        if not location:
            # Athena writes such a table under the query's result location.
            if not self._output_location:
                raise AthenaFailure(
                    "INVALID_INPUT",
                    "No output location provided: set external_location, or a result "
                    "location for the query or its workgroup",
                )
            location = f"{self._output_location.rstrip('/')}/tables/{query_id}"
        self._check_location(location, name)
        partitioned_by = [c.lower() for c in _array(properties.get("partitioned_by"))]
        if partitioned_by and column_names[-len(partitioned_by) :] != partitioned_by:
            raise AthenaFailure(
                "HIVE_COLUMN_ORDER_MISMATCH",
                "Partition keys must be the last columns in the table and in the same order "
                "as the table properties: " + ", ".join(partitioned_by),
            )
        data_columns = [c for c in glue_columns if c["Name"] not in partitioned_by]
        partition_keys = [c for c in glue_columns if c["Name"] in partitioned_by]
        file_format = (_literal(properties.get("format")) or "parquet").lower()
        if file_format == "parquet":
            formats: dict[str, Any] = PARQUET_FORMATS
        else:
            # ctas.md: field_delimiter, for text-based formats; \001 by default.
            delimiter = _literal(properties.get("field_delimiter")) or "\x01"
            formats = {
                **TEXT_FORMATS,
                "SerdeInfo": {
                    "SerializationLibrary": LAZY_SIMPLE_SERDE,
                    "Parameters": {"field.delim": delimiter, "serialization.format": delimiter},
                },
            }
        table = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"EXTERNAL": "TRUE", "classification": file_format},
            "PartitionKeys": partition_keys,
            "StorageDescriptor": {"Columns": data_columns, "Location": location, **formats},
        }
        outcome = Outcome("SUCCEEDED", "DDL", "CREATE_TABLE_AS_SELECT", target=f"{db}.{name}")
        written: list[list[tuple[str, str]]] = []
        if self.engine is not None and file_format in ("parquet", "textfile"):
            result = self.engine.write_objects(
                translate(typed), location, query_id, partitioned_by, hive_storage(table)
            )
            outcome.update_count = result.update_count
            outcome.bytes_scanned = result.bytes_scanned
            written = result.partitions
        else:
            self._put(f"{location.rstrip('/')}/{query_id}_00000", b"")
        self.catalog.create_table(db, table)
        self._add_partitions(db, name, written)
        return outcome

    def _add_partitions(self, db: str, name: str, partitions: list[list[tuple[str, str]]]) -> None:
        """Athena registers in Glue the partitions a CTAS or INSERT INTO writes to
        a Hive table (insert-into.html); those Glue already has are left as they are."""
        if not partitions:  # an unpartitioned table: no Glue lookup
            return
        table = self.catalog.table(db, name)
        if table is None:
            return
        descriptor = table.raw.get("StorageDescriptor", {})
        location = (table.location or "").rstrip("/")
        known = self.catalog.partition_values(db, name)
        fresh = [p for p in partitions if [v for _, v in p] not in known]
        self.catalog.add_partitions(
            db,
            name,
            [
                {
                    "Values": [value for _, value in partition],
                    "StorageDescriptor": {
                        **descriptor,
                        "Location": f"{location}/"
                        + "/".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in partition),
                    },
                }
                for partition in fresh
            ],
        )

    def _create_view(self, create: exp.Create, text: str, database: str) -> Outcome:
        db, name = self._table_ref(create.this, database)
        check_name(name, "View")
        existing = self.catalog.table(db, name)
        replace = bool(create.args.get("replace"))
        if existing is not None and existing.kind != "view":
            raise AthenaFailure(
                "TABLE_ALREADY_EXISTS", f"Table '{CATALOG}.{db}.{name}' already exists"
            )
        if existing is not None and not replace:
            raise AthenaFailure(
                "TABLE_ALREADY_EXISTS", f"View '{CATALOG}.{db}.{name}' already exists"
            )
        query = create.expression
        self._check_output_names(query)
        columns, typed = self.analyze(query, database)
        body = query.sql("trino")
        view_input = {
            "Name": name,
            "TableType": "VIRTUAL_VIEW",
            "Parameters": {"presto_view": "true", "comment": "Presto View"},
            "ViewOriginalText": view_original_text(body, CATALOG, db, columns),
            "ViewExpandedText": "/* Presto View */",
            # Trino's Hive metastore writes a view with an empty location
            # (HiveMetadata.createView: setLocation("")), which readers of Glue expect.
            "StorageDescriptor": {
                "Columns": [{"Name": c, "Type": _view_glue_type(k)} for c, k in columns],
                "Location": "",
                "SerdeInfo": {},
            },
        }
        if self.engine is not None:
            self._sync(query, database)
            self.engine.create_view(db, name, translate(typed), text=view_input["ViewOriginalText"])
        if existing is None:
            self.catalog.create_table(db, view_input)
        else:
            self.catalog.update_table(db, view_input)
        return Outcome("SUCCEEDED", "DDL", "CREATE_VIEW", target=f"{db}.{name}")

    def _drop_view(self, drop: exp.Drop, database: str) -> Outcome:
        db, name = self._table_ref(drop.this, database)
        existing = self.catalog.table(db, name)
        if existing is None:
            if drop.args.get("exists"):
                return Outcome("SUCCEEDED", "DDL", "DROP_VIEW")
            raise AthenaFailure("TABLE_NOT_FOUND", f"View '{CATALOG}.{db}.{name}' does not exist")
        if existing.kind != "view":
            raise AthenaFailure(
                "GENERIC_USER_ERROR", f"'{CATALOG}.{db}.{name}' is a table, not a view"
            )
        self.catalog.delete_table(db, name)
        return Outcome("SUCCEEDED", "DDL", "DROP_VIEW", target=f"{db}.{name}")

    def _iceberg_target(self, table: exp.Table, database: str, verb: str) -> Table:
        db, name = self._table_ref(table, database)
        target = self._existing(db, name)
        if target.kind != "iceberg":
            raise AthenaFailure(
                "NOT_SUPPORTED",
                f"{verb} is only supported for Iceberg tables",
                error_type=USER_ERROR,
            )
        return target

    def _insert(self, insert: exp.Insert, database: str, query_id: str) -> Outcome:
        schema_node = insert.this
        table_node = schema_node.this if isinstance(schema_node, exp.Schema) else schema_node
        db, name = self._table_ref(table_node, database)
        target = self._existing(db, name)
        if target.kind == "view":
            raise AthenaFailure("NOT_SUPPORTED", "Inserting into views is not supported")
        listed = (
            [c.name.lower() for c in schema_node.expressions]
            if isinstance(schema_node, exp.Schema)
            else target.column_names
        )
        for column in listed:
            if column not in target.column_names:
                raise AthenaFailure(
                    "COLUMN_NOT_FOUND",
                    f"Insert column name does not exist in target table: {column}",
                )
        query = insert.expression  # VALUES made a query already (relations.rewrite)
        columns, typed = self.analyze(query, database)
        if len(columns) != len(listed):
            raise AthenaFailure(
                "TYPE_MISMATCH",
                f"Insert query has {len(columns)} columns, target table has {len(listed)}",
            )
        self._check_assignable(dict(target.columns), list(zip(listed, columns, strict=True)))
        outcome = Outcome("SUCCEEDED", "DML", "INSERT", target=f"{db}.{name}", update_count=0)
        if self.engine is None:
            return outcome
        self._sync(insert, database)
        if target.kind == "iceberg":
            names = ", ".join(f'"{c}"' for c in listed)
            result = self.engine.run(
                f"INSERT INTO {self.engine.qualified(db, name)} ({names}) {translate(typed)}"
            )
            outcome.update_count = result.update_count
            outcome.bytes_scanned = result.bytes_scanned
            return outcome
        # A Hive table gets new objects: every column in the table's order (those
        # the INSERT leaves out are NULL), partition columns last.
        given = {column: f'"_insert"."{column}"' for column in listed}
        values = ", ".join(
            f'CAST({given.get(column, "NULL")} AS {duckdb_type(kind)}) AS "{column}"'
            for column, kind in target.columns
        )
        aliases = ", ".join(f'"{column}"' for column in listed)
        rows = f'SELECT {values} FROM ({translate(typed)}) AS "_insert"({aliases})'
        written = self.engine.write_objects(
            rows,
            target.location or "",
            query_id,
            list(target.partition_keys),
            hive_storage(target.raw),
        )
        self._add_partitions(db, name, written.partitions)
        outcome.update_count = written.update_count
        outcome.bytes_scanned = written.bytes_scanned
        return outcome

    def _check_assignable(
        self, target: dict[str, str], pairs: list[tuple[str, tuple[str, str]]]
    ) -> None:
        for column, (_, kind) in pairs:
            wanted = _family(exp.DataType.build(target[column], dialect="trino"))
            given = (
                _family(exp.DataType.build(kind, dialect="trino")) if kind != "unknown" else None
            )
            if wanted and given and wanted != given:
                raise AthenaFailure(
                    "TYPE_MISMATCH",
                    f"Insert query has mismatched column types: column {column} is "
                    f"{target[column]}, query gives {kind}",
                )

    def _merge(self, merge: exp.Merge, database: str) -> Outcome:
        target_node = merge.this
        target = self._iceberg_target(target_node, database, "MERGE INTO")
        target_alias = (target_node.alias or target_node.name).lower()
        using = merge.args["using"]
        source_alias = (using.alias or (using.name if isinstance(using, exp.Table) else "")).lower()
        if isinstance(using, exp.Table):
            db, name = self._table_ref(using, database)
            source_columns = dict(self._existing(db, name).columns)
            source_sql = f'"{db}"."{name}"'
        else:
            source_columns = dict(self.resolve_query(using.this, database))
            source_sql = f"({using.this.sql('trino')})"
        # Every expression of the MERGE, resolved over target and source together.
        expressions: list[exp.Expression] = [merge.args["on"]]
        whens = merge.args["whens"].expressions
        for when in whens:
            if when.args.get("condition") is not None:
                expressions.append(when.args["condition"])
            action = when.args.get("then")
            if isinstance(action, exp.Update):
                for assignment in action.expressions:
                    column = assignment.this.name.lower()
                    if column not in target.column_names:
                        raise AthenaFailure(
                            "COLUMN_NOT_FOUND", f"Column '{column}' cannot be resolved"
                        )
                    expressions.append(assignment.expression)
            elif isinstance(action, exp.Insert):
                listed = [c.name.lower() for c in action.this.expressions]
                values = action.expression.expressions
                for column in listed:
                    if column not in target.column_names:
                        raise AthenaFailure(
                            "COLUMN_NOT_FOUND", f"Column '{column}' cannot be resolved"
                        )
                if len(listed) != len(values):
                    raise AthenaFailure(
                        "SYNTAX_ERROR",
                        f"MERGE INSERT has {len(listed)} columns and {len(values)} values",
                    )
                for value in values:
                    for column in value.find_all(exp.Column):
                        if column.table.lower() == target_alias:
                            raise AthenaFailure(
                                "COLUMN_NOT_FOUND",
                                f"Column '{column.sql('trino')}' cannot be resolved: "
                                "a WHEN NOT MATCHED clause sees only the source",
                            )
                expressions.extend(values)
        probe = exp.select(*[e.copy() for e in expressions]).from_(
            f'"{target.database}"."{target.name}" as {target_alias}', dialect="trino"
        )
        probe = probe.join(f"{source_sql} as {source_alias}", join_type="cross", dialect="trino")
        del source_columns  # resolved through the probe
        self.resolve_query(with_default_precision(probe), database)
        outcome = Outcome(
            "SUCCEEDED",
            "DML",
            "MERGE_INTO",
            target=f"{target.database}.{target.name}",
            update_count=0,
        )
        if self.engine is not None:
            self._sync(merge, database)
            outcome.update_count, outcome.bytes_scanned = self._run_merge(
                merge, target, target_alias, source_alias or using.name.lower()
            )
        return outcome

    def _run_merge(
        self, merge: exp.Merge, target: Table, target_alias: str, source_alias: str
    ) -> tuple[int, int]:
        """Run a checked MERGE on the engine; the rows it changed and the bytes it read.

        The source is held in a temporary table first: DuckLake's MERGE fails
        on some sources it streams ("Out of buffer"), and takes one WHEN
        MATCHED action only. A WHEN MATCHED ... THEN DELETE beside other
        matched actions runs first, as a DELETE of the target rows it alone
        would take (no earlier clause's condition holds for them), and the
        source rows that matched them leave the source, as in Trino, where
        each target row takes the first clause that holds. The bytes are the
        source's reads and the MERGE's: one scan of each, as in Athena."""
        engine = self.engine
        assert engine is not None
        target_sql = engine.qualified(target.database, target.name)
        staged_source = "temp.main.merge_source"
        source_as = f'{staged_source} AS "{source_alias}"'
        on = translate(merge.args["on"])
        source = translate(merge.args["using"])
        scanned = engine.run(
            f"CREATE OR REPLACE TEMP TABLE merge_source AS SELECT * FROM {source}"
        ).bytes_scanned
        try:
            if engine.multiple_matches(target_sql, f'"{target_alias}"', source_as, on):
                # Trino's MERGE fails rather than pick one of several source rows.
                raise AthenaFailure(
                    "MERGE_TARGET_ROW_MULTIPLE_MATCHES",
                    "One MERGE target table row matched more than one source row",
                )
            whens = merge.args["whens"].expressions
            matched = [w for w in whens if w.args.get("matched")]
            changed = 0
            kept = list(whens)
            if len(matched) > 1:
                earlier: list[str] = []
                for when in matched:
                    condition = when.args.get("condition")
                    holds = f"coalesce(({translate(condition)}), false)" if condition else "true"
                    action = when.args.get("then")
                    if isinstance(action, exp.Var) and action.name.upper() == "DELETE":
                        taken = " and ".join([holds, *(f"not {e}" for e in earlier)])
                        engine.query(
                            "CREATE OR REPLACE TEMP TABLE merge_taken AS "
                            f'SELECT "{target_alias}".rowid AS target_row, '
                            f'"{source_alias}".rowid AS source_row '
                            f'FROM {target_sql} AS "{target_alias}" INNER JOIN {source_as} '
                            f"ON {on} WHERE {taken}"
                        )
                        changed += engine.run(
                            f"DELETE FROM {target_sql} WHERE rowid IN "
                            "(SELECT target_row FROM temp.main.merge_taken)"
                        ).update_count
                        engine.query(
                            f"DELETE FROM {staged_source} WHERE rowid IN "
                            "(SELECT source_row FROM temp.main.merge_taken)"
                        )
                        kept.remove(when)
                    earlier.append(holds)
            staged = merge.copy()
            staged.set(
                "using",
                exp.Table(
                    this=exp.to_identifier("merge_source"),
                    db=exp.to_identifier("main"),
                    catalog=exp.to_identifier("temp"),
                    alias=exp.TableAlias(this=exp.to_identifier(source_alias)),
                ),
            )
            staged.args["whens"].set("expressions", [w.copy() for w in kept])
            result = engine.run(translate(staged))
        finally:
            engine.query("DROP TABLE IF EXISTS temp.main.merge_source")
            engine.query("DROP TABLE IF EXISTS temp.main.merge_taken")
        return changed + result.update_count, scanned + result.bytes_scanned

    def _delete_or_update(self, statement: exp.Delete | exp.Update, database: str) -> Outcome:
        verb = "DELETE" if isinstance(statement, exp.Delete) else "UPDATE"
        target = self._iceberg_target(statement.this, database, verb)
        alias = (statement.this.alias or target.name).lower()
        expressions: list[exp.Expression] = []
        where = statement.args.get("where")
        if where is not None:
            expressions.append(where.this)
        if isinstance(statement, exp.Update):
            for assignment in statement.expressions:
                if assignment.this.name.lower() not in target.column_names:
                    raise AthenaFailure(
                        "COLUMN_NOT_FOUND", f"Column '{assignment.this.name}' cannot be resolved"
                    )
                expressions.append(assignment.expression)
        if expressions:
            probe = exp.select(*[e.copy() for e in expressions]).from_(
                f'"{target.database}"."{target.name}" as {alias}', dialect="trino"
            )
            self.resolve_query(probe, database)
        outcome = Outcome(
            "SUCCEEDED", "DML", verb, target=f"{target.database}.{target.name}", update_count=0
        )
        if self.engine is not None:
            self._sync(statement, database)
            result = self.engine.run(translate(statement))
            outcome.update_count = result.update_count
            outcome.bytes_scanned = result.bytes_scanned
        return outcome

    # --------------------------------------------------------- maintenance

    def _maintenance(self, text: str, database: str, verb: str) -> Outcome:
        name_pattern = r"(?P<name>[\w`]+(?:\.[\w`]+){0,2})"
        if verb == "optimize":
            pattern = (
                rf"optimize\s+{name_pattern}\s+rewrite\s+data\s+using\s+bin_pack"
                r"(?:\s+where\s+(?P<where>.+))?"
            )
        else:
            pattern = rf"vacuum\s+{name_pattern}"
        match = re.fullmatch(pattern, text, re.IGNORECASE | re.DOTALL)
        if not match:
            expected = (
                "OPTIMIZE [db.]table REWRITE DATA USING BIN_PACK [WHERE predicate]"
                if verb == "optimize"
                else "VACUUM [db.]table"
            )
            raise AthenaFailure("SYNTAX_ERROR", f"expected {expected}")
        parts = _table_parts(match.group("name"))
        if len(parts) == 3 and parts[0] != CATALOG:
            raise AthenaFailure("CATALOG_NOT_FOUND", f"Catalog '{parts[0]}' does not exist")
        db = self._database_name(parts[-2] if len(parts) > 1 else None, database)
        table = self._existing(db, parts[-1])
        if table.kind != "iceberg":
            raise AthenaFailure(
                "NOT_SUPPORTED",
                f"{verb.upper()} is supported only for Iceberg tables",
                error_type=ICEBERG_ERROR,
            )
        if match.groupdict().get("where"):
            probe = f'select 1 as probe from "{db}"."{table.name}" where {match.group("where")}'
            self._trino(probe, db, "probe")
        return Outcome("SUCCEEDED", "DML", verb.upper(), target=f"{db}.{table.name}")

    # ------------------------------------------------------------ Hive path

    def _hive(self, text: str, database: str) -> Outcome:
        try:
            statement = hive_ddl.parse_hive_ddl(text)
        except hive_ddl.HiveSyntaxError as error:
            raise AthenaFailure(
                "FAILED", f"ParseException {error}", error_type=DDL_FAILED
            ) from None
        if _validator_knows(statement):
            result = trino_sql_validator.validate(text, dialect="hive", jinja="reject")
            if not result.valid:
                raise AthenaFailure(
                    "FAILED", f"ParseException {result.error}", error_type=DDL_FAILED
                )
        handler = {
            hive_ddl.CreateDatabase: self._hive_create_database,
            hive_ddl.DropDatabase: self._hive_drop_database,
            hive_ddl.CreateTable: self._hive_create_table,
            hive_ddl.DropTable: self._hive_drop_table,
            hive_ddl.AlterTable: self._hive_alter_table,
            hive_ddl.Utility: self._hive_utility,
        }[type(statement)]
        return handler(statement, database)

    def _hive_create_database(self, statement: hive_ddl.CreateDatabase, _: str) -> Outcome:
        if self.catalog.database_exists(statement.name):
            if statement.if_not_exists:
                return Outcome("SUCCEEDED", "DDL", "CREATE_DATABASE")
            raise AthenaFailure(
                "FAILED",
                f"AlreadyExistsException Database {statement.name} already exists",
                error_type=DDL_FAILED,
            )
        check_name(statement.name, "Database")
        self.catalog.create_database(statement.name, statement.comment)
        return Outcome("SUCCEEDED", "DDL", "CREATE_DATABASE", target=statement.name)

    def _hive_drop_database(self, statement: hive_ddl.DropDatabase, _: str) -> Outcome:
        if not self.catalog.database_exists(statement.name):
            if statement.if_exists:
                return Outcome("SUCCEEDED", "DDL", "DROP_DATABASE")
            raise AthenaFailure(
                "FAILED",
                f"NoSuchObjectException Database {statement.name} does not exist",
                error_type=DDL_FAILED,
            )
        if self.catalog.tables(statement.name) and not statement.cascade:
            raise AthenaFailure(
                "FAILED",
                f"InvalidOperationException Database {statement.name} is not empty",
                error_type=DDL_FAILED,
            )
        self.catalog.delete_database(statement.name)
        return Outcome("SUCCEEDED", "DDL", "DROP_DATABASE", target=statement.name)

    def _hive_names(self, name: hive_ddl.Name, database: str) -> tuple[str, str]:
        db = (name.database or database).lower()
        if not self.catalog.database_exists(db):
            raise AthenaFailure(
                "FAILED",
                f"SemanticException [Error 10072]: Database does not exist: {db}",
                error_type=DDL_FAILED,
            )
        return db, name.table.lower()

    def _hive_create_table(self, statement: hive_ddl.CreateTable, database: str) -> Outcome:
        db, name = self._hive_names(statement.name, database)
        if self.catalog.table(db, name) is not None:
            if statement.if_not_exists:
                return Outcome("SUCCEEDED", "DDL", "CREATE_TABLE")
            raise AthenaFailure(
                "FAILED",
                f"AlreadyExistsException Table {db}.{name} already exists",
                error_type=DDL_FAILED,
            )
        iceberg = statement.properties.get("table_type", "").lower() == "iceberg"
        if iceberg and statement.external:
            raise AthenaFailure(
                "FAILED",
                "External keyword not supported for table type ICEBERG",
                error_type=DDL_FAILED,
            )
        if not iceberg and not statement.external:
            raise AthenaFailure(
                "FAILED",
                "Only external table creation is supported: use CREATE EXTERNAL TABLE, "
                "or TBLPROPERTIES ('table_type'='ICEBERG')",
                error_type=DDL_FAILED,
            )
        if not statement.location or not statement.location.startswith("s3://"):
            raise AthenaFailure(
                "FAILED",
                f"location must be an s3:// path, got {statement.location!r}",
                error_type=DDL_FAILED,
            )
        check_name(name, "Table")
        names = [c.name for c in statement.columns]
        partition_names = [c.name for c in statement.partition_columns]
        for column in names + partition_names:
            check_name(column, "Column")
        for column in names + partition_names:
            if (names + partition_names).count(column) > 1:
                raise AthenaFailure(
                    "FAILED",
                    f"SemanticException [Error 10036]: Duplicate column name: {column}",
                    error_type=DDL_FAILED,
                )
        glue_columns = [_glue_column(c) for c in statement.columns]
        parameters = {"EXTERNAL": "TRUE", **statement.properties}
        if statement.comment:
            parameters["comment"] = statement.comment
        if iceberg:
            if statement.partition_columns:
                raise AthenaFailure(
                    "FAILED",
                    "Iceberg tables partition by columns of the table or transforms of them",
                    error_type=DDL_FAILED,
                )
            for transform in statement.partition_transforms:
                match = ICEBERG_TRANSFORM.match(transform)
                column = match and transform_source(match)
                if not column or column not in names:
                    raise AthenaFailure(
                        "FAILED", f"Invalid partitioning: {transform}", error_type=DDL_FAILED
                    )
            self.catalog.create_table(
                db,
                {
                    "Name": name,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": {"table_type": "ICEBERG"},
                    "StorageDescriptor": {
                        "Columns": glue_columns,
                        "Location": statement.location,
                        **ICEBERG_FORMATS,
                    },
                },
            )
            return Outcome("SUCCEEDED", "DDL", "CREATE_TABLE", target=f"{db}.{name}")
        if statement.partition_transforms:
            raise AthenaFailure(
                "FAILED",
                "Hive tables partition by new columns with their types, not by transforms",
                error_type=DDL_FAILED,
            )
        if statement.serde:
            formats: dict[str, Any] = {
                **TEXT_FORMATS,
                "SerdeInfo": {
                    "SerializationLibrary": statement.serde,
                    "Parameters": statement.serde_properties,
                },
            }
        elif statement.stored_as == "parquet":
            formats = PARQUET_FORMATS
        elif statement.input_format:
            formats = {
                "InputFormat": statement.input_format,
                "OutputFormat": statement.output_format,
            }
        else:
            formats = {
                **TEXT_FORMATS,
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
                },
            }
        self.catalog.create_table(
            db,
            {
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": parameters,
                "PartitionKeys": [_glue_column(c) for c in statement.partition_columns],
                "StorageDescriptor": {
                    "Columns": glue_columns,
                    "Location": statement.location,
                    **formats,
                },
            },
        )
        return Outcome("SUCCEEDED", "DDL", "CREATE_TABLE", target=f"{db}.{name}")

    def _hive_drop_table(self, statement: hive_ddl.DropTable, database: str) -> Outcome:
        db, name = self._hive_names(statement.name, database)
        table = self.catalog.table(db, name)
        if table is None:
            if statement.if_exists:
                return Outcome("SUCCEEDED", "DDL", "DROP_TABLE")
            raise AthenaFailure(
                "FAILED",
                f"SemanticException [Error 10001]: Table not found {db}.{name}",
                error_type=DDL_FAILED,
            )
        if table.kind == "view":
            raise AthenaFailure(
                "FAILED",
                "SemanticException [Error 10131]: Cannot drop a view with DROP TABLE",
                error_type=DDL_FAILED,
            )
        if table.kind == "iceberg" and table.location:
            # Athena deletes an Iceberg table's data with the table.
            self._delete_prefix(table.location)
        self.catalog.delete_table(db, name)
        return Outcome("SUCCEEDED", "DDL", "DROP_TABLE", target=f"{db}.{name}")

    def _hive_alter_table(  # noqa: PLR0915 (one branch per ALTER TABLE form Athena has)
        self, statement: hive_ddl.AlterTable, database: str
    ) -> Outcome:
        db, name = self._hive_names(statement.name, database)
        table = self.catalog.table(db, name)
        if table is None:
            raise AthenaFailure(
                "FAILED",
                f"SemanticException [Error 10001]: Table not found {db}.{name}",
                error_type=DDL_FAILED,
            )
        raw = table_input(table.raw)
        descriptor = raw.setdefault("StorageDescriptor", {})
        columns = descriptor.setdefault("Columns", [])
        existing = [c["Name"] for c in columns] + list(table.partition_keys)
        action = statement.action
        substatement = f"ALTER_TABLE_{action.upper()}"
        if action == "rename":
            if table.kind != "iceberg":
                raise AthenaFailure(
                    "FAILED",
                    "ALTER TABLE RENAME TO is supported only for Iceberg tables",
                    error_type=DDL_FAILED,
                )
            assert statement.new_name is not None
            new_db, new_name = self._hive_names(statement.new_name, database)
            check_name(new_name, "Table")
            if self.catalog.table(new_db, new_name) is not None:
                raise AthenaFailure(
                    "FAILED",
                    f"AlreadyExistsException Table {new_db}.{new_name} already exists",
                    error_type=DDL_FAILED,
                )
            raw["Name"] = new_name
            if self.engine is not None:
                self.engine.sync(set())
                self.engine.rename(db, name, new_db, new_name)
            self.catalog.create_table(new_db, raw)
            self.catalog.delete_table(db, name)
            return Outcome("SUCCEEDED", "DDL", substatement, target=f"{new_db}.{new_name}")
        if table.kind == "view":
            raise AthenaFailure(
                "FAILED",
                f"{db}.{name} is a view: ALTER TABLE does not apply",
                error_type=DDL_FAILED,
            )
        if action == "add_columns":
            for column in statement.columns:
                check_name(column.name, "Column")
                if column.name in existing:
                    raise AthenaFailure(
                        "FAILED",
                        f"SemanticException [Error 10036]: Duplicate column name: {column.name}",
                        error_type=DDL_FAILED,
                    )
                columns.append(_glue_column(column))
        elif action == "replace_columns":
            if table.kind == "iceberg":
                raise AthenaFailure(
                    "FAILED",
                    "REPLACE COLUMNS is not supported for Iceberg tables",
                    error_type=DDL_FAILED,
                )
            descriptor["Columns"] = [_glue_column(c) for c in statement.columns]
        elif action == "drop_column":
            if table.kind != "iceberg":
                raise AthenaFailure(
                    "FAILED",
                    "DROP COLUMN is supported only for Iceberg tables",
                    error_type=DDL_FAILED,
                )
            if statement.column not in existing:
                raise AthenaFailure(
                    "FAILED", f"Column {statement.column} does not exist", error_type=DDL_FAILED
                )
            descriptor["Columns"] = [c for c in columns if c["Name"] != statement.column]
        elif action == "change_column":
            if statement.column not in existing:
                raise AthenaFailure(
                    "FAILED",
                    f"SemanticException [Error 10002]: Invalid column reference {statement.column}",
                    error_type=DDL_FAILED,
                )
            replacement = _glue_column(statement.columns[0])
            descriptor["Columns"] = [
                replacement if c["Name"] == statement.column else c for c in columns
            ]
        elif action == "set_properties":
            if table.kind == "iceberg":
                unknown = set(statement.properties) - ICEBERG_ALTERABLE_PROPERTIES
                if unknown:
                    raise AthenaFailure(
                        "FAILED",
                        f"Unsupported table property key: {sorted(unknown)[0]}",
                        error_type=DDL_FAILED,
                    )
                self._update_iceberg_properties(table, statement.properties)
                return Outcome("SUCCEEDED", "DDL", substatement, target=f"{db}.{name}")
            raw.setdefault("Parameters", {}).update(statement.properties)
        elif action in ("add_partition", "drop_partition"):
            if not table.partition_keys:
                raise AthenaFailure(
                    "FAILED", f"Table {db}.{name} is not partitioned", error_type=DDL_FAILED
                )
            return Outcome("SUCCEEDED", "DDL", substatement, target=f"{db}.{name}")
        self.catalog.update_table(db, raw)
        return Outcome("SUCCEEDED", "DDL", substatement, target=f"{db}.{name}")

    def _hive_utility(self, statement: hive_ddl.Utility, database: str) -> Outcome:
        table = None
        if statement.name is not None:
            db, name = self._hive_names(statement.name, database)
            table = self.catalog.table(db, name)
            if table is None:
                raise AthenaFailure(
                    "FAILED",
                    f"SemanticException [Error 10001]: Table not found {db}.{name}",
                    error_type=DDL_FAILED,
                )
        if statement.database is not None and not self.catalog.database_exists(statement.database):
            raise AthenaFailure(
                "FAILED",
                f"SemanticException [Error 10072]: Database does not exist: {statement.database}",
                error_type=DDL_FAILED,
            )
        outcome = Outcome("SUCCEEDED", "UTILITY", statement.verb.upper())
        answer = self._show(statement, table, database)
        if answer is not None:
            outcome.columns = [(answer.column, "varchar")]
            outcome.rows = [[line] for line in answer.lines]
        return outcome

    def _show(
        self, statement: hive_ddl.Utility, table: Table | None, database: str
    ) -> show.Answer | None:
        """The rows of a SHOW or DESCRIBE of `table` (the statement's, when it names one);
        None for the utility statements that have none."""
        if statement.verb == "show_tables":
            return show.show_tables(self.catalog, statement.database or database, statement.pattern)
        if statement.verb == "show_databases":
            return show.show_databases(self.catalog, statement.pattern)
        if table is None:
            return None
        if statement.verb == "show_columns":
            return show.show_columns(table)
        if statement.verb == "describe":
            return show.describe(table, statement.column)
        if statement.verb == "show_partitions":
            return show.show_partitions(self.catalog, table)
        if statement.verb == "show_tblproperties":
            return show.show_tblproperties(table)
        return None

    # ------------------------------------------------------------------ S3

    def _objects(self, location: str) -> list[str]:
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def _check_location(self, location: str, name: str) -> None:
        if not location.startswith("s3://"):
            raise AthenaFailure("INVALID_TABLE_PROPERTY", f"Invalid location: {location}")
        if self._objects(location):
            raise AthenaFailure(
                "HIVE_PATH_ALREADY_EXISTS",
                f"Target directory for table '{name}' already exists: {location}",
            )

    def _put(self, uri: str, body: bytes) -> None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def _delete_prefix(self, location: str) -> None:
        bucket = location.removeprefix("s3://").partition("/")[0]
        for key in self._objects(location):
            self.s3.delete_object(Bucket=bucket, Key=key)

    def _write_iceberg_metadata(
        self,
        location: str,
        columns: list[tuple[str, str]],
        spec: list[str],
        properties: dict[str, str],
        sequence: int,
    ) -> str:
        """A stand-in for Iceberg's metadata file: schema, partition spec and properties."""
        uri = f"{location.rstrip('/')}/metadata/{sequence:05d}-{uuid.uuid4()}.metadata.json"
        document = {
            "format-version": 2,
            "location": location,
            "schema": [{"name": c, "type": k} for c, k in columns],
            "partition-spec": spec,
            "properties": properties,
        }
        self._put(uri, json.dumps(document, indent=2).encode())
        return uri

    def _update_iceberg_properties(self, table: Table, properties: dict[str, str]) -> None:
        document = iceberg_metadata(self.s3, table)
        if document is None:
            return
        document["properties"].update(properties)
        metadata_location = table.raw["Parameters"]["metadata_location"]
        sequence = int(metadata_location.rsplit("/", 1)[-1].split("-", 1)[0]) + 1
        uri = self._write_iceberg_metadata(
            document["location"],
            [(c["name"], c["type"]) for c in document["schema"]],
            document["partition-spec"],
            document["properties"],
            sequence,
        )
        raw = table_input(table.raw)
        raw["Parameters"] = {**raw.get("Parameters", {}), "metadata_location": uri}
        self.catalog.update_table(table.database, raw)


_OPERATOR = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.NullSafeNEQ: "IS DISTINCT FROM",
}


def _family(data_type: exp.DataType | None) -> str | None:
    """The comparison family of a type; None where the emulator does not know."""
    if data_type is None:
        return None
    kind = data_type.this
    if kind in exp.DataType.TEXT_TYPES or kind in (exp.DataType.Type.CHAR,):
        return "string"
    if kind in exp.DataType.NUMERIC_TYPES:
        return "number"
    if kind in exp.DataType.TEMPORAL_TYPES:
        return "time"
    if kind == exp.DataType.Type.BOOLEAN:
        return "boolean"
    return None


def _literal(value: exp.Expression | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, exp.Boolean):
        return "true" if value.this else "false"
    if isinstance(value, exp.Literal):
        return str(value.this)
    return value.sql("trino")


def _array(value: exp.Expression | None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, exp.Array):
        raise AthenaFailure("INVALID_TABLE_PROPERTY", f"expected ARRAY[...], got {value.sql()}")
    return [str(e.this) for e in value.expressions]


def _glue_column(column: hive_ddl.ColumnDef) -> dict[str, Any]:
    entry: dict[str, Any] = {"Name": column.name, "Type": column.type}
    if column.comment:
        entry["Comment"] = column.comment
    return entry


def _view_glue_type(kind: str) -> str:
    try:
        return glue_type_from_trino(kind, iceberg=False)
    except UnsupportedType:
        return kind


def _validator_gave_up(error: Any) -> bool:
    """trino-sql-validator stops at a nesting depth of its own (e.g. a dbt unit
    test's fixture, a UNION ALL of some fifty rows); Trino has no such limit,
    and Trino's grammar (trino-query-parser) has accepted the statement by now.
    Its function and type checks are lost for that statement only."""
    return error is not None and error.message.endswith(VALIDATOR_BUDGET)


def _validator_knows(statement: hive_ddl.HiveStatement) -> bool:
    """trino-sql-validator's hive mode rejects a few valid Athena forms: skip those."""
    if isinstance(statement, hive_ddl.CreateTable):
        return statement.comment is None and not statement.partition_transforms
    if isinstance(statement, hive_ddl.AlterTable):
        return statement.action not in ("add_columns", "replace_columns", "add_partition")
    return True


def _view_body(raw: dict[str, Any]) -> exp.Expression | None:
    """The query of a Glue view Athena created (None for other views)."""
    text = raw.get("ViewOriginalText") or ""
    prefix, suffix = "/* Presto View: ", " */"
    if not (text.startswith(prefix) and text.endswith(suffix)):
        return None
    payload = json.loads(base64.b64decode(text[len(prefix) : -len(suffix)]))
    try:
        return sqlglot.parse_one(payload["originalSql"], read="trino")
    except ParseError:
        return None
