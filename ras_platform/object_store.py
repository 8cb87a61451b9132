"""Raw and processed files behind one interface: a local directory (embedded) or S3 (production).

Both backends keep the same contract, checked by the same tests (tests/adapters/test_object_store.py):
- keys are validated, so a key can never escape the root or smuggle characters into a URL;
- writes are atomic: a reader sees the old object or the new one, never half of one;
- raw files (keys under `raw/`) are write-once in both: a put or copy onto an existing raw key
  changes nothing and returns False, so each attempt of a job uploads to a key of its own
  (`RawOutput.key`); `if_absent=True` asks the same of any other key;
- presigned URLs let EMA and clients move bytes without passing through our processes (S3) or
  through the API's `/objects` route, which checks an HMAC signature and expiry (local);
- multipart uploads (S3's protocol: create, presigned part PUTs, list parts, complete, abort) let a
  client upload a large video in parts and resume after a failure; the object appears, whole, only
  on complete. The local backend keeps parts outside the key space, so they are never listed.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any, Protocol

from ras_platform.settings import Settings

_KEY = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_PREFIX = re.compile(r"([A-Za-z0-9._-]+/)*[A-Za-z0-9._-]*")
# Temporary files carry "~", a character keys may not contain, so list() never returns one.
_TMP_MARK = ".~tmp~"


WRITE_ONCE_PREFIX = "raw/"


def is_write_once(key: str) -> bool:
    """Raw files never change once written (contracts.md), whichever store holds them."""
    return key.startswith(WRITE_ONCE_PREFIX)


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


class UploadNotFound(LookupError):
    """No multipart upload with this id is in progress (never made, completed, aborted or expired)."""


class InvalidMultipart(ValueError):
    """A complete that names a part not received, or with another ETag, or parts out of order."""


@dataclass(frozen=True)
class PartInfo:
    part_number: int
    etag: str  # bare MD5 hex of the part's bytes, as S3 gives it
    size: int


@dataclass(frozen=True)
class MultipartUpload:
    key: str
    upload_id: str
    initiated: datetime  # timezone-aware UTC


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
    def copy(self, src: str, dst: str) -> bool: ...
    # `start_after`: only keys sorting after it (S3's StartAfter), so a listing can skip old keys.
    def list(self, prefix: str, *, start_after: str | None = None) -> list[ObjectInfo]: ...
    def presign_put(self, key: str, expires_s: int) -> str: ...
    def presign_get(self, key: str, expires_s: int) -> str: ...
    def uri(self, key: str) -> str: ...
    # Multipart uploads (S3 semantics): parts are numbered from 1; every part but the last must be
    # at least 5 MiB on S3.
    def create_multipart(self, key: str) -> str: ...
    def presign_upload_part(self, key: str, upload_id: str, part_number: int, expires_s: int) -> str: ...
    def list_parts(self, key: str, upload_id: str) -> list[PartInfo]: ...
    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None: ...
    def abort_multipart(self, key: str, upload_id: str) -> None: ...
    def list_multipart(self, prefix: str) -> list[MultipartUpload]: ...


MAX_PART_NUMBER = 10_000  # S3's limit, kept by the local backend too


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a local file, read in blocks."""
    with open(path, "rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


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
        if not (if_absent or is_write_once(key)):
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

    def copy(self, src: str, dst: str) -> bool:
        """False when `dst` is a raw key that already exists (write-once)."""
        return self.put_file(dst, self._existing(src))

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

    def list(self, prefix: str, *, start_after: str | None = None) -> list[ObjectInfo]:
        validate_prefix(prefix)
        folder = self.root / prefix.rpartition("/")[0]
        found = [
            _info(key, path.stat())
            for path, key in self._walk(folder)
            # Temporaries and stray files that are not valid keys (an editor's backup) are not objects.
            if key.startswith(prefix)
            and _KEY.fullmatch(key)
            and ".." not in key
            and (start_after is None or key > start_after)
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

    # --- multipart uploads --------------------------------------------------------------------------
    # An upload is a folder `~multipart/{upload_id}/` outside the key space ("~" is not a key
    # character, so list() never sees it) holding `key` (the target) and one file per part named
    # `{part_number:05d}.{md5}`: a part and its ETag appear together, in one atomic rename.
    def create_multipart(self, key: str) -> str:
        upload_id = uuid.uuid4().hex
        folder = self._multipart_dir(upload_id)
        folder.mkdir(parents=True)
        (folder / "key").write_text(validate_key(key))
        return upload_id

    def presign_upload_part(self, key: str, upload_id: str, part_number: int, expires_s: int) -> str:
        validate_key(key)
        expires = int(self._clock()) + int(expires_s)
        signature = sign_local_url(
            self._signing_key, "PUTPART", _part_resource(key, upload_id, part_number), expires
        )
        return (
            f"{self.base_url}/objects/{key}?method=PUT&uploadId={upload_id}&partNumber={part_number}"
            f"&expires={expires}&signature={signature}"
        )

    def verify_part(self, key: str, upload_id: str, part_number: int, expires: int, signature: str) -> bool:
        """True when `signature` is this store's for that part of that upload and is not expired."""
        try:
            validate_key(key)
        except InvalidObjectKey:
            return False
        resource = _part_resource(key, upload_id, part_number)
        expected = sign_local_url(self._signing_key, "PUTPART", resource, int(expires))
        genuine = hmac.compare_digest(expected.encode(), signature.encode())
        return genuine and int(expires) >= self._clock()

    def part_temp_path(self, key: str, upload_id: str) -> Path:
        """Where the objects route streams a part before `adopt_part` moves it in."""
        return self._upload_folder(key, upload_id) / f"part{_TMP_MARK}{uuid.uuid4().hex}"

    def adopt_part(
        self, key: str, upload_id: str, part_number: int, tmp: Path, *, etag: str | None = None
    ) -> PartInfo:
        """Move a received part into place (replacing an earlier copy of it, as S3 does); `etag` is
        its MD5 when the receiver hashed it on the way in."""
        if not 1 <= part_number <= MAX_PART_NUMBER:
            raise InvalidMultipart(f"part numbers run from 1 to {MAX_PART_NUMBER}, not {part_number}")
        folder = self._upload_folder(key, upload_id)
        etag = etag or _md5(tmp)
        for earlier in folder.glob(f"{part_number:05d}.*"):
            earlier.unlink(missing_ok=True)
        os.replace(tmp, folder / f"{part_number:05d}.{etag}")
        return PartInfo(part_number, etag, (folder / f"{part_number:05d}.{etag}").stat().st_size)

    def list_parts(self, key: str, upload_id: str) -> list[PartInfo]:
        folder = self._upload_folder(key, upload_id)
        parts = []
        for path in folder.iterdir():
            number, _, etag = path.name.partition(".")
            if number.isdigit() and _TMP_MARK not in path.name:
                parts.append(PartInfo(int(number), etag, path.stat().st_size))
        return sorted(parts, key=lambda part: part.part_number)

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        folder = self._upload_folder(key, upload_id)
        received = {part.part_number: part for part in self.list_parts(key, upload_id)}
        _check_completion(parts, {n: p.etag for n, p in received.items()})
        tmp = self.temp_path(key)
        try:
            with open(tmp, "wb") as out:
                for number, etag in parts:
                    with open(folder / f"{number:05d}.{etag.strip(chr(34))}", "rb") as part:
                        shutil.copyfileobj(part, out, 1 << 20)
                _flush(out)
            self.adopt(key, tmp)
        finally:
            tmp.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            folder = self._upload_folder(key, upload_id)
        except UploadNotFound:
            return  # already aborted or completed: aborting is idempotent, as on S3
        shutil.rmtree(folder, ignore_errors=True)

    def list_multipart(self, prefix: str) -> list[MultipartUpload]:
        validate_prefix(prefix)
        root = self.root / _MULTIPART_DIR
        uploads = []
        for folder in root.iterdir() if root.is_dir() else ():
            try:
                key = (folder / "key").read_text()
                initiated = (folder / "key").stat().st_mtime
            except FileNotFoundError:
                continue  # completed or aborted while we looked
            if key.startswith(prefix):
                uploads.append(MultipartUpload(key, folder.name, datetime.fromtimestamp(initiated, tz=UTC)))
        return sorted(uploads, key=lambda upload: (upload.key, upload.initiated))

    def _multipart_dir(self, upload_id: str) -> Path:
        if _UPLOAD_ID.fullmatch(upload_id) is None:
            raise UploadNotFound(upload_id)
        return self.root / _MULTIPART_DIR / upload_id

    def _upload_folder(self, key: str, upload_id: str) -> Path:
        folder = self._multipart_dir(upload_id)
        try:
            target = (folder / "key").read_text()
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        if target != key:
            raise UploadNotFound(f"{upload_id} uploads {target}, not {key}")
        return folder


_MULTIPART_DIR = "~multipart"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def _part_resource(key: str, upload_id: str, part_number: int) -> str:
    return f"{key}\n{upload_id}\n{int(part_number)}"


def _check_completion(parts: list[tuple[int, str]], received: dict[int, str]) -> None:
    """S3's rules for a complete: at least one part, ascending numbers, each received with that ETag."""
    if not parts:
        raise InvalidMultipart("a complete names at least one part")
    numbers = [number for number, _ in parts]
    if numbers != sorted(set(numbers)):
        raise InvalidMultipart("parts must be listed once each, in ascending part number")
    for number, etag in parts:
        if received.get(number) != etag.strip('"'):
            raise InvalidMultipart(f"part {number} with ETag {etag} was not received")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _flush(out: Any) -> None:
    # The rename is atomic, but without fsync a crash can leave a renamed yet empty file.
    out.flush()
    os.fsync(out.fileno())


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    digest = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode()).hexdigest()[:32]
    return ObjectInfo(key, st.st_size, digest, datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC))


def build_object_store(settings: Settings) -> ObjectStore:
    """The one place that chooses the backend, from the settings that spell its configuration."""
    if settings.object_store == "s3":
        # boto3 costs ~0.3 s to import; embedded processes never need it.
        from ras_platform.s3_object_store import S3ObjectStore

        return S3ObjectStore(
            settings.s3_bucket, endpoint_url=settings.s3_endpoint_url, region=settings.aws_region
        )
    return LocalObjectStore(
        settings.objects_dir, base_url=settings.api_base_url, signing_key=settings.signing_key
    )
