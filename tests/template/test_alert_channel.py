"""One operations alert channel: a single encrypted SNS topic (AlertTopic), one optional e-mail
(AlertEmail) and one dead-letter queue (OperationsDeadLetterQueue), shared by the workflow-failure
rule (EventBridge) and the monitoring alarms (CloudWatch), and there without monitoring."""

from __future__ import annotations

import json

ALERT_SERVICES = {"events.amazonaws.com", "cloudwatch.amazonaws.com"}
DLQ = {"Fn::GetAtt": ["OperationsDeadLetterQueue", "Arn"]}


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


def test_the_key_lets_both_publishing_services_encrypt(resources):
    # GIVEN the topic's customer-managed key (alias/aws/sns would drop both services' messages)
    assert resources["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    key = resources["AlertTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    services = {}
    for statement in key["KeyPolicy"]["Statement"]:
        service = statement["Principal"].get("Service")
        if service:
            services[service] = statement
    # THEN EventBridge and CloudWatch each get exactly Decrypt and GenerateDataKey*, own account
    assert set(services) == ALERT_SERVICES
    for service, statement in services.items():
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"], service
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}, service


def test_the_topic_policy_names_every_publisher(resources):
    # GIVEN the topic policy (it replaces SNS's default one)
    policy = resources["AlertTopicPolicy"]["Properties"]
    assert policy["Topics"] == [{"Ref": "AlertTopic"}]
    statements = policy["PolicyDocument"]["Statement"]
    (rule,) = [s for s in statements if s.get("Sid") == "WorkflowFailedRulePublishes"]
    # THEN the workflow-failure rule may publish, and it targets AlertTopic
    assert rule["Principal"] == {"Service": "events.amazonaws.com"}
    assert rule["Action"] == "sns:Publish"
    assert rule["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["WorkflowFailedRule", "Arn"]}}}
    targets = resources["WorkflowFailedRule"]["Properties"]["Targets"]
    assert [t["Arn"] for t in targets] == [{"Ref": "AlertTopic"}]
    # AND with monitoring on, CloudWatch may publish for exactly the template's alarms
    (conditional,) = [s for s in statements if "Fn::If" in s]
    condition, alarms_statement, otherwise = conditional["Fn::If"]
    assert condition == "MonitoringEnabled" and otherwise == {"Ref": "AWS::NoValue"}
    assert alarms_statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms_statement["Action"] == "sns:Publish"
    named = alarms_statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    monitoring = {n: a for n, a in alarms.items() if n != "OperationsDeadLetterQueueAlarm"}
    assert sorted(a["Fn::GetAtt"][0] for a in named) == sorted(monitoring)
    for name, alarm in monitoring.items():
        assert alarm["Condition"] == "MonitoringEnabled", name
    # AND, always, CloudWatch may publish for the dead-letter alarm alone
    (dead_letter,) = [s for s in statements if s.get("Sid") == "DeadLetterAlarmPublishes"]
    assert dead_letter["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert dead_letter["Action"] == "sns:Publish"
    assert dead_letter["Condition"] == {"ArnEquals": {"aws:SourceArn": {
        "Fn::GetAtt": ["OperationsDeadLetterQueueAlarm", "Arn"]}}}


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
            elif key == "OnFailure" and isinstance(value, dict) and value.get("Type") == "SQS":
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
                      "AlertEmailSubscription"}
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
    (monitor,) = [s for s in sources if "Fn::If" in s]
    assert monitor["Fn::If"] == ["MonitoringEnabled",
                                 {"Fn::GetAtt": ["MonitorCapturesFunctionSchedule", "Arn"]},
                                 {"Ref": "AWS::NoValue"}]


def test_outputs_name_the_shared_channel(template):
    outputs = template["Outputs"]
    assert outputs["AlertTopicArn"]["Value"] == {"Ref": "AlertTopic"}
    assert "Condition" not in outputs["AlertTopicArn"]
    assert outputs["OperationsDeadLetterQueueUrl"]["Value"] == {
        "Ref": "OperationsDeadLetterQueue"}


def test_no_old_alert_names_remain(repo_root):
    # GIVEN the names the two separate channels used WHEN the template, docs, samconfig and the
    # local runtime are read THEN none of them is left
    old = ("AlarmTopic", "AlarmEmail", "WorkflowAlertTopic", "MonitorDeadLetterQueue",
           "EventDeliveryDeadLetterQueue", "HasAlarmEmail")
    paths = [repo_root / "template.yaml", repo_root / "samconfig.toml",
             *sorted((repo_root / "docs").glob("*.md")),
             *sorted((repo_root / "scones" / "local").glob("*.py"))]
    found = [(p.name, name) for p in paths if p.exists()
             for name in old if name in p.read_text(encoding="utf-8")]
    assert not found
