"""A CDK cloud assembly (``cdk.out/``) as plain data: stacks, templates, file assets.

The manifest says, per stack, its template, the bootstrap's CloudFormation execution
role, the S3 URL its template is published to and the asset manifest listing every file
to publish first. Names in those carry ``${AWS::AccountId}``, ``${AWS::Region}`` and
``${AWS::Partition}`` until :class:`AwsTarget` resolves them for the caller's account.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackflow.errors import ConfigurationError, SynthesisFailed

STACK_ARTIFACT = "aws:cloudformation:stack"
ASSET_MANIFEST = "cdk:asset-manifest"
UNKNOWN_ACCOUNT, UNKNOWN_REGION = "unknown-account", "unknown-region"
AGNOSTIC = f"aws://{UNKNOWN_ACCOUNT}/{UNKNOWN_REGION}"  # an environment-agnostic stack


@dataclass(frozen=True)
class AwsTarget:
    """The account, region and partition the placeholders in a manifest stand for."""

    account: str
    region: str

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        return "aws-us-gov" if self.region.startswith("us-gov-") else "aws"

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    def resolve(self, text: str) -> str:
        return (text.replace("${AWS::AccountId}", self.account)
                .replace("${AWS::Region}", self.region)
                .replace("${AWS::Partition}", self.partition))

    def https_url(self, s3_url: str) -> str:
        """``s3://bucket/key`` -> the HTTPS URL CloudFormation's ``TemplateURL`` takes."""
        bucket, _, key = self.resolve(s3_url).removeprefix("s3://").partition("/")
        return f"https://s3.{self.region}.{self.url_suffix}/{bucket}/{key}"


@dataclass(frozen=True)
class FileAsset:
    """One file to upload before a change set can use it (a zip or a template)."""

    source: Path
    packaging: str
    bucket: str
    key: str


@dataclass(frozen=True)
class StackArtifact:
    """One stack of the assembly."""

    name: str
    template_file: Path
    environment: str = AGNOSTIC
    template_url: str = ""
    execution_role: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    depends_on: tuple[str, ...] = ()
    assets: tuple[FileAsset, ...] = ()
    docker_images: tuple[str, ...] = ()

    def template(self) -> dict[str, Any]:
        return read_json(self.template_file)

    @property
    def template_asset(self) -> FileAsset | None:
        """The asset that publishes the template to :attr:`template_url`."""
        key = self.template_url.partition("//")[2].partition("/")[2]
        return next((a for a in self.assets if a.key == key), None)

    def check_target(self, target: AwsTarget) -> None:
        """Refuse a stack pinned to another account or region than the caller's."""
        account, _, region = self.environment.removeprefix("aws://").partition("/")
        for pinned, actual, what in ((account, target.account, "account"),
                                     (region, target.region, "region")):
            if pinned not in (UNKNOWN_ACCOUNT, UNKNOWN_REGION, actual):
                raise ConfigurationError(
                    f"stack {self.name} is pinned to {what} {pinned}; the AWS credentials "
                    f"and region in use are for {actual}")


@dataclass(frozen=True)
class CloudAssembly:
    """The stacks of one synthesis, in deployment order (dependencies first)."""

    directory: Path
    stacks: tuple[StackArtifact, ...]
    source: str = ""  # what was synthesized: "working tree", "git <sha>", a folder

    def stack(self, name: str) -> StackArtifact | None:
        return next((s for s in self.stacks if s.name == name), None)

    def templates(self) -> dict[str, dict[str, Any]]:
        return {s.name: s.template() for s in self.stacks}


def read_json(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SynthesisFailed(f"cannot read {path}: {e}") from e
    if not isinstance(body, dict):
        raise SynthesisFailed(f"{path} is not a JSON object")
    return body


def load_assembly(directory: Path, *, source: str = "") -> CloudAssembly:
    """The cloud assembly in ``directory`` (its ``manifest.json``)."""
    manifest = read_json(directory / "manifest.json")
    artifacts: Mapping[str, Any] = manifest.get("artifacts", {})
    names = {aid: a.get("properties", {}).get("stackName", aid)
             for aid, a in artifacts.items() if a.get("type") == STACK_ARTIFACT}
    stacks = [_stack(directory, aid, artifacts, names) for aid in names]
    return CloudAssembly(directory=directory, stacks=_in_order(stacks), source=source)


def load_templates(directory: Path) -> dict[str, dict[str, Any]]:
    """Stack name -> template of an assembly, or of a folder of ``*.template.json``."""
    if (directory / "manifest.json").is_file():
        return load_assembly(directory).templates()
    found = {p.name.removesuffix(".template.json"): read_json(p)
             for p in sorted(directory.glob("*.template.json"))}
    if not found:
        raise SynthesisFailed(f"{directory} holds no manifest.json and no *.template.json")
    return found


def _stack(directory: Path, artifact_id: str, artifacts: Mapping[str, Any],
           names: Mapping[str, str]) -> StackArtifact:
    artifact = artifacts[artifact_id]
    props = artifact.get("properties", {})
    deps = artifact.get("dependencies", [])
    assets, docker = _assets(directory, deps, artifacts)
    return StackArtifact(
        name=names[artifact_id], template_file=directory / props["templateFile"],
        environment=artifact.get("environment", AGNOSTIC),
        template_url=props.get("stackTemplateAssetObjectUrl", ""),
        execution_role=props.get("cloudFormationExecutionRoleArn", ""),
        tags=tuple(sorted(props.get("tags", {}).items())),
        depends_on=tuple(names[d] for d in deps if d in names),
        assets=assets, docker_images=docker)


def _assets(directory: Path, deps: list[str], artifacts: Mapping[str, Any],
            ) -> tuple[tuple[FileAsset, ...], tuple[str, ...]]:
    files: list[FileAsset] = []
    docker: list[str] = []
    for dep in deps:
        artifact = artifacts.get(dep, {})
        if artifact.get("type") != ASSET_MANIFEST:
            continue
        body = read_json(directory / artifact["properties"]["file"])
        for entry in body.get("files", {}).values():
            files += [FileAsset(source=directory / entry["source"]["path"],
                                packaging=entry["source"].get("packaging", "file"),
                                bucket=d["bucketName"], key=d["objectKey"])
                      for d in entry.get("destinations", {}).values()]
        docker += list(body.get("dockerImages", {}))
    return tuple(files), tuple(docker)


def _in_order(stacks: list[StackArtifact]) -> tuple[StackArtifact, ...]:
    """Dependencies first, otherwise in manifest order."""
    done: list[StackArtifact] = []
    pending = list(stacks)
    while pending:
        ready = [s for s in pending if set(s.depends_on) <= {d.name for d in done}]
        if not ready:
            raise SynthesisFailed("the stacks depend on each other in a cycle: "
                                  + ", ".join(s.name for s in pending))
        done.append(ready[0])
        pending.remove(ready[0])
    return tuple(done)
