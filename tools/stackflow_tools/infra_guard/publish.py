"""Before a change set: who is calling, and the stack's files in the bootstrap bucket.

A CDK template names its Lambda zips by content hash in the bootstrap's assets bucket,
and CloudFormation reads a template over 51,200 bytes only from S3, so each stack's
file assets are uploaded first (``HeadObject``, ``PutObject`` when missing: the key is
the content's hash, so a present key holds the same bytes). ``diff`` uploads only the
template; ``deploy`` uploads everything the stack uses. Only ``file`` packaging is
supported: this app's assets are the packager's zips and the templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackflow.adapters import aws_error, default_client, error_code
from stackflow.errors import ConfigurationError

from stackflow_tools.infra_guard.assembly import AwsTarget, FileAsset, StackArtifact

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class Caller:
    """The identity the AWS calls run as."""

    account: str
    arn: str


def caller(client: STSClient | None = None) -> Caller:
    """``GetCallerIdentity``: the account the manifest's placeholders stand for."""
    sts = client or default_client("sts")
    try:
        found = sts.get_caller_identity()
    except _aws_errors() as e:
        raise aws_error(e, "GetCallerIdentity") from e
    return Caller(account=found["Account"], arn=found["Arn"])


class AssetPublisher:
    """Uploads a stack's file assets to the buckets its asset manifest names."""

    def __init__(self, client: S3Client | None = None) -> None:
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = default_client("s3")
        return self._client

    def publish(self, stack: StackArtifact, target: AwsTarget, *,
                template_only: bool) -> list[str]:
        """Upload what is missing; the ``s3://`` URLs uploaded."""
        if stack.docker_images and not template_only:
            raise ConfigurationError(
                f"stack {stack.name} has container image assets, which stackflow infra "
                f"does not publish: {', '.join(stack.docker_images)}")
        assets: Sequence[FileAsset] = stack.assets
        if template_only:
            assets = [a for a in [stack.template_asset] if a is not None]
        return [url for a in assets if (url := self._publish(a, target))]

    def _publish(self, asset: FileAsset, target: AwsTarget) -> str:
        if asset.packaging != "file":
            raise ConfigurationError(f"asset {asset.source.name}: packaging "
                                     f"{asset.packaging!r} is not supported (only 'file')")
        bucket, key = target.resolve(asset.bucket), target.resolve(asset.key)
        if self._exists(bucket, key):
            return ""
        try:
            with asset.source.open("rb") as body:
                self.client.put_object(Bucket=bucket, Key=key, Body=body)
        except _aws_errors() as e:
            raise aws_error(e, f"uploading {asset.source.name} to s3://{bucket}/{key}") from e
        return f"s3://{bucket}/{key}"

    def _exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except _aws_errors() as e:
            if error_code(e) in _MISSING_CODES:
                return False
            raise aws_error(e, f"HeadObject s3://{bucket}/{key} (is the account "
                               "bootstrapped? npx aws-cdk@2 bootstrap)") from e
        return True


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)
