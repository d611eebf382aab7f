"""What the stack wired, published for `streamlake doctor`: each Bronze source and its origin.

One String parameter, `<ssm prefix>/sources`: JSON from each Bronze source to the
DynamoDB table (name and the stream ARN the handler reads) or the Kinesis stream
(name and ARN) that feeds it: every source of the application file, created
by the stack or existing. Doctor checks each one it lists, so it names no
source of its own.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.config import InfraConfig
from infra.sources import Sources
from ingestion.ssm_parameters import SOURCES_PARAMETER, parameter_name


def sources_document(sources: Sources) -> dict[str, dict[str, str]]:
    """Bronze source -> {"kind": "dynamodb", "table_name", "stream_arn"} or
    {"kind": "kinesis", "stream_name", "stream_arn"} (ARNs may be tokens here)."""
    document = {
        source: {
            "kind": "kinesis",
            "stream_name": wired.stream_name,
            "stream_arn": wired.stream_arn,
        }
        for source, wired in sources.kinesis.items()
    }
    for source, wired in sources.dynamodb.items():
        document[source] = {
            "kind": "dynamodb",
            "table_name": wired.table_name,
            "stream_arn": wired.stream_arn,
        }
    return document


def publish_sources(scope: Construct, config: InfraConfig, sources: Sources) -> ssm.StringParameter:
    return ssm.StringParameter(
        scope,
        "PublishedSources",
        parameter_name=parameter_name(config.ssm_prefix, SOURCES_PARAMETER),
        # Resolved at deploy: the ARNs of the tables and stream the stack creates.
        string_value=cdk.Stack.of(scope).to_json_string(sources_document(sources)),
        description="JSON: each Bronze source and the DynamoDB table or Kinesis stream "
        "that feeds it (read by streamlake doctor).",
        # Standard up to 4 KB; many sources may need the advanced tier's 8 KB.
        tier=ssm.ParameterTier.INTELLIGENT_TIERING,
    )
