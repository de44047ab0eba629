"""Reading a CDK-synthesized CloudFormation template for local mode.

Local mode runs the state machine CDK synthesizes, not a copy of it. This module finds
the template in ``cdk.out/``, lists the resources local mode recreates in moto, and
resolves the intrinsic functions CDK emits (``Ref``, ``Fn::GetAtt``, ``Fn::Join``,
``Fn::Sub``, ``Fn::Select``, ``Fn::Split``) against the physical names and ARNs of
those local resources. Pure: no AWS calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackflow.errors import ConfigurationError

STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
FUNCTION_TYPE = "AWS::Lambda::Function"
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


@dataclass(frozen=True)
class Pseudo:
    """The pseudo parameters a template may reference (``AWS::Region`` ...)."""

    account_id: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    stack_name: str = "stackflow-local"

    def value(self, name: str) -> str | None:
        return {
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": "",
        }.get(name)


@dataclass
class Template:
    """One synthesized stack template and the local names of its resources."""

    path: Path
    body: Mapping[str, Any]
    pseudo: Pseudo = field(default_factory=Pseudo)
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    # Fn::ImportValue: export name -> the exporting resource's type, from sibling stacks
    exports: dict[str, str] = field(default_factory=dict)
    # Export name -> the logical id of the resource it exports (in its own template)
    export_ids: dict[str, str] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    # Exported database secrets: export name -> the username the secret is generated for
    secret_users: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        resources = self.body.get("Resources", {})
        return resources if isinstance(resources, Mapping) else {}

    def of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        """Logical id -> resource, for every resource of ``resource_type``."""
        return {lid: res for lid, res in self.resources.items()
                if res.get("Type") == resource_type}

    def properties(self, logical_id: str) -> Mapping[str, Any]:
        props = self.resources[logical_id].get("Properties", {})
        return props if isinstance(props, Mapping) else {}

    def bind(self, logical_id: str, ref: str, **attributes: str) -> None:
        """Record the physical name (``Ref``) and attributes of a local resource."""
        self.refs[logical_id] = ref
        for name, value in attributes.items():
            self.attributes[(logical_id, name)] = value

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function in ``value`` (recursively)."""
        return _Resolver(self).resolve(value)

    def physical_name(self, logical_id: str, name_property: str) -> str:
        """The explicit name a resource sets, or a CloudFormation-like generated one."""
        explicit = self.properties(logical_id).get(name_property)
        if explicit is not None:
            return str(self.resolve(explicit))
        return f"{self.pseudo.stack_name}-{logical_id}"[:64]


class _Resolver:
    def __init__(self, template: Template) -> None:
        self.template = template
        self.functions: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Join": self._join,
            "Fn::Sub": self._sub,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::ImportValue": self._import,
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key in self.functions:
                return self.functions[key](arg)
            if key.startswith("Fn::"):
                raise ConfigurationError(f"local mode cannot resolve {key} in {self.template.path}")
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: Any) -> str:
        pseudo = self.template.pseudo.value(str(name))
        if pseudo is not None:
            return pseudo
        if name in self.template.refs:
            return self.template.refs[name]
        raise ConfigurationError(f"Ref {name} is not a resource local mode creates")

    def _get_att(self, arg: Any) -> str:
        logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        key = (str(logical_id), str(self.resolve(attribute)))
        if key in self.template.attributes:
            return self.template.attributes[key]
        raise ConfigurationError(f"Fn::GetAtt {key[0]}.{key[1]} is not known in local mode")

    def _join(self, arg: Any) -> str:
        delimiter, parts = arg
        return str(delimiter).join(str(self.resolve(part)) for part in self.resolve(parts))

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        values = {key: str(self.resolve(item)) for key, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return values[name]
            if "." in name:
                return self._get_att(name)
            return self._ref(name)

        return _SUB_VARIABLE.sub(substitute, text).replace("${!", "${")

    def _import(self, arg: Any) -> str:
        # Another stack's output: local mode binds the ones it recreates (the database
        # secrets, the cluster); the rest resolve to a recognizable placeholder.
        name = str(self.resolve(arg))
        return self.template.imports.get(name, f"imported:{name}")

    def _select(self, arg: Any) -> Any:
        index, items = arg
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self.resolve(text)).split(str(delimiter))


def load_template(path: Path, pseudo: Pseudo | None = None) -> Template:
    """Parse one template file."""
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigurationError(f"cannot read template {path}: {e}") from e
    return Template(path=path, body=body, pseudo=pseudo or Pseudo())


def find_state_machine_template(cdk_out: Path, pseudo: Pseudo | None = None) -> Template:
    """The template in ``cdk_out`` that defines the deployment state machine."""
    candidates = sorted(cdk_out.glob("*.template.json")) if cdk_out.is_dir() else []
    for path in candidates:
        template = load_template(path, pseudo)
        if template.of_type(STATE_MACHINE_TYPE):
            for sibling in candidates:
                exporter = load_template(sibling, pseudo)
                template.exports.update(_exports(exporter))
                template.export_ids.update(_export_targets(exporter))
                template.secret_users.update(_secret_users(exporter))
            return template
    raise ConfigurationError(
        f"no template with an {STATE_MACHINE_TYPE} under {cdk_out}; "
        "run `python -m infra.app` (or `make synth`) first")


def _exports(template: Template) -> dict[str, str]:
    """Export name -> type of the resource the exported value refers to."""
    return {name: str(template.resources[target].get("Type"))
            for name, target in _export_targets(template)}


def _export_targets(template: Template) -> list[tuple[str, str]]:
    """(export name, logical id of the resource its value refers to)."""
    found = []
    for output in (template.body.get("Outputs") or {}).values():
        name = (output.get("Export") or {}).get("Name")
        value = output.get("Value")
        target = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0] \
            if isinstance(value, Mapping) else None
        if isinstance(name, str) and isinstance(target, str) and target in template.resources:
            found.append((name, target))
    return found


def _secret_users(template: Template) -> dict[str, str]:
    """Export name -> username, for exported secrets (or their attachments) whose
    generated value names a user (``GenerateSecretString.SecretStringTemplate``)."""
    found = {}
    for name, target in _export_targets(template):
        props = template.properties(target)
        if template.resources[target].get("Type") == "AWS::SecretsManager::SecretTargetAttachment":
            secret = props.get("SecretId")
            ref = secret.get("Ref") if isinstance(secret, Mapping) else None
            props = template.properties(ref) if isinstance(ref, str) \
                and ref in template.resources else {}
        generated = props.get("GenerateSecretString")
        text = generated.get("SecretStringTemplate") if isinstance(generated, Mapping) else None
        try:
            user = json.loads(text).get("username") if isinstance(text, str) else None
        except ValueError:
            user = None
        if isinstance(user, str):
            found[name] = user
    return found


def state_machine_definition(template: Template, logical_id: str | None = None) -> str:
    """The state machine's definition JSON with every reference resolved.

    CDK writes ``DefinitionString`` (usually an ``Fn::Join``) or ``Definition`` plus
    optional ``DefinitionSubstitutions``; both forms are handled.
    """
    machines = template.of_type(STATE_MACHINE_TYPE)
    if not machines:
        raise ConfigurationError(f"{template.path} defines no {STATE_MACHINE_TYPE}")
    lid = logical_id or next(iter(machines))
    props = template.properties(lid)
    if "DefinitionString" in props:
        text = str(template.resolve(props["DefinitionString"]))
    elif "Definition" in props:
        text = json.dumps(template.resolve(props["Definition"]))
    else:
        raise ConfigurationError(f"state machine {lid} has no definition")
    substitutions = template.resolve(props.get("DefinitionSubstitutions", {}))
    for key, item in substitutions.items():
        text = text.replace("${" + key + "}", str(item))
    json.loads(text)  # fail here, not inside the engine, on a broken definition
    return text
