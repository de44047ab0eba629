"""Amazon S3: object bytes in and out, object metadata, paged listing, and the S3
migration source.

botocore is imported only inside the calls, so importing this module is free; the
client is injected or built on first use (``stackflow.adapters.default_client``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, default_client
from stackflow.errors import (
    AwsThrottled,
    ConfigurationError,
    ResourceNotFound,
    SourceError,
    StackFlowError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectTypeDef

# Objects fetched in parallel when reading a migration source (S3 latency, not CPU,
# is what a few hundred small GETs cost).
READ_CONCURRENCY = 16
# Raised as they are rather than wrapped in SourceError: a throttled read must stay
# retryable for the state machine, and a missing setting must name the setting.
_PASS_THROUGH: tuple[type[StackFlowError], ...] = (AwsThrottled, ConfigurationError)


def _client(client: S3Client | None) -> S3Client:
    return client if client is not None else default_client("s3")


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def list_keys(bucket: str, prefix: str = "", *, client: S3Client | None = None) -> list[str]:
    """Every key under ``prefix``, following continuation tokens past 1000 objects."""
    return [obj["Key"] for obj in _objects(bucket, prefix, _client(client))]


def last_modified(bucket: str, prefix: str = "", *,
                  client: S3Client | None = None) -> dict[str, datetime]:
    """Key -> ``LastModified`` (timezone-aware) of every object under ``prefix``."""
    return {obj["Key"]: obj["LastModified"] for obj in _objects(bucket, prefix, _client(client))}


def _objects(bucket: str, prefix: str, s3: S3Client) -> list[ObjectTypeDef]:
    try:
        return list(_pages(bucket, prefix, s3))
    except _aws_errors() as e:
        raise aws_error(e, f"listing s3://{bucket}/{prefix}") from e


def _pages(bucket: str, prefix: str, s3: S3Client) -> Iterator[ObjectTypeDef]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def head_object(bucket: str, key: str, version_id: str | None = None, *,
                client: S3Client | None = None) -> Mapping[str, Any] | None:
    """``HeadObject`` with the object's checksum (``ChecksumMode``); None when there is
    no such object (or version)."""
    s3 = _client(client)
    extra: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    try:
        head: Mapping[str, Any] = s3.head_object(Bucket=bucket, Key=key,
                                                 ChecksumMode="ENABLED", **extra)
    except _aws_errors() as e:
        error = aws_error(e, f"HeadObject s3://{bucket}/{key}")
        if isinstance(error, ResourceNotFound):
            return None
        raise error from e
    return head


def get_object_bytes(bucket: str, key: str, version_id: str | None = None, *,
                     client: S3Client | None = None) -> bytes:
    """The body of ``s3://bucket/key`` (a specific version when ``version_id`` is given)."""
    s3 = _client(client)
    extra: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    try:
        return s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    except _aws_errors() as e:
        raise aws_error(e, f"reading s3://{bucket}/{key}") from e


def put_object_bytes(bucket: str, key: str, body: bytes, *,
                     content_type: str | None = None,
                     metadata: Mapping[str, str] | None = None,
                     checksum_sha256: str | None = None,
                     create_only: bool = False,
                     client: S3Client | None = None) -> str | None:
    """Write ``body`` to ``s3://bucket/key``; return the new VersionId (None when the
    bucket is not versioned). ``checksum_sha256`` (base64) makes S3 verify the bytes;
    ``create_only`` (``If-None-Match: *``) makes S3 refuse to replace an existing key."""
    s3 = _client(client)
    extra: dict[str, Any] = {"IfNoneMatch": "*"} if create_only else {}
    if content_type:
        extra["ContentType"] = content_type
    if metadata:
        extra["Metadata"] = dict(metadata)
    if checksum_sha256:
        extra["ChecksumSHA256"] = checksum_sha256
    try:
        response = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    except _aws_errors() as e:
        raise aws_error(e, f"writing s3://{bucket}/{key}") from e
    return response.get("VersionId")


class S3MigrationSource:
    """Migrations stored as objects directly under ``s3://bucket/prefix``.

    Also a ``drift.inspect.TimestampedSource``: schema drift takes a pending
    migration's age from its object's ``LastModified``.
    """

    def __init__(self, bucket: str, prefix: str = "", *,
                 client: S3Client | None = None) -> None:
        self.bucket = bucket
        # "migrations" and "migrations/" name the same folder.
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._client = client

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def list_files(self) -> list[str]:
        try:
            keys = list_keys(self.bucket, self.prefix, client=self._s3())
        except _PASS_THROUGH:
            raise
        except StackFlowError as e:
            raise SourceError(f"cannot list migrations in {self.describe()}: {e.message}",
                              source=self.describe()) from e
        names = (key[len(self.prefix):] for key in keys)
        return sorted(name for name in names if name and "/" not in name)

    def modified_times(self) -> dict[str, datetime]:
        """File name -> ``LastModified`` of every object under the prefix."""
        times = last_modified(self.bucket, self.prefix, client=self._s3())
        return {key[len(self.prefix):]: when for key, when in times.items()}

    def read_files(self, names: Sequence[str]) -> dict[str, str]:
        s3 = self._s3()
        with ThreadPoolExecutor(max_workers=READ_CONCURRENCY) as pool:
            texts = list(pool.map(lambda name: self._read(s3, name), names))
        return dict(zip(names, texts, strict=True))

    def _s3(self) -> S3Client:
        # Build the client once, here, rather than racing to build it in every thread.
        if self._client is None:
            self._client = _client(None)
        return self._client

    def _read(self, s3: S3Client, name: str) -> str:
        key = self.prefix + name
        try:
            return get_object_bytes(self.bucket, key, client=s3).decode("utf-8")
        except _PASS_THROUGH:
            raise
        except StackFlowError as e:
            raise SourceError(f"cannot read migration s3://{self.bucket}/{key}: {e.message}",
                              file=name) from e
        except UnicodeDecodeError as e:
            raise SourceError(f"migration s3://{self.bucket}/{key} is not UTF-8 text: {e}",
                              file=name) from e
