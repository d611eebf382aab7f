"""The handlers against sample events Streamlake did not make: AWS Lambda Powertools'
tests/events/ and AWS SAM CLI's generated events (tests/fixtures/real_events/).

Whatever a sample holds, each handler lands or quarantines every record, with a
reason a user can act on, and never raises; an event that is no stream batch
at all is a clear error.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion import dynamodb_streams, kinesis
from ingestion.invocation import InvalidEventError
from ingestion.settings import Settings
from ingestion.store import LakeStore

EVENTS = Path(__file__).resolve().parent / "fixtures" / "real_events"
# What `sam local generate-event` fills the templates with when given no options:
# the defaults of samcli/lib/generated_sample_events/event-mapping.json.
SAM_DEFAULTS = {
    "region": "us-east-1",
    "partition": "aws",
    "account_id": "123456789012",
    "table": "ExampleTableWithStream",
    "partition_key": "partitionKey-03",
    "sequence": "49545115243490985018280067714973144582180062593244200961",
    "data": base64.b64encode(b"Hello, this is a test 123.").decode(),
}
STREAM_SAMPLES = sorted(
    path.relative_to(EVENTS).as_posix()
    for path in EVENTS.glob("*/*.json")
    if "Records" in path.read_text()
)
HANDLERS: dict[str, Callable[..., dict]] = {
    "kinesis": kinesis.handler,
    "dynamodb": dynamodb_streams.handler,
}


def sample(name: str, **fill: str) -> dict[str, Any]:
    text = (EVENTS / name).read_text()
    for key, value in {**SAM_DEFAULTS, **fill}.items():
        text = text.replace("{{{" + key + "}}}", value)
    assert "{{{" not in text, f"a placeholder of {name} is not filled"
    return json.loads(text)


def read(store: LakeStore, area: str) -> dict[str, pa.Table]:
    """Every file of an area, by the source folder it landed in."""
    tables: dict[str, list[pa.Table]] = {}
    for path in store.list_files(area, suffix=".parquet"):
        with store.filesystem.open_input_file(store.full_path(path)) as handle:
            tables.setdefault(path.split("/")[1], []).append(pq.read_table(handle))
    return {source: pa.concat_tables(parts) for source, parts in tables.items()}


def land(handler: str, event: dict, lake: Path, contract: str = "default") -> tuple[dict, dict]:
    settings = Settings(lake_root=str(lake), event_contract=contract, _env_file=None)
    response = HANDLERS[handler](event, None, settings=settings)
    assert response == {"batchItemFailures": []}
    store = LakeStore.from_settings(settings)
    return read(store, "bronze"), read(store, "quarantine")


def reasons(quarantine: dict[str, pa.Table]) -> dict[str, list[str]]:
    return {source: table.column("reason").to_pylist() for source, table in quarantine.items()}


def rows(tables: dict[str, pa.Table]) -> int:
    return sum(table.num_rows for table in tables.values())


@pytest.mark.parametrize("handler", sorted(HANDLERS))
@pytest.mark.parametrize("name", STREAM_SAMPLES)
def test_every_record_of_every_sample_lands_or_is_quarantined_with_a_reason(
    tmp_path, name, handler
) -> None:
    event = sample(name)
    bronze, quarantine = land(handler, event, tmp_path / "lake")
    assert rows(bronze) + rows(quarantine) == len(event["Records"])
    for table in quarantine.values():
        assert all(table.column("reason").to_pylist())
        assert table.column("original_bytes").null_count == 0


# --- Kinesis samples -------------------------------------------------------------------


@pytest.mark.parametrize("contract", ["default", "camel_case"])
@pytest.mark.parametrize(
    "name",
    ["powertools/kinesisStreamEvent.json", "powertools/kinesisStreamTumblingWindowEvent.json"],
)
def test_plain_text_payloads_are_quarantined_as_invalid_json(tmp_path, name, contract) -> None:
    event = sample(name)
    bronze, quarantine = land("kinesis", event, tmp_path / "lake", contract)
    assert bronze == {}
    # The stream's name from the ARN is the source; the text is kept as it was sent.
    assert reasons(quarantine) == {
        "lambda_stream": ["invalid JSON in payload"] * len(event["Records"])
    }
    kept = sorted(quarantine["lambda_stream"].column("original_bytes").to_pylist())
    assert kept[0] == b"Hello, this is a test."


def test_cloudwatch_logs_subscription_payloads_are_quarantined_as_gzip(tmp_path) -> None:
    event = sample("powertools/kinesisStreamCloudWatchLogsEvent.json")
    bronze, quarantine = land("kinesis", event, tmp_path / "lake")
    assert bronze == {}
    assert reasons(quarantine) == {
        "pt_1488_kinesisstreamcloudwatchlogs_d8ths0im0ajg": ["payload is gzip-compressed, not JSON"]
        * 2
    }


@pytest.mark.parametrize(
    ("contract", "reason"),
    [
        ("default", "missing required field event_id"),
        ("camel_case", "missing required field eventType"),
    ],
)
def test_a_json_payload_of_another_shape_names_the_field_it_lacks(
    tmp_path, contract, reason
) -> None:
    event = sample("powertools/kinesisStreamEventOneRecord.json")
    _, quarantine = land("kinesis", event, tmp_path / "lake", contract)
    assert reasons(quarantine) == {"lambda_stream": [reason]}


def test_a_json_payload_of_another_shape_lands_with_a_contract_for_it(tmp_path) -> None:
    contract = tmp_path / "messages.yml"
    contract.write_text(
        "columns:\n"
        "  event_id: {field: id, when_missing: 'kinesis:{shard_id}:{sequence_number}'}\n"
        "  event_type: {field: message, required: true}\n"
        "  user_id: {field: username, required: true}\n"
        "  event_time: {field: at, required: true}\n"
    )
    event = sample("powertools/kinesisStreamEventOneRecord.json")
    _, quarantine = land("kinesis", event, tmp_path / "lake", str(contract))
    # The sample has no time, so even a contract for it must quarantine it, and say so.
    assert reasons(quarantine) == {"lambda_stream": ["missing required field at"]}


def test_the_sam_kinesis_sample_names_no_stream_and_is_quarantined_whole(tmp_path) -> None:
    event = sample("sam/Kinesis.json")
    bronze, quarantine = land("kinesis", event, tmp_path / "lake")
    assert bronze == {}
    # SAM's ARN is "arn:aws:kinesis:EXAMPLE": no stream, so the record is kept whole.
    assert reasons(quarantine) == {
        "unknown": ["malformed Kinesis record: eventSourceARN names no Kinesis stream"]
    }
    (kept,) = quarantine["unknown"].column("original_bytes").to_pylist()
    assert json.loads(kept) == event["Records"][0]


def test_the_sam_kinesis_sample_with_a_stream_arn_lands_its_json_payload(tmp_path) -> None:
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
    payload = {"eventType": "click", "userId": "u-1", "timestamp": 1_428_537_600_000}
    event = sample("sam/Kinesis.json", data=base64.b64encode(json.dumps(payload).encode()).decode())
    event["Records"][0]["eventSourceARN"] = arn
    bronze, quarantine = land("kinesis", event, tmp_path / "lake", "camel_case")
    assert quarantine == {}
    (row,) = bronze["clicks"].to_pylist()
    assert (row["event_type"], row["user_id"], row["partition_key"]) == (
        "click",
        "u-1",
        "partitionKey-03",
    )
    assert row["event_id"] == f"kinesis:clicks:shardId-000000000000:{SAM_DEFAULTS['sequence']}"
    assert row["event_time"].isoformat() == "2015-04-09T00:00:00+00:00"


# --- DynamoDB samples -----------------------------------------------------------------------


def test_the_sam_dynamodb_sample_lands_under_its_table_with_values_decoded(tmp_path) -> None:
    bronze, quarantine = land("dynamodb", sample("sam/DynamoDBUpdate.json"), tmp_path / "lake")
    assert quarantine == {}
    changes = bronze["exampletablewithstream"].sort_by("sequence_number").to_pylist()
    assert [c["event_name"] for c in changes] == ["INSERT", "MODIFY", "REMOVE"]
    assert [c["is_delete"] for c in changes] == [False, False, True]
    assert all(c["table_name"] == "ExampleTableWithStream" for c in changes)
    assert all(json.loads(c["keys"]) == {"Id": 101} for c in changes)
    assert json.loads(changes[0]["new_image"]) == {"Message": "New item!", "Id": 101}
    assert json.loads(changes[1]["old_image"]) == {"Message": "New item!", "Id": 101}
    assert json.loads(changes[1]["new_image"]) == {"Message": "This item has changed", "Id": 101}
    assert changes[2]["new_image"] is None
    assert changes[0]["approximate_creation_time"].isoformat() == "2015-04-09T00:00:00+00:00"


@pytest.mark.parametrize(
    "name",
    ["powertools/dynamoStreamEvent.json", "powertools/dynamoStreamTumblingWindowEvent.json"],
)
def test_powertools_dynamodb_samples_name_no_table_and_are_quarantined(tmp_path, name) -> None:
    event = sample(name)
    bronze, quarantine = land("dynamodb", event, tmp_path / "lake")
    assert bronze == {}
    # Their ARNs ("eventsource_arn", "stream-ARN") name no table: nowhere to land them.
    assert reasons(quarantine) == {
        "unknown": ["eventSourceARN names no DynamoDB table stream"] * len(event["Records"])
    }


def test_powertools_dynamodb_samples_land_once_given_a_table_arn(tmp_path) -> None:
    event = sample("powertools/dynamoStreamTumblingWindowEvent.json")
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/Messages/stream/2020-07-30T17:00:00.000"
    for change in event["Records"]:
        change["eventSourceARN"] = arn
    bronze, quarantine = land("dynamodb", event, tmp_path / "lake")
    assert quarantine == {}
    changes = bronze["messages"].sort_by("sequence_number").to_pylist()
    assert [(c["event_name"], c["sequence_number"]) for c in changes] == [
        ("INSERT", "111"),
        ("MODIFY", "222"),
        ("REMOVE", "333"),
    ]
    # No ApproximateCreationDateTime in this sample: the column is empty, nothing made up.
    assert all(c["approximate_creation_time"] is None for c in changes)


# --- not a stream batch --------------------------------------------------------------------


@pytest.mark.parametrize("handler", sorted(HANDLERS))
def test_an_on_failure_destination_record_is_a_clear_error(tmp_path, handler) -> None:
    event = sample("powertools/dynamoStreamLambdaInvocationEvent.json")
    settings = Settings(lake_root=str(tmp_path / "lake"), _env_file=None)
    with pytest.raises(InvalidEventError, match="expected a Lambda stream event with a 'Records'"):
        HANDLERS[handler](event, None, settings=settings)
