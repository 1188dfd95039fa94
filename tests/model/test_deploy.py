"""`scones deploy`: every AWS call checked against the service's own API model.

The SageMaker, CloudWatch and Application Auto Scaling clients are real botocore clients with a
Stubber: each call is validated and serialized by botocore against the service model (and
`assert_fits_model` adds the patterns, enums and length limits botocore does not check), for
the create path and the update paths. S3 and one whole create run go to moto.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shlex
import tarfile

import boto3
import botocore.session
import pytest
import regex  # Unicode property classes (\p{L}) of the service models' patterns; cfn-lint's
from botocore.stub import Stubber
from moto import mock_aws

from model.deploy import (
    CALLS,
    VARIANT,
    DeployError,
    DeployRequest,
    deploy,
    image_regions,
    plan,
    sam_deploy_line,
    traffic_routing,
)
from scones.cli import main

REGION = "us-east-1"
ENDPOINT = "scones-vehicles"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
BUCKET = "scones-artifacts"
VERSION = "20260101-abc123"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
RESOURCE = f"endpoint/{ENDPOINT}/variant/{VARIANT}"


@pytest.fixture
def artifact(tmp_path):
    """A model.tar.gz as deploy sees it: metadata.json (model_version) and baseline.json."""
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, body in {"metadata.json": {"model_version": VERSION},
                           "baseline.json": {"labels": ["bicycle", "motorcycle"]}}.items():
            data = json.dumps(body).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def request_for(artifact, role=ROLE, **overrides) -> DeployRequest:
    return DeployRequest(artifact=str(artifact), role_arn=role, bucket=BUCKET,
                         endpoint_name=ENDPOINT, region=REGION, **overrides)


# ---- the API model -------------------------------------------------------------------------

def python_pattern(pattern: str) -> str:
    """The service models' Java regexes in the regex module's dialect: a UTF-16 surrogate-pair
    range is the range of supplementary code points."""
    return pattern.replace(r"\uD800\uDC00-\uDBFF\uDFFF", r"\U00010000-\U0010FFFF")


def assert_fits_model(shape, value, path="") -> None:
    """What botocore's parameter validation leaves out: string patterns, enums, maximum
    lengths and numeric ranges, for every value against its shape in the service model."""
    meta = shape.metadata
    if shape.type_name == "structure":
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{path}: unknown members {unknown}"
        for name in shape.required_members:
            assert name in value, f"{path}.{name} is required"
        for name, member in value.items():
            assert_fits_model(shape.members[name], member, f"{path}.{name}")
    elif shape.type_name == "list":
        assert meta.get("min", 0) <= len(value) <= meta.get("max", len(value)), path
        for i, item in enumerate(value):
            assert_fits_model(shape.member, item, f"{path}[{i}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            assert_fits_model(shape.key, key, f"{path}.key")
            assert_fits_model(shape.value, item, f"{path}[{key}]")
    elif shape.type_name == "string":
        assert meta.get("min", 0) <= len(value) <= meta.get("max", len(value)), path
        if "pattern" in meta:
            assert regex.fullmatch(python_pattern(meta["pattern"]), value, regex.DOTALL), (
                f"{path}={value!r} does not match {meta['pattern']}")
        if shape.enum:
            assert value in shape.enum, f"{path}={value!r} not in {shape.enum}"
    elif shape.type_name in ("integer", "long", "float", "double"):
        assert meta.get("min", value) <= value <= meta.get("max", value), f"{path}={value}"


def check_call(service: str, operation: str, params: dict) -> None:
    model = botocore.session.get_session().get_service_model(service)
    op = model.operation_model("".join(part.title() for part in operation.split("_")))
    assert_fits_model(op.input_shape, params, f"{service}.{operation}")


class StubbedAWS:
    """Real botocore clients for the three services, each with a Stubber, and the order in
    which the calls were made across them."""

    def __init__(self, s3_client):
        session = boto3.session.Session(region_name=REGION)
        self.clients = {"s3": s3_client}
        self.stubs = {}
        self.calls: list[str] = []
        for service in ("sagemaker", "cloudwatch", "application-autoscaling"):
            client = session.client(service)
            client.meta.events.register("before-parameter-build.*.*", self._record)
            self.clients[service] = client
            self.stubs[service] = Stubber(client)

    def _record(self, model, **_):
        self.calls.append(model.name)

    def expect(self, service: str, operation: str, response: dict, params: dict) -> None:
        check_call(service, operation, params)
        self.stubs[service].add_response(operation, response, params)

    def expect_error(self, service: str, operation: str, code: str, message: str,
                     params: dict) -> None:
        self.stubs[service].add_client_error(operation, code, message, 400,
                                             expected_params=params)

    def __enter__(self):
        for stub in self.stubs.values():
            stub.activate()
        return self

    def __exit__(self, *exc):
        for stub in self.stubs.values():
            stub.deactivate()

    def assert_all_called(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield client


def endpoint_description(config: str, status: str = "InService", desired: int = 2,
                         **extra) -> dict:
    return {"EndpointName": ENDPOINT, "EndpointConfigName": config,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}",
            "EndpointStatus": status, "CreationTime": NOW, "LastModifiedTime": NOW,
            "ProductionVariants": [{"VariantName": VARIANT, "CurrentInstanceCount": desired,
                                    "DesiredInstanceCount": desired}], **extra}


def expect_until_endpoint_call(aws: StubbedAWS, steps: dict) -> None:
    aws.expect("sagemaker", "list_models", {"Models": []},
               {"NameContains": steps["create_model"]["ModelName"]})
    aws.expect("sagemaker", "create_model",
               {"ModelArn": f"arn:aws:sagemaker:{REGION}:123456789012:model/m"},
               steps["create_model"])
    aws.expect("sagemaker", "create_endpoint_config",
               {"EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint-config/c"},
               steps["create_endpoint_config"])
    for alarm in steps["put_metric_alarm"]:
        aws.expect("cloudwatch", "put_metric_alarm", {}, alarm)


def expect_after_endpoint_call(aws: StubbedAWS, steps: dict, final_config: str) -> None:
    new_config = steps["create_endpoint_config"]["EndpointConfigName"]
    aws.expect("sagemaker", "describe_endpoint", endpoint_description(new_config),
               {"EndpointName": ENDPOINT})  # the waiter's first poll
    aws.expect("sagemaker", "describe_endpoint", endpoint_description(final_config),
               {"EndpointName": ENDPOINT})
    aws.expect("application-autoscaling", "register_scalable_target", {},
               steps["register_scalable_target"])
    aws.expect("application-autoscaling", "put_scaling_policy",
               {"PolicyARN": "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:p"},
               steps["put_scaling_policy"])


STAMP = "20260101-000000-000000"


def planned(request: DeployRequest) -> dict:
    """The plan deploy builds with the same stamp (endpoint config names embed it)."""
    return plan(request, REGION, STAMP)


def expect_create_endpoint_call(aws, steps: dict) -> None:
    """No endpoint yet: every call up to and including create_endpoint."""
    aws.expect_error("sagemaker", "describe_endpoint", "ValidationException",
                     f"Could not find endpoint \"{ENDPOINT}\".", {"EndpointName": ENDPOINT})
    expect_until_endpoint_call(aws, steps)
    aws.expect("sagemaker", "create_endpoint",
               {"EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/e"},
               steps["create_endpoint"])


# ---- create ----------------------------------------------------------------------------------

def test_create_path_calls_match_the_api_models(s3, artifact):
    request = request_for(artifact)
    steps = planned(request)
    with StubbedAWS(s3) as aws:
        expect_create_endpoint_call(aws, steps)
        expect_after_endpoint_call(aws, steps,
                                   steps["create_endpoint_config"]["EndpointConfigName"])
        # WHEN a new endpoint is deployed
        result = deploy(request, clients=aws.clients, stamp=STAMP)
        aws.assert_all_called()
    # THEN it was created, alarms before the endpoint, autoscaling after it is InService
    assert result["action"] == "created"
    assert aws.calls == ["DescribeEndpoint", "ListModels", "CreateModel", "CreateEndpointConfig",
                         "PutMetricAlarm", "PutMetricAlarm", "CreateEndpoint",
                         "DescribeEndpoint", "DescribeEndpoint", "RegisterScalableTarget",
                         "PutScalingPolicy"]
    assert s3.head_object(Bucket=BUCKET, Key=steps["upload"]["Key"])["ContentLength"] == (
        artifact.stat().st_size)


def test_a_failed_creation_is_a_named_error(s3, artifact):
    request = request_for(artifact)
    steps = planned(request)
    with StubbedAWS(s3) as aws:
        expect_create_endpoint_call(aws, steps)
        aws.expect("sagemaker", "describe_endpoint", endpoint_description(
            steps["create_endpoint_config"]["EndpointConfigName"], status="Failed",
            FailureReason="The primary container did not pass the ping health check."),
            {"EndpointName": ENDPOINT})
        with pytest.raises(DeployError, match="is Failed: The primary container did not pass"):
            deploy(request, clients=aws.clients, stamp=STAMP)
        aws.assert_all_called()
    assert "RegisterScalableTarget" not in aws.calls


def test_every_planned_call_fits_its_api_model(artifact):
    # The dry run prints calls that deploy may make only on some paths (deregister, update):
    # each one is valid for its service, whatever the path.
    steps = plan(request_for(artifact, instance_type="ml.c5.xlarge", initial_instance_count=1),
                 REGION)
    for key, (service, operation) in CALLS.items():
        if service == "s3":
            continue
        for params in steps[key] if isinstance(steps[key], list) else [steps[key]]:
            check_call(service, operation, params)


# ---- update ----------------------------------------------------------------------------------

def expect_update(aws: StubbedAWS, steps: dict, *, old_type="ml.m5.large", desired=3,
                  final_config=None, update_params=None, deregister=False) -> None:
    aws.expect("sagemaker", "describe_endpoint",
               endpoint_description("old-config", desired=desired), {"EndpointName": ENDPOINT})
    aws.expect("sagemaker", "describe_endpoint_config",
               {"EndpointConfigName": "old-config", "CreationTime": NOW,
                "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:1:endpoint-config/old-config",
                "ProductionVariants": [{"VariantName": VARIANT, "ModelName": "old-model",
                                        "InstanceType": old_type,
                                        "InitialInstanceCount": 2}]},
               {"EndpointConfigName": "old-config"})
    expect_until_endpoint_call(aws, steps)
    if deregister:
        target = steps["deregister_scalable_target"]
        aws.expect("application-autoscaling", "describe_scalable_targets",
                   {"ScalableTargets": [{**target, "MinCapacity": 2, "MaxCapacity": 4,
                                         "RoleARN": "arn:aws:iam::123456789012:role/as",
                                         "CreationTime": NOW}]},
                   {"ServiceNamespace": "sagemaker", "ResourceIds": [RESOURCE],
                    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"})
        aws.expect("application-autoscaling", "deregister_scalable_target", {}, target)
    aws.expect("sagemaker", "update_endpoint",
               {"EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/e"},
               update_params or steps["update_endpoint"])
    new_config = steps["create_endpoint_config"]["EndpointConfigName"]
    expect_after_endpoint_call(aws, steps, final_config or new_config)


def test_update_is_blue_green_with_canary_and_auto_rollback(s3, artifact):
    request = request_for(artifact)
    steps = planned(request)
    with StubbedAWS(s3) as aws:
        expect_update(aws, steps)
        # WHEN the endpoint exists (same instance type, autoscaled to 3 instances)
        result = deploy(request, clients=aws.clients, stamp=STAMP)
        aws.assert_all_called()
    update = steps["update_endpoint"]
    policy = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    # THEN one instance is the canary, then the rest shifts at once after the bake period
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": 600}
    assert policy["MaximumExecutionTimeoutInSeconds"] > (
        policy["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"]
        + policy["TerminationWaitInSeconds"])
    # AND both alarms the plan creates roll it back
    alarms = {a["AlarmName"]: a for a in steps["put_metric_alarm"]}
    assert [a["AlarmName"] for a in update["DeploymentConfig"]["AutoRollbackConfiguration"][
        "Alarms"]] == list(alarms)
    assert {a["MetricName"] for a in alarms.values()} == {"Invocation5XXErrors", "ModelLatency"}
    assert all(a["Namespace"] == "AWS/SageMaker" and a["Dimensions"] == [
        {"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": VARIANT}]
        for a in alarms.values())
    assert alarms[f"{ENDPOINT}-model-latency"]["Threshold"] == 500_000  # microseconds
    # AND the variant keeps autoscaling's instance count; the scalable target stays registered
    assert update["RetainAllVariantProperties"] is True
    assert "ExcludeRetainedVariantProperties" not in update
    assert "DeregisterScalableTarget" not in aws.calls
    assert aws.calls[-2:] == ["RegisterScalableTarget", "PutScalingPolicy"]
    assert result["action"] == "updated"
    assert f"ModelVersion={VERSION}" in shlex.split(result["sam_deploy"])


def test_instance_type_change_deregisters_the_scalable_target_first(s3, artifact):
    # AWS: an update that changes the instance type of an autoscaled variant fails unless the
    # variant is deregistered first; registered again once the endpoint is InService.
    request = request_for(artifact, instance_type="ml.c5.xlarge")
    steps = planned(request)
    with StubbedAWS(s3) as aws:
        expect_update(aws, steps, old_type="ml.m5.large", deregister=True)
        deploy(request, clients=aws.clients, stamp=STAMP)
        aws.assert_all_called()
    calls = aws.calls
    assert calls.index("DeregisterScalableTarget") < calls.index("UpdateEndpoint") < (
        calls.index("RegisterScalableTarget"))


def test_a_fleet_below_the_requested_count_takes_the_new_count(s3, artifact):
    request = request_for(artifact, initial_instance_count=3, max_instances=6)
    steps = planned(request)
    # GIVEN a fleet of 2 while --instance-count asks for 3: the update takes the config's 3
    update = {**steps["update_endpoint"], "ExcludeRetainedVariantProperties": [
        {"VariantPropertyType": "DesiredInstanceCount"}]}
    with StubbedAWS(s3) as aws:
        expect_update(aws, steps, desired=2, update_params=update)
        deploy(request, clients=aws.clients, stamp=STAMP)
        aws.assert_all_called()


def test_a_rolled_back_update_is_an_error_and_keeps_autoscaling(s3, artifact):
    request = request_for(artifact)
    steps = planned(request)
    with StubbedAWS(s3) as aws:
        # GIVEN an update that an alarm rolls back: InService again, on the old config
        expect_update(aws, steps, final_config="old-config")
        with pytest.raises(DeployError, match="rolled back to old-config"):
            deploy(request, clients=aws.clients, stamp=STAMP)
        aws.assert_all_called()
    assert aws.calls[-2:] == ["RegisterScalableTarget", "PutScalingPolicy"]


@pytest.mark.parametrize(("status", "message"), [
    ("Updating", "is Updating, not InService"), ("Failed", "is Failed .*delete it")])
def test_an_endpoint_that_is_not_in_service_is_not_updated(s3, artifact, status, message):
    request = request_for(artifact)
    with StubbedAWS(s3) as aws:
        aws.expect("sagemaker", "describe_endpoint",
                   endpoint_description("old-config", status=status),
                   {"EndpointName": ENDPOINT})
        with pytest.raises(DeployError, match=message):
            deploy(request, clients=aws.clients, stamp=STAMP)
    # THEN nothing was uploaded or made
    assert aws.calls == ["DescribeEndpoint"]
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_an_endpoint_without_our_variant_is_not_updated(s3, artifact):
    # AWS: a blue/green update's new config must keep the variant name
    with StubbedAWS(s3) as aws:
        aws.expect("sagemaker", "describe_endpoint", endpoint_description("old-config"),
                   {"EndpointName": ENDPOINT})
        aws.expect("sagemaker", "describe_endpoint_config",
                   {"EndpointConfigName": "old-config", "CreationTime": NOW,
                    "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:1:endpoint-config/old",
                    "ProductionVariants": [{"VariantName": "Blue", "ModelName": "old-model",
                                            "InstanceType": "ml.m5.large"}]},
                   {"EndpointConfigName": "old-config"})
        with pytest.raises(DeployError, match="has no variant 'AllTraffic'"):
            deploy(request_for(artifact), clients=aws.clients, stamp=STAMP)
        aws.assert_all_called()
    assert aws.calls == ["DescribeEndpoint", "DescribeEndpointConfig"]


@pytest.mark.parametrize("instances", range(1, 9))
def test_canary_is_at_most_half_the_fleet(instances):
    routing = traffic_routing(instances)
    if instances == 1:  # a single instance cannot be split: blue/green all at once
        assert routing["Type"] == "ALL_AT_ONCE"
    else:
        assert routing["Type"] == "CANARY"
        assert routing["CanarySize"]["Type"] == "INSTANCE_COUNT"
        assert routing["CanarySize"]["Value"] <= instances / 2


# ---- the whole create run against moto -------------------------------------------------------

def test_deploy_creates_model_capture_config_alarms_endpoint_and_autoscaling(untrained_artifact):
    from sagemaker.core import image_uris

    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        role = session.client("iam").create_role(
            RoleName="sagemaker-execution",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        # WHEN the real artifact is deployed to a fresh account
        result = deploy(request_for(untrained_artifact, role), session=session)
        sagemaker = session.client("sagemaker")
        model = sagemaker.describe_model(ModelName=result["create_model"]["ModelName"])
        endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        config = sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"])
        alarms = session.client("cloudwatch").describe_alarms()["MetricAlarms"]
        autoscaling = session.client("application-autoscaling")
        targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")[
            "ScalableTargets"]
        policy = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")[
            "ScalingPolicies"][0]
    # THEN the model runs the SDK's PyTorch image on the uploaded artifact
    key = result["upload"]["Key"]
    container = model["PrimaryContainer"]
    assert container["ModelDataUrl"] == f"s3://{BUCKET}/{key}"
    assert container["Image"] == image_uris.retrieve(
        framework="pytorch", region=REGION, version="2.6", py_version="py312",
        instance_type="ml.m5.large", image_scope="inference")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    # AND the endpoint config captures 100% of inputs and outputs to the S3 prefix
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True and capture["InitialSamplingPercentage"] == 100
    assert capture["DestinationS3Uri"] == f"s3://{BUCKET}/scones/datacapture"
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 2
    # AND the two rollback alarms exist, autoscaling tracks invocations per instance
    assert sorted(a["MetricName"] for a in alarms) == ["Invocation5XXErrors", "ModelLatency"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        (RESOURCE, 2, 4)]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
        "PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert result["action"] == "created"
    # AND the stack line carries this model's version, capture, baseline and labels, in the
    # endpoint's region
    assert shlex.split(result["sam_deploy"]) == [
        "sam", "deploy", "--parameter-overrides", f"EndpointName={ENDPOINT}",
        "ModelVersion=20260101-untrained", f"CaptureS3Uri=s3://{BUCKET}/scones/datacapture",
        f"BaselineS3Uri=s3://{BUCKET}/{key}", "ClassLabels=bicycle,motorcycle",
        "--region", REGION]


def test_cli_deploy_prints_only_the_sam_line_on_stdout(artifact, capsys):
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        code = main(["deploy", "--model", str(artifact), "--role", ROLE, "--bucket", BUCKET,
                     "--endpoint-name", ENDPOINT, "--region", REGION])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert shlex.split(out)[:5] == ["sam", "deploy", "--parameter-overrides",
                                    f"EndpointName={ENDPOINT}", f"ModelVersion={VERSION}"]
    assert out.count("\n") == 1 and f"created endpoint {ENDPOINT}" in err


# ---- the dry run -----------------------------------------------------------------------------

def dry_run(artifact, capsys, *extra) -> dict:
    code = main(["deploy", "--model", str(artifact), "--role", ROLE, "--bucket", BUCKET,
                 "--endpoint-name", ENDPOINT, "--dry-run", "--json", "-", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_dry_run_needs_no_region_or_credentials(artifact, capsys, monkeypatch, tmp_path):
    # GIVEN no credentials and no region anywhere: any AWS call would fail
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN",
                 "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    # WHEN the dry run plans
    steps = dry_run(artifact, capsys)
    # THEN it plans for us-east-1 and prints every call of both paths
    assert steps["region"] == "us-east-1"
    assert set(CALLS) <= set(steps)
    assert steps["update_endpoint"]["DeploymentConfig"]["BlueGreenUpdatePolicy"][
        "TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert steps["sam_deploy"] == sam_deploy_line(steps["stack_parameters"], "us-east-1")


def test_dry_run_prints_the_sdk_image_for_every_region(artifact, capsys):
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework("pytorch")["inference"]
    registries = config["versions"][config["version_aliases"]["2.6"]]["registries"]
    regions = image_regions()
    assert regions == sorted(registries) and len(regions) > 20
    accounts = set()
    for region in regions:
        image = dry_run(artifact, capsys, "--region", region)["create_model"][
            "PrimaryContainer"]["Image"]
        assert image == image_uris.retrieve(
            framework="pytorch", region=region, version="2.6", py_version="py312",
            instance_type="ml.m5.large", image_scope="inference"), region
        account, host = image.split(".dkr.ecr.", 1)
        assert account == registries[region], region
        assert host.startswith(f"{region}.amazonaws.com") and host.endswith(
            "/pytorch-inference:2.6-cpu-py312"), image
        accounts.add(account)
    assert len(accounts) > 10  # regions publish from different registry accounts


def test_image_follows_the_instance_type_and_the_override_wins(artifact, capsys):
    gpu = dry_run(artifact, capsys, "--instance-type", "ml.g5.xlarge")
    assert gpu["image_uri"].endswith("-gpu-py312") or "-gpu-py312-" in gpu["image_uri"]
    custom = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/scones:1"
    assert dry_run(artifact, capsys, "--image-uri", custom)["create_model"][
        "PrimaryContainer"]["Image"] == custom


def test_model_name_changes_with_what_the_model_is_made_of(artifact):
    names = {plan(request_for(artifact, **change), REGION)["create_model"]["ModelName"]
             for change in ({}, {"instance_type": "ml.g5.xlarge"}, {"prefix": "other"},
                            {"role": "arn:aws:iam::123456789012:role/other"})}
    assert len(names) == 4
    assert all(name.startswith(f"{ENDPOINT}-{VERSION}-") for name in names)


def test_stack_parameters_are_the_templates_and_fit_its_patterns(artifact, repo_root):
    # The sam line names template parameters, each value allowed by the template itself.
    from scones.local.deploy import read_template

    template = read_template(repo_root / "template.yaml")["Parameters"]
    steps = plan(request_for(artifact), REGION)
    assert set(steps["stack_parameters"]) == {"EndpointName", "ModelVersion", "CaptureS3Uri",
                                              "BaselineS3Uri"}
    for key, value in steps["stack_parameters"].items():
        assert key in template, key
        assert regex.fullmatch(template[key]["AllowedPattern"], value), (key, value)
    assert steps["stack_parameters"]["CaptureS3Uri"] == steps["create_endpoint_config"][
        "DataCaptureConfig"]["DestinationS3Uri"]


def test_sam_line_is_shell_quoted():
    line = sam_deploy_line({"EndpointName": "e", "ModelVersion": "run 1;rm -rf"})
    assert shlex.split(line)[-1] == "ModelVersion=run 1;rm -rf"


# ---- bad input: one named line, nothing called -----------------------------------------------

@pytest.mark.parametrize(("option", "value", "message"), [
    ("--role", "my-role", "argument --role: 'my-role' is not an IAM role ARN"),
    ("--bucket", "s3://scones-artifacts", "not an s3:// URI: --bucket scones-artifacts"),
    ("--bucket", "Scones_Artifacts", "is not an S3 bucket name"),
    ("--endpoint-name", "Scones_Vehicles", "is not a SageMaker endpoint name"),
    ("--endpoint-name", "Scones-Vehicles", "use 'scones-vehicles'"),
    ("--endpoint-name", "a" * 64, "is not a SageMaker endpoint name"),
    ("--endpoint-name", "-scones", "is not a SageMaker endpoint name"),
    ("--instance-count", "0", "argument --instance-count: must be at least 1"),
    ("--max-instances", "1", "--max-instances (1) must be at least --instance-count (2)"),
    ("--instance-type", "m5.large", "is not a SageMaker instance type; use 'ml.m5.large'"),
    ("--prefix", "scones/", "is not an S3 key prefix"),
    ("--region", "moon-1", "no PyTorch 2.6 inference image for region 'moon-1'"),
])
def test_bad_input_is_one_named_line(artifact, capsys, option, value, message):
    # Checked while the arguments parse (argparse: `scones deploy: error: argument ...`), or,
    # for what needs two values or the SDK, before any call; exit 2 either way.
    args = {"--model": str(artifact), "--role": ROLE, "--bucket": BUCKET,
            "--endpoint-name": ENDPOINT, option: value}
    try:
        code = main(["deploy", *[f"{key}={val}" for key, val in args.items()], "--dry-run"])
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "error: " in captured.err and message in captured.err
    assert captured.err.count("\n") == 1


def test_missing_artifact_and_bad_model_version_are_named_errors(tmp_path):
    with pytest.raises(DeployError, match="does not exist"):
        plan(request_for(tmp_path / "model.tar.gz"), REGION)
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        data = json.dumps({"model_version": "run 1/2"}).encode()
        info = tarfile.TarInfo("metadata.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DeployError, match="not a valid ModelVersion"):
        plan(request_for(bad), REGION)
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DeployError, match="not a model.tar.gz"):
        plan(request_for(tmp_path / "junk.tar.gz"), REGION)
