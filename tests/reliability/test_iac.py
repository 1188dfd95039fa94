"""The template's security review as tests (checkov and cfn-lint run in `make lint`).

IAM least privilege (no wildcard actions; ``Resource: "*"`` only for APIs that take no
resource), encryption at rest (S3, SNS, SQS), S3 TLS-only with public access blocked, a log
group with retention for every function and state machine, and a written reason for every
checkov check a resource skips.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scones.local.deploy import read_template

TEMPLATE = read_template(Path(__file__).resolve().parents[2] / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
# APIs that accept no resource ARN: AWS requires Resource "*" for them; no data behind them.
RESOURCELESS_ACTIONS = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups", "xray:PutTraceSegments",
    "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "cloudwatch:PutMetricData", "ecr:GetAuthorizationToken",
}


def of_type(*types: str) -> dict[str, dict]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] in types}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def identity_statements() -> list[tuple[str, dict]]:
    """Every Allow statement of a function's, state machine's or role's own policies."""
    found = []
    for name, resource in RESOURCES.items():
        props = resource.get("Properties", {})
        policies = list(as_list(props.get("Policies", [])))
        for policy in policies:
            if isinstance(policy, dict) and "Fn::If" in policy:  # conditional statement
                policies.extend(p for p in policy["Fn::If"][1:] if isinstance(p, dict))
                continue
            document = policy.get("PolicyDocument", policy) if isinstance(policy, dict) else {}
            for statement in as_list(document.get("Statement", [])):
                if statement.get("Effect") == "Allow":
                    found.append((name, statement))
    return found


def test_policies_exist_to_review():
    assert len(identity_statements()) >= 10


@pytest.mark.parametrize("name, statement", identity_statements(),
                         ids=lambda v: v if isinstance(v, str) else v.get("Sid", "statement"))
def test_no_wildcard_actions_and_no_star_resource_on_data(name, statement):
    actions = as_list(statement["Action"])
    # THEN no "*" or "service:*" action is granted
    assert not [a for a in actions if a == "*" or a.endswith(":*")], (name, actions)
    # AND Resource "*" only for the APIs that take no resource
    if "*" in as_list(statement.get("Resource", [])):
        assert set(actions) <= RESOURCELESS_ACTIONS, (name, actions)


def test_image_bucket_is_encrypted_private_and_tls_only():
    props = RESOURCES["ImageBucket"]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    policies = of_type("AWS::S3::BucketPolicy")
    denies_http = [s for p in policies.values()
                   for s in p["Properties"]["PolicyDocument"]["Statement"]
                   if s["Effect"] == "Deny"
                   and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert denies_http


@pytest.mark.parametrize("name", sorted(of_type("AWS::SNS::Topic")))
def test_topics_are_encrypted(name):
    assert RESOURCES[name]["Properties"].get("KmsMasterKeyId"), name


@pytest.mark.parametrize("name", sorted(of_type("AWS::SQS::Queue")))
def test_queues_are_encrypted(name):
    props = RESOURCES[name]["Properties"]
    assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), name


def _log_group_targets() -> set[str]:
    """Logical ids named in a LogGroupName (!Sub /aws/lambda/${Fn}) with a retention."""
    targets = set()
    for group in of_type("AWS::Logs::LogGroup").values():
        props = group["Properties"]
        assert props.get("RetentionInDays"), group
        name = props.get("LogGroupName", {})
        text = name.get("Fn::Sub", "") if isinstance(name, dict) else str(name)
        text = text[0] if isinstance(text, list) else text
        targets.update(part.split("}")[0].split(".")[0] for part in text.split("${")[1:])
    return targets


@pytest.mark.parametrize("name", sorted(of_type("AWS::Serverless::Function")))
def test_every_function_has_a_log_group_with_retention(name):
    assert name in _log_group_targets()


@pytest.mark.parametrize("name", sorted(of_type("AWS::Serverless::StateMachine")))
def test_every_state_machine_logs_to_a_group_with_retention(name):
    destinations = RESOURCES[name]["Properties"]["Logging"]["Destinations"]
    group = destinations[0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert RESOURCES[group]["Properties"]["RetentionInDays"]


def test_every_checkov_skip_has_a_written_reason():
    skips = [(name, skip) for name, resource in RESOURCES.items()
             for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])]
    assert skips
    for name, skip in skips:
        assert skip["id"].startswith("CKV_") and len(skip.get("comment", "")) >= 40, (name, skip)
