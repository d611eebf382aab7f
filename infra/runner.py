"""The runner: `streamlake serve` on ECS Fargate, against Prefect Cloud or a Prefect server.

One task serves every deployment of flows/deployments.py (transform, maintenance,
backfill, export) as the runner role, from the image of the repository's
Dockerfile, which CDK builds at deploy time. It has no inbound port: it polls the
Prefect API for scheduled runs. Its log group feeds a metric of finished
transforms, and an alarm fires when three intervals pass without one.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from flows.log_marks import TRANSFORM_FINISHED
from infra.access import ecs_tasks
from infra.checkov import skip
from infra.config import LOG_RETENTION_DAYS, TRANSFORM_SILENT_INTERVALS, InfraConfig
from infra.lambdas import METRICS_NAMESPACE
from infra.nag import acknowledge
from infra.operations import Operations
from infra.storage import LakeStorage
from ingestion.ssm_parameters import (
    PLACEHOLDER_API_URL,
    PREFECT_API_URL_PARAMETER,
    prefect_key_secret_name,
)

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = "Dockerfile"
# The image's ENTRYPOINT and CMD, and the task's command: together the README's command.
RUNNER_ENTRYPOINT = ("streamlake",)
RUNNER_ARGUMENTS = ("serve",)
RUNNER_COMMAND = "streamlake serve"
# Prefect's runner webserver (PREFECT_RUNNER_SERVER_ENABLE, set in the Dockerfile):
# /health answers 200 while the runner has polled the Prefect API lately, else 503.
HEALTH_PORT = 8080
HEALTH_URL = f"http://127.0.0.1:{HEALTH_PORT}/health"
# The same check as the Dockerfile's HEALTHCHECK (ECS ignores an image's own).
HEALTH_CHECK_COMMAND = (
    "python",
    "-c",
    f"import urllib.request; urllib.request.urlopen('{HEALTH_URL}', timeout=5)",
)
HEALTH_INTERVAL_SECONDS, HEALTH_TIMEOUT_SECONDS, HEALTH_RETRIES = 30, 10, 3
# Importing dbt and Prefect and registering the deployments comes before the first poll.
HEALTH_START_PERIOD_SECONDS = 120
# Fargate's most: time for a flow run stopped by a deployment to end and release
# the writer lease.
STOP_TIMEOUT_SECONDS = 120
TRANSFORMS_FINISHED_METRIC = "TransformsFinished"
NO_TASK_WARNING = "@streamlake/runner:noTask"
AVAILABILITY_ZONES = 2
# config.runner_architecture: the task's CPU and the platform its image is built for.
ARCHITECTURES = {
    "arm64": (ecs.CpuArchitecture.ARM64, ecr_assets.Platform.LINUX_ARM64),
    "x86_64": (ecs.CpuArchitecture.X86_64, ecr_assets.Platform.LINUX_AMD64),
}
# What the runner and the ECS agent call, when no NAT carries them. Not KMS: S3,
# Athena and Secrets Manager decrypt on their side; no client here calls KMS.
INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,  # image manifest
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,  # image layers (from S3)
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,  # awslogs driver
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,  # settings, PREFECT_API_URL
    "Athena": ec2.InterfaceVpcEndpointAwsService.ATHENA,  # dbt-athena, the flows
    "Glue": ec2.InterfaceVpcEndpointAwsService.GLUE,  # dbt-athena's catalog calls
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,  # dbt-athena's get_caller_identity
}
# checkov's Lambda checks against CDK's own provider that empties the default group.
DEFAULT_GROUP_PROVIDER_SKIPS = {
    "CKV_AWS_115": "CDK's provider that removes the default security group's rules runs only "
    "when CloudFormation changes the VPC, once at a time; a reservation adds nothing.",
    "CKV_AWS_116": "CDK's provider is invoked synchronously by CloudFormation, which reports "
    "its failure in the stack's events; a dead-letter queue applies to async calls only.",
    "CKV_AWS_117": "CDK's provider calls only EC2's API, at deploy; in the VPC it edits it "
    "would need the very endpoints or NAT it has no use for.",
}
SECRETS_ENDPOINT = ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER)


class Runner(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InfraConfig,
        storage: LakeStorage,
        role: iam.Role,
        operations: Operations,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        stack = cdk.Stack.of(self)

        self.vpc, subnets = self._network(storage)
        self.security_group = self._security_group()
        self._interface_endpoints(subnets)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED
                if config.runner_container_insights
                else ecs.ContainerInsights.DISABLED
            ),
        )
        if not config.runner_container_insights:
            reason = (
                "runner_container_insights=false, the low-cost configuration chosen in "
                "context: the runner's health check and its TransformStopped alarm (from "
                "its log) stay; per-task CPU and memory metrics go."
            )
            acknowledge(self.cluster, "AwsSolutions-ECS4", reason)
            skip(self.cluster, "CKV_AWS_65", reason)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays[LOG_RETENTION_DAYS[config.log_retention_days]],
            encryption_key=storage.logs_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.api_url = ssm.StringParameter(
            self,
            "PrefectApiUrl",
            parameter_name=f"{config.ssm_prefix}/{PREFECT_API_URL_PARAMETER}",
            string_value=config.prefect_api_url or PLACEHOLDER_API_URL,
            description=f"PREFECT_API_URL of the runner (Prefect {config.prefect_api}).",
            tier=ssm.ParameterTier.STANDARD,
        )
        secrets = {"PREFECT_API_URL": ecs.Secret.from_ssm_parameter(self.api_url)}
        self.api_key: secretsmanager.ISecret | None = None
        if config.prefect_api == "cloud":
            self.api_key = self._api_key()
            secrets["PREFECT_API_KEY"] = ecs.Secret.from_secrets_manager(self.api_key)

        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=ecs_tasks(stack),
            description="Streamlake runner's ECS agent: pulls the image, writes the log, "
            "reads the Prefect API URL and key.",
        )
        cpu_architecture, image_platform = ARCHITECTURES[config.runner_architecture]
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            family=f"{config.name_prefix}-runner",
            cpu=config.runner_cpu,
            memory_limit_mib=config.runner_memory_mb,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=cpu_architecture,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_role=role,
            execution_role=self.execution_role,
        )
        self.container = self.task_definition.add_container(
            "Runner",
            image=ecs.ContainerImage.from_asset(
                str(REPOSITORY_ROOT),
                file=DOCKERFILE,
                ignore_mode=cdk.IgnoreMode.DOCKER,
                platform=image_platform,
            ),
            # The image's ENTRYPOINT is `streamlake`; said again here so the task
            # definition shows what runs.
            command=list(RUNNER_ARGUMENTS),
            environment={
                "STREAMLAKE_TARGET": "aws",
                "STREAMLAKE_SSM_PREFIX": config.ssm_prefix,
                "STREAMLAKE_AWS_REGION": stack.region,
                # The schedule the alarm below expects.
                "STREAMLAKE_TRANSFORM_INTERVAL_SECONDS": str(config.transform_interval_seconds),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            },
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="runner",
                log_group=self.log_group,
                # Never stall the flows on CloudWatch; a lost line costs little (the
                # alarm waits three intervals).
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=cdk.Size.mebibytes(25),
            ),
            health_check=ecs.HealthCheck(
                command=["CMD", *HEALTH_CHECK_COMMAND],
                interval=cdk.Duration.seconds(HEALTH_INTERVAL_SECONDS),
                timeout=cdk.Duration.seconds(HEALTH_TIMEOUT_SECONDS),
                retries=HEALTH_RETRIES,
                start_period=cdk.Duration.seconds(HEALTH_START_PERIOD_SECONDS),
            ),
            # An init process forwards SIGTERM to `streamlake` and reaps dbt's children.
            linux_parameters=ecs.LinuxParameters(self, "Linux", init_process_enabled=True),
            stop_timeout=cdk.Duration.seconds(STOP_TIMEOUT_SECONDS),
        )
        acknowledge(
            self.execution_role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken, which pulling the image needs, supports no "
            "resource-level permission; the pulls themselves are granted on the asset "
            "repository only.",
        )
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The variables are the environment's name, SSM path, region and schedule, no "
            "secrets; the Prefect API URL and key come from SSM and Secrets Manager.",
        )

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=config.runner_tasks,
            assign_public_ip=config.runner_public_ip,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            # The old task stops before the new one starts: `serve` pauses its
            # deployments' schedules when it shuts down, and the new task resumes
            # them when it starts; the other order would leave them paused.
            min_healthy_percent=0,
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            enable_ecs_managed_tags=True,
        )
        if config.runner_tasks == 0:
            # Deployable on purpose (the Prefect key goes in between two deploys), but
            # a stack whose runner never runs must not pass unnoticed.
            cdk.Annotations.of(self.service).add_warning_v2(
                NO_TASK_WARNING,
                "the runner gets 0 tasks: no transform or maintenance will run. Deploy "
                "with -c prefect_api_url=<your Prefect API> (docs/aws.md, step 4).",
            )
        self.transform_alarm = self._transform_alarm()
        operations.notify(self.transform_alarm)

    def _network(self, storage: LakeStorage) -> tuple[ec2.IVpc, ec2.SubnetSelection]:
        config = self._config
        if config.runner_vpc_id:
            # Named in context: nothing is looked up, so synthesis stays offline. The
            # VPC's own routes (NAT, endpoints) carry the runner's calls.
            vpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=config.runner_vpc_id,
                # The region's zones, resolved at deploy; the subnets below come by id.
                availability_zones=cdk.Token.as_list(cdk.Fn.get_azs()),
            )
            subnets = [
                ec2.Subnet.from_subnet_id(self, f"Subnet{index}", subnet_id)
                for index, subnet_id in enumerate(config.runner_subnet_ids)
            ]
            # A Fargate service and a security group read neither the zones nor the
            # subnets' route tables, which CDK warns it cannot know offline.
            annotations = cdk.Annotations.of(self)
            annotations.acknowledge_warning(
                "@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones",
                "the subnets are given by id; nothing selects them by zone",
            )
            annotations.acknowledge_warning(
                "@aws-cdk/aws-ec2:noSubnetRouteTableId",
                "nothing here reads or adds to the given subnets' route tables",
            )
            return vpc, ec2.SubnetSelection(subnets=subnets)

        isolated = config.runner_isolated
        private = (
            ec2.SubnetType.PRIVATE_ISOLATED if isolated else ec2.SubnetType.PRIVATE_WITH_EGRESS
        )
        public = ec2.SubnetConfiguration(
            name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26
        )
        subnet_configuration = [
            ec2.SubnetConfiguration(name="Private", subnet_type=private, cidr_mask=24)
        ]
        if config.runner_public_ip:  # the task's own home: no private subnet, no NAT
            subnet_configuration = [public]
        elif not isolated:  # the NAT gateways' home
            subnet_configuration.append(public)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.runner_vpc_cidr),
            max_azs=AVAILABILITY_ZONES,
            nat_gateways=config.runner_nat,
            subnet_configuration=subnet_configuration,
            # Free, and keeps lake and image-layer traffic off the NAT gateway.
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
            flow_logs={
                "ToAccessLogs": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_s3(storage.access_logs, "vpc-flow-logs/"),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self._acknowledge_default_group_provider()
        if config.runner_public_ip:
            return vpc, ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        return vpc, ec2.SubnetSelection(subnet_type=private)

    def _interface_endpoints(self, subnets: ec2.SubnetSelection) -> None:
        """The AWS APIs the runner and its ECS agent call, inside the VPC."""
        config = self._config
        if config.runner_vpc_id or not (
            config.runner_isolated or config.runner_interface_endpoints
        ):
            return
        # One group for all of them, open on 443 to the runner's tasks alone.
        group = ec2.SecurityGroup(
            self,
            "EndpointsSecurityGroup",
            vpc=self.vpc,
            description="Streamlake runner interface endpoints: HTTPS from the runner only.",
            allow_all_outbound=False,
        )
        group.add_ingress_rule(self.security_group, ec2.Port.tcp(443), "HTTPS from the runner")
        endpoints = dict(INTERFACE_ENDPOINTS)
        if config.prefect_api == "cloud":
            endpoints[SECRETS_ENDPOINT[0]] = SECRETS_ENDPOINT[1]
        for name, service in endpoints.items():
            # Private DNS: the clients' usual endpoint names resolve to these.
            self.vpc.add_interface_endpoint(
                name, service=service, subnets=subnets, security_groups=[group], open=False
            )

    def _acknowledge_default_group_provider(self) -> None:
        """CDK strips the new VPC's default security group of its rules at deploy
        (@aws-cdk/aws-ec2:restrictDefaultSecurityGroup) with a function of its own."""
        stack = cdk.Stack.of(self)
        providers = [
            child
            for child in stack.node.children
            if child.node.id.startswith("Custom::VpcRestrictDefaultSG")
        ]
        for provider in providers:
            handler = provider.node.find_child("Handler")
            for check, reason in DEFAULT_GROUP_PROVIDER_SKIPS.items():
                skip(handler, check, reason)

    def _security_group(self) -> ec2.SecurityGroup:
        config = self._config
        group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=self.vpc,
            description="Streamlake runner: no inbound; HTTPS out (AWS APIs, Prefect).",
            allow_all_outbound=False,
        )
        group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: AWS APIs and the Prefect API"
        )
        if config.prefect_api == "server" and config.prefect_server_port != 443:
            group.add_egress_rule(
                ec2.Peer.ipv4(config.prefect_server_cidr),
                ec2.Port.tcp(config.prefect_server_port),
                "The self-hosted Prefect server's API",
            )
        return group

    def _api_key(self) -> secretsmanager.ISecret:
        config = self._config
        if config.prefect_api_key_secret_arn:
            return secretsmanager.Secret.from_secret_complete_arn(
                self, "PrefectApiKey", config.prefect_api_key_secret_arn
            )
        # A generated placeholder, never the key: the operator puts the key in with
        # `aws secretsmanager put-secret-value` (infra/README.md).
        secret = secretsmanager.Secret(
            self,
            "PrefectApiKey",
            secret_name=prefect_key_secret_name(config.ssm_prefix),
            description="Prefect Cloud API key of the Streamlake runner; replace the "
            "generated placeholder with put-secret-value.",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=32
            ),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        reason = (
            "Prefect Cloud issues the API key; it is rotated in Prefect Cloud and put here "
            "with put-secret-value. No rotation function can mint a Prefect key."
        )
        acknowledge(secret, "AwsSolutions-SMG4", reason)
        skip(
            secret,
            "CKV_AWS_149",
            "Encrypted with the AWS-managed key of Secrets Manager; only the runner's "
            "execution role is granted GetSecretValue on this secret, and a customer key "
            "would add a key policy that says the same.",
        )
        return secret

    def _transform_alarm(self) -> cloudwatch.Alarm:
        config = self._config
        finished = logs.MetricFilter(
            self,
            "TransformsFinished",
            log_group=self.log_group,
            metric_namespace=METRICS_NAMESPACE,
            metric_name=TRANSFORMS_FINISHED_METRIC,
            # The transform flow writes this term once per finished run (flows/log_marks.py).
            filter_pattern=logs.FilterPattern.all_terms(TRANSFORM_FINISHED),
            metric_value="1",
        )
        return finished.metric(
            statistic="Sum", period=cdk.Duration.seconds(config.transform_interval_seconds)
        ).create_alarm(
            self,
            "TransformStopped",
            alarm_description=f"No transform run has finished for {TRANSFORM_SILENT_INTERVALS} "
            f"intervals of {config.transform_interval_seconds} s: the runner is down, "
            "stuck, or every run fails before its dbt build ends.",
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=TRANSFORM_SILENT_INTERVALS,
            datapoints_to_alarm=TRANSFORM_SILENT_INTERVALS,
            # No line at all is the failure this alarm is for.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            # Quiet while the service has no task (no Prefect API given yet).
            actions_enabled=config.runner_tasks > 0,
        )
