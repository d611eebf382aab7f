"""Trino's documented behaviour, as the Athena emulator executes it on DuckDB.

Each test runs Athena SQL through the emulator's front end (checks, typing,
translation to DuckDB, execution, Athena's text form of the values) and
compares with what the Trino documentation says the statement returns. The
docs are trinodb/trino's docs/src/main/sphinx/: functions/datetime.md,
functions/json.md, functions/conversion.md, functions/math.md,
functions/aggregate.md, sql/select.md, language/types.md.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from trino_query_parser import TrinoSyntaxError, parse_statement

from athena_emulator.catalog import GlueCatalog
from athena_emulator.engine import Frontend, Outcome, check_trino_grammar
from athena_emulator.executor import Engine


@pytest.fixture(scope="module")
def athena() -> Iterator[Frontend]:
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        glue.create_database(DatabaseInput={"Name": "functions"})
        catalog = GlueCatalog(glue)
        frontend = Frontend(catalog, s3)
        frontend.engine = Engine(catalog, s3, analyze_view=frontend.view_sql)
        yield frontend
        frontend.engine.close()


def run(athena: Frontend, sql: str) -> Outcome:
    # A query id of its own: a Hive write names its objects after it.
    return athena.run(sql, "functions", uuid.uuid4().hex)


def values(athena: Frontend, sql: str) -> list[str | None]:
    """The one row a query returns, each value as Athena's GetQueryResults writes it."""
    outcome = run(athena, sql)
    assert outcome.state == "SUCCEEDED", outcome.reason
    assert len(outcome.rows) == 1, outcome.rows
    return outcome.rows[0]


def typed(athena: Frontend, sql: str) -> tuple[list[str], list[list[str | None]]]:
    """A query's column types and rows, as Athena reports them."""
    outcome = run(athena, sql)
    assert outcome.state == "SUCCEEDED", outcome.reason
    return [kind for _, kind in outcome.columns], outcome.rows


def fails(athena: Frontend, sql: str) -> str:
    outcome = run(athena, sql)
    assert outcome.state == "FAILED", outcome.rows
    assert outcome.reason is not None
    return outcome.reason


def test_from_iso8601_timestamp(athena: Frontend) -> None:
    """datetime.md: from_iso8601_timestamp(string) -> timestamp(3) with time zone;
    "The time defaults to 00:00:00.000, and the time zone defaults to the
    session time zone" (Athena's session zone is UTC)."""
    outcome = run(athena, "select from_iso8601_timestamp('2020-05-11') as t")
    assert outcome.columns == [("t", "timestamp(3) with time zone")]
    assert outcome.rows == [["2020-05-11 00:00:00.000 UTC"]]
    # '2020-05-11T11:15:05.055+01:00' is 10:15:05.055 UTC: the project's
    # iso_timestamp macro takes the UTC wall time of it.
    assert values(
        athena,
        "select cast(from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00') "
        "at time zone 'UTC' as timestamp(6)) as t",
    ) == ["2020-05-11 10:15:05.055000"]
    # Three digits of subsecond precision: more digits are cut, not kept.
    assert values(
        athena,
        "select cast(from_iso8601_timestamp('2020-05-11T11:15:05.123456Z') "
        "at time zone 'UTC' as timestamp(6)) as t",
    ) == ["2020-05-11 11:15:05.123000"]
    # Not ISO 8601 (a space instead of T): Trino's parser refuses it.
    assert fails(athena, "select from_iso8601_timestamp('2020-05-11 11:15:05') as t").startswith(
        "INVALID_FUNCTION_ARGUMENT"
    )


def test_at_time_zone(athena: Frontend) -> None:
    """datetime.md, Time zone conversion: `timestamp '2012-10-31 01:00 UTC' AT
    TIME ZONE 'America/Los_Angeles'` is 2012-10-30 18:00:00.000
    America/Los_Angeles: the same instant, the zone's wall time."""
    assert values(
        athena,
        "select cast(from_iso8601_timestamp('2012-10-31T01:00:00Z') "
        "at time zone 'America/Los_Angeles' as timestamp(3)) as t",
    ) == ["2012-10-30 18:00:00.000"]


def test_json_extract_scalar(athena: Frontend) -> None:
    """json.md: json_extract_scalar returns the value as a string; "The value
    referenced by json_path must be a scalar (boolean, number or string)":
    an object or an array gives NULL, as does a path that is not there."""
    document = '{"n": 12.50, "i": 7, "s": "x", "b": true, "o": {"k": 1}, "a": [1, 2, 3], "z": null}'
    assert values(
        athena,
        f"select json_extract_scalar('{document}', '$.n') as n, "
        f"json_extract_scalar('{document}', '$.i') as i, "
        f"json_extract_scalar('{document}', '$.s') as s, "
        f"json_extract_scalar('{document}', '$.b') as b, "
        f"json_extract_scalar('{document}', '$.o') as o, "
        f"json_extract_scalar('{document}', '$.a') as a, "
        f"json_extract_scalar('{document}', '$.z') as z, "
        f"json_extract_scalar('{document}', '$.missing') as m, "
        f"json_extract_scalar('{document}', '$.o.k') as ok",
    ) == ["12.50", "7", "x", "true", None, None, None, None, "1"]
    # The documented example: SELECT json_extract_scalar('[1, 2, 3]', '$[2]') is 3.
    assert values(athena, "select json_extract_scalar('[1, 2, 3]', '$[2]') as v") == ["3"]
    # Text that is not JSON gives NULL, not an error.
    assert values(athena, "select json_extract_scalar('{broken', '$.a') as v") == [None]


def test_json_extract_scalar_reads_quoted_members(athena: Frontend) -> None:
    """json.md: json_path is "JSONPath-like", "a limited subset of JSONPath
    syntax", with the bracket form in its examples ($["store"]["book"][0]
    in the JsonExtract class Trino documents it in). Trino's JsonPathTokenizer
    is that subset: in `["..."]` any character stands for itself except `\\"`
    and `\\\\`, the only escapes; a number names an array element in either
    form and a member of an object too; anything else is an invalid path. This
    is how the staging models read an attribute whose name is no identifier
    (macros/dynamodb_attributes.sql)."""
    document = json.dumps(
        {
            "Full Name": "Ada",
            "Contact.Email": "ada@example.com",
            'Category "Main" \\\\ Shop\'s': "toys",
            "a": {"b": ["x", "y"], "2": "two"},
        }
    ).replace("'", "''")
    paths = [
        '$["Full Name"]',
        '$["Contact.Email"]',
        "$.Contact.Email",
        '$["Category \\"Main\\" \\\\\\\\ Shop\'\'s"]',
        '$["a"]["b"][1]',
        "$.a.b.1",
        '$.a["b"]["0"]',
        "$.a[2]",
    ]
    selected = ", ".join(
        f"json_extract_scalar('{document}', '{path}') as v{n}" for n, path in enumerate(paths)
    )
    assert values(athena, f"select {selected}") == [
        "Ada",
        "ada@example.com",
        None,
        "toys",
        "y",
        "y",
        "x",
        "two",
    ]
    for path in ('$["a\\n"]', '$["a"', "$.a[b c]"):
        reason = fails(athena, f"select json_extract_scalar('{{}}', '{path}') as v")
        assert reason.startswith("INVALID_FUNCTION_ARGUMENT: Invalid JSON path"), (path, reason)


def test_a_long_union_all_runs(athena: Frontend) -> None:
    """sql/select.md: `UNION ALL` combines the rows of its queries, as many as
    it is given; Trino sets no limit on their number, and Athena's only one
    here is the length of the query string (StartQueryExecution's QueryString:
    at most 262,144 bytes). dbt writes a unit test's fixture rows so: 40 rows
    of 16 columns (the funnel's unit test) are 22 kB."""
    rows = " union all ".join(
        "select " + ", ".join(f"try_cast('{n}' as integer) as c{c}" for c in range(16))
        for n in range(40)
    )
    assert len(rows) < 262_144
    query = f"select count(*) as n, sum(c0) as s, max(c15) as m from ({rows})"
    assert values(athena, query) == ["40", "780", "39"]
    # Trino's grammar still applies to such a statement.
    assert fails(athena, f"select count(*) as n from ({rows} union all select)").startswith(
        "SYNTAX_ERROR"
    )


def test_varchar_to_decimal(athena: Frontend) -> None:
    """conversion.md (cast) and decimal.md: varchar to decimal(p, s) rounds to
    the scale half up (away from zero), and text that is not a number fails."""
    assert values(
        athena,
        "select cast('1.005' as decimal(18, 2)) as a, cast('-1.005' as decimal(18, 2)) as b, "
        "cast('12' as decimal(18, 2)) as c, cast('0.994' as decimal(18, 2)) as d",
    ) == ["1.01", "-1.01", "12.00", "0.99"]
    assert fails(athena, "select cast('12,5' as decimal(18, 2)) as a").startswith(
        "INVALID_CAST_ARGUMENT"
    )


def test_casts_to_integer(athena: Frontend) -> None:
    """conversion.md (cast): varchar to integer takes an integer's digits only
    (DuckDB would round '12.5'); a double rounds half away from zero (DuckDB's
    cast rounds half to even)."""
    assert values(athena, "select cast('-7' as integer) as a, cast('42' as bigint) as b") == [
        "-7",
        "42",
    ]
    assert fails(athena, "select cast('12.5' as integer) as a").startswith("INVALID_CAST_ARGUMENT")
    assert values(
        athena,
        "select cast(2.5e0 as integer) as a, cast(-2.5e0 as integer) as b, "
        "cast(3.5e0 as bigint) as c",
    ) == ["3", "-3", "4"]


def test_integer_division(athena: Frontend) -> None:
    """math.md, Mathematical operators: `/` is "Division (integer division
    performs truncation)"; a zero divisor fails."""
    assert values(
        athena, "select 7 / 2 as a, -7 / 2 as b, cast(7 as double) / 2 as c, 7 % 3 as d"
    ) == ["3", "-3", "3.5", "1"]
    assert fails(athena, "select 1 / 0 as a").startswith("DIVISION_BY_ZERO")


def test_date_diff_counts_whole_units(athena: Frontend) -> None:
    """datetime.md: date_diff(unit, timestamp1, timestamp2) "Returns timestamp2 -
    timestamp1 expressed in terms of unit" (whole units; DuckDB's date_diff
    counts the boundaries crossed)."""
    assert values(
        athena,
        "select date_diff('millisecond', timestamp '2020-06-01 12:30:45.000000', "
        "timestamp '2020-06-02 12:30:45.123456') as ms, "
        "date_diff('day', date '2020-03-01', date '2020-03-02') as d, "
        "date_diff('day', timestamp '2020-01-01 23:00:00', timestamp '2020-01-02 01:00:00') as n",
    ) == ["86400123", "1", "0"]


def test_date_add(athena: Frontend) -> None:
    """datetime.md: date_add(unit, value, timestamp) -> [same as input], e.g.
    date_add('day', -1, TIMESTAMP '2020-03-01 00:00:00') is 2020-02-29
    00:00:00.000; the + operator's table: timestamp '2012-10-31 01:00' +
    interval '1' month is 2012-11-30 01:00:00.000. (A literal's precision is
    the digits it has, so the literals here have three.)"""
    outcome = run(
        athena,
        "select date_add('day', -1, timestamp '2020-03-01 00:00:00.000') as a, "
        "date_add('day', 7, date '2026-01-01') as b, "
        "date_add('month', 1, timestamp '2012-10-31 01:00:00.000') as c",
    )
    assert outcome.rows == [["2020-02-29 00:00:00.000", "2026-01-08", "2012-11-30 01:00:00.000"]]
    assert outcome.columns[1] == ("b", "date")


def test_date_trunc(athena: Frontend) -> None:
    """datetime.md: date_trunc(unit, x) -> [same as input]; week truncates
    2001-08-22 to Monday 2001-08-20."""
    assert values(
        athena,
        "select date_trunc('month', timestamp '2022-10-20 05:10:00.000') as a, "
        "date_trunc('week', timestamp '2001-08-22 03:04:05.321') as b, "
        "date_trunc('hour', timestamp '2001-08-22 03:04:05.321') as c, "
        "date_trunc('month', date '2022-10-20') as d",
    ) == [
        "2022-10-01 00:00:00.000",
        "2001-08-20 00:00:00.000",
        "2001-08-22 03:00:00.000",
        "2022-10-01",
    ]


def test_timestamp_precision(athena: Frontend) -> None:
    """language/types.md: timestamp(P) holds P digits of subsecond precision;
    a cast to a lower precision rounds. Iceberg tables store timestamp(6)."""
    assert values(
        athena,
        "select cast(timestamp '2020-01-01 00:00:00.123456' as timestamp(6)) as a, "
        "cast(timestamp '2020-01-01 00:00:00.123456' as timestamp(3)) as b, "
        "cast(timestamp '2020-01-01 00:00:00.123500' as timestamp(3)) as c",
    ) == ["2020-01-01 00:00:00.123456", "2020-01-01 00:00:00.123", "2020-01-01 00:00:00.124"]


def test_nulls_sort_last_in_both_directions(athena: Frontend) -> None:
    """sql/select.md, ORDER BY: "The default null ordering is NULLS LAST,
    regardless of the ordering direction"."""
    ascending = run(athena, "select x from (values 2, null, 1) as t(x) order by x")
    descending = run(athena, "select x from (values 2, null, 1) as t(x) order by x desc")
    assert ascending.rows == [["1"], ["2"], [None]]
    assert descending.rows == [["2"], ["1"], [None]]


def test_aggregates_over_no_rows(athena: Frontend) -> None:
    """aggregate.md: "all aggregate functions ignore null values and return null
    for no input rows or when all values are null", except count, which
    returns 0. (The watermark queries read max() of a table.)"""
    assert values(
        athena,
        "select count(*) as n, max(x) as m, sum(x) as s from (values 1) as t(x) where x > 1",
    ) == ["0", None, None]


def test_bytes_scanned_are_the_partitions_a_filter_selects(athena: Frontend) -> None:
    """A Bronze read counts the Parquet column chunks of the dt partitions its
    filter keeps (partition projection prunes the rest), of the columns read."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    s3 = athena.s3
    s3.create_bucket(Bucket="bytes")
    for day in ("2026-11-20", "2026-11-21"):
        buffer = io.BytesIO()
        table = pa.table({"id": [f"{day}-{n}" for n in range(500)], "n": list(range(500))})
        pq.write_table(table, buffer)
        s3.put_object(Bucket="bytes", Key=f"landed/dt={day}/part.parquet", Body=buffer.getvalue())
    created = run(
        athena,
        "create external table functions.landed (id string, n bigint) "
        "partitioned by (dt string) stored as parquet location 's3://bytes/landed/' "
        "tblproperties ('projection.enabled' = 'true', 'projection.dt.type' = 'date', "
        "'projection.dt.format' = 'yyyy-MM-dd', 'projection.dt.range' = '2020-01-01,NOW', "
        "'storage.location.template' = 's3://bytes/landed/dt=${dt}/')",
    )
    assert created.state == "SUCCEEDED", created.reason
    both = run(
        athena, 'select count(*) as c, max(id) as m, max("$path") as p from functions.landed'
    )
    one = run(
        athena,
        "select count(*) as c, max(id) as m from functions.landed "
        "where cast(dt as date) >= date '2026-11-21'",
    )
    only_n = run(athena, "select max(n) as m from functions.landed")
    assert both.rows == [["1000", "2026-11-21-99", "s3://bytes/landed/dt=2026-11-21/part.parquet"]]
    assert one.rows == [["500", "2026-11-21-99"]]
    assert 0 < one.bytes_scanned < both.bytes_scanned
    assert abs(2 * one.bytes_scanned - both.bytes_scanned) <= both.bytes_scanned // 10
    # Only the columns read: n's chunks are smaller than id's.
    assert 0 < only_n.bytes_scanned < both.bytes_scanned
    # A file landed after a statement is read by the next one.
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": ["late"], "n": [1]}), buffer)
    s3.put_object(Bucket="bytes", Key="landed/dt=2026-11-22/late.parquet", Body=buffer.getvalue())
    assert run(athena, "select count(*) as c from functions.landed").rows == [["1001"]]


def test_a_hive_scan_counts_every_file_it_reads(athena: Frontend) -> None:
    """Bytes scanned grow with the files read, past the five names DuckDB's
    profile lists (which once made a scan of many files count as five)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    s3 = athena.s3
    s3.create_bucket(Bucket="many")
    for part in range(12):
        buffer = io.BytesIO()
        pq.write_table(pa.table({"n": list(range(part * 1000, part * 1000 + 1000))}), buffer)
        s3.put_object(Bucket="many", Key=f"files/part-{part:02d}.parquet", Body=buffer.getvalue())
    created = run(
        athena,
        "create external table functions.many (n bigint) stored as parquet "
        "location 's3://many/files/'",
    )
    assert created.state == "SUCCEEDED", created.reason
    twelve = run(athena, "select max(n) as m from functions.many")
    assert twelve.rows == [["11999"]]
    chunks = 0
    for part in range(12):
        body = s3.get_object(Bucket="many", Key=f"files/part-{part:02d}.parquet")["Body"].read()
        chunks += (
            pq.ParquetFile(io.BytesIO(body)).metadata.row_group(0).column(0).total_compressed_size
        )
    assert twelve.bytes_scanned == chunks


def _iceberg_bytes(athena: Frontend, sql: str) -> int:
    outcome = run(athena, sql)
    assert outcome.state == "SUCCEEDED", outcome.reason
    return outcome.bytes_scanned


def test_an_iceberg_scan_reads_the_partitions_and_files_its_filters_keep(
    athena: Frontend,
) -> None:
    """An Iceberg table is data files per write and per partition: a filter on
    the partition column reads that day's files, a filter on another column
    skips the files whose bounds rule it out, and a MERGE whose ON clause bounds
    the target's days reads the target's files of those days alone."""
    athena.s3.create_bucket(Bucket="ice")
    created = run(
        athena,
        "create table functions.daily with (table_type = 'ICEBERG', is_external = false, "
        "location = 's3://ice/daily/', partitioning = ARRAY['day(event_date)']) as "
        "select n as id, date_add('day', n % 10, date '2026-11-01') as event_date, "
        "cast(n as bigint) as seq, 'payload-' || cast(n as varchar) as payload "
        "from unnest(sequence(0, 9999)) as t(n)",
    )
    assert created.state == "SUCCEEDED", created.reason
    # A second write: later rows, in their own files.
    inserted = run(
        athena,
        "insert into functions.daily select n, date_add('day', n % 10, date '2026-11-01'), "
        "cast(n as bigint), 'payload-' || cast(n as varchar) "
        "from unnest(sequence(10000, 19999)) as t(n)",
    )
    assert inserted.state == "SUCCEEDED", inserted.reason

    whole = _iceberg_bytes(athena, "select max(payload) as p from functions.daily")
    one_day = _iceberg_bytes(
        athena, "select max(payload) as p from functions.daily where event_date = date '2026-11-05'"
    )
    # Ten days in equal shares: one day is about a tenth of the table.
    assert 0 < one_day * 8 < whole
    by_seq = "select max(payload) as p from functions.daily where seq >= {}"
    every_write = _iceberg_bytes(athena, by_seq.format(0))
    later_write = _iceberg_bytes(athena, by_seq.format(10000))
    # The first write's files hold seq 0 to 9999: their bounds rule them out.
    assert 0 < later_write * 3 < every_write * 2

    source = (
        "(select n as id, date '2026-11-09' as event_date, cast(n as bigint) as seq, "
        "'changed' as payload from unnest(sequence(9, 99, 10)) as t(n))"
    )
    merge = (
        "merge into functions.daily as target using {source} as src "
        "on target.id = src.id{bound} "
        "when matched then update set payload = src.payload "
        "when not matched then insert (id, event_date, seq, payload) "
        "values (src.id, src.event_date, src.seq, src.payload)"
    )
    unbounded = _iceberg_bytes(athena, merge.format(source=source, bound=""))
    bounded = _iceberg_bytes(
        athena,
        merge.format(source=source, bound=" and target.event_date >= date '2026-11-09'"),
    )
    assert 0 < bounded * 5 < unbounded
    assert values(
        athena, "select count(*) as c from functions.daily where payload = 'changed'"
    ) == ["10"]


@pytest.mark.parametrize(
    "statement",
    [
        "select customer_id::varchar from customers",
        "select a, from t",
        "select * from t where",
        "merge into t using s on t.k = s.k when matched then",
    ],
)
def test_the_fast_grammar_check_rejects_with_the_full_parsers_words(statement: str) -> None:
    """check_trino_grammar's SLL pass stops at the first error; the LL parse then
    gives the same error, position included, as trino-query-parser alone."""
    with pytest.raises(TrinoSyntaxError) as fast:
        check_trino_grammar(statement)
    with pytest.raises(TrinoSyntaxError) as full:
        parse_statement(statement)
    assert (fast.value.line, fast.value.column, fast.value.msg) == (
        full.value.line,
        full.value.column,
        full.value.msg,
    )


def test_the_fast_grammar_check_accepts_what_trino_accepts() -> None:
    for statement in (
        "select 1",
        "with a as (select 1 as x) select x from a where x in (select 1) order by x nulls last",
        "merge into t using s on t.k = s.k when matched and s.v > t.v then update set v = s.v "
        "when not matched then insert (k, v) values (s.k, s.v)",
        "select json_extract_scalar(doc, '$.a') from t cross join unnest(arr) as u(x)",
    ):
        check_trino_grammar(statement)


def test_merge_takes_the_first_clause_that_holds_for_each_target_row(athena: Frontend) -> None:
    """sql/merge.md: each target row takes the first WHEN clause whose condition
    holds; a source row whose target row was deleted is not inserted too."""
    athena.s3.create_bucket(Bucket="merged")
    created = run(
        athena,
        "create table functions.merged with (table_type = 'ICEBERG', is_external = false, "
        "location = 's3://merged/t/') as "
        "select * from (values (1, 10), (2, 20), (3, 30), (4, 40)) as t(id, v)",
    )
    assert created.state == "SUCCEEDED", created.reason
    merged = run(
        athena,
        "merge into functions.merged as target using "
        "(select * from (values (1, 0), (2, -1), (3, 33), (5, 50), (6, 0)) as s(id, v)) as src "
        "on target.id = src.id "
        "when matched and src.v = 0 then delete "
        "when matched and src.v < 0 then update set v = target.v * 2 "
        "when matched and src.v > 0 then delete "
        "when not matched and src.v > 0 then insert (id, v) values (src.id, src.v)",
    )
    assert merged.state == "SUCCEEDED", merged.reason
    # 1: deleted by the first clause; 2: doubled; 3: deleted by the third;
    # 4: untouched; 5: inserted; 6: not matched and v = 0, not inserted.
    assert merged.update_count == 4
    rows = run(athena, "select id, v from functions.merged order by id").rows
    assert rows == [["2", "40"], ["4", "40"], ["5", "50"]]


def test_try_keeps_its_arguments_type(athena: Frontend) -> None:
    """conditional.md: try(expression) evaluates the expression and returns NULL
    on an invalid function argument; its type is the expression's. dbt-athena
    builds a seed's timestamp columns as coalesce(try(date_parse(...)), ...);
    datetime.md: date_parse(string, format) -> timestamp(3), MySQL's format."""
    outcome = run(
        athena,
        "select coalesce(try(date_parse(t, '%Y-%m-%d %H:%i:%s')), try(date_parse(t, '%d %M %Y'))) "
        "as parsed from (values ('2024-07-05 12:34:56'), ('5 July 2024'), ('not a date')) as v(t)",
    )
    assert outcome.state == "SUCCEEDED", outcome.reason
    assert outcome.columns == [("parsed", "timestamp(3)")]
    assert outcome.rows == [["2024-07-05 12:34:56.000"], ["2024-07-05 00:00:00.000"], [None]]
    assert fails(athena, "select date_parse('not a date', '%Y-%m-%d') as d").startswith(
        "INVALID_FUNCTION_ARGUMENT"
    )


def test_arrays_concatenate_with_the_operator_and_concat(athena: Frontend) -> None:
    """array.md: `||` concatenates an array with an array or an element of the
    same type (ARRAY[1] || ARRAY[2] is [1, 2], ARRAY[1] || 2 is [1, 2], 2 ||
    ARRAY[1] is [2, 1]); concat(array1, ..., arrayN) -> array. A table made of
    one stores an array in Glue."""
    kinds, rows = typed(
        athena,
        "select array[1] || array[2] as both, array[1] || 2 as appended, "
        "2 || array[1] as prepended, concat(array[1], array[2], array[3]) as joined, "
        "'a' || 'b' as text",
    )
    assert kinds == [
        "array(integer)",
        "array(integer)",
        "array(integer)",
        "array(integer)",
        "varchar",
    ]
    assert rows == [["[1, 2]", "[1, 2]", "[2, 1]", "[1, 2, 3]", "ab"]]
    athena.s3.create_bucket(Bucket="arrays")
    created = run(
        athena,
        "create table functions.arrays with (table_type = 'iceberg', is_external = false, "
        "location = 's3://arrays/t/') as select concat(array[1], array[2]) as ids",
    )
    assert created.state == "SUCCEEDED", created.reason
    columns = athena.catalog.glue.get_table(DatabaseName="functions", Name="arrays")["Table"][
        "StorageDescriptor"
    ]["Columns"]
    assert [(c["Name"], c["Type"]) for c in columns] == [("ids", "array<int>")]


def test_results_are_written_in_athenas_text_form(athena: Frontend) -> None:
    """GetQueryResults gives every value as text. arrays-create-maps.html: a map
    reads `{last=Smith, first=Bob, age=35}`; creating-arrays.html: an array
    `[1, 2, 3]`; rows-and-structs.html: a row `{name=Bob, age=38}`; elements
    unquoted. types.md: REAL is 32-bit, written with the digits a float32 needs;
    a double's infinities and NaN are Java's Infinity and NaN."""
    assert values(
        athena,
        "select array['a', 'b'] as letters, map(array['first', 'age'], array['Bob', '35']) as user, "
        "cast(row('Bob', 38) as row(name varchar, age integer)) as person, "
        "cast(3.1415927 as real) as pi, 1e0 / 0e0 as infinite, 0e0 / 0e0 as nan",
    ) == ["[a, b]", "{first=Bob, age=35}", "{name=Bob, age=38}", "3.1415927", "Infinity", "NaN"]


def test_the_sequence_table_function(athena: Frontend) -> None:
    """table.md: TABLE(sequence(start => bigint, stop => bigint, step => bigint))
    returns one column, sequential_number bigint, from start (0 by default) to
    stop inclusive, by step (1 by default); its columns resolve like a table's."""
    outcome = run(athena, "select * from TABLE(sequence(start => 10, stop => 1, step => -3)) as s")
    assert outcome.columns == [("sequential_number", "bigint")]
    assert sorted(int(row[0]) for row in outcome.rows) == [1, 4, 7, 10]
    assert values(
        athena,
        "select count(*), max(sequential_number) from TABLE(sequence(stop => 1000, step => 1))",
    ) == ["1001", "1000"]
    assert fails(
        athena, "select not_a_column from TABLE(sequence(start => 0, stop => 3))"
    ).startswith("COLUMN_NOT_FOUND: line 1:8: Column 'not_a_column' cannot be resolved")


def test_timestamp_literals_with_a_zone_offset(athena: Frontend) -> None:
    """types.md: TIMESTAMP '2001-08-22 03:04:05.321 America/Los_Angeles' is a
    timestamp with time zone, and two of them compare as instants. A zone may
    be an offset, short ones included (Trino's TimeZoneKey: `-0` is UTC, `+8`
    is +08:00), with or without a space before it."""
    assert values(
        athena,
        "select TIMESTAMP '2024-07-05 12:34:56.789 -00:30' = TIMESTAMP '2024-07-05 13:04:56.789 UTC', "
        "TIMESTAMP '2020-01-04 00:00:00-0' = TIMESTAMP '2020-01-04 00:00:00 UTC', "
        "TIMESTAMP '2020-01-04 08:00:00 +8' = TIMESTAMP '2020-01-04 00:00:00 UTC', "
        "TIMESTAMP '2024-07-05 12:34:56 America/New_York' = TIMESTAMP '2024-07-05 16:34:56 UTC'",
    ) == ["true", "true", "true", "true"]


def test_date_fields_are_bigints_and_chr_takes_one(athena: Frontend) -> None:
    """datetime.md: year(x), doy(x), day_of_week(x), hour(x) and extract(field
    FROM x) return bigint; string.md: chr(n) returns the character of the
    Unicode code point n, a bigint."""
    kinds, rows = typed(
        athena,
        "select year(date '2023-02-01') as y, doy(date '2023-02-01') as d, "
        "day_of_week(date '2023-02-01') as w, hour(timestamp '2023-02-01 10:00:00') as h, "
        "extract(month from date '2023-02-01') as m, chr(cast(65 as bigint)) as c",
    )
    assert kinds == ["bigint"] * 5 + ["varchar"]
    assert rows == [["2023", "32", "3", "10", "2", "A"]]


def test_subtracting_timestamps_gives_an_interval(athena: Frontend) -> None:
    """The difference of two timestamps, or two dates, is an interval day to
    second (Trino's DateTimeOperators subtract; types.md, INTERVAL DAY TO
    SECOND, written `D HH:MM:SS.mmm`); datetime.md: to_milliseconds(interval)
    -> bigint, "the day-to-second interval as milliseconds"."""
    kinds, rows = typed(
        athena,
        "select timestamp '2000-01-01 00:00:00.000' - timestamp '1999-12-31 23:59:59.999' as t, "
        "date '2000-01-03' - date '1999-12-31' as d, "
        "to_milliseconds(date '2000-01-03' - date '1999-12-31') / 86400000 as days",
    )
    assert kinds == [
        "interval day to second",
        "interval day to second",
        "bigint",
    ]
    assert rows == [["0 00:00:00.001", "3 00:00:00.000", "3"]]


def test_times_keep_their_precision_and_offset(athena: Frontend) -> None:
    """types.md: TIME '01:02:03.456' is a time(3); TIME WITH TIME ZONE keeps its
    offset (TIME '01:02:03.456 -08:00'); written with as many fraction digits
    as the precision, the offset after them."""
    kinds, rows = typed(
        athena,
        "select TIME '12:34:56' as t0, TIME '12:34:56.000' as t3, TIME '12:34:56.789 -00:30' as tz",
    )
    assert kinds == ["time(0)", "time(3)", "time(3) with time zone"]
    assert rows == [["12:34:56", "12:34:56.000", "12:34:56.789-00:30"]]
