"""Athena's statements as the emulator runs them: what they do to the catalog,
to S3 and to the rows, one behaviour per test, each following the page of
Athena's (docs.aws.amazon.com/athena/latest/ug/) or Trino's documentation
(trinodb/trino, docs/src/main/sphinx/) it cites.

These are the behaviours dbt-athena's own functional suite found missing
(`make athena-suite`, docs/athena-emulator.md); each test here states the
documented behaviour, not the suite's SQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from athena_emulator.engine import Frontend, Outcome
from athena_emulator.server import AthenaEmulator, _column_info
from tests.test_athena_functions import athena, fails, run, values

__all__ = ["athena"]  # the module's Frontend fixture, shared


@pytest.fixture(scope="module")
def bucket(athena: Frontend) -> str:
    athena.s3.create_bucket(Bucket="statements")
    return "s3://statements"


def succeeds(athena: Frontend, sql: str) -> Outcome:
    outcome = run(athena, sql)
    assert outcome.state == "SUCCEEDED", outcome.reason
    return outcome


def glue_table(athena: Frontend, name: str) -> dict:
    return athena.catalog.glue.get_table(DatabaseName="functions", Name=name)["Table"]


def test_a_ctas_whose_query_starts_with_a_comment_is_a_ctas(athena: Frontend, bucket: str) -> None:
    """language/comments.md: `--` to the end of the line and `/* */` are comments,
    which the parser skips wherever they stand; create-table-as.html: CTAS is
    `CREATE TABLE ... WITH (...) AS query`."""
    for name, comment in (
        ("commented_line", "-- the model's note\n"),
        ("commented_block", "/* a note */ "),
    ):
        outcome = run(
            athena,
            f"create table functions.{name} with (table_type = 'iceberg', is_external = false, "
            f"location = '{bucket}/{name}/') as {comment}select 1 as id",
        )
        assert (outcome.state, outcome.substatement_type) == (
            "SUCCEEDED",
            "CREATE_TABLE_AS_SELECT",
        ), outcome.reason
        assert values(athena, f"select id from functions.{name}") == ["1"]


def test_insert_values_adds_its_rows(athena: Frontend, bucket: str) -> None:
    """sql/insert.md: `INSERT INTO table [ ( column [, ... ] ) ] query`, where the
    query may be VALUES (`INSERT INTO nation (nationkey, name, regionkey,
    comment) VALUES (26, 'POLAND', 3, 'no comment')`); columns left out are NULL."""
    succeeds(
        athena,
        "create table functions.visits with (table_type = 'iceberg', is_external = false, "
        f"location = '{bucket}/visits/') as select 1 as id, 'CT' as state, date '2022-01-01' as day",
    )
    inserted = succeeds(
        athena,
        "insert into functions.visits (id, day) values (2, cast('2022-02-01' as date)), (3, null)",
    )
    assert inserted.update_count == 2
    assert run(athena, "select id, state, day from functions.visits order by id").rows == [
        ["1", "CT", "2022-01-01"],
        ["2", None, "2022-02-01"],
        ["3", None, None],
    ]
    # A VALUES row wider than the columns it names fails as Trino fails it.
    assert fails(athena, "insert into functions.visits (id) values (4, 'x')").startswith(
        "TYPE_MISMATCH: Insert query has 2 columns, target table has 1"
    )


def test_insert_into_a_partitioned_hive_table_writes_objects_and_partitions(
    athena: Frontend, bucket: str
) -> None:
    """insert-into.html: INSERT INTO a Hive table writes new objects under its
    location, and the partitions it writes are added to the table's metadata;
    ctas-insert-into.html: at most 100 partitions a statement, more fail with
    HIVE_TOO_MANY_OPEN_PARTITIONS (the rows written before stay, none of these)."""
    succeeds(
        athena,
        "create table functions.readings with (format = 'PARQUET', partitioned_by = ARRAY['site'], "
        f"external_location = '{bucket}/readings/') as select 1 as value, 'seed' as site",
    )
    inserted = succeeds(
        athena,
        "insert into functions.readings select n as value, 'site_' || cast(n % 3 as varchar) as site "
        "from unnest(sequence(1, 6)) as t(n)",
    )
    assert inserted.update_count == 6
    assert run(
        athena, "select site, sum(value) from functions.readings group by site order by site"
    ).rows == [
        ["seed", "1"],
        ["site_0", "9"],
        ["site_1", "5"],
        ["site_2", "7"],
    ]
    assert sorted(athena.catalog.partition_values("functions", "readings")) == [
        ["seed"],
        ["site_0"],
        ["site_1"],
        ["site_2"],
    ]
    too_many = fails(
        athena,
        "insert into functions.readings select n as value, cast(n as varchar) as site "
        "from unnest(sequence(1, 101)) as t(n)",
    )
    assert too_many == (
        "HIVE_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of 100 open writers for partitions/buckets"
    )
    assert values(athena, "select count(*) from functions.readings") == ["7"]


def test_insert_into_a_text_table_writes_rows_its_serde_reads(
    athena: Frontend, bucket: str
) -> None:
    """create-table.html: a table with no ROW FORMAT or STORED AS is text read by
    LazySimpleSerDe (lazy-simple-serde.html: fields separated by \\001, NULL
    written \\N); a field its column's type cannot hold reads as NULL."""
    succeeds(
        athena,
        "create external table functions.people (`id` int, `name` string, `seen` timestamp) "
        f"location '{bucket}/people/'",
    )
    succeeds(
        athena,
        "insert into functions.people (id, name, seen) values "
        "(1, 'a, b', timestamp '2020-01-01 10:00:00.250'), (2, null, null)",
    )
    assert run(athena, "select id, name, seen from functions.people order by id").rows == [
        ["1", "a, b", "2020-01-01 10:00:00.250"],
        ["2", None, None],
    ]
    key = next(
        o["Key"]
        for o in athena.s3.list_objects_v2(Bucket="statements", Prefix="people/")["Contents"]
    )
    text = athena.s3.get_object(Bucket="statements", Key=key)["Body"].read()
    assert sorted(text.splitlines()) == [b"1\x01a, b\x012020-01-01 10:00:00.25", b"2\x01\\N\x01\\N"]


def test_values_is_a_query_in_a_ctas_and_on_its_own(athena: Frontend, bucket: str) -> None:
    """sql/values.md: VALUES can be used anywhere a query can, e.g. as the query of
    CREATE TABLE AS or on its own; its columns are named _col0, _col1, ..."""
    succeeds(
        athena,
        "create table functions.valued with (table_type = 'iceberg', is_external = false, "
        f"location = '{bucket}/valued/') as values (1, 'a'), (2, 'b')",
    )
    columns = glue_table(athena, "valued")["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in columns] == ["_col0", "_col1"]
    assert run(athena, "select _col0, _col1 from functions.valued order by 1").rows == [
        ["1", "a"],
        ["2", "b"],
    ]
    assert run(athena, "values (1, 'x'), (2, 'y')").rows == [["1", "x"], ["2", "y"]]


def test_a_delimited_text_table_splits_its_fields_at_its_delimiter(
    athena: Frontend, bucket: str
) -> None:
    """create-table.html: `ROW FORMAT DELIMITED FIELDS TERMINATED BY 'char'` names the
    field delimiter of a text table, which Glue keeps as the SerDe's `field.delim`
    (lazy-simple-serde.html); rows are read split at it, not at \\001."""
    succeeds(
        athena,
        "create external table functions.commas (`id` int, `name` string) "
        f"row format delimited fields terminated by ',' location '{bucket}/commas/'",
    )
    serde = glue_table(athena, "commas")["StorageDescriptor"]["SerdeInfo"]
    assert serde["Parameters"]["field.delim"] == ","
    athena.s3.put_object(Bucket="statements", Key="commas/rows.csv", Body=b"1,a\n2,b\n")
    assert run(athena, "select id, name from functions.commas order by id").rows == [
        ["1", "a"],
        ["2", "b"],
    ]


def test_show_columns_describe_and_show_tables_answer_from_glue(
    athena: Frontend, bucket: str
) -> None:
    """show-columns.html: only the column names (`SHOW COLUMNS {FROM|IN} table
    [{FROM|IN} database]`); describe-table.html: names, types and comments, the
    partition keys again under # Partition Information; show-tables.html: the
    tables and views, a pattern with `*` and `|`."""
    run(
        athena,
        "create table functions.shown with (format = 'PARQUET', partitioned_by = ARRAY['day'], "
        f"external_location = '{bucket}/shown/') as select 1 as id, 'x' as name, '2024-01-01' as day",
    )
    for statement in ("show columns from shown", "show columns in shown in functions"):
        assert run(athena, statement).rows == [["id"], ["name"], ["day"]]
    described = [row[0] for row in run(athena, "describe functions.shown").rows]
    assert [line.split("\t")[0].strip() for line in described[:3]] == ["id", "name", "day"]
    assert [line.split("\t")[1].strip() for line in described[:3]] == ["int", "string", "string"]
    assert "# Partition Information" in described
    tables = [row[0] for row in run(athena, "show tables in functions 'sho*|nothing'").rows]
    assert tables == ["shown"]
    assert ["shown"] in run(athena, "show tables").rows


def test_a_views_glue_entry_has_an_empty_location(athena: Frontend) -> None:
    """A view holds no data: Trino's Hive metastore writes its storage descriptor
    with an empty location (plugin/trino-hive HiveMetadata.createView,
    `setLocation("")`), and readers of Glue, dbt-athena's table version cleanup
    among them, read StorageDescriptor.Location of every table version."""
    for body in ("select 1 as a", "select 2 as a"):  # created, then replaced
        outcome = run(athena, f"create or replace view functions.viewed as {body}")
        assert outcome.state == "SUCCEEDED", outcome.reason
        assert glue_table(athena, "viewed")["StorageDescriptor"]["Location"] == ""


def test_iceberg_partitioning_takes_trino_and_hive_transforms(
    athena: Frontend, bucket: str
) -> None:
    """Trino's connector/iceberg.md (Partitioned tables): `bucket(x, nbuckets)` and
    `truncate(s, nchars)` in a CTAS's partitioning property;
    querying-iceberg-creating-tables.html: `bucket(N, col)` and `truncate(L, col)`
    in CREATE TABLE's PARTITIONED BY. A transform of a missing column fails."""
    succeeds(
        athena,
        "create table functions.bucketed with (table_type = 'iceberg', is_external = false, "
        f"location = '{bucket}/bucketed/', partitioning = ARRAY['bucket(name, 5)', "
        "'truncate(name, 2)', 'day(at)']) "
        "as select 'abc' as name, timestamp '2024-01-01 00:00:00.000000' as at",
    )
    assert values(athena, "select name from functions.bucketed") == ["abc"]
    succeeds(
        athena,
        "create table functions.bucketed_ddl (name string, id int) "
        "partitioned by (bucket(16, name), truncate(2, id)) "
        f"location '{bucket}/bucketed_ddl/' tblproperties ('table_type' = 'iceberg')",
    )
    missing = fails(
        athena,
        "create table functions.bucketed_missing with (table_type = 'iceberg', "
        f"is_external = false, location = '{bucket}/bucketed_missing/', "
        "partitioning = ARRAY['bucket(nothing, 5)']) as select 'abc' as name",
    )
    assert "Cannot find source column: nothing" in missing


def test_a_parenthesized_table_is_the_table(athena: Frontend, bucket: str) -> None:
    """sql/select.md: a from_item is a table or a relation; Trino's grammar
    (SqlBase.g4, relationPrimary) takes `( relation )` wherever a relation goes,
    as dbt-athena's force-batch merge writes `from (schema.table)`."""
    run(
        athena,
        "create table functions.wrapped with (table_type = 'iceberg', is_external = false, "
        f"location = '{bucket}/wrapped/') as select * from (values (2), (1), (2)) as t(n)",
    )
    assert run(
        athena, 'select distinct n from ("awsdatacatalog"."functions"."wrapped") order by n'
    ).rows == [
        ["1"],
        ["2"],
    ]


def test_a_column_name_may_be_any_text_quoted(athena: Frontend, bucket: str) -> None:
    """tables-databases-columns-names.html: a column name is a UTF-8 string of 1
    to 255 bytes, lowercased by Athena; quoted in queries (double quotes) and in
    DDL (backticks) where it is a keyword or has other characters."""
    succeeds(
        athena,
        "create table functions.quoted with (format = 'PARQUET', "
        f"external_location = '{bucket}/quoted/') as "
        """select 1 as id, 'keyword' as "select", 'x' as "field-with-dash\"""",
    )
    succeeds(athena, "alter table functions.quoted add columns (`other-dash` string)")
    assert run(athena, "show columns from functions.quoted").rows == [
        ["id"],
        ["select"],
        ["field-with-dash"],
        ["other-dash"],
    ]
    assert values(athena, 'select "field-with-dash", "other-dash" from functions.quoted') == [
        "x",
        None,
    ]
    # Trino's grammar has no empty name (a zero-length delimited identifier).
    assert "Zero-length delimited identifier" in fails(
        athena,
        f"create table functions.unnamed with (external_location = '{bucket}/u/') "
        'as select 1 as ""',
    )


def test_a_qualified_column_its_table_lacks_is_not_found(athena: Frontend, bucket: str) -> None:
    """sql/merge.md: the ON condition and the clauses refer to the target's and
    the source's columns through their aliases; a column neither has fails
    with COLUMN_NOT_FOUND, named as the statement writes it (as dbt-athena's
    merge does with a unique_key the model lacks)."""
    run(
        athena,
        "create table functions.merge_target with (table_type = 'iceberg', "
        f"is_external = false, location = '{bucket}/merge_target/') as select 1 as id",
    )
    assert (
        fails(
            athena,
            "merge into functions.merge_target as target using functions.merge_target as src "
            "on (target.not_a_key = src.not_a_key) when matched then update set id = src.id",
        )
        == "COLUMN_NOT_FOUND: Column 'target.not_a_key' cannot be resolved"
    )


def test_result_metadata_names_types_as_athena_does() -> None:
    """GetQueryResults' ColumnInfo (API_ColumnInfo.html): Type is the base type,
    Precision and Scale apart; Athena calls Trino's real `float` there, which is
    what its clients read (dbt-athena's cursor turns float and double into
    Python floats, and any other name into text)."""
    assert (_column_info("r", "real")["Type"], _column_info("d", "double")["Type"]) == (
        "float",
        "double",
    )
    decimal = _column_info("amount", "decimal(18,2)")
    assert (decimal["Type"], decimal["Precision"], decimal["Scale"]) == ("decimal", 18, 2)
    assert _column_info("ids", "array(integer)")["Type"] == "array"
    assert [
        _column_info("at", kind)["Type"]
        for kind in ("timestamp(3) with time zone", "time(3) with time zone")
    ] == ["timestamp with time zone", "time with time zone"]


# Last in the module: an AthenaEmulator resets moto's backends, the module's
# in-process Glue and S3 among them.
def test_concurrent_commits_to_one_iceberg_table_are_noted(tmp_path: Path) -> None:
    """AWS's knowledge center, athena-iceberg-table-error: ICEBERG_COMMIT_ERROR
    "might occur when multiple statements try to alter the same set of files"
    in parallel (Iceberg commits optimistically; dbt-athena retries on it). The
    emulator runs one statement at a time, so it never conflicts: a write that
    was in flight with another to the same table succeeds, and the statement log
    says that Athena might have failed it."""
    log = tmp_path / "statements.log"
    with AthenaEmulator(log) as emulator:
        emulator.client("s3").create_bucket(Bucket="commits")
        emulator.client("glue").create_database(DatabaseInput={"Name": "commits"})

        def query(sql: str) -> None:
            request = {"QueryString": sql, "QueryExecutionContext": {"Database": "commits"}}
            outcome = emulator.run(uuid.uuid4().hex, request)
            assert outcome.state == "SUCCEEDED", outcome.reason

        query(
            "create table target with (table_type = 'iceberg', is_external = false, "
            "location = 's3://commits/target/') as select 0 as id"
        )
        query("insert into target values (1)")  # alone: nothing to note
        # Both arrive while the engine is busy: they are in flight together.
        with emulator._lock:
            writers = [
                threading.Thread(target=query, args=(f"insert into target values ({n})",))
                for n in (2, 3)
            ]
            for writer in writers:
                writer.start()
            time.sleep(0.5)
        for writer in writers:
            writer.join()
        notes = [s.note for s in emulator.statements]
    assert notes[:2] == [None, None]
    assert notes[2] is None and notes[3] is not None  # the second of the two waited
    assert "ICEBERG_COMMIT_ERROR" in notes[3] and "commits.target" in notes[3]
    assert log.read_text().count("-- note: ") == 1
