"""Feeding Lambda batches through the real handlers, in process, as Lambda would.

A partial batch response makes the feeder retry from the first failed sequence
number, the way Lambda's event source mapping resumes a shard.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flows.demo_app.delivery import Delivery, sequence_of
from ingestion import dynamodb_streams, kinesis
from ingestion.invocation import Clock, store_for, utc_now
from ingestion.landing import sequence_key
from ingestion.settings import Settings
from ingestion.store import LakeStore

# Metrics go to CloudWatch in AWS; locally Powertools would print them to stdout.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

Handler = Callable[..., dict[str, list[dict[str, str]]]]
HANDLERS: dict[str, Handler] = {
    "kinesis": kinesis.handler,
    "dynamodb_streams": dynamodb_streams.handler,
}


@dataclass(frozen=True)
class LocalContext:
    """The parts of Lambda's context object the handlers and Powertools read."""

    function_name: str = "streamlake-local"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:streamlake-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class FeedReport:
    invocations: int = 0
    records_sent: int = 0
    retries: int = 0
    redeliveries: int = 0
    out_of_order: int = 0
    unlanded_batches: list[str] = field(default_factory=list)


def _resume_from(records: list[Any], sequence: str) -> list[Any]:
    """The records Lambda sends again: the failed one and everything after it."""
    start = sequence_key(sequence)
    kept = []
    for record in records:
        try:
            if sequence_key(sequence_of(record)) >= start:
                kept.append(record)
        except (KeyError, TypeError):
            kept.append(record)  # a malformed record is sent again with its neighbours
    return kept


def feed(
    deliveries: Iterable[Delivery],
    settings: Settings,
    store: LakeStore | None = None,
    max_attempts: int = 3,
    on_delivery: Callable[[Delivery], None] | None = None,
    clock: Clock = utc_now,
) -> FeedReport:
    store = store or store_for(settings)
    report = FeedReport()
    for delivery in deliveries:
        handler = HANDLERS[delivery.kind]
        records = delivery.event["Records"]
        report.redeliveries += delivery.note == "redelivery"
        report.out_of_order += delivery.note == "out of order"
        for attempt in range(1, max_attempts + 1):
            report.invocations += 1
            report.records_sent += len(records)
            response = handler(
                {"Records": records}, LocalContext(), settings=settings, store=store, clock=clock
            )
            failures = response["batchItemFailures"]
            if not failures:
                break
            first_failed = min((f["itemIdentifier"] for f in failures), key=sequence_key)
            records = _resume_from(records, first_failed)
            if attempt == max_attempts:
                report.unlanded_batches.append(
                    f"{delivery.source}: {len(records)} records from sequence {first_failed}"
                )
            else:
                report.retries += 1
        if on_delivery:
            on_delivery(delivery)
    return report
