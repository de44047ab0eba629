"""Migration files are created in S3, never replaced (the bucket policy requires it)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from stackflow.errors import ChecksumMismatch
from stackflow_tools.release.artifacts import ReleaseStore

BUCKET, PREFIX, NAME = "artifacts", "migrations/", "0005_add_index.up.sql"
SQL = b"CREATE INDEX i ON t (x);\n"


@pytest.fixture
def s3() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def put_expected() -> dict[str, Any]:
    return {"Bucket": BUCKET, "Key": PREFIX + NAME, "Body": SQL, "IfNoneMatch": "*",
            "ChecksumSHA256": ANY}


def stored(stubber: Stubber, body: bytes) -> None:
    stubber.add_response("get_object", {"Body": StreamingBody(io.BytesIO(body), len(body))},
                         {"Bucket": BUCKET, "Key": PREFIX + NAME})


def test_a_new_migration_is_written_only_if_the_key_is_free(s3: tuple[Any, Stubber]) -> None:
    client, stubber = s3
    # THEN the upload carries If-None-Match: *, which S3 (and the bucket policy) demand
    stubber.add_response("put_object", {"VersionId": "v1"}, put_expected())
    ReleaseStore(client).upload_migrations(BUCKET, PREFIX, {NAME: SQL}, [NAME])


def test_losing_a_race_to_the_same_content_is_fine(s3: tuple[Any, Stubber]) -> None:
    client, stubber = s3
    # GIVEN another run wrote the same file between our check and our upload
    stubber.add_client_error("put_object", "PreconditionFailed", http_status_code=412,
                             expected_params=put_expected())
    stored(stubber, SQL)
    # THEN the upload carries on
    ReleaseStore(client).upload_migrations(BUCKET, PREFIX, {NAME: SQL}, [NAME])


def test_other_content_written_meanwhile_is_refused(s3: tuple[Any, Stubber]) -> None:
    client, stubber = s3
    stubber.add_client_error("put_object", "PreconditionFailed", http_status_code=412,
                             expected_params=put_expected())
    stored(stubber, b"DROP TABLE t;\n")
    with pytest.raises(ChecksumMismatch, match="written meanwhile"):
        ReleaseStore(client).upload_migrations(BUCKET, PREFIX, {NAME: SQL}, [NAME])
