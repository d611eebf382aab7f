"""The synthesized stack's resources that the aws commands and doctor meet, created in moto.

Not CloudFormation: enough of a template to give moto what the stack would
create, with its names: the lake and results buckets, the Kinesis streams and
DynamoDB tables (with their stream view), the Glue databases and Bronze
tables, the Athena workgroup and its result location, the SSM parameters and
the Prefect key's secret. Ref, Fn::GetAtt and Fn::Join are resolved against
what moto made; every other resource type is left out (no compute runs here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Where moto's resources get their ARNs; the stack's KMS keys are not made.
ACCOUNT = "123456789012"


@dataclass
class Deployed:
    """What was made: logical id (and `id.Attribute`) -> value, by resource type."""

    values: dict[str, str] = field(default_factory=dict)
    by_type: dict[str, dict[str, str]] = field(default_factory=dict)

    def names(self, kind: str) -> dict[str, str]:
        return self.by_type.get(kind, {})

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and "Ref" in value:
            return self.values[value["Ref"]]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return self.values.get("{}.{}".format(*value["Fn::GetAtt"]), "unresolved")
        if isinstance(value, dict) and "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self.resolve(part)) for part in parts)
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def keep(self, kind: str, logical_id: str, name: str, **attributes: str) -> None:
        self.values[logical_id] = name
        self.by_type.setdefault(kind, {})[logical_id] = name
        for attribute, value in attributes.items():
            self.values[f"{logical_id}.{attribute}"] = value


def deploy(template: dict[str, Any], client: Any, region: str) -> Deployed:
    """Create the template's resources of the kinds above; `client(service)` gives a
    boto3 client of moto (in process or a server) in `region`."""
    resources = template["Resources"]
    deployed = Deployed()

    def of(kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(lid, r.get("Properties", {})) for lid, r in resources.items() if r["Type"] == kind]

    s3 = client("s3")
    for logical_id, _ in of("AWS::S3::Bucket"):
        # CloudFormation names a bucket from the stack and the logical id.
        name = f"streamlake-{logical_id.lower()}"[:63]
        location = {} if region == "us-east-1" else {"LocationConstraint": region}
        s3.create_bucket(
            Bucket=name, **({"CreateBucketConfiguration": location} if location else {})
        )
        deployed.keep("AWS::S3::Bucket", logical_id, name, Arn=f"arn:aws:s3:::{name}")
    kinesis = client("kinesis")
    for logical_id, properties in of("AWS::Kinesis::Stream"):
        name = properties["Name"]
        kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        deployed.keep("AWS::Kinesis::Stream", logical_id, name, Arn=arn["StreamARN"])
    dynamodb = client("dynamodb")
    for logical_id, properties in of("AWS::DynamoDB::Table"):
        view = properties.get("StreamSpecification", {}).get("StreamViewType")
        table = dynamodb.create_table(
            TableName=properties["TableName"],
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
            **(
                {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": view}}
                if view
                else {}
            ),
        )["TableDescription"]
        deployed.keep(
            "AWS::DynamoDB::Table",
            logical_id,
            table["TableName"],
            Arn=table["TableArn"],
            StreamArn=table.get("LatestStreamArn", ""),
        )
    glue = client("glue")
    for logical_id, properties in of("AWS::Glue::Database"):
        database = deployed.resolve(properties["DatabaseInput"])
        glue.create_database(DatabaseInput=database)
        deployed.keep("AWS::Glue::Database", logical_id, database["Name"])
    for logical_id, properties in of("AWS::Glue::Table"):
        table = deployed.resolve(properties["TableInput"])
        glue.create_table(DatabaseName=properties["DatabaseName"], TableInput=table)
        deployed.keep("AWS::Glue::Table", logical_id, table["Name"])
    athena = client("athena")
    for logical_id, properties in of("AWS::Athena::WorkGroup"):
        configuration = deployed.resolve(properties["WorkGroupConfiguration"])
        athena.create_work_group(
            Name=properties["Name"],
            Configuration={
                "ResultConfiguration": {
                    "OutputLocation": configuration["ResultConfiguration"]["OutputLocation"]
                },
                "EnforceWorkGroupConfiguration": configuration["EnforceWorkGroupConfiguration"],
                "EngineVersion": configuration["EngineVersion"],
            },
        )
        deployed.keep("AWS::Athena::WorkGroup", logical_id, properties["Name"])
    ssm = client("ssm")
    for logical_id, properties in of("AWS::SSM::Parameter"):
        ssm.put_parameter(
            Name=properties["Name"], Value=deployed.resolve(properties["Value"]), Type="String"
        )
        deployed.keep("AWS::SSM::Parameter", logical_id, properties["Name"])
    secrets = client("secretsmanager")
    for logical_id, properties in of("AWS::SecretsManager::Secret"):
        # The generated placeholder the stack leaves for the operator to replace.
        secrets.create_secret(Name=properties["Name"], SecretString="generated-placeholder")
        deployed.keep("AWS::SecretsManager::Secret", logical_id, properties["Name"])
    return deployed
