"""A small cloud assembly on disk, shaped like the CDK's, for the ``stackflow infra`` tests.

Two stacks as the app has them: ``sf-db`` (an Aurora cluster and a bucket) and ``sf-app``
(the deploy table, a function, the ``DeployTableName`` output) that depends on it. Each
has an asset manifest with its template; ``sf-app`` also ships a zip.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackflow_tools.infra_guard.service import RecordStore

ACCOUNT = "111122223333"
REGION = "us-east-1"
BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
PLACEHOLDER_BUCKET = "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"
EXEC_ROLE = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-" \
            "${AWS::AccountId}-${AWS::Region}"
RESOLVED_EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
TAGS = {"project": "stackflow", "stage": "dev"}

DB_TEMPLATE: dict[str, Any] = {"Resources": {
    "Cluster": {"Type": "AWS::RDS::DBCluster",
                "Properties": {"Engine": "aurora-postgresql", "EngineVersion": "17.5"},
                "DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot"},
    "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
}}
APP_TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}},
        "Function": {"Type": "AWS::Lambda::Function", "Properties": {
            "MemorySize": 512, "Code": {"S3Bucket": PLACEHOLDER_BUCKET, "S3Key": "code.zip"}}},
    },
    "Outputs": {"DeployTableName": {"Value": {"Ref": "Table"}}},
}


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class AssemblyFiles:
    """Where the assembly is and the S3 keys of what it publishes."""

    directory: Path
    template_keys: dict[str, str]
    zip_key: str


def write_assembly(directory: Path, templates: dict[str, dict[str, Any]] | None = None,
                   ) -> AssemblyFiles:
    """Write ``manifest.json``, the templates, asset manifests and one zip."""
    templates = templates or {"sf-db": DB_TEMPLATE, "sf-app": APP_TEMPLATE}
    directory.mkdir(parents=True, exist_ok=True)
    zip_body = b"PK\x05\x06" + b"\0" * 18
    zip_key = f"{sha(zip_body)}.zip"
    (directory / f"asset.{sha(zip_body)}.zip").write_bytes(zip_body)
    artifacts: dict[str, Any] = {}
    keys = {}
    for name, template in templates.items():
        body = json.dumps(template).encode()
        (directory / f"{name}.template.json").write_bytes(body)
        keys[name] = f"{sha(body)}.json"
        files = {sha(body): _file(f"{name}.template.json", keys[name])}
        if name == "sf-app":
            files[sha(zip_body)] = _file(f"asset.{sha(zip_body)}.zip", zip_key)
        (directory / f"{name}.assets.json").write_text(
            json.dumps({"version": "55.0.0", "files": files, "dockerImages": {}}))
        artifacts[f"{name}.assets"] = {"type": "cdk:asset-manifest",
                                       "properties": {"file": f"{name}.assets.json"}}
        artifacts[name] = _stack_artifact(name, keys[name], templates)
    (directory / "manifest.json").write_text(json.dumps({"version": "55.0.0",
                                                         "artifacts": artifacts}))
    return AssemblyFiles(directory=directory, template_keys=keys, zip_key=zip_key)


def _file(path: str, key: str) -> dict[str, Any]:
    return {"source": {"path": path, "packaging": "file"},
            "destinations": {"current": {"bucketName": PLACEHOLDER_BUCKET, "objectKey": key}}}


def _stack_artifact(name: str, key: str, templates: dict[str, Any]) -> dict[str, Any]:
    deps = [f"{name}.assets"] + (["sf-db"] if name == "sf-app" and "sf-db" in templates else [])
    return {"type": "aws:cloudformation:stack",
            "environment": "aws://unknown-account/unknown-region",
            "properties": {"templateFile": f"{name}.template.json", "tags": TAGS,
                           "cloudFormationExecutionRoleArn": EXEC_ROLE,
                           "stackTemplateAssetObjectUrl": f"s3://{PLACEHOLDER_BUCKET}/{key}"},
            "dependencies": deps}


def mutated(template: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(template)


@dataclass
class MemoryRecords:
    """``service.RecordStore`` in memory (the DynamoDB one is stubbed in its own test)."""

    items: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def put_outcome(self, stack: str, started_at: str, change_set: str,
                    fields: Any) -> None:
        self.items.append((stack, started_at, change_set, dict(fields)))

    def latest(self, stack: str) -> dict[str, Any] | None:
        found = [i for i in self.items if i[0] == stack]
        return found[-1][3] if found else None


_: type[RecordStore] = MemoryRecords
