"""Cutting the application's records into Lambda batches, with the faults of real delivery.

Lambda sends up to 10,000 Kinesis records or 1,000 DynamoDB stream records per
batch, one shard per batch. Real delivery also repeats batches, reorders them
across retries, and carries records a producer got wrong: all of that can be
asked for here, seeded and repeatable.
"""

from __future__ import annotations

import base64
import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from flows.demo_app.workload import Workload

Kind = Literal["kinesis", "dynamodb_streams"]
KINESIS_MAX_BATCH = 10_000
DYNAMODB_MAX_BATCH = 1_000


@dataclass(frozen=True)
class DeliveryConfig:
    seed: int = 7
    kinesis_batch_size: int = KINESIS_MAX_BATCH
    dynamodb_batch_size: int = DYNAMODB_MAX_BATCH
    duplicate_fraction: float = 0.0  # batches delivered a second time
    out_of_order_fraction: float = 0.0  # batches swapped with the next one of their shard
    malformed_fraction: float = 0.0  # extra records a producer got wrong

    def __post_init__(self) -> None:
        if not 1 <= self.kinesis_batch_size <= KINESIS_MAX_BATCH:
            raise ValueError(f"kinesis_batch_size must lie in 1..{KINESIS_MAX_BATCH}")
        if not 1 <= self.dynamodb_batch_size <= DYNAMODB_MAX_BATCH:
            raise ValueError(f"dynamodb_batch_size must lie in 1..{DYNAMODB_MAX_BATCH}")
        for name in ("duplicate_fraction", "out_of_order_fraction", "malformed_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie between 0 and 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Delivery:
    kind: Kind
    source: str  # table or stream name
    event: dict[str, Any]
    note: str = ""  # "redelivery" or "out of order" when a fault made this batch

    @property
    def size(self) -> int:
        return len(self.event["Records"])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _payload(record: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(record["kinesis"]["data"]))


def _with_payload(record: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return _with_data(record, _b64(json.dumps(payload).encode()))


def _with_data(record: dict[str, Any], data: str) -> dict[str, Any]:
    broken = copy.deepcopy(record)
    broken["kinesis"]["data"] = data
    return broken


def _without(payload: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != name}


# Each entry: what is wrong (the reason the handler must give) and how to break a record.
KINESIS_CORRUPTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "invalid base64": lambda r: _with_data(r, "not*base64!"),
    "invalid UTF-8": lambda r: _with_data(r, _b64(b'{"event_id": "\xff\xfe"}')),
    "invalid JSON": lambda r: _with_data(r, _b64(b'{"event_id": "e-1", ')),
    "not an object": lambda r: _with_data(r, _b64(b'["page_view", 1]')),
    "missing required field user_id": lambda r: _with_payload(r, _without(_payload(r), "user_id")),
    "field event_id must be a string": lambda r: _with_payload(r, {**_payload(r), "event_id": 42}),
    "unparseable event_time": lambda r: _with_payload(
        r, {**_payload(r), "event_time": "last tuesday"}
    ),
}


def _break_image(record: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(record)
    image = broken["dynamodb"].get("NewImage") or broken["dynamodb"].get("OldImage") or {}
    image["mystery"] = {"X": "1"}
    broken["dynamodb"]["NewImage"] = image
    return broken


def _remove_without_keys(record: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(record)
    broken["eventName"] = "REMOVE"
    broken["dynamodb"].pop("Keys", None)
    return broken


def _bad_number(record: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(record)
    broken["dynamodb"]["Keys"] = {"id": {"N": "12abc"}}
    return broken


DYNAMODB_CORRUPTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "unknown DynamoDB type descriptor": _break_image,
    "REMOVE without keys": _remove_without_keys,
    "invalid number": _bad_number,
}


def sequence_of(record: dict[str, Any]) -> str:
    """The sequence number of a Kinesis or DynamoDB Streams record."""
    if "kinesis" in record:
        return record["kinesis"]["sequenceNumber"]
    return record["dynamodb"]["SequenceNumber"]


def _set_sequence(record: dict[str, Any], sequence: str) -> None:
    if "kinesis" in record:
        record["kinesis"]["sequenceNumber"] = sequence
        shard = record["eventID"].partition(":")[0]
        record["eventID"] = f"{shard}:{sequence}"
    else:
        record["dynamodb"]["SequenceNumber"] = sequence
        record["eventID"] = f"{record['eventID']}-bad"


def _with_malformed(
    records: list[dict[str, Any]],
    corruptions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]],
    fraction: float,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Adds broken copies right after some records, with the next free sequence number.

    The simulator spaces sequence numbers, so sequence + 1 is free and the good
    records keep theirs: a run with faults holds the same good records as one without.
    """
    if fraction <= 0:
        return records
    kinds = list(corruptions.values())
    out: list[dict[str, Any]] = []
    for record in records:
        out.append(record)
        if rng.random() < fraction:
            broken = rng.choice(kinds)(record)
            _set_sequence(broken, str(int(sequence_of(record)) + 1))
            out.append(broken)
    return out


def _batches(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


def deliveries(workload: Workload, config: DeliveryConfig) -> list[Delivery]:
    """Every Lambda invocation the workload causes, in the order Lambda would make them."""
    rng = random.Random(config.seed)
    streams: list[tuple[Kind, str, list[list[dict[str, Any]]]]] = []
    for table, changes in workload.dynamodb.items():
        records = _with_malformed(changes, DYNAMODB_CORRUPTIONS, config.malformed_fraction, rng)
        streams.append(("dynamodb_streams", table, _batches(records, config.dynamodb_batch_size)))
    for shard_records in workload.kinesis.values():
        records = _with_malformed(
            shard_records, KINESIS_CORRUPTIONS, config.malformed_fraction, rng
        )
        streams.append(("kinesis", workload.stream, _batches(records, config.kinesis_batch_size)))

    per_stream: list[list[Delivery]] = []
    for kind, source, batches in streams:
        planned = [Delivery(kind, source, {"Records": batch}) for batch in batches]
        for i in range(len(planned) - 1):
            if rng.random() < config.out_of_order_fraction:
                later = planned[i + 1]
                planned[i + 1] = planned[i]
                planned[i] = Delivery(later.kind, later.source, later.event, "out of order")
        with_repeats: list[Delivery] = []
        for delivery in planned:
            with_repeats.append(delivery)
            if rng.random() < config.duplicate_fraction:
                with_repeats.append(
                    Delivery(delivery.kind, delivery.source, delivery.event, "redelivery")
                )
        per_stream.append(with_repeats)

    # Shards and tables are consumed side by side: interleave their batches.
    ordered: list[Delivery] = []
    for position in range(max((len(s) for s in per_stream), default=0)):
        ordered.extend(stream[position] for stream in per_stream if position < len(stream))
    return ordered
