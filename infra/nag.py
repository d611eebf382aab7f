"""cdk-nag acknowledgements, and IAM statements that carry theirs with them.

cdk-nag (AwsSolutions) runs on every synthesis; a finding fails it unless the
construct, or one of its parents, acknowledges that exact finding with a reason.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def flatten_cfn_reference(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it in finding ids.

    The same rendering as cdk-nag's utils/flatten-cfn-reference: Ref as <Name>,
    GetAtt as <Name.Attribute>, Fn::Join concatenated, ${x} as <x>.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_cfn_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_cfn_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def allow(
    role: iam.Role,
    actions: list[str],
    resources: list[str],
    *,
    wildcard_reason: str | None = None,
    conditions: dict[str, Any] | None = None,
) -> None:
    """Add an Allow statement of named actions to the role's policy.

    A resource with a wildcard (objects under a prefix, tables of a database)
    must come with the reason for it, which becomes the acknowledgement of
    exactly that AwsSolutions-IAM5 finding. Wildcard actions are refused.
    """
    wild_actions = [action for action in actions if "*" in action]
    if wild_actions:
        raise ValueError(f"name every action instead of {wild_actions}")
    role.add_to_policy(
        iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions)
    )
    stack = cdk.Stack.of(role)
    for resource in resources:
        flat = flatten_cfn_reference(stack.resolve(resource))
        if "*" not in flat:
            continue
        if not wildcard_reason:
            raise ValueError(f"{flat} is a wildcard resource: give the reason for it")
        acknowledge(role, f"AwsSolutions-IAM5[Resource::{flat}]", wildcard_reason)
