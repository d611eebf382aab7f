"""Alarms to an encrypted SNS topic, and the SSM parameters the project's settings read."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.config import InfraConfig
from infra.lambdas import METRICS_NAMESPACE, Ingestion
from ingestion.ssm_parameters import PUBLISHED_SETTINGS, parameter_name

# How the handlers publish their metrics (ingestion/observability.py, Powertools EMF).
METRICS_SERVICE = "streamlake-ingestion"
SOURCE_KINDS = {"Kinesis": "kinesis", "DynamoDb": "dynamodb_streams"}
FIVE_MINUTES = cdk.Duration.minutes(5)


class Operations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InfraConfig,
        ingestion: Ingestion,
        published: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self._alarm_source_arn = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name="*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

        # CloudWatch cannot publish to a topic under the AWS-managed SNS key.
        self.key = kms.Key(
            self,
            "AlarmsKey",
            alias=f"alias/{config.name_prefix}-alarms",
            description="Encrypts the Streamlake alarms topic.",
            enable_key_rotation=True,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "Alarms",
            display_name=f"Streamlake {config.env_name} alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnLike": {"aws:SourceArn": self._alarm_source_arn}},
            )
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))

        self.alarms: list[cloudwatch.Alarm] = []
        for name, handler in (("Kinesis", ingestion.kinesis), ("DynamoDb", ingestion.dynamodb)):
            if handler is None:  # an application without sources of that kind
                continue
            function = handler.function
            self._alarm(
                f"{name}Errors",
                f"The {name} handler failed an invocation: Lambda retries, then bisects the batch.",
                function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                threshold=1,
            )
            self._alarm(
                f"{name}IteratorAge",
                f"The {name} handler is more than {config.iterator_age_alarm_minutes} minutes "
                "behind its stream.",
                function.metric("IteratorAge", period=cdk.Duration.minutes(1), statistic="Maximum"),
                threshold=config.iterator_age_alarm_minutes * 60_000,
                evaluation_periods=5,
            )
            self._alarm(
                f"{name}BatchItemFailures",
                f"The {name} handler could not write a batch to the lake and asked for a retry.",
                cloudwatch.Metric(
                    namespace=METRICS_NAMESPACE,
                    metric_name="BatchItemFailures",
                    dimensions_map={"service": METRICS_SERVICE, "source_kind": SOURCE_KINDS[name]},
                    period=FIVE_MINUTES,
                    statistic="Sum",
                ),
                threshold=1,
            )
        self._alarm(
            "DeadLetters",
            "A batch gave up after its retries: its shard position is in the dead-letter queue.",
            ingestion.dead_letters.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            threshold=1,
        )

        missing = set(PUBLISHED_SETTINGS) ^ set(published)
        if missing:
            raise ValueError(f"published settings do not match PUBLISHED_SETTINGS: {missing}")
        self.parameters = {
            setting: ssm.StringParameter(
                self,
                f"Setting-{setting}",
                parameter_name=parameter_name(config.ssm_prefix, setting),
                string_value=published[setting],
                description=PUBLISHED_SETTINGS[setting],
                tier=ssm.ParameterTier.STANDARD,
            )
            for setting in PUBLISHED_SETTINGS
        }

    def _alarm(
        self,
        name: str,
        description: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        evaluation_periods: int = 1,
    ) -> None:
        alarm = metric.create_alarm(
            self,
            name,
            alarm_description=description,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.notify(alarm)

    def notify(self, alarm: cloudwatch.Alarm) -> None:
        """Send the alarm's changes, into alarm and back to OK, to the alarm topic."""
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
