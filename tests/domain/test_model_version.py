"""The model version the functions record results under: read from SSM at most once a minute
per function's client."""

from __future__ import annotations

import boto3
from moto import mock_aws

from scones_domain import config

PARAMETER = "/scones/model-version"


def test_each_function_client_keeps_its_own_cached_version(monkeypatch):
    # GIVEN the parameter and two functions' clients in one process (the local runtime shares
    # the domain module between functions), each call counted
    monkeypatch.setenv("MODEL_VERSION_PARAMETER", PARAMETER)
    monkeypatch.setattr(config, "_model_versions", {})
    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name=PARAMETER, Value="20261201-abcd1234", Type="String")
        clients = [boto3.client("ssm", region_name="us-east-1") for _ in range(2)]
        calls = []
        for client in clients:
            client.meta.events.register(
                "before-call.ssm.GetParameter",
                lambda client=client, **_: calls.append(client))
        # WHEN they read the version in turn, five times each
        versions = {config.model_version(clients[i % 2]) for i in range(10)}
    # THEN each client asked SSM once, and both got the version
    assert versions == {"20261201-abcd1234"}
    assert calls == clients


def test_a_changed_version_is_read_again_after_the_maximum_age(monkeypatch):
    # GIVEN a version read once
    monkeypatch.setenv("MODEL_VERSION_PARAMETER", PARAMETER)
    monkeypatch.setattr(config, "_model_versions", {})
    now = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name=PARAMETER, Value="v1", Type="String")
        assert config.model_version(ssm) == "v1"
        # WHEN a promotion writes a new one
        ssm.put_parameter(Name=PARAMETER, Value="v2", Type="String", Overwrite=True)
        # THEN the cached one holds within the maximum age, the new one after it
        now[0] += config.MODEL_VERSION_MAX_AGE_SECONDS - 1
        assert config.model_version(ssm) == "v1"
        now[0] += 2
        assert config.model_version(ssm) == "v2"
