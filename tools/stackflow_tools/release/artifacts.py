"""The release's S3 side: the artifact zip and the migration files the patcher reads.

An artifact is content-addressed (``<function>/<hex sha256>.zip``) and uploaded with
its SHA-256, so uploading the same zip twice reuses the stored version; the state
machine later compares that SHA-256 with the ``CodeSha256`` Lambda reports.

Migration files are append-only: a file missing in S3 is uploaded, a file already
there with the same bytes is left alone, and one already there with other bytes is
refused — before anything is uploaded or started — because the patcher would then
see an applied migration change under it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackflow.adapters import default_client, s3
from stackflow.errors import ChecksumMismatch, ResourceNotFound, SourceError, StackFlowError

from stackflow_tools.release.zipbuild import code_sha256

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SHA256_METADATA = "sha256"
ZIP_CONTENT_TYPE = "application/zip"
MIGRATION_SUFFIX = ".sql"


@dataclass(frozen=True)
class Artifact:
    """An exact S3 object version and its base64 SHA-256 (the execution's ``artifact``)."""

    bucket: str
    key: str
    version_id: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id,
                "sha256": self.sha256}


@dataclass(frozen=True)
class MigrationUpload:
    """The outcome of comparing local migration files with the S3 prefix."""

    new: tuple[str, ...]
    unchanged: tuple[str, ...]


def artifact_key(function_name: str, sha256_b64: str) -> str:
    return f"{function_name}/{base64.b64decode(sha256_b64).hex()}.zip"


class ReleaseStore:
    """What ``stackflow pipeline start`` stores in S3, through ``stackflow.adapters.s3``."""

    def __init__(self, client: S3Client | None = None) -> None:
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = default_client("s3")
        return self._client

    # --- artifact --------------------------------------------------------------------
    def upload_artifact(self, bucket: str, function_name: str, path: Path) -> Artifact:
        """Upload a zip unless the same bytes are stored already; return the version."""
        data = path.read_bytes()
        sha = code_sha256(data)
        key = artifact_key(function_name, sha)
        head = s3.head_object(bucket, key, client=self.client)
        if head is not None and self._stored_sha256(bucket, key, head) == sha:
            return Artifact(bucket, key, _version_of(head, key), sha)
        version = s3.put_object_bytes(bucket, key, data, content_type=ZIP_CONTENT_TYPE,
                                      metadata={SHA256_METADATA: sha}, checksum_sha256=sha,
                                      client=self.client)
        return Artifact(bucket, key, _version_of({"VersionId": version}, key), sha)

    def existing_artifact(self, bucket: str, key: str, version_id: str | None) -> Artifact:
        """An object already in S3 (a given version, or the latest one) and its SHA-256."""
        head = s3.head_object(bucket, key, version_id, client=self.client)
        if head is None:
            raise ResourceNotFound(f"s3://{bucket}/{key} (version {version_id or 'latest'}) "
                                   "does not exist", bucket=bucket, key=key)
        version = _version_of(head, key)
        return Artifact(bucket, key, version, self._stored_sha256(bucket, key, head, version))

    def _stored_sha256(self, bucket: str, key: str, head: Mapping[str, Any],
                       version_id: str | None = None) -> str:
        # S3's own checksum when it has one for the whole object ("...-N" is per part),
        # else the one recorded at upload, else the bytes themselves.
        checksum = head.get("ChecksumSHA256")
        if isinstance(checksum, str) and "-" not in checksum:
            return checksum
        recorded = head.get("Metadata", {}).get(SHA256_METADATA)
        if isinstance(recorded, str) and recorded:
            return recorded
        return code_sha256(self.read(bucket, key, version_id))

    # --- migrations ------------------------------------------------------------------
    def plan_migrations(self, bucket: str, prefix: str,
                        files: Mapping[str, bytes]) -> MigrationUpload:
        """Sort local files into new and unchanged; refuse any that changed in S3."""
        prefix = folder_prefix(prefix)
        stored = set(s3.list_keys(bucket, prefix, client=self.client))
        new: list[str] = []
        unchanged: list[str] = []
        for name in sorted(files):
            key = prefix + name
            if key not in stored:
                new.append(name)
            elif self.read(bucket, key) == files[name]:
                unchanged.append(name)
            else:
                raise ChecksumMismatch(
                    f"s3://{bucket}/{key} already holds other content than migrations/{name}; "
                    "a released migration never changes: add a new migration instead",
                    key=key, file=name)
        return MigrationUpload(tuple(new), tuple(unchanged))

    def upload_migrations(self, bucket: str, prefix: str, files: Mapping[str, bytes],
                          names: Sequence[str]) -> None:
        """Create each new migration object; never replace one.

        The bucket policy denies any migrations/ write without ``If-None-Match: *``, so
        an object, once written, is the migration for good (docs/infra.md). A run that
        loses a race to an identical upload carries on; any other content is refused.
        """
        prefix = folder_prefix(prefix)
        for name in names:
            try:
                s3.put_object_bytes(bucket, prefix + name, files[name], create_only=True,
                                    checksum_sha256=code_sha256(files[name]),
                                    client=self.client)
            except StackFlowError:
                stored = self._stored(bucket, prefix + name)
                if stored is None:
                    raise
                if stored != files[name]:
                    raise ChecksumMismatch(
                        f"s3://{bucket}/{prefix}{name} was written meanwhile with other "
                        f"content than migrations/{name}", key=prefix + name,
                        file=name) from None

    def _stored(self, bucket: str, key: str) -> bytes | None:
        try:
            return self.read(bucket, key)
        except StackFlowError:
            return None

    # --- reading ---------------------------------------------------------------------
    def read(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        return s3.get_object_bytes(bucket, key, version_id, client=self.client)


def _version_of(response: Mapping[str, Any], key: str) -> str:
    version = response.get("VersionId")
    if not version or version == "null":
        # Without versioning the key could be overwritten under a running release.
        raise SourceError(f"s3 object {key} has no version id: the artifacts bucket must "
                          "have versioning enabled", key=key)
    return str(version)


def folder_prefix(prefix: str) -> str:
    """``migrations`` and ``migrations/`` name the same folder (as the patcher reads it)."""
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def local_migrations(directory: Path) -> dict[str, bytes]:
    """The ``*.sql`` files of ``directory`` by file name (an absent folder has none)."""
    if not directory.is_dir():
        return {}
    return {path.name: path.read_bytes()
            for path in sorted(directory.iterdir())
            if path.is_file() and path.suffix == MIGRATION_SUFFIX}


def migrations_digest(files: Mapping[str, bytes]) -> str:
    """One hex SHA-256 over the migration set, part of a release's identity."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()
