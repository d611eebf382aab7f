"""The handlers' code asset and dependencies layer, bundled locally without Docker.

Both use CDK's local bundling (ILocalBundling), with a Docker image only as the
fallback when uv is missing. Tests skip bundling through CDK's own switch, the
context `aws:cdk:bundling-stacks` = [], so they never download anything;
`make infra-synth` builds the real assets. What goes in is in lambda_packaging.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.lambda_packaging import (
    HANDLER_PACKAGE,
    LAYER_REQUIREMENTS,
    LAYER_SOURCE,
    RUNTIME_PACKAGES,
    check_layer_size,
    find_uv,
    layer_install_command,
    prune_layer,
    stage_handler_package,
)

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
FALLBACK_IMAGE = "public.ecr.aws/sam/build-python3.12:latest-arm64"
DOCKER_COPY_PACKAGE = (
    "mkdir -p /asset-output/ingestion/contracts && cp *.py /asset-output/ingestion/ "
    "&& cp contracts/*.yml /asset-output/ingestion/contracts/"
)
DOCKER_INSTALL_LAYER = "pip install --only-binary=:all: -r requirements.txt -t /asset-output/python"


@jsii.implements(cdk.ILocalBundling)
class CopyHandlerPackage:
    """Local bundling of the code asset: a copy of ingestion/."""

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **options: Any) -> bool:
        stage_handler_package(Path(output_dir))
        return True


@jsii.implements(cdk.ILocalBundling)
class InstallLayerWithUv:
    """Local bundling of the layer: uv installs the aarch64 wheels into python/."""

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **options: Any) -> bool:
        uv = find_uv()
        if uv is None:
            print("uv not found: bundling the Lambda layer in Docker instead", file=sys.stderr)
            return False
        python_dir = Path(output_dir) / "python"
        subprocess.run(layer_install_command(uv, LAYER_REQUIREMENTS, python_dir), check=True)
        prune_layer(python_dir)
        check_layer_size(python_dir)
        return True


def handler_code() -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(HANDLER_PACKAGE),
        exclude=["__pycache__", "*.pyc"],
        asset_hash_type=cdk.AssetHashType.SOURCE,
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry(FALLBACK_IMAGE),
            platform="linux/arm64",
            command=["bash", "-c", DOCKER_COPY_PACKAGE],
            local=CopyHandlerPackage(),
        ),
    )


def dependencies_layer(scope: Construct, construct_id: str) -> lambda_.LayerVersion:
    return lambda_.LayerVersion(
        scope,
        construct_id,
        description="Streamlake handlers' dependencies at uv.lock versions: "
        + ", ".join(RUNTIME_PACKAGES),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        code=lambda_.Code.from_asset(
            str(LAYER_SOURCE),
            # The source is requirements.txt: the hash changes when the pins do.
            asset_hash_type=cdk.AssetHashType.SOURCE,
            bundling=cdk.BundlingOptions(
                image=cdk.DockerImage.from_registry(FALLBACK_IMAGE),
                platform="linux/arm64",
                command=["bash", "-c", DOCKER_INSTALL_LAYER],
                local=InstallLayerWithUv(),
            ),
        ),
    )
