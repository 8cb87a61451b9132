"""The S3 backend of the object store (production); its contract is `ras_platform.object_store`'s.

A module of its own so that only processes configured for S3 import boto3.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ras_platform.object_store import (
    InvalidMultipart,
    MultipartUpload,
    ObjectInfo,
    ObjectNotFound,
    PartInfo,
    UploadNotFound,
    is_write_once,
    validate_key,
    validate_prefix,
)

_NOT_FOUND = ("404", "NoSuchKey", "NotFound")
_BAD_COMPLETE = ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML")
# 412: the key exists; 409 ConditionalRequestConflict: a concurrent conditional write to it won.
_WRITE_ONCE_REFUSED = ("PreconditionFailed", "412", "ConditionalRequestConflict")


class S3ObjectStore:
    """Objects in one S3 bucket. Presigned URLs come from S3 itself, so bytes never pass through us.

    Single PUTs are atomic in S3; write-once uses S3's conditional write (`If-None-Match: *`), which
    is race-free on the server. Single PUT and server-side copy are limited to 5 GB, far above
    the largest EMA output.
    """

    def __init__(
        self, bucket: str, *, endpoint_url: str | None = None, region: str = "eu-west-1", client: Any = None
    ) -> None:
        self.bucket = bucket
        self._client = client or _s3_client(endpoint_url, region)
        self._region = region

    def ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as error:
            if _error_code(error) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        options: dict[str, Any] = {}
        if self._region != "us-east-1":  # us-east-1 rejects an explicit location constraint
            options["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        self._client.create_bucket(Bucket=self.bucket, **options)

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        return self._put(key, data, if_absent)

    def put_file(self, key: str, path: Path, *, if_absent: bool = False) -> bool:
        with open(path, "rb") as body:
            return self._put(key, body, if_absent)

    def _put(self, key: str, body: Any, if_absent: bool) -> bool:
        if_absent = if_absent or is_write_once(key)
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self._client.put_object(Bucket=self.bucket, Key=validate_key(key), Body=body, **extra)
        except ClientError as error:
            if if_absent and _error_code(error) in _WRITE_ONCE_REFUSED:
                return False
            raise
        return True

    def get_bytes(self, key: str) -> bytes:
        with _not_found_as(key):
            return self._client.get_object(Bucket=self.bucket, Key=validate_key(key))["Body"].read()

    def download(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _not_found_as(key):
            self._client.download_file(self.bucket, validate_key(key), str(dest))
        return dest

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as error:
            if _error_code(error) in _NOT_FOUND:
                return None
            raise
        return ObjectInfo(key, head["ContentLength"], head["ETag"].strip('"'), head["LastModified"])

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    def copy(self, src: str, dst: str) -> bool:
        """False when `dst` is a raw key that already exists (write-once)."""
        if is_write_once(dst):
            # CopyObject has no conditional write on its destination (nor has moto): a conditional
            # PUT of the downloaded bytes keeps the rule race-free. Raw copies are rare (duplicate).
            with tempfile.TemporaryDirectory(prefix="ras-copy-") as tmp:
                return self.put_file(dst, self.download(src, Path(tmp) / "object"))
        source = {"Bucket": self.bucket, "Key": validate_key(src)}
        with _not_found_as(src):
            self._client.copy_object(Bucket=self.bucket, Key=validate_key(dst), CopySource=source)
        return True

    def list(self, prefix: str, *, start_after: str | None = None) -> list[ObjectInfo]:
        after = {"StartAfter": start_after} if start_after else {}
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=validate_prefix(prefix), **after
        )
        return [
            ObjectInfo(item["Key"], item["Size"], item["ETag"].strip('"'), item["LastModified"])
            for page in pages
            for item in page.get("Contents", [])
        ]

    def presign_put(self, key: str, expires_s: int) -> str:
        return self._presign("put_object", key, expires_s)

    def presign_get(self, key: str, expires_s: int) -> str:
        return self._presign("get_object", key, expires_s)

    def _presign(self, operation: str, key: str, expires_s: int) -> str:
        params = {"Bucket": self.bucket, "Key": validate_key(key)}
        return self._client.generate_presigned_url(operation, Params=params, ExpiresIn=int(expires_s))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{validate_key(key)}"

    # --- multipart uploads: S3's own; part URLs are presigned `upload_part` requests -----------------
    def create_multipart(self, key: str) -> str:
        return self._client.create_multipart_upload(Bucket=self.bucket, Key=validate_key(key))["UploadId"]

    def presign_upload_part(self, key: str, upload_id: str, part_number: int, expires_s: int) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": validate_key(key),
            "UploadId": upload_id,
            "PartNumber": part_number,
        }
        return self._client.generate_presigned_url("upload_part", Params=params, ExpiresIn=int(expires_s))

    def list_parts(self, key: str, upload_id: str) -> list[PartInfo]:
        pages = self._client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=validate_key(key), UploadId=upload_id
        )
        with _no_such_upload_as(upload_id):
            return [
                PartInfo(part["PartNumber"], part["ETag"].strip('"'), part["Size"])
                for page in pages
                for part in page.get("Parts", [])
            ]

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        listed = [{"PartNumber": number, "ETag": f'"{etag.strip(chr(34))}"'} for number, etag in parts]
        with _no_such_upload_as(upload_id):
            try:
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=validate_key(key),
                    UploadId=upload_id,
                    MultipartUpload={"Parts": listed},
                )
            except ClientError as error:
                if _error_code(error) in _BAD_COMPLETE:
                    raise InvalidMultipart(str(error)) from error
                raise

    def abort_multipart(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(UploadNotFound), _no_such_upload_as(upload_id):
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=validate_key(key), UploadId=upload_id)

    def list_multipart(self, prefix: str) -> list[MultipartUpload]:
        pages = self._client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=validate_prefix(prefix)
        )
        return [
            MultipartUpload(item["Key"], item["UploadId"], item["Initiated"])
            for page in pages
            for item in page.get("Uploads", [])
        ]


@contextmanager
def _not_found_as(key: str) -> Iterator[None]:
    """Turns S3's several spellings of "no such key" into ObjectNotFound, like the local backend."""
    try:
        yield
    except ClientError as error:
        if _error_code(error) in _NOT_FOUND:
            raise ObjectNotFound(key) from error
        raise


@contextmanager
def _no_such_upload_as(upload_id: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        if _error_code(error) in ("NoSuchUpload", "404"):
            raise UploadNotFound(upload_id) from error
        raise


def _error_code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _s3_client(endpoint_url: str | None, region: str) -> Any:
    # Path-style addressing: S3-compatible servers on loopback (moto, MinIO) have no per-bucket DNS.
    addressing = {"addressing_style": "path"} if endpoint_url else {}
    config = Config(signature_version="s3v4", s3=addressing, retries={"max_attempts": 5, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
