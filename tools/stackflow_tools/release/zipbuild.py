"""A zip whose bytes depend only on the files it holds.

Entries are written in sorted order with one fixed timestamp, one file mode and one
compression level, so the same files give the same SHA-256 — the ``CodeSha256`` the
deployment state machine compares with what Lambda reports.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The earliest time a zip header can hold; any fixed value would do.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# Lambda needs files readable by everyone; nothing in a zip needs to be executable.
FILE_MODE = stat.S_IFREG | 0o644
UNIX_SYSTEM = 3
# Level 6 (zlib's default): level 9 takes twice as long for a zip 0.3% smaller.
COMPRESS_LEVEL = 6


@dataclass(frozen=True)
class ZipSummary:
    """A built zip: where it is, how big, and its hashes."""

    path: Path
    size: int
    sha256_hex: str
    code_sha256: str  # base64 of the SHA-256, as Lambda reports CodeSha256
    files: int


def write_zip(path: Path, entries: Mapping[str, bytes]) -> ZipSummary:
    """Write ``entries`` (zip path -> bytes) to ``path`` deterministically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name per process: parallel builds (test workers) never share a partial file.
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(zip_bytes(entries))
    # Replace atomically so a reader never sees half a zip under the final name.
    partial.replace(path)
    return summarize(path, files=len(entries))


def zip_bytes(entries: Mapping[str, bytes]) -> bytes:
    """The deterministic zip of ``entries`` (zip path -> bytes), in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname in sorted(entries):
            archive.writestr(_zip_info(arcname), entries[arcname],
                             compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def _zip_info(arcname: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
    info.create_system = UNIX_SYSTEM
    info.external_attr = FILE_MODE << 16
    return info


def summarize(path: Path, files: int = 0) -> ZipSummary:
    data = path.read_bytes()
    digest = hashlib.sha256(data).digest()
    return ZipSummary(path=path, size=len(data), sha256_hex=digest.hex(),
                      code_sha256=base64.b64encode(digest).decode("ascii"), files=files)


def code_sha256(data: bytes) -> str:
    """Base64 SHA-256 of ``data``: the form of Lambda's ``CodeSha256``."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
