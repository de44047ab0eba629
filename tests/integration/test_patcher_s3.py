"""The S3 migration source and object helpers, against moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from mypy_boto3_s3 import S3Client
from stackflow.adapters.s3 import (
    S3MigrationSource,
    get_object_bytes,
    head_object,
    list_keys,
    put_object_bytes,
)
from stackflow.errors import AwsThrottled, ResourceNotFound, SourceError
from stackflow.migrations.source import load_migrations


@pytest.fixture
def s3(aws_env: None) -> Iterator[S3Client]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="migrations")
        yield client


def test_source_pages_past_1000_objects(s3: S3Client) -> None:
    # GIVEN 510 migrations with down scripts (1020 objects) and a file in a sub-folder
    for version in range(1, 511):
        for direction in ("up", "down"):
            s3.put_object(Bucket="migrations", Key=f"db/{version:04d}_m{version}.{direction}.sql",
                          Body=f"SELECT {version};".encode())
    s3.put_object(Bucket="migrations", Key="db/archive/0001_old.up.sql", Body=b"SELECT 0;")
    listings: list[dict[str, Any]] = []
    s3.meta.events.register("provide-client-params.s3.ListObjectsV2",
                            lambda params, **_: listings.append(dict(params)))
    # WHEN the prefix is loaded as a migration source
    migrations = load_migrations(S3MigrationSource("migrations", "db", client=s3))
    # THEN every one is there, including those beyond the first page of 1000 keys...
    assert [m.version for m in migrations] == list(range(1, 511))
    assert migrations[-1].up.sql == "SELECT 510;"
    assert migrations[-1].down is not None
    # AND they took two pages: the second asked for with the first's continuation token
    assert len(listings) == 2
    assert "ContinuationToken" not in listings[0]
    assert listings[1]["ContinuationToken"]
    assert len(list_keys("migrations", "db/", client=s3)) == 1021


def test_bad_file_name_in_s3_is_a_source_error(s3: S3Client) -> None:
    s3.put_object(Bucket="migrations", Key="db/1-first.sql", Body=b"SELECT 1;")
    with pytest.raises(SourceError, match=r"1-first\.sql"):
        load_migrations(S3MigrationSource("migrations", "db/", client=s3))


def test_put_and_get_object_bytes_with_versions(s3: S3Client) -> None:
    # GIVEN a versioned bucket with two writes to one key
    s3.put_bucket_versioning(Bucket="migrations",
                             VersioningConfiguration={"Status": "Enabled"})
    first = put_object_bytes("migrations", "a.zip", b"one", client=s3)
    put_object_bytes("migrations", "a.zip", b"two", content_type="application/zip", client=s3)
    # THEN the latest and the first version can both be read back
    assert first is not None
    assert get_object_bytes("migrations", "a.zip", client=s3) == b"two"
    assert get_object_bytes("migrations", "a.zip", first, client=s3) == b"one"


def test_missing_object_is_resource_not_found(s3: S3Client) -> None:
    with pytest.raises(ResourceNotFound, match="s3://migrations/nope"):
        get_object_bytes("migrations", "nope", client=s3)


def test_head_object_reads_metadata_and_is_none_for_a_missing_object(s3: S3Client) -> None:
    # GIVEN one object with metadata
    put_object_bytes("migrations", "a.zip", b"one", metadata={"sha256": "abc"}, client=s3)
    # WHEN it and a missing key are headed
    head = head_object("migrations", "a.zip", client=s3)
    # THEN the object's metadata comes back, and nothing for the missing key
    assert head is not None
    assert head["Metadata"] == {"sha256": "abc"}
    assert head_object("migrations", "nope", client=s3) is None


def test_the_source_reports_each_file_last_modified_time(s3: S3Client) -> None:
    # GIVEN two migrations under the prefix (schema drift ages pending ones by them)
    for name in ("0001_a.up.sql", "0002_b.up.sql"):
        s3.put_object(Bucket="migrations", Key=f"db/{name}", Body=b"SELECT 1;")
    # WHEN the source is asked for its files' times
    times = S3MigrationSource("migrations", "db", client=s3).modified_times()
    # THEN each file name (without the prefix) has a timezone-aware LastModified
    assert sorted(times) == ["0001_a.up.sql", "0002_b.up.sql"]
    assert all(when.tzinfo is not None for when in times.values())


@pytest.mark.parametrize("code", ["SlowDown", "ThrottlingException"])
def test_throttled_listing_stays_retryable(aws_env: None, code: str) -> None:
    # GIVEN an S3 that throttles the listing
    client = boto3.client("s3", region_name="us-east-1")
    source = S3MigrationSource("migrations", "app/", client=client)
    with Stubber(client) as stub:
        stub.add_client_error("list_objects_v2", service_error_code=code,
                              http_status_code=503)
        # WHEN the source lists its files
        # THEN the error is the retryable AwsThrottled, not a SourceError verdict
        with pytest.raises(AwsThrottled):
            source.list_files()
        stub.assert_no_pending_responses()
