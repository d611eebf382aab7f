"""The Kinesis payload contract: producers of another shape land by configuration.

With ingestion/contracts/camel_case.yml, camelCase events (eventType, userId,
sessionId, timestamp in epoch milliseconds, no event id, extra top-level
fields) land in Bronze with the right columns; bad ones are quarantined with a
reason that names the producer's field. A contract that cannot be used stops
the start with one line that says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
from moto import mock_aws
from pydantic import ValidationError

from ingestion import kinesis, kinesis_decode
from ingestion.event_contract import (
    CONTRACTS_DIR,
    ContractError,
    load_contract,
    parse_text,
)
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import SEQUENCE_BASE, SHARD, kinesis_rec, read_area

REPO = Path(__file__).resolve().parent.parent
MILLIS = 1_763_640_000_123  # 2025-11-20 12:00:00.123 UTC


def camel(n: int, **overrides: Any) -> dict[str, Any]:
    """A camelCase event as such producers send it: no event id, epoch-ms time, flat extras."""
    payload = {
        "eventType": "product_view",
        "userId": f"u-{n}",
        "sessionId": f"s-{n // 2}",
        "timestamp": MILLIS + n,
        "productId": f"p-{n}",
        "referrer": {"site": "search", "terms": ["blue", "shoes"]},
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not DROP}


DROP = object()  # camel(n, field=DROP) leaves the field out


def record(n: int, payload: dict[str, Any] | bytes) -> dict[str, Any]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return kinesis_rec(n, data)


def land(records: list, lake: Path, contract: str) -> tuple[pa.Table | None, pa.Table | None]:
    settings = Settings(lake_root=str(lake), event_contract=contract)
    response = kinesis.handler({"Records": records}, None, settings=settings)
    assert response == {"batchItemFailures": []}
    store = LakeStore.from_settings(settings)
    return read_area(store, "bronze", "events"), read_area(store, "quarantine", "events")


def by_sequence(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {row["sequence_number"]: row for row in table.to_pylist()}


def sequence(n: int) -> str:
    return str(SEQUENCE_BASE + n * 10)


# --- camel case lands -----------------------------------------------------------------


@pytest.fixture(scope="module")
def camel_landing(tmp_path_factory) -> tuple[pa.Table, pa.Table]:
    good = [record(n, camel(n)) for n in range(6)]
    bad = [
        record(100, camel(100, userId=DROP)),
        record(101, camel(101, eventType=7)),
        record(102, camel(102, timestamp="yesterday")),
        record(103, camel(103, timestamp=True)),
        record(104, camel(104, timestamp=DROP)),
        record(105, camel(105, userId="")),
        record(106, camel(106, sessionId=["s"])),
        record(107, camel(107, timestamp=1e300)),
    ]
    bronze, quarantine = land(good + bad, tmp_path_factory.mktemp("camel") / "lake", "camel_case")
    assert bronze is not None and quarantine is not None
    return bronze, quarantine


def test_camel_case_events_land_with_their_columns(camel_landing) -> None:
    bronze, _ = camel_landing
    rows = by_sequence(bronze)
    assert set(rows) == {sequence(n) for n in range(6)}
    first = rows[sequence(1)]
    assert first["event_type"] == "product_view"
    assert first["user_id"] == "u-1"
    assert first["session_id"] == "s-0"
    # Epoch milliseconds, exact to the millisecond.
    assert first["event_time"] == datetime(2025, 11, 20, 12, 0, 0, 124000, tzinfo=UTC)
    assert all(
        rows[sequence(n)]["event_time"]
        == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=MILLIS + n)
        for n in range(6)
    )
    # Columns the contract does not name land empty; nothing is made up.
    assert first["properties"] is None
    assert first["geo_country"] is None and first["device_type"] is None


def test_extra_top_level_fields_are_kept(camel_landing) -> None:
    bronze, _ = camel_landing
    first = by_sequence(bronze)[sequence(1)]
    assert json.loads(first["extra_fields"]) == {
        "productId": "p-1",
        "referrer": {"site": "search", "terms": ["blue", "shoes"]},
    }


def test_an_extra_field_given_twice_is_kept_with_its_last_value(tmp_path) -> None:
    # DuckDB's map refuses a key given twice; such a payload is done in Python.
    text = b'{"eventType": "v", "userId": "u", "timestamp": 5, "x": 1, "x": 2, "y": [3]}'
    bronze, _ = land([record(1, text), record(2, camel(2))], tmp_path / "lake", "camel_case")
    extras = {row["sequence_number"]: row["extra_fields"] for row in bronze.to_pylist()}
    assert json.loads(extras[sequence(1)]) == {"x": 2, "y": [3]}
    assert json.loads(extras[sequence(2)])["productId"] == "p-2"


def test_extra_fields_are_the_same_from_the_decoding_pass_and_from_the_follow_up() -> None:
    contract = load_contract("camel_case")
    records = [record(n, camel(n)) for n in range(4)] + [record(9, camel(9, productId=DROP))]
    columns = kinesis._columns(records)

    def decode() -> pa.Table:
        return kinesis_decode.decode_events(
            columns, "events", SHARD, datetime.now(UTC), 4096, "events", contract
        ).good

    kinesis_decode._ExtrasSeen._share.clear()
    assert not kinesis_decode._ExtrasSeen.likely(contract)
    follow_up = decode()  # a follow-up query for the flagged records
    assert kinesis_decode._ExtrasSeen.likely(contract)
    in_pass = decode()  # most records had some: now in the decoding query itself
    assert in_pass.column("extra_fields").equals(follow_up.column("extra_fields"))
    extras = [json.loads(text) for text in in_pass.column("extra_fields").to_pylist()]
    assert extras[0] == {
        "productId": "p-0",
        "referrer": {"site": "search", "terms": ["blue", "shoes"]},
    }
    assert extras[4] == {"referrer": {"site": "search", "terms": ["blue", "shoes"]}}


def test_an_event_without_an_id_gets_one_from_its_place_in_the_stream(camel_landing) -> None:
    bronze, _ = camel_landing
    rows = by_sequence(bronze)
    ids = [rows[sequence(n)]["event_id"] for n in range(6)]
    assert len(set(ids)) == len(ids)
    assert ids[0] == f"kinesis:events:{SHARD}:{sequence(0)}"


def test_a_redelivered_record_keeps_its_derived_id(camel_landing, tmp_path) -> None:
    bronze, _ = camel_landing
    first_ids = {row["sequence_number"]: row["event_id"] for row in bronze.to_pylist()}
    # Redelivered in another batch, with other neighbours: Silver sees the same id.
    again, _ = land([record(3, camel(3)), record(50, camel(50))], tmp_path / "lake", "camel_case")
    ids = {row["sequence_number"]: row["event_id"] for row in again.to_pylist()}
    assert ids[sequence(3)] == first_ids[sequence(3)]
    assert ids[sequence(50)] not in first_ids.values()


def test_an_id_the_producer_sends_wins_and_an_empty_one_counts_as_missing(tmp_path) -> None:
    bronze, _ = land(
        [record(1, camel(1, eventId="evt-1")), record(2, camel(2, eventId=""))],
        tmp_path / "lake",
        "camel_case",
    )
    ids = {row["sequence_number"]: row["event_id"] for row in bronze.to_pylist()}
    assert ids == {sequence(1): "evt-1", sequence(2): f"kinesis:events:{SHARD}:{sequence(2)}"}


def test_bad_camel_case_events_are_quarantined_naming_the_producers_field(camel_landing) -> None:
    _, quarantine = camel_landing
    reasons = {row["sequence_number"]: row["reason"] for row in quarantine.to_pylist()}
    assert reasons == {
        sequence(100): "missing required field userId",
        sequence(101): "field eventType must be a string, got ubigint",
        sequence(102): 'unparseable timestamp "yesterday"',
        sequence(103): "field timestamp must be a number, got boolean",
        sequence(104): "missing required field timestamp",
        sequence(105): "missing required field userId",
        sequence(106): "field sessionId must be a string, got array",
        sequence(107): "unparseable timestamp 1e+300",
    }


def test_snake_case_events_under_the_camel_case_contract_are_quarantined_not_mislanded(
    tmp_path,
) -> None:
    bronze, quarantine = land([kinesis_rec(1)], tmp_path / "lake", "camel_case")
    assert bronze is None
    assert quarantine.column("reason").to_pylist() == ["missing required field eventType"]


# --- other contracts: epoch seconds, ISO or epoch, nested paths ---------------------------


def write_contract(tmp_path: Path, text: str, name: str = "contract.yml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


NESTED = """
columns:
  event_id: {field: $.meta.id, required: true, non_empty: true}
  event_type: {field: meta.kind, required: true}
  user_id: {field: $.actor.id, required: true}
  event_time: {field: meta.at, required: true, forms: [epoch_seconds]}
  geo_country: actor.country
  properties: data
"""


def test_epoch_seconds_and_nested_json_paths(tmp_path) -> None:
    contract = write_contract(tmp_path, NESTED)
    good = {
        "meta": {"id": "m-1", "kind": "signup", "at": 1_763_640_000.123456},
        "actor": {"id": "a-1", "country": "FR"},
        "data": {"plan": "pro"},
        "trace": "t-1",
    }
    whole_seconds = {**good, "meta": {**good["meta"], "id": "m-2", "at": "1763640000"}}
    bad = [
        {**good, "meta": "m-3"},
        {**good, "actor": {"country": "FR"}},
        {**good, "meta": {**good["meta"], "at": "soon"}},
    ]
    records = [record(1, good), record(2, whole_seconds)] + [
        record(10 + i, payload) for i, payload in enumerate(bad)
    ]
    bronze, quarantine = land(records, tmp_path / "lake", contract)

    rows = by_sequence(bronze)
    first = rows[sequence(1)]
    assert first["event_time"] == datetime(2025, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)
    assert rows[sequence(2)]["event_time"] == datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
    assert (first["event_id"], first["event_type"], first["user_id"]) == ("m-1", "signup", "a-1")
    assert first["geo_country"] == "FR"
    assert json.loads(first["properties"]) == {"plan": "pro"}
    assert json.loads(first["extra_fields"]) == {"trace": "t-1"}
    reasons = sorted(quarantine.column("reason").to_pylist())
    assert reasons == [
        "field meta must be an object, got varchar",
        "missing required field actor.id",
        'unparseable meta.at "soon"',
    ]


def test_a_contract_may_accept_iso_8601_and_epoch_milliseconds(tmp_path) -> None:
    text = (CONTRACTS_DIR / "camel_case.yml").read_text()
    contract = write_contract(
        tmp_path, text.replace("forms: [epoch_millis]", "forms: [iso8601, epoch_millis]")
    )
    bronze, quarantine = land(
        [
            record(1, camel(1, timestamp="2025-11-20T13:00:00.5+01:00")),
            record(2, camel(2, timestamp=MILLIS)),
            record(3, camel(3, timestamp=False)),
        ],
        tmp_path / "lake",
        contract,
    )
    times = {row["sequence_number"]: row["event_time"] for row in bronze.to_pylist()}
    assert times == {
        sequence(1): datetime(2025, 11, 20, 12, 0, 0, 500000, tzinfo=UTC),
        sequence(2): datetime(2025, 11, 20, 12, 0, 0, 123000, tzinfo=UTC),
    }
    assert quarantine.column("reason").to_pylist() == [
        "field timestamp must be a number or a string, got boolean"
    ]


def test_the_default_contract_is_the_shape_the_handler_always_knew() -> None:
    default = load_contract("default")
    assert default.top_level_fields == (
        "event_id",
        "event_type",
        "user_id",
        "session_id",
        "event_time",
        "properties",
        "geo",
        "device",
    )
    assert Settings(_env_file=None).event_contract == "default"


def test_the_query_is_generated_once_per_contract() -> None:
    camel_case = load_contract("camel_case")
    assert kinesis_decode._query(4096, camel_case) is kinesis_decode._query(4096, camel_case)
    assert kinesis_decode._query(4096, camel_case) != kinesis_decode._query(4096)
    assert "'missing required field eventType'" in kinesis_decode._query(4096, camel_case)


# --- contracts that cannot be used ---------------------------------------------------------

VALID = (CONTRACTS_DIR / "camel_case.yml").read_text()

BROKEN = [
    ("columns:\n  event_type: eventType\n  colour: hue\n", "unknown column 'colour'"),
    (VALID + "  stream: streamName\n", "column stream comes from the Kinesis envelope"),
    (VALID.replace("field: userId", "field: 'user[0]'"), "user_id.field 'user[0]' is not a path"),
    (VALID.replace("field: userId", "field: user..id"), "is not a path"),
    (VALID.replace("[epoch_millis]", "[epoch_nanos]"), "unknown timestamp form 'epoch_nanos'"),
    (
        VALID.replace("[epoch_millis]", "[epoch_millis, epoch_seconds]"),
        "epoch_seconds and epoch_millis together",
    ),
    (VALID.replace("{field: userId, required: true", "{field: userId"), "user_id may not be empty"),
    (
        VALID.replace("{sequence_number}", "{shard}"),
        "when_missing names {shard}",
    ),
    (VALID.replace("required: true}", "required: yes please}", 1), "must be true or false"),
    (VALID.replace("session_id: sessionId", "session_id: {field: s, colour: red}"), "unknown key"),
    ("columns: [eventType\n", "not valid YAML at line 2"),
    ("- just\n- a list\n", "expected a mapping with a 'columns' key"),
    ("columns:\n  event_id: {field: id, required: true}\n", "column event_type is not optional"),
    (
        "columns:\n  event_id: {field: id, required: true}\n  event_type: {field: t, required: true}"
        "\n  user_id: {field: u, required: true}\n  event_time: {field: at, required: true}"
        "\n  geo_country: at.country\n",
        "field at feeds event_time and is also the object",
    ),
]


@pytest.mark.parametrize(("text", "problem"), BROKEN, ids=[p for _, p in BROKEN])
def test_a_contract_that_cannot_be_used_is_one_clear_line(tmp_path, text, problem) -> None:
    path = write_contract(tmp_path, text, "shop.yml")
    with pytest.raises(ContractError) as raised:
        load_contract(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"event contract {path}: ")
    assert problem in message


def test_a_missing_contract_file_or_name_is_one_clear_line(tmp_path) -> None:
    with pytest.raises(ContractError, match=r"shop\.yml: no such file$"):
        load_contract(str(tmp_path / "shop.yml"))
    with pytest.raises(ContractError, match="no shipped contract of that name"):
        load_contract("kebab_case")


def test_settings_refuse_a_broken_contract_at_start(tmp_path) -> None:
    path = write_contract(tmp_path, VALID.replace("[epoch_millis]", "[epoch_nanos]"))
    with pytest.raises(ValidationError, match="unknown timestamp form 'epoch_nanos'"):
        Settings(event_contract=path, _env_file=None)
    with pytest.raises(ValidationError, match="not an SSM parameter name"):
        Settings(event_contract="ssm:event_contract", _env_file=None)


def test_the_cli_reports_a_broken_contract_in_one_line_without_a_traceback(tmp_path) -> None:
    path = write_contract(tmp_path, "columns:\n  event_type: eventType\n  colour: hue\n")
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "inventory", "--lake-root", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "STREAMLAKE_EVENT_CONTRACT": path, "HOME": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "unknown column 'colour'" in lines[0]
    assert "Value error" not in lines[0]  # pydantic's prefix is not for users


def test_the_cli_prints_an_ssm_reference_as_typed(tmp_path) -> None:
    """Text like `ssm:x:` is neither an emoji code nor markup to the CLI's console."""
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "inventory", "--lake-root", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "STREAMLAKE_EVENT_CONTRACT": "ssm:smile:",
            "HOME": str(tmp_path),
        },
        check=False,
    )
    assert result.returncode == 2
    assert "ssm:smile:" in result.stderr, result.stderr


# --- the contract in SSM, as the CDK app publishes a contract file ----------------------


@pytest.fixture
def ssm(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield boto3.client("ssm", region_name="eu-west-1")


def test_the_handler_reads_its_contract_from_ssm(ssm, tmp_path) -> None:
    parameter = "/streamlake/test/event_contract"
    ssm.put_parameter(Name=parameter, Value=VALID, Type="String")
    settings = Settings(
        lake_root=str(tmp_path / "lake"),
        aws_region="eu-west-1",
        event_contract=f"ssm:{parameter}",
        _env_file=None,
    )
    kinesis.handler({"Records": [record(1, camel(1))]}, None, settings=settings)
    bronze = read_area(LakeStore.from_settings(settings), "bronze", "events")
    assert bronze.column("user_id").to_pylist() == ["u-1"]


def test_a_broken_contract_in_ssm_is_one_clear_line(ssm) -> None:
    ssm.put_parameter(
        Name="/streamlake/test/broken_contract", Value="columns: [oops\n", Type="String"
    )
    with pytest.raises(ContractError) as raised:
        load_contract("ssm:/streamlake/test/broken_contract", "eu-west-1")
    assert str(raised.value).startswith(
        "event contract ssm:/streamlake/test/broken_contract: not valid YAML"
    )
    with pytest.raises(ContractError, match="cannot read the parameter"):
        load_contract("ssm:/streamlake/test/nothing_here", "eu-west-1")


def test_parse_text_names_where_the_contract_came_from() -> None:
    with pytest.raises(ContractError, match=r"^event contract somewhere: columns must map"):
        parse_text("columns: {}\n", "somewhere")
