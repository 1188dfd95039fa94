"""Read the SAM template into what the local runtime needs: functions and state machines.

Stable API (used by the local runtime, the CLI and the tests)::

    from scones.local.template import load_app

    app = load_app(
        parameters={"EndpointName": "local-endpoint"},          # overrides of template defaults
        resource_names={"ImageBucket": "scones-local-images"},   # !Ref <Resource> -> physical name
    )
    spec = app.functions["ClassifyImageFunction"]                # FunctionSpec
    spec.code_dir, spec.handler, spec.environment, spec.layer_dirs, spec.timeout, spec.memory_size
    machine = app.state_machines["ImageClassificationStateMachine"]  # StateMachineSpec
    machine.definition                                           # ASL text, substitutions resolved

* ``load_template(path)`` parses YAML with the CloudFormation short tags (``!Ref``, ``!Sub``,
  ``!GetAtt``, ``!If``, ``!Join``, ``!Select``, ``!Split``, ``!Equals``, ...) into the long
  JSON form (``{"Ref": ...}``, ``{"Fn::Sub": ...}``).
* ``load_app(...)`` resolves ``Parameters`` (defaults + ``parameters`` overrides, checked
  against AllowedValues/AllowedPattern/MinValue/MaxValue), pseudo parameters (``AWS::Region``,
  ``AWS::AccountId``, ``AWS::Partition``, ``AWS::StackName``, ``AWS::URLSuffix``), and
  resources: ``!Ref Res`` -> ``resource_names[Res]``; ``!GetAtt Res.Arn`` ->
  ``resource_arns[Res]`` or, when absent, an ARN built from ``resource_names`` (the logical id
  when unnamed) for Lambda functions, S3 buckets, state machines and log groups. Anything else
  raises ``UnresolvedReference`` naming what is missing: no silent empty strings.
* Functions merge ``Globals.Function`` with their own properties the way SAM does (scalars:
  the function wins; ``Environment.Variables``: merged, the function wins; ``Layers``: globals
  first, then the function's). Values are returned as strings, as Lambda gives them.

Only template reading lives here; importing and running handlers is ``scones.local.lambdas``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_PARTITION = "aws"
DEFAULT_STACK_NAME = "scones-local"

FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
STATE_MACHINE_TYPE = "AWS::Serverless::StateMachine"


class TemplateError(ValueError):
    """The template cannot be read or resolved for local use."""


class UnresolvedReference(TemplateError):
    """A !Ref / !GetAtt / ${...} names something the caller did not provide."""


class InvalidParameterValue(TemplateError):
    """A parameter override breaks the template's constraints or names no parameter."""


# --------------------------------------------------------------------------- YAML loading


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form intrinsic tags."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML template (short tags -> long form) into plain data."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return data


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function, resolved for local execution."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]
    timeout: int
    memory_size: int
    runtime: str
    architectures: tuple[str, ...]
    function_name: str
    arn: str

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
class StateMachineSpec:
    """One AWS::Serverless::StateMachine with its ASL ready for ``create_state_machine``."""

    logical_id: str
    definition: str
    definition_path: Path
    substitutions: dict[str, str]
    type: str
    name: str
    arn: str

    @property
    def definition_json(self) -> dict[str, Any]:
        return json.loads(self.definition)


@dataclass(frozen=True)
class SamApp:
    """The template, resolved: parameters, functions and state machines by logical id."""

    template_path: Path
    template: dict[str, Any]
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    state_machines: dict[str, StateMachineSpec] = field(default_factory=dict)

    def function_for_arn(self, arn_or_name: str) -> FunctionSpec:
        """The function whose ARN, name or logical id is given (qualifiers ignored)."""
        wanted = arn_or_name
        if wanted.startswith("arn:"):
            parts = wanted.split(":")
            wanted = parts[6] if len(parts) > 6 else wanted
        for spec in self.functions.values():
            if wanted in (spec.function_name, spec.logical_id, spec.arn):
                return spec
        raise KeyError(f"no function in {self.template_path.name} for {arn_or_name!r}")


# --------------------------------------------------------------------------- resolution


_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


class _Resolver:
    """Evaluates intrinsic functions against parameters, pseudo parameters and resources."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, str],
        pseudo: dict[str, str],
        resource_names: Mapping[str, str],
        resource_arns: Mapping[str, str],
    ):
        self.template = template
        self.resources: dict[str, Any] = template.get("Resources", {})
        self.parameters = parameters
        self.pseudo = pseudo
        self.resource_names = dict(resource_names)
        self.resource_arns = dict(resource_arns)
        self._conditions: dict[str, bool] = {}

    # ---- references
    def physical_name(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise UnresolvedReference(f"{logical_id!r} is neither a parameter nor a resource")
        return self.resource_names.get(logical_id, logical_id)

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            kind = self.resources[name].get("Type", "")
            if kind == STATE_MACHINE_TYPE:  # Ref of a state machine is its ARN
                return self.get_att(name, "Arn")
            if kind == "AWS::SNS::Topic" and name not in self.resource_names:
                p, region, account = (self.pseudo["AWS::Partition"], self.pseudo["AWS::Region"],
                                      self.pseudo["AWS::AccountId"])
                return f"arn:{p}:sns:{region}:{account}:{name}"  # Ref of a topic is its ARN
            # functions and tables: the logical id unless resource_names names them
            if name in self.resource_names or kind in (FUNCTION_TYPE, "AWS::DynamoDB::Table"):
                return self.physical_name(name)
            raise UnresolvedReference(
                f"!Ref {name}: pass resource_names={{{name!r}: <local name>}}"
            )
        raise UnresolvedReference(f"!Ref {name}: no such parameter, pseudo parameter or resource")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise UnresolvedReference(f"!GetAtt {logical_id}.{attribute}: no such resource")
        if attribute != "Arn":
            raise UnresolvedReference(f"!GetAtt {logical_id}.{attribute}: only .Arn is resolved")
        if logical_id in self.resource_arns:
            return self.resource_arns[logical_id]
        kind = self.resources[logical_id].get("Type", "")
        name = self.physical_name(logical_id)
        p, region, account = (
            self.pseudo["AWS::Partition"],
            self.pseudo["AWS::Region"],
            self.pseudo["AWS::AccountId"],
        )
        if kind == FUNCTION_TYPE:
            return f"arn:{p}:lambda:{region}:{account}:function:{name}"
        if kind == STATE_MACHINE_TYPE:
            return f"arn:{p}:states:{region}:{account}:stateMachine:{name}"
        if kind == "AWS::S3::Bucket":
            return f"arn:{p}:s3:::{name}"
        if kind == "AWS::Logs::LogGroup":
            return f"arn:{p}:logs:{region}:{account}:log-group:{name}:*"
        raise UnresolvedReference(
            f"!GetAtt {logical_id}.Arn ({kind}): pass resource_arns={{{logical_id!r}: <arn>}}"
        )

    # ---- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions", {})
            if name not in conditions:
                raise UnresolvedReference(f"condition {name!r} is not defined")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    # ---- evaluation
    def substitute(self, text: str, variables: Mapping[str, Any] | None = None) -> str:
        variables = variables or {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and name.split(".", 1)[0] in self.resources:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        # "${!Literal}" stays "${Literal}" in CloudFormation.
        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = _INTRINSICS.get(key)
            if handler is not None:
                return handler(self, arg)
        return {key: self.resolve(item) for key, item in value.items()}


def _fn_sub(r: _Resolver, arg: Any) -> str:
    if isinstance(arg, list):
        text, variables = arg
        return r.substitute(text, variables)
    return r.substitute(arg)


def _fn_if(r: _Resolver, arg: list[Any]) -> Any:
    name, when_true, when_false = arg
    return r.resolve(when_true if r.condition(name) else when_false)


def _fn_join(r: _Resolver, arg: list[Any]) -> str:
    delimiter, items = arg
    return delimiter.join(str(item) for item in r.resolve(items))


def _fn_select(r: _Resolver, arg: list[Any]) -> Any:
    index, items = r.resolve(arg)
    return items[int(index)]


def _fn_split(r: _Resolver, arg: list[Any]) -> list[str]:
    delimiter, text = r.resolve(arg)
    return str(text).split(delimiter)


def _fn_getatt(r: _Resolver, arg: Any) -> str:
    logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
    return r.get_att(logical_id, attribute)


_INTRINSICS = {
    "Ref": lambda r, arg: r.ref(arg),
    "Condition": lambda r, arg: r.condition(arg),
    "Fn::Sub": _fn_sub,
    "Fn::GetAtt": _fn_getatt,
    "Fn::If": _fn_if,
    "Fn::Join": _fn_join,
    "Fn::Select": _fn_select,
    "Fn::Split": _fn_split,
    "Fn::Equals": lambda r, arg: str(r.resolve(arg[0])) == str(r.resolve(arg[1])),
    "Fn::Not": lambda r, arg: not r.resolve(arg[0]),
    "Fn::And": lambda r, arg: all(r.resolve(item) for item in arg),
    "Fn::Or": lambda r, arg: any(r.resolve(item) for item in arg),
}


def _as_text(value: Any) -> str:
    """CloudFormation hands every parameter and environment value over as a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_parameters(
    template: dict[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Template defaults updated with ``overrides``; every value checked and returned as text."""
    declared: dict[str, Any] = template.get("Parameters", {}) or {}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise InvalidParameterValue(f"unknown parameter(s) {unknown}; declared: {sorted(declared)}")
    values: dict[str, str] = {}
    for name, declaration in declared.items():
        if name in overrides:
            value = _as_text(overrides[name])
        elif "Default" in declaration:
            value = _as_text(declaration["Default"])
        else:
            raise InvalidParameterValue(f"parameter {name} has no default: pass parameters={{...}}")
        _check_parameter(name, value, declaration)
        values[name] = value
    return values


def _check_parameter(name: str, value: str, declaration: Mapping[str, Any]) -> None:
    allowed = declaration.get("AllowedValues")
    if allowed is not None and value not in [_as_text(a) for a in allowed]:
        raise InvalidParameterValue(f"{name}={value!r} is not one of {allowed}")
    pattern = declaration.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise InvalidParameterValue(f"{name}={value!r} does not match {pattern}")
    if declaration.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise InvalidParameterValue(f"{name}={value!r} is not a number") from None
        if "MinValue" in declaration and number < float(declaration["MinValue"]):
            raise InvalidParameterValue(f"{name}={value} < MinValue {declaration['MinValue']}")
        if "MaxValue" in declaration and number > float(declaration["MaxValue"]):
            raise InvalidParameterValue(f"{name}={value} > MaxValue {declaration['MaxValue']}")


# --------------------------------------------------------------------------- app


def _merged_function_properties(
    globals_function: Mapping[str, Any], properties: Mapping[str, Any]
) -> dict[str, Any]:
    merged = {**globals_function, **properties}
    global_env = (globals_function.get("Environment") or {}).get("Variables") or {}
    own_env = (properties.get("Environment") or {}).get("Variables") or {}
    merged["Environment"] = {"Variables": {**global_env, **own_env}}
    merged["Layers"] = list(globals_function.get("Layers") or []) + list(
        properties.get("Layers") or []
    )
    return merged


def _layer_dir(resolver: _Resolver, base: Path, layer: Any) -> Path:
    if not (isinstance(layer, dict) and set(layer) == {"Ref"}):
        raise TemplateError(
            f"layer {layer!r}: only !Ref to a LayerVersion in this template runs locally"
        )
    logical_id = layer["Ref"]
    resource = resolver.resources.get(logical_id, {})
    if resource.get("Type") != LAYER_TYPE:
        raise TemplateError(f"layer {logical_id!r} is not an {LAYER_TYPE} of this template")
    return (base / resource["Properties"]["ContentUri"]).resolve()


def load_app(
    template_path: str | Path = DEFAULT_TEMPLATE,
    *,
    parameters: Mapping[str, Any] | None = None,
    resource_names: Mapping[str, str] | None = None,
    resource_arns: Mapping[str, str] | None = None,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    partition: str = DEFAULT_PARTITION,
    stack_name: str = DEFAULT_STACK_NAME,
) -> SamApp:
    """Resolve the template for local execution (see the module docstring for the rules)."""
    template_path = Path(template_path).resolve()
    base = template_path.parent
    template = load_template(template_path)
    values = resolve_parameters(template, parameters)
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": partition,
        "AWS::StackName": stack_name,
        "AWS::URLSuffix": "amazonaws.com",
    }
    resolver = _Resolver(template, values, pseudo, resource_names or {}, resource_arns or {})
    globals_function = (template.get("Globals") or {}).get("Function") or {}

    functions: dict[str, FunctionSpec] = {}
    state_machines: dict[str, StateMachineSpec] = {}
    for logical_id, resource in template["Resources"].items():
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue  # CloudFormation does not create a resource whose Condition is false
        if kind == FUNCTION_TYPE:
            merged = _merged_function_properties(globals_function, properties)
            environment = {
                key: _as_text(resolver.resolve(value))
                for key, value in merged["Environment"]["Variables"].items()
            }

            def prop(name: str, default: Any, merged: dict[str, Any] = merged) -> Any:
                return resolver.resolve(merged.get(name, default))

            functions[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_dir=(base / prop("CodeUri", ".")).resolve(),
                handler=prop("Handler", ""),
                environment=environment,
                layer_dirs=tuple(_layer_dir(resolver, base, layer) for layer in merged["Layers"]),
                timeout=int(prop("Timeout", 3)),
                memory_size=int(prop("MemorySize", 128)),
                runtime=str(prop("Runtime", "")),
                architectures=tuple(prop("Architectures", None) or ["x86_64"]),
                function_name=resolver.physical_name(logical_id),
                arn=resolver.get_att(logical_id, "Arn"),
            )
        elif kind == STATE_MACHINE_TYPE:
            definition_path = (base / properties["DefinitionUri"]).resolve()
            substitutions = {
                key: _as_text(resolver.resolve(value))
                for key, value in (properties.get("DefinitionSubstitutions") or {}).items()
            }
            state_machines[logical_id] = StateMachineSpec(
                logical_id=logical_id,
                definition=substitute_definition(
                    definition_path.read_text(encoding="utf-8"), substitutions
                ),
                definition_path=definition_path,
                substitutions=substitutions,
                type=str(properties.get("Type", "STANDARD")),
                name=resolver.physical_name(logical_id),
                arn=resolver.get_att(logical_id, "Arn"),
            )
    return SamApp(
        template_path=template_path,
        template=template,
        parameters=values,
        functions=functions,
        state_machines=state_machines,
    )


def definition_placeholders(definition: str) -> set[str]:
    """The ``${Name}`` placeholders an ASL text uses (what DefinitionSubstitutions must fill)."""
    return set(_SUB_VARIABLE.findall(definition))


def substitute_definition(definition: str, substitutions: Mapping[str, str]) -> str:
    """Fill ``${Name}`` placeholders like DefinitionSubstitutions; a missing one raises."""
    missing = definition_placeholders(definition) - set(substitutions)
    if missing:
        raise UnresolvedReference(f"ASL placeholders without a substitution: {sorted(missing)}")
    return _SUB_VARIABLE.sub(lambda m: substitutions[m.group(1)], definition)
