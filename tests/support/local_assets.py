"""Templates whose functions are real asset zips, as a cloud assembly holds them."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLERS_SOURCE = Path(__file__).with_name("local_handlers.py")


def zip_of(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
    return buffer.getvalue()


def handlers_package(extra: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """``local_handlers.py`` plus the runtime core it imports (pure Python only)."""
    core = REPO_ROOT / "functions"
    files = {"local_handlers.py": HANDLERS_SOURCE.read_bytes()}
    for name in ("__init__.py", "errors.py", "lambda_context.py"):
        files[f"stackflow/{name}"] = (core / "stackflow" / name).read_bytes()
    return files | dict(extra or {})


def write_asset(folder: Path, files: Mapping[str, bytes]) -> str:
    """Write ``asset.<hash>.zip`` into ``folder``; return the S3 key a template names."""
    data = zip_of(files)
    key = f"{hashlib.sha256(data).hexdigest()}.zip"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"asset.{key}").write_bytes(data)
    return key


def function(key: str, handler: str, *, timeout: int = 30,
             variables: Mapping[str, Any] | None = None,
             runtime: str = "python3.13") -> dict[str, Any]:
    """An ``AWS::Lambda::Function`` resource whose code is the asset ``key``."""
    return {"Type": "AWS::Lambda::Function", "Properties": {
        "Handler": handler, "Runtime": runtime, "Timeout": timeout,
        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Code": {"S3Bucket": {"Fn::Sub": "cdk-assets-${AWS::AccountId}"}, "S3Key": key},
        "Environment": {"Variables": dict(variables or {})}}}
