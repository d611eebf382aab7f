"""Entry point of the CDK app.

With the CDK CLI, from infra/: `npx aws-cdk@2.1148.1 synth` (or deploy); the CLI
reads cdk.json and passes `-c key=value` context. Without it, from anywhere:
`python infra/app.py [key=value ...]` synthesizes into infra/cdk.out with the
same cdk.json context. Either way it runs offline, with no credentials needed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The app imports the project's own `ingestion` package (the Bronze schemas) and
# `infra` as a package, so the repository root goes on the path however it runs.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk

from infra.config import InfraConfig
from infra.stack import StreamlakeStack, add_streamlake

HERE = Path(__file__).resolve().parent
# The CLI passes cdk.json's context, with its -c values, in one of these.
CLI_CONTEXT_VARIABLES = ("CDK_CONTEXT_JSON", "CDK_CONTEXT_OVERFLOW_LOCATION")


def app_from_arguments(arguments: list[str]) -> cdk.App:
    if any(name in os.environ for name in CLI_CONTEXT_VARIABLES):
        return cdk.App()
    context = json.loads((HERE / "cdk.json").read_text())["context"]
    for argument in arguments:
        key, separator, value = argument.partition("=")
        if not separator:
            raise SystemExit(f"expected key=value, got {argument!r}")
        context[key] = value
    return cdk.App(context=context, outdir=os.environ.get("CDK_OUTDIR", str(HERE / "cdk.out")))


@contextmanager
def no_credentials(outdir: Path) -> Iterator[None]:
    """No AWS account, region or credentials in the environment while the block runs:
    a synthesis that looked anything up would fail instead of reaching AWS."""
    saved = {
        name: os.environ.pop(name)
        for name in list(os.environ)
        if name.startswith(("AWS_", "CDK_DEFAULT_"))
    }
    os.environ["AWS_CONFIG_FILE"] = str(outdir / "no-config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(outdir / "no-credentials")
    try:
        yield
    finally:
        for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(name, None)
        os.environ.update(saved)


def synthesize(configs: list[InfraConfig], outdir: Path) -> dict[str, dict[str, Any]]:
    """The templates of one stack per config, offline: no asset is built (CDK's own
    switch skips bundling), nothing is looked up, no credential is at hand. For
    tests and bench/aws_cost.py."""
    context = json.loads((HERE / "cdk.json").read_text())["context"]
    context["aws:cdk:bundling-stacks"] = []
    with no_credentials(outdir):
        app = cdk.App(context=context, outdir=str(outdir), stack_traces=False)
        stacks = [StreamlakeStack(app, config) for config in configs]
        assembly = app.synth()
    return {s.stack_name: assembly.get_stack_by_name(s.stack_name).template for s in stacks}


def main() -> None:
    app = app_from_arguments(sys.argv[1:])
    add_streamlake(app)
    app.synth()


if __name__ == "__main__":
    main()
