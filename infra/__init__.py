"""The AWS CDK app of Streamlake (see infra/README.md)."""

import os

# Before aws_cdk starts its Node runtime: no CLI telemetry, and no banner about
# Node 20's end of life on every synthesis (Node 20 is what this machine has).
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
