"""scones.local.template: the local runtime's reading of template.yaml."""

from __future__ import annotations

import json
import textwrap

import pytest

from scones.local.template import (
    InvalidParameterValue,
    UnresolvedReference,
    load_app,
    load_template,
    substitute_definition,
)

MINI = textwrap.dedent(
    """\
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
      Size: {Type: Number, Default: 128, MinValue: 128, MaxValue: 1024}
    Conditions:
      IsProd: !Equals [!Ref Stage, prod]
    Globals:
      Function:
        Runtime: python3.13
        Timeout: 5
        Layers: [!Ref Lib]
        Environment:
          Variables: {SHARED: one, OVERRIDDEN: global}
    Resources:
      Lib:
        Type: AWS::Serverless::LayerVersion
        Properties: {ContentUri: lib/}
      Store:
        Type: AWS::S3::Bucket
      Work:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: work/
          Handler: app.lambda_handler
          MemorySize: !Ref Size
          Environment:
            Variables:
              OVERRIDDEN: own
              STORE: !Ref Store
              STORE_ARN: !GetAtt Store.Arn
              WHERE: !Sub "${AWS::Region}/${AWS::AccountId}/${Stage}/${Store}"
              JOINED: !Join [",", [a, !Ref Stage]]
              PICKED: !Select [1, !Split ["/", "x/y/z"]]
              MODE: !If [IsProd, strict, relaxed]
              LISTED: !Sub ["${A}-${B}", {A: !Ref Stage, B: !Ref Size}]
              ESCAPED: !Sub "${!NotAVariable}"
      Flow:
        Type: AWS::Serverless::StateMachine
        Properties:
          DefinitionUri: flow.asl.json
          DefinitionSubstitutions:
            WorkArn: !GetAtt Work.Arn
            Stage: !Ref Stage
    """
)
ASL = {
    "StartAt": "A",
    "States": {"A": {"Type": "Task", "Resource": "${WorkArn}", "Comment": "${Stage}", "End": True}},
}


@pytest.fixture
def mini(tmp_path):
    (tmp_path / "template.yaml").write_text(MINI)
    (tmp_path / "flow.asl.json").write_text(json.dumps(ASL))
    return tmp_path / "template.yaml"


def test_short_tags_become_the_long_form(mini):
    template = load_template(mini)
    env = template["Resources"]["Work"]["Properties"]["Environment"]["Variables"]
    assert env["STORE"] == {"Ref": "Store"}
    assert env["STORE_ARN"] == {"Fn::GetAtt": ["Store", "Arn"]}
    assert env["MODE"] == {"Fn::If": ["IsProd", "strict", "relaxed"]}


def test_function_spec_merges_globals_and_resolves_every_intrinsic(mini):
    # GIVEN the mini template with a local bucket name
    app = load_app(mini, resource_names={"Store": "local-store"}, region="eu-west-1")
    spec = app.functions["Work"]
    # THEN globals and own properties merge as SAM does (own values win)
    assert spec.environment == {
        "SHARED": "one",
        "OVERRIDDEN": "own",
        "STORE": "local-store",
        "STORE_ARN": "arn:aws:s3:::local-store",
        "WHERE": "eu-west-1/123456789012/dev/local-store",
        "JOINED": "a,dev",
        "PICKED": "y",
        "MODE": "relaxed",
        "LISTED": "dev-128",
        "ESCAPED": "${NotAVariable}",
    }
    assert (spec.timeout, spec.memory_size, spec.runtime) == (5, 128, "python3.13")
    assert spec.code_dir == mini.parent / "work"
    assert spec.layer_dirs == (mini.parent / "lib",)
    assert spec.arn == "arn:aws:lambda:eu-west-1:123456789012:function:Work"


def test_parameters_overrides_and_conditions(mini):
    app = load_app(mini, parameters={"Stage": "prod", "Size": 512}, resource_names={"Store": "s"})
    assert app.parameters == {"Stage": "prod", "Size": "512"}
    assert app.functions["Work"].environment["MODE"] == "strict"
    assert app.functions["Work"].memory_size == 512


@pytest.mark.parametrize(
    "parameters",
    [{"Stage": "test"}, {"Size": 64}, {"Size": 4096}, {"Size": "big"}, {"Nope": 1}],
    ids=["not-allowed", "below-min", "above-max", "not-number", "unknown"],
)
def test_bad_parameter_values_are_refused(mini, parameters):
    with pytest.raises(InvalidParameterValue):
        load_app(mini, parameters=parameters, resource_names={"Store": "s"})


def test_a_resource_without_a_local_name_is_an_error_not_an_empty_string(mini):
    with pytest.raises(UnresolvedReference, match="Store"):
        load_app(mini)


def test_state_machine_definition_gets_its_substitutions(mini):
    app = load_app(
        mini,
        resource_names={"Store": "s", "Work": "work-fn"},
        resource_arns={"Flow": "arn:aws:states:us-east-1:1:stateMachine:flow"},
    )
    machine = app.state_machines["Flow"]
    state = machine.definition_json["States"]["A"]
    assert state["Resource"] == "arn:aws:lambda:us-east-1:123456789012:function:work-fn"
    assert state["Comment"] == "dev"
    assert machine.arn == "arn:aws:states:us-east-1:1:stateMachine:flow"
    assert app.function_for_arn(state["Resource"]).logical_id == "Work"
    assert app.function_for_arn("work-fn:$LATEST".split(":")[0]).logical_id == "Work"


def test_missing_substitution_is_an_error():
    with pytest.raises(UnresolvedReference, match="Missing"):
        substitute_definition('{"a": "${Missing}"}', {})


def test_real_template_functions_get_the_template_environment(app):
    # GIVEN the shipped template resolved for local use
    serialize = app.functions["SerializeImageDataFunction"]
    # THEN Globals reach every function and per-function variables only their own
    assert serialize.environment["POWERTOOLS_SERVICE_NAME"] == "scones-vehicle-classifier"
    assert "ENDPOINT_NAME" not in serialize.environment
    assert serialize.environment["INLINE_IMAGE_MAX_BYTES"] == "150000"
    assert (serialize.timeout, serialize.memory_size) == (30, 512)


def test_function_specs_agree_with_the_sam_translator(template, app, monkeypatch):
    # GIVEN the template transformed by SAM itself (samtranslator, as `sam deploy` would;
    # local code URIs replaced by S3 ones, which is all packaging changes)
    import copy

    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    sam = copy.deepcopy(template)
    for name, resource in sam["Resources"].items():
        for uri in ("CodeUri", "ContentUri", "DefinitionUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = f"s3://packaged/{name}"
    cfn = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.session.Session(region_name="us-east-1"),
    ).translate(sam_template=sam, parameter_values={})
    # THEN every function load_app returns has what CloudFormation would give it
    for logical_id, spec in app.functions.items():
        deployed = cfn["Resources"][logical_id]["Properties"]
        variables = deployed.get("Environment", {}).get("Variables", {})
        assert set(variables) == set(spec.environment), logical_id
        for name, value in variables.items():
            if isinstance(value, str):
                assert spec.environment[name] == value, (logical_id, name)
        assert deployed["Handler"] == spec.handler
        assert deployed["Runtime"] == spec.runtime
        assert deployed["Timeout"] == spec.timeout
        assert deployed["MemorySize"] == spec.memory_size
        assert tuple(deployed["Architectures"]) == spec.architectures
        layers = [layer["Ref"] for layer in deployed.get("Layers", [])]
        assert len(layers) == len(spec.layer_dirs), logical_id
        assert all(layer.startswith("SharedLayer") for layer in layers), logical_id
