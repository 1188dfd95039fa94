"""Deploy a SAM template into moto the way ``sam deploy`` deploys it into AWS.

1. **package** (``sam package``): every local ``CodeUri``, ``ContentUri`` and ``DefinitionUri``
   is uploaded to an artifacts bucket and replaced by its ``s3://`` URI;
2. **transform**: the real SAM translator (``samtranslator``, what CloudFormation's
   ``AWS::Serverless-2016-10-31`` transform and the SAM CLI run) turns the packaged template
   into plain CloudFormation;
3. **create_stack**: moto's CloudFormation creates the resources, resolving every ``Ref``,
   ``GetAtt``, ``Sub``, condition and parameter;
4. what moto's CloudFormation leaves out is completed by :mod:`scones.local.moto_adapter`, one
   function per gap.

Every name, ARN, environment variable, layer and substitution the local runtime uses is then
read back from the stack (``list_stack_resources``, ``get_function_configuration``, stack
outputs): nothing is resolved by hand. Physical names are generated the way CloudFormation
generates them (``<stack>-<LogicalId>-<suffix>``), seeded per stack so they repeat between runs.

    with mock_aws(config=MOTO_CONFIG):
        deployment = deploy(parameters={"EndpointName": "local"})
        deployment.functions["ClassifyImageFunction"].environment["IMAGE_BUCKET"]
        deployment.resources["ImageBucket"]          # the bucket's physical name
"""

from __future__ import annotations

import copy
import functools
import io
import json
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scones.local import moto_adapter

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_STACK_NAME = "scones-local"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ARTIFACTS_BUCKET = "scones-local-artifacts"
# what a local path means in each SAM property that `sam package` uploads
PACKAGED_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")


class DeployError(Exception):
    """The template cannot be packaged, transformed or created as a stack."""


@dataclass(frozen=True)
class Function:
    """One deployed Lambda function, as its configuration reads, with its local code."""

    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    architectures: tuple[str, ...]
    environment: dict[str, str]
    code_dir: Path
    layer_dirs: tuple[Path, ...]

    @property
    def module_name(self) -> str:
        """``app`` for ``app.lambda_handler``."""
        return self.handler.rsplit(".", 1)[0]

    @property
    def handler_name(self) -> str:
        """``lambda_handler`` for ``app.lambda_handler``."""
        return self.handler.rsplit(".", 1)[1]

    @property
    def module_path(self) -> Path:
        return self.code_dir / (self.module_name.replace(".", "/") + ".py")


@dataclass(frozen=True)
class StateMachine:
    """One deployed state machine: its ASL with the substitutions filled in."""

    logical_id: str
    name: str
    arn: str
    type: str
    definition: str
    substitutions: dict[str, str]

    @property
    def definition_json(self) -> dict[str, Any]:
        return json.loads(self.definition)


@dataclass(frozen=True)
class Deployment:
    """A template deployed as a stack: its resources by logical id, read back from moto."""

    stack_name: str
    template_path: Path
    parameters: dict[str, str]  # every parameter's value, defaults included
    resources: dict[str, str]  # logical id -> physical id
    outputs: dict[str, str]
    functions: dict[str, Function]
    state_machines: dict[str, StateMachine]
    template: dict[str, Any]  # the transformed (plain CloudFormation) template

    def function_for(self, name_or_arn: str) -> Function:
        """The function with this logical id, name or ARN (a qualifier is ignored)."""
        wanted = name_or_arn.split(":")[6] if name_or_arn.startswith("arn:") else name_or_arn
        for function in self.functions.values():
            if wanted in (function.logical_id, function.name):
                return function
        raise KeyError(f"no function of {self.template_path.name} is called {name_or_arn!r}; "
                       f"choose one of {sorted(self.functions)}")


# --------------------------------------------------------------------------- reading


def read_template(path: str | Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """The SAM template as data, short tags (``!Ref``) in their long form (``{"Ref": ...}``),
    read by the SAM translator's own YAML reader."""
    from samtranslator.yaml_helper import yaml_parse

    try:
        data = yaml_parse(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeployError(f"cannot read template {path}: {exc.strerror}") from exc
    if not isinstance(data, dict) or "Resources" not in data:
        raise DeployError(f"{path} is not a CloudFormation template (no Resources)")
    return data


def parameter_defaults(path: str | Path = DEFAULT_TEMPLATE) -> dict[str, str]:
    """Each parameter's default as CloudFormation hands it over (text)."""
    return {name: moto_adapter.as_text(declaration["Default"])
            for name, declaration in (read_template(path).get("Parameters") or {}).items()
            if "Default" in declaration}


# --------------------------------------------------------------------------- sam package


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def package(template: dict[str, Any], base: Path, s3: Any,
            bucket: str = ARTIFACTS_BUCKET) -> tuple[dict[str, Any], dict[str, Path]]:
    """``sam package``: upload every local artifact; the packaged template and, for each
    uploaded ``s3://`` URI, the local path it came from."""
    packaged, artifacts = copy.deepcopy(template), {}
    for logical_id, resource in packaged["Resources"].items():
        properties = resource.get("Properties") or {}
        for name in PACKAGED_PROPERTIES:
            value = properties.get(name)
            if not isinstance(value, str) or value.startswith("s3://"):
                continue
            path = (base / value).resolve()
            if not path.exists():
                raise DeployError(f"{logical_id}.{name}: {value} does not exist under {base}")
            key = f"{logical_id}/{path.name}" + (".zip" if path.is_dir() else "")
            s3.put_object(Bucket=bucket, Key=key,
                          Body=_zip_directory(path) if path.is_dir() else path.read_bytes())
            properties[name] = f"s3://{bucket}/{key}"
            artifacts[properties[name]] = path
    return packaged, artifacts


def transform(packaged: dict[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    """The SAM translator's CloudFormation for a packaged template."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=REGION))
    try:
        return translator.translate(copy.deepcopy(packaged), parameter_values=dict(parameters),
                                    get_managed_policy_map=lambda: {})
    except InvalidDocumentException as exc:
        raise DeployError("; ".join(str(cause) for cause in exc.causes)) from exc


# --------------------------------------------------------------------------- deploy


def _stack_resources(cloudformation: Any, stack_name: str) -> dict[str, str]:
    resources: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(
            StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            if summary.get("LogicalResourceId"):  # moto lists skipped resources without one
                resources[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
    return resources


def _function(client: Any, logical_id: str, name: str, template: dict[str, Any],
              artifacts: Mapping[str, Path]) -> Function:
    config = client.get_function_configuration(FunctionName=name)
    code = template["Resources"][logical_id]["Properties"]["Code"]
    layer_dirs, architectures = moto_adapter.dropped_function_properties(template, logical_id,
                                                                         artifacts)
    return Function(
        logical_id=logical_id, name=name, arn=config["FunctionArn"], handler=config["Handler"],
        runtime=config["Runtime"], timeout=int(config["Timeout"]),
        memory_size=int(config["MemorySize"]),
        architectures=architectures,
        environment=moto_adapter.text_environment(client, config),
        code_dir=artifacts[f"s3://{code['S3Bucket']}/{code['S3Key']}"],
        layer_dirs=layer_dirs,
    )


def deploy(template: str | Path = DEFAULT_TEMPLATE, *,
           parameters: Mapping[str, Any] | None = None,
           stack_name: str = DEFAULT_STACK_NAME) -> Deployment:
    """Package, transform and create ``template`` as a stack in the active moto mock."""
    import boto3

    path = Path(template).resolve()
    sam_template = read_template(path)
    values = moto_adapter.check_parameters(sam_template, parameters or {})
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
    packaged, artifacts = package(sam_template, path.parent, s3)
    cfn = moto_adapter.with_substitution_outputs(transform(packaged, values))
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    moto_adapter.seed_physical_names(stack_name)
    with moto_adapter.create_stack_adapted():
        cloudformation.create_stack(
            StackName=stack_name, TemplateBody=json.dumps(cfn),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        resources = _stack_resources(cloudformation, stack_name)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise DeployError(f"stack {stack_name}: {stack['StackStatus']} "
                          f"{stack.get('StackStatusReason', '')}".strip())
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    lambda_client = boto3.client("lambda", region_name=REGION)
    functions = {logical_id: _function(lambda_client, logical_id, resources[logical_id], cfn,
                                       artifacts)
                 for logical_id, resource in cfn["Resources"].items()
                 if resource["Type"] == "AWS::Lambda::Function" and logical_id in resources}
    machines = moto_adapter.create_state_machines(cfn, resources, outputs, REGION)
    moto_adapter.enable_bucket_events(cfn, resources, REGION)
    return Deployment(
        stack_name=stack_name, template_path=path, parameters=values, resources=resources,
        outputs={k: v for k, v in outputs.items() if not moto_adapter.is_substitution_output(k)},
        functions=functions,
        state_machines={m["logical_id"]: StateMachine(**m) for m in machines},
        template=cfn)


@functools.lru_cache(maxsize=16)
def _describe(template: Path, mtime: float, parameters: str, stack_name: str) -> Deployment:
    code = ("import json, pickle, sys; from moto import mock_aws; "
            "from scones.local.deploy import deploy; from scones.local.moto_adapter import "
            "MOTO_CONFIG\nwith mock_aws(config=MOTO_CONFIG): sys.stdout.buffer.write("
            "pickle.dumps(deploy(sys.argv[1], parameters=json.loads(sys.argv[2]), "
            "stack_name=sys.argv[3])))")
    done = subprocess.run([sys.executable, "-c", code, str(template), parameters, stack_name],
                          capture_output=True, check=False)
    if done.returncode:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise DeployError(lines[-1] if lines else f"deploy exited {done.returncode}")
    return pickle.loads(done.stdout)  # noqa: S301 - our own child process's output


def describe(template: str | Path = DEFAULT_TEMPLATE, *,
             parameters: Mapping[str, Any] | None = None,
             stack_name: str = DEFAULT_STACK_NAME) -> Deployment:
    """What :func:`deploy` gives, for reading names, environments and definitions without a
    stack to keep (e.g. in tests): deployed into a moto of its own in a child process, so the
    caller's moto (if any) is untouched; cached per template and parameters."""
    path = Path(template).resolve()
    text = json.dumps({k: moto_adapter.as_text(v) for k, v in (parameters or {}).items()},
                      sort_keys=True)
    return _describe(path, path.stat().st_mtime, text, stack_name)
