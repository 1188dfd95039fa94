"""Static checks of template.yaml: names, runtime, build, least privilege, bucket, outputs."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {
    "SerializeImageDataFunction": "serialize_image_data",
    "ClassifyImageFunction": "classify_image",
    "FilterLowConfidenceFunction": "filter_low_confidence",
}
# The only statements allowed "Resource: *": APIs that take no resource ARN (no data access).
STAR_RESOURCE_SIDS = {"DeliverExecutionLogs", "WriteTraces"}


def of_type(resources, kind):
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def test_parameters_and_defaults(template):
    parameters = template["Parameters"]
    assert {"EndpointName", "ConfidenceThreshold", "ClassLabels", "LogLevel"} <= set(parameters)
    assert float(parameters["ConfidenceThreshold"]["Default"]) == 0.93
    assert parameters["ClassLabels"]["Default"] == "bicycle,motorcycle"


def test_globals_runtime_architecture_tracing_and_powertools(template):
    function = template["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
    variables = function["Environment"]["Variables"]
    for name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"):
        assert name in variables
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_one_name_is_carried_from_folder_to_logical_id(resources, deployment):
    functions = of_type(resources, "AWS::Serverless::Function")
    assert set(FUNCTIONS) <= set(functions)
    for logical_id, snake_name in FUNCTIONS.items():
        assert deployment.functions[logical_id].code_dir == REPO_ROOT / "functions" / snake_name
    for logical_id, resource in functions.items():
        # functions/<snake_name> <-> <CamelName>Function, for every function of the stack
        code_dir = Path(resource["Properties"]["CodeUri"])
        assert camel(code_dir.name) + "Function" == logical_id
        assert (REPO_ROOT / code_dir / "app.py").is_file()


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_handler_module_defines_lambda_handler(deployment, logical_id):
    function = deployment.functions[logical_id]
    tree = ast.parse(function.module_path.read_text())
    handlers = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler"
    ]
    assert handlers, f"{function.module_path} has no lambda_handler"
    # Powertools decorator order: logger outermost, then tracer, then metrics
    decorators = [ast.unparse(d) for d in handlers[0].decorator_list]
    assert decorators[0] == "logger.inject_lambda_context"
    assert decorators[1].startswith("tracer.capture_lambda_handler")
    assert decorators[2] == "metrics.log_metrics(capture_cold_start_metric=True)"
    assert (function.code_dir / "requirements.txt").is_file()


def test_handlers_that_carry_image_bytes_never_trace_their_response(deployment):
    for logical_id in ("SerializeImageDataFunction", "ClassifyImageFunction"):
        source = deployment.functions[logical_id].module_path.read_text()
        assert "@tracer.capture_lambda_handler(capture_response=False)" in source
        assert "log_event" not in source


def test_every_makefile_build_has_a_target_in_one_shared_makefile(resources, tmp_path):
    makefile_built = {
        name: r
        for name, r in resources.items()
        if r.get("Metadata", {}).get("BuildMethod") == "makefile"
    }
    assert {"SharedLayer", *FUNCTIONS} <= set(makefile_built)
    for name, resource in makefile_built.items():
        context = REPO_ROOT / resource["Metadata"]["ContextPath"]
        assert context == REPO_ROOT / "functions"
        # THEN `make -n build-<LogicalId>` finds the target (dry run: nothing is built)
        done = subprocess.run(
            [
                "make",
                "-n",
                "-f",
                str(context / "Makefile"),
                f"build-{name}",
                f"ARTIFACTS_DIR={tmp_path}",
            ],
            cwd=REPO_ROOT
            / (resource["Properties"].get("CodeUri") or resource["Properties"]["ContentUri"]),
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    # AND the one Makefile installs for Lambda's platform, never the build machine's
    text = (REPO_ROOT / "functions" / "Makefile").read_text()
    for flag in (
        "--platform manylinux2014_aarch64",
        "--python-version 3.13",
        "--only-binary=:all:",
    ):
        assert flag in text


def test_functions_share_code_through_one_layer(deployment, resources):
    (layer_id,) = of_type(resources, "AWS::Serverless::LayerVersion")
    for function in deployment.functions.values():
        assert function.layer_dirs == (REPO_ROOT / "functions" / "shared",)
    assert (REPO_ROOT / "functions" / "shared" / "scones_domain" / "__init__.py").is_file()
    requirements = (REPO_ROOT / "functions" / "shared" / "requirements.txt").read_text()
    assert "aws-lambda-powertools" in requirements and "aws-xray-sdk" in requirements
    assert not re.search(r"^(boto3|botocore)\b", requirements, re.M)  # the runtime has them
    assert layer_id == "SharedLayer"


def policy_statements(resource):
    for policy in resource["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            yield from policy["Statement"]


def test_least_privilege(resources):
    for name, resource in resources.items():
        for statement in policy_statements(resource):
            if statement.get("Resource") == "*":
                assert statement["Sid"] in STAR_RESOURCE_SIDS, f"{name}: {statement}"
                assert not any(a.startswith(("s3:", "sagemaker:")) for a in statement["Action"])
    classify = resources["ClassifyImageFunction"]
    (invoke,) = [
        s for s in policy_statements(classify) if s["Action"] == "sagemaker:InvokeEndpoint"
    ]
    # THEN exactly the one endpoint, partition-aware
    assert invoke["Resource"]["Fn::Sub"] == (
        "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${EndpointName}"
    )
    for logical_id in ("SerializeImageDataFunction", "ClassifyImageFunction"):
        policies = resources[logical_id]["Properties"]["Policies"]
        assert {"S3ReadPolicy": {"BucketName": {"Ref": "ImageBucket"}}} in policies
    assert "Policies" not in resources["FilterLowConfidenceFunction"]["Properties"]


def test_no_literal_aws_partition_in_the_template():
    assert "arn:aws:" not in (REPO_ROOT / "template.yaml").read_text()


def test_image_bucket_is_private_encrypted_tls_only_with_eventbridge(resources):
    bucket = resources["ImageBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"]
    (statement,) = resources["ImageBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_state_machine_is_standard_traced_and_logs_no_execution_data(template, resources):
    machine = resources["ImageClassificationStateMachine"]["Properties"]
    # Standard unless WorkflowType says EXPRESS (docs/scale.md)
    assert machine["Type"] == {"Ref": "WorkflowType"}
    assert template["Parameters"]["WorkflowType"]["Default"] == "STANDARD"
    assert template["Parameters"]["WorkflowType"]["AllowedValues"] == ["STANDARD", "EXPRESS"]
    assert machine["DefinitionUri"] == "statemachine/image_classification.asl.json"
    assert machine["Tracing"] == {"Enabled": True}
    assert machine["Logging"]["IncludeExecutionData"] is False  # payloads carry image bytes
    invoked = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for p in machine["Policies"]
        if "LambdaInvokePolicy" in p
    }
    assert set(FUNCTIONS) <= invoked


def test_outputs(template):
    outputs = template["Outputs"]
    assert outputs["ImageClassificationStateMachineArn"]["Value"] == {
        "Ref": "ImageClassificationStateMachine"
    }
    assert outputs["ImageBucketName"]["Value"] == {"Ref": "ImageBucket"}
    for logical_id in FUNCTIONS:
        assert outputs[f"{logical_id}Arn"]["Value"] == {"Fn::GetAtt": [logical_id, "Arn"]}


def test_environment_reaches_functions_from_parameters(deployment):
    classify = deployment.functions["ClassifyImageFunction"].environment
    assert classify["ENDPOINT_NAME"] == deployment.parameters["EndpointName"]
    # the bucket the stack created, under the name CloudFormation gave it
    assert classify["IMAGE_BUCKET"] == deployment.resources["ImageBucket"]
    assert classify["CLASS_LABELS"] == "bicycle,motorcycle"
    threshold = deployment.functions["FilterLowConfidenceFunction"].environment[
        "CONFIDENCE_THRESHOLD"]
    assert threshold == "0.93"


def test_the_endpoint_call_times_out_before_the_classify_function(deployment):
    # GIVEN the classify function's read timeout and its Lambda timeout, as deployed
    from scones.workflow.fault_matrix import CLIENT_READ_TIMEOUT_S

    classify = deployment.functions["ClassifyImageFunction"]
    read = int(classify.environment["ENDPOINT_READ_TIMEOUT_SECONDS"])
    timeout = classify.timeout
    # THEN a slow endpoint becomes a retryable EndpointUnavailable, not a killed function
    assert 0 < read < timeout
    # AND the fault matrix's "past the client timeout" scenario uses that same figure
    assert CLIENT_READ_TIMEOUT_S == read


def test_samconfig_deploys_and_validates_without_scripts():
    text = (REPO_ROOT / "samconfig.toml").read_text()
    import tomllib

    config = tomllib.loads(text)
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["resolve_s3"] is True and "CAPABILITY_IAM" in deploy["capabilities"]
    assert any(o.startswith("EndpointName=") for o in deploy["parameter_overrides"])
    assert config["default"]["validate"]["parameters"]["lint"] is True
