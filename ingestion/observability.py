"""Structured logs and metrics with AWS Lambda Powertools, shared by both handlers."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ingestion.settings import Settings

logger = Logger(service="streamlake-ingestion")
metrics = Metrics(service="streamlake-ingestion")


def configure(settings: Settings) -> None:
    """Applied per invocation, so that importing a handler never reads settings."""
    logger.setLevel(settings.log_level)
    metrics.namespace = settings.metrics_namespace


def add_context_keys(context: Any) -> None:
    """The request id on every log line; Lambda always passes a context, tests may not."""
    request_id = getattr(context, "aws_request_id", None)
    logger.append_keys(function_request_id=request_id)


def record_summary(source_kind: str, summary: dict[str, Any]) -> None:
    """One structured JSON line per invocation, and the same counts as metrics."""
    logger.info("batch processed", extra={"source_kind": source_kind, **summary})
    metrics.add_dimension(name="source_kind", value=source_kind)
    metrics.add_metric(name="RecordsReceived", unit=MetricUnit.Count, value=summary["received"])
    metrics.add_metric(name="RecordsLanded", unit=MetricUnit.Count, value=summary["landed"])
    metrics.add_metric(
        name="RecordsQuarantined", unit=MetricUnit.Count, value=summary["quarantined"]
    )
    metrics.add_metric(name="BytesWritten", unit=MetricUnit.Bytes, value=summary["bytes"])
    metrics.add_metric(
        name="BatchItemFailures", unit=MetricUnit.Count, value=summary["failed_groups"]
    )


def send_logs_to(stream: Any) -> None:
    """Local runs write the handlers' JSON log lines to a file instead of the console."""
    handler = logger.registered_handler
    if hasattr(handler, "setStream"):
        handler.setStream(stream)
