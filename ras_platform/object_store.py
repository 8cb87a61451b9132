"""Raw and processed files behind one interface: a local directory (embedded) or S3 (production).

Both backends keep the same contract, checked by the same tests (tests/adapters/test_object_store.py):
- keys are validated, so a key can never escape the root or smuggle characters into a URL;
- writes are atomic: a reader sees the old object or the new one, never half of one;
- `if_absent=True` makes a write-once put (raw files): it returns False when the key already exists;
- presigned URLs let EMA and clients move bytes without passing through our processes (S3) or
  through the API's `/objects` route, which checks an HMAC signature and expiry (local).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ras_platform.settings import Settings

_KEY = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_PREFIX = re.compile(r"([A-Za-z0-9._-]+/)*[A-Za-z0-9._-]*")
# Temporary files carry "~", a character keys may not contain, so list() never returns one.
_TMP_MARK = ".~tmp~"
_NOT_FOUND = ("404", "NoSuchKey", "NotFound")
# 412: the key exists; 409 ConditionalRequestConflict: a concurrent conditional write to it won.
_WRITE_ONCE_REFUSED = ("PreconditionFailed", "412", "ConditionalRequestConflict")


class InvalidObjectKey(ValueError):
    """A key outside [A-Za-z0-9._/-], with a leading "/", an empty segment, "." or ".."."""


class ObjectNotFound(LookupError):
    """The key names no object."""


def validate_key(key: str) -> str:
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        raise InvalidObjectKey(f"invalid object key {key!r}: use [A-Za-z0-9._-] segments joined by '/'")
    if any(segment in (".", "..") for segment in key.split("/")) or ".." in key:
        raise InvalidObjectKey(f"invalid object key {key!r}: '.' and '..' are not allowed")
    return key


def validate_prefix(prefix: str) -> str:
    # A prefix is a key-in-progress: "" lists everything, "raw/" a folder, "raw/ev" a name start.
    if not isinstance(prefix, str) or _PREFIX.fullmatch(prefix) is None or ".." in prefix:
        raise InvalidObjectKey(f"invalid object key prefix {prefix!r}")
    return prefix


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # bare, without the quotes HTTP puts around it
    modified: datetime  # timezone-aware UTC


class ObjectStore(Protocol):
    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool: ...
    def put_file(self, key: str, path: Path, *, if_absent: bool = False) -> bool: ...
    def get_bytes(self, key: str) -> bytes: ...
    def download(self, key: str, dest: Path) -> Path: ...
    def local_path(self, key: str) -> Path | None: ...
    def stat(self, key: str) -> ObjectInfo | None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def copy(self, src: str, dst: str) -> None: ...
    def list(self, prefix: str) -> list[ObjectInfo]: ...
    def presign_put(self, key: str, expires_s: int) -> str: ...
    def presign_get(self, key: str, expires_s: int) -> str: ...
    def uri(self, key: str) -> str: ...


def sign_local_url(signing_key: str, method: str, key: str, expires: int) -> str:
    message = f"{method.upper()}\n{key}\n{expires}".encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


class LocalObjectStore:
    """Objects are files under `root`; presigned URLs point at the API's `/objects/{key}` route.

    ETag: the first 32 hex digits of sha256 over (size, mtime_ns, inode). Cheap (no read of a
    multi-hundred-MB tracking file on every stat) and it changes on every write, because every write
    is a new file (new inode) moved into place. It is not a content hash: rewriting identical bytes
    gives a new ETag, which costs a cache miss, never a stale answer.
    """

    def __init__(
        self, root: Path, *, base_url: str, signing_key: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = Path(root).absolute()
        self.base_url = base_url.rstrip("/")
        self._signing_key = signing_key
        self._clock = clock
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, key: str) -> Path:
        return self.root / validate_key(key)

    # --- writes -------------------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        tmp = self.temp_path(key)
        try:
            with open(tmp, "wb") as out:
                out.write(data)
                _flush(out)
            return self.adopt(key, tmp, if_absent=if_absent)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, key: str, path: Path, *, if_absent: bool = False) -> bool:
        tmp = self.temp_path(key)
        try:
            shutil.copyfile(path, tmp)
            with open(tmp, "rb+") as out:
                _flush(out)
            return self.adopt(key, tmp, if_absent=if_absent)
        finally:
            tmp.unlink(missing_ok=True)

    def temp_path(self, key: str) -> Path:
        """A fresh temporary path next to `key`, on the same filesystem, so moving it in is atomic."""
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.with_name(f"{target.name}{_TMP_MARK}{uuid.uuid4().hex}")

    def adopt(self, key: str, tmp: Path, *, if_absent: bool = False) -> bool:
        """Move a complete file from `temp_path(key)` into place; False if `if_absent` and it exists.

        The caller still owns (and removes) `tmp` when this returns False.
        """
        target = self.path_of(key)
        if not if_absent:
            os.replace(tmp, target)
            return True
        try:
            # link() refuses an existing target atomically: two racing write-once puts, one winner.
            os.link(tmp, target)
        except FileExistsError:
            return False
        tmp.unlink()
        return True

    def delete(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)

    def copy(self, src: str, dst: str) -> None:
        self.put_file(dst, self._existing(src))

    # --- reads --------------------------------------------------------------------------------------
    def get_bytes(self, key: str) -> bytes:
        return self._existing(key).read_bytes()

    def download(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._existing(key), dest)
        return dest

    def local_path(self, key: str) -> Path | None:
        path = self.path_of(key)
        return path if path.is_file() else None

    def stat(self, key: str) -> ObjectInfo | None:
        path = self.path_of(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return _info(key, st) if S_ISREG(st.st_mode) else None

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def list(self, prefix: str) -> list[ObjectInfo]:
        validate_prefix(prefix)
        folder = self.root / prefix.rpartition("/")[0]
        found = [
            _info(key, path.stat())
            for path, key in self._walk(folder)
            # Temporaries and stray files that are not valid keys (an editor's backup) are not objects.
            if key.startswith(prefix) and _KEY.fullmatch(key) and ".." not in key
        ]
        return sorted(found, key=lambda info: info.key)

    def _walk(self, folder: Path) -> Iterator[tuple[Path, str]]:
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            if path.is_file():
                yield path, path.relative_to(self.root).as_posix()

    def _existing(self, key: str) -> Path:
        path = self.path_of(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return path

    # --- URLs ---------------------------------------------------------------------------------------
    def presign_put(self, key: str, expires_s: int) -> str:
        return self._presign("PUT", key, expires_s)

    def presign_get(self, key: str, expires_s: int) -> str:
        return self._presign("GET", key, expires_s)

    def _presign(self, method: str, key: str, expires_s: int) -> str:
        validate_key(key)
        expires = int(self._clock()) + int(expires_s)
        signature = sign_local_url(self._signing_key, method, key, expires)
        return f"{self.base_url}/objects/{key}?method={method}&expires={expires}&signature={signature}"

    def verify(self, method: str, key: str, expires: int, signature: str) -> bool:
        """True when `signature` was made by this store for (method, key, expires) and is not expired."""
        try:
            validate_key(key)
        except InvalidObjectKey:
            return False
        expected = sign_local_url(self._signing_key, method, key, int(expires))
        # Compare first, in constant time, so an expired URL costs the same as a forged one.
        genuine = hmac.compare_digest(expected.encode(), signature.encode())
        return genuine and int(expires) >= self._clock()

    def uri(self, key: str) -> str:
        return self.path_of(key).as_uri()


def _flush(out: Any) -> None:
    # The rename is atomic, but without fsync a crash can leave a renamed yet empty file.
    out.flush()
    os.fsync(out.fileno())


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    digest = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode()).hexdigest()[:32]
    return ObjectInfo(key, st.st_size, digest, datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC))


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

    def copy(self, src: str, dst: str) -> None:
        source = {"Bucket": self.bucket, "Key": validate_key(src)}
        with _not_found_as(src):
            self._client.copy_object(Bucket=self.bucket, Key=validate_key(dst), CopySource=source)

    def list(self, prefix: str) -> list[ObjectInfo]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=validate_prefix(prefix)
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


@contextmanager
def _not_found_as(key: str) -> Iterator[None]:
    """Turns S3's several spellings of "no such key" into ObjectNotFound, like the local backend."""
    try:
        yield
    except ClientError as error:
        if _error_code(error) in _NOT_FOUND:
            raise ObjectNotFound(key) from error
        raise


def _error_code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _s3_client(endpoint_url: str | None, region: str) -> Any:
    # Path-style addressing: S3-compatible servers on loopback (moto, MinIO) have no per-bucket DNS.
    addressing = {"addressing_style": "path"} if endpoint_url else {}
    config = Config(signature_version="s3v4", s3=addressing, retries={"max_attempts": 5, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


@dataclass(frozen=True)
class ObjectStoreConfig:
    """What picks and opens an object store: the Dagster resource's fields are these."""

    kind: str = "local"  # "local" or "s3"
    root: str = ""
    base_url: str = ""
    signing_key: str = ""
    bucket: str = ""
    endpoint_url: str | None = None
    region: str = "eu-west-1"

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStoreConfig:
        return cls(
            kind=settings.object_store,
            root=str(settings.objects_dir),
            base_url=settings.api_base_url,
            signing_key=settings.signing_key,
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
        )


def open_object_store(config: ObjectStoreConfig) -> ObjectStore:
    """The one place that chooses the backend."""
    if config.kind == "s3":
        return S3ObjectStore(config.bucket, endpoint_url=config.endpoint_url, region=config.region)
    return LocalObjectStore(Path(config.root), base_url=config.base_url, signing_key=config.signing_key)


def build_object_store(settings: Settings) -> ObjectStore:
    return open_object_store(ObjectStoreConfig.from_settings(settings))
