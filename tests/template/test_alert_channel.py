"""One operations alert channel: a single encrypted SNS topic (AlertTopic), one optional e-mail
(AlertEmail) and one dead-letter queue (OperationsDeadLetterQueue), shared by the workflow-failure
rule (EventBridge) and the monitoring alarms (CloudWatch), and there without monitoring."""

from __future__ import annotations

import copy
import json

DLQ = {"Fn::GetAtt": ["OperationsDeadLetterQueue", "Arn"]}
KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey*"]

# The request-context condition keys each service principal brings to KMS when it publishes to
# an SSE-encrypted SNS topic (SNS developer guide, "Enable compatibility between event sources
# from AWS services and encrypted topics", https://docs.aws.amazon.com/sns/latest/dg/
# sns-key-management.html#compatibility-with-aws-services): CloudWatch alarms send
# aws:SourceAccount and aws:SourceArn (the alarm); for EventBridge the guide marks
# aws:SourceAccount, aws:SourceArn and aws:SourceOrgID as not supported, so it sends none of
# them. A key-policy statement that requires a key its service does not send never matches:
# that service's messages are dropped without an error anyone sees.
SENT_CONDITION_KEYS = {
    "cloudwatch.amazonaws.com": {"aws:sourceaccount", "aws:sourcearn"},
    "events.amazonaws.com": set(),
}


def of_type(resources, kind):
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_one_topic_one_queue_one_email_parameter(template, resources):
    # GIVEN the template WHEN its topics, queues and e-mail parameters are listed
    # THEN there is exactly one of each, named AlertTopic / OperationsDeadLetterQueue / AlertEmail
    assert set(of_type(resources, "AWS::SNS::Topic")) == {"AlertTopic"}
    assert set(of_type(resources, "AWS::SQS::Queue")) == {"OperationsDeadLetterQueue"}
    assert [p for p in template["Parameters"] if "mail" in p.lower()] == ["AlertEmail"]
    assert template["Parameters"]["AlertEmail"]["Default"] == ""
    # AND the one subscription is that address, only when it is given, with the queue as DLQ
    (subscription,) = of_type(resources, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlertEmail"
    assert template["Conditions"]["HasAlertEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}
    props = subscription["Properties"]
    assert props["TopicArn"] == {"Ref": "AlertTopic"} and props["Protocol"] == "email"
    assert props["Endpoint"] == {"Ref": "AlertEmail"}
    assert props["RedrivePolicy"]["deadLetterTargetArn"] == DLQ


def test_the_channel_exists_without_monitoring(resources):
    # GIVEN monitoring off (CaptureS3Uri empty) THEN topic, key, policies and queue remain
    for name in ("AlertTopic", "AlertTopicKey", "AlertTopicPolicy", "OperationsDeadLetterQueue",
                 "OperationsDeadLetterQueuePolicy"):
        assert "Condition" not in resources[name], name


def key_policy_statements(resources):
    """(key, statement) of every statement of every KMS key policy in the template."""
    for name, resource in of_type(resources, "AWS::KMS::Key").items():
        for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
            yield name, statement


def condition_keys(statement) -> set[str]:
    """The condition keys a statement requires (IAM condition keys are case-insensitive)."""
    return {key.lower() for operator in (statement.get("Condition") or {}).values()
            for key in operator}


def key_grants_that_never_match(resources) -> tuple[list[str], int]:
    """(problems, service statements checked) over every KMS key policy of ``resources``: a
    service missing from SENT_CONDITION_KEYS, or a statement requiring a key its service
    does not send."""
    problems, checked = [], 0
    for key, statement in key_policy_statements(resources):
        for service in as_list(statement["Principal"].get("Service") or []):
            checked += 1
            if service not in SENT_CONDITION_KEYS:  # add it, from AWS's documentation
                problems.append(f"{key}: {service} is not in the table")
                continue
            unsent = condition_keys(statement) - SENT_CONDITION_KEYS[service]
            if unsent:
                problems.append(f"{key}/{statement.get('Sid')}: {service} does not send "
                                f"{sorted(unsent)}")
    return problems, checked


def test_no_service_key_statement_requires_a_condition_key_its_service_does_not_send(resources):
    # GIVEN every statement of every KMS key policy that names a service principal
    problems, checked = key_grants_that_never_match(resources)
    # THEN each service is in the table and sends every condition key its statement requires
    assert checked  # the alarms' statement at least
    assert problems == []


def test_the_check_catches_a_key_grant_to_eventbridge_conditioned_on_the_source_account(
        resources):
    # GIVEN the shipped template with the topic key also granted to EventBridge, on the
    # condition of aws:SourceAccount (a key EventBridge does not send: its messages would be
    # dropped without an error anyone sees)
    changed = copy.deepcopy(resources)
    changed["AlertTopicKey"]["Properties"]["KeyPolicy"]["Statement"].append({
        "Sid": "EventBridgePublishes", "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"}, "Action": KMS_ACTIONS,
        "Resource": "*", "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}})
    # WHEN the check reads it  THEN that statement, and only it, is reported
    problems, _ = key_grants_that_never_match(changed)
    assert problems == ["AlertTopicKey/EventBridgePublishes: events.amazonaws.com does not send "
                        "['aws:sourceaccount']"]


def test_the_key_lets_the_alarms_and_the_alert_function_encrypt(resources):
    # GIVEN the topic's customer-managed key (alias/aws/sns would drop the alarms' messages)
    assert resources["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    key = resources["AlertTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    services = {statement["Principal"]["Service"]: statement
                for statement in key["KeyPolicy"]["Statement"]
                if "Service" in statement["Principal"]}
    # THEN CloudWatch (the alarms publish directly) gets exactly Decrypt and GenerateDataKey*
    # for its own account, and no other service is granted the key
    assert set(services) == {"cloudwatch.amazonaws.com"}
    statement = services["cloudwatch.amazonaws.com"]
    assert sorted(statement["Action"]) == KMS_ACTIONS
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # AND the account delegates the key to IAM, where the alert function's role gets its use
    (root,) = [s for s in key["KeyPolicy"]["Statement"] if "AWS" in s["Principal"]]
    assert root["Principal"]["AWS"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    (encrypt,) = [s for p in resources["AlertMessageFunction"]["Properties"]["Policies"]
                  for s in p["Statement"] if s["Sid"] == "EncryptAlerts"]
    assert sorted(encrypt["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert encrypt["Resource"] == {"Fn::GetAtt": ["AlertTopicKey", "Arn"]}


def test_the_topic_policy_names_every_publisher(resources):
    # GIVEN the topic policy (it replaces SNS's default one)
    policy = resources["AlertTopicPolicy"]["Properties"]
    assert policy["Topics"] == [{"Ref": "AlertTopic"}]
    statements = policy["PolicyDocument"]["Statement"]
    # THEN no service but CloudWatch may publish (the workflow-failure rule goes through
    # AlertMessageFunction, which publishes with its role's own sns:Publish on the topic)
    services = {service for s in statements for service in as_list(
        (s.get("Principal") or {}).get("Service") or [])}
    services |= {s["Fn::If"][1]["Principal"]["Service"] for s in statements if "Fn::If" in s}
    assert services == {"cloudwatch.amazonaws.com"}
    targets = resources["WorkflowFailedRule"]["Properties"]["Targets"]
    assert [t["Arn"] for t in targets] == [{"Fn::GetAtt": ["AlertMessageFunction", "Arn"]}]
    (publish,) = [s for p in resources["AlertMessageFunction"]["Properties"]["Policies"]
                  for s in p["Statement"] if s["Sid"] == "PublishAlerts"]
    assert publish["Action"] == "sns:Publish" and publish["Resource"] == {"Ref": "AlertTopic"}
    assert resources["AlertMessageFunction"]["Properties"]["Environment"]["Variables"][
        "ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}
    # AND with monitoring on, CloudWatch may publish for exactly the template's alarms
    (conditional,) = [s for s in statements if "Fn::If" in s]
    condition, alarms_statement, otherwise = conditional["Fn::If"]
    assert condition == "MonitoringEnabled" and otherwise == {"Ref": "AWS::NoValue"}
    assert alarms_statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms_statement["Action"] == "sns:Publish"
    named = alarms_statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    monitoring = {n: a for n, a in alarms.items()
                  if n not in ("OperationsDeadLetterQueueAlarm", "EndpointErrorsAlarm")}
    assert sorted(a["Fn::GetAtt"][0] for a in named) == sorted(monitoring)
    for name, alarm in monitoring.items():
        assert alarm["Condition"] == "MonitoringEnabled", name
    # AND, always, CloudWatch may publish for the dead-letter alarm alone
    (dead_letter,) = [s for s in statements if s.get("Sid") == "DeadLetterAlarmPublishes"]
    assert dead_letter["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert dead_letter["Action"] == "sns:Publish"
    assert dead_letter["Condition"] == {"ArnEquals": {"aws:SourceArn": {
        "Fn::GetAtt": ["OperationsDeadLetterQueueAlarm", "Arn"]}}}
    # AND, always, for the endpoint's errors alarm (the promotion's rollback alarm)
    (endpoint,) = [s for s in statements if s.get("Sid") == "EndpointErrorsAlarmPublishes"]
    assert endpoint["Action"] == "sns:Publish"
    assert endpoint["Condition"] == {"ArnEquals": {"aws:SourceArn": {
        "Fn::GetAtt": ["EndpointErrorsAlarm", "Arn"]}}}


def test_a_dead_letter_raises_an_alert_without_monitoring(resources):
    # GIVEN the dead-letter queue's alarm
    alarm = resources["OperationsDeadLetterQueueAlarm"]
    props = alarm["Properties"]
    # THEN it exists with monitoring off and fires on the first visible message in the queue
    assert "Condition" not in alarm
    assert (props["Namespace"], props["MetricName"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": {
        "Fn::GetAtt": ["OperationsDeadLetterQueue", "QueueName"]}}]
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    # AND it alerts on the one topic, and again when the queue is empty
    assert props["AlarmActions"] == [{"Ref": "AlertTopic"}]
    assert props["OKActions"] == [{"Ref": "AlertTopic"}]


def _dead_letter_references(node, path=""):
    """(path, value) of every DeadLetterConfig Arn, OnFailure destination and SNS redrive."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}/{key}"
            if key == "DeadLetterConfig":
                yield here, value["Arn"]
            elif key == "OnFailure" and isinstance(value, dict) and (
                    value.get("Type") == "SQS" or path.endswith("/DestinationConfig")):
                yield here, value["Destination"]
            elif key == "deadLetterTargetArn":
                yield here, value
            else:
                yield from _dead_letter_references(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _dead_letter_references(value, f"{path}/{i}")


def test_every_dead_letter_goes_to_the_one_queue_which_admits_each_source(resources):
    # GIVEN every dead-letter reference in the template
    references = list(_dead_letter_references(resources))
    # THEN the upload rule, the alert rule, the monitor's schedule and async runs, and the
    # e-mail subscription all use OperationsDeadLetterQueue
    places = {path.split("/")[1] for path, _ in references}
    assert places == {"ImageUploadedRule", "WorkflowFailedRule", "MonitorCapturesFunction",
                      "AlertMessageFunctionAsyncInvokeConfig", "AlertEmailSubscription",
                      "RetrainingStateMachine", "ModelDriftRetrainingRule",
                      "ModelPackageApprovedRule"}
    assert all(value == DLQ for _, value in references), references
    # AND its policy admits exactly those EventBridge/SNS sources (the schedule rule SAM makes
    # only with monitoring on)
    (statement,) = resources["OperationsDeadLetterQueuePolicy"]["Properties"][
        "PolicyDocument"]["Statement"]
    assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == DLQ
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    text = json.dumps(sources)
    for source in ("ImageUploadedRule", "WorkflowFailedRule", "AlertTopic"):
        assert f'"{source}"' in text, source
    assert {"Fn::GetAtt": ["RetrainingStateMachineSchedule", "Arn"]} in sources
    conditional = [s["Fn::If"] for s in sources if "Fn::If" in s]
    assert conditional == [
        ["MonitoringEnabled", {"Fn::GetAtt": ["MonitorCapturesFunctionSchedule", "Arn"]},
         {"Ref": "AWS::NoValue"}],
        ["MonitoringEnabled", {"Fn::GetAtt": ["ModelDriftRetrainingRule", "Arn"]},
         {"Ref": "AWS::NoValue"}],
        ["ManualApproval", {"Fn::GetAtt": ["ModelPackageApprovedRule", "Arn"]},
         {"Ref": "AWS::NoValue"}]]


def test_outputs_name_the_shared_channel(template):
    outputs = template["Outputs"]
    assert outputs["AlertTopicArn"]["Value"] == {"Ref": "AlertTopic"}
    assert "Condition" not in outputs["AlertTopicArn"]
    assert outputs["OperationsDeadLetterQueueUrl"]["Value"] == {
        "Ref": "OperationsDeadLetterQueue"}


def test_the_alert_function_is_retried_then_dead_lettered(resources):
    # GIVEN the alert function's asynchronous invoke configuration (EventBridge invokes it)
    config = resources["AlertMessageFunctionAsyncInvokeConfig"]["Properties"]
    # THEN a run that still fails after Lambda's retries goes to the dead-letter queue
    assert config["FunctionName"] == {"Ref": "AlertMessageFunction"}
    assert config["Qualifier"] == "$LATEST" and config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == DLQ
    # AND its role may send there (Lambda delivers the destination with the function's role)
    (send,) = [s for p in resources["AlertMessageFunction"]["Properties"]["Policies"]
               for s in p["Statement"] if s["Sid"] == "SendFailedRunsToDeadLetterQueue"]
    assert send["Action"] == "sqs:SendMessage" and send["Resource"] == DLQ
