"""The AWS CDK app of Streamlake: buckets, handlers, Glue, Athena, the runner (see infra/README.md).
May import ingestion and flows.log_marks (the log lines its alarms match)."""

import os

# Before aws_cdk starts its Node runtime: no CLI telemetry, and no banner about
# Node 20's end of life on every synthesis (Node 20 is what this machine has).
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
