"""Uploads over S3 (moto): what the local-store API tests cannot show."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ras_platform.s3_object_store import S3ObjectStore
from ras_platform.uploads import Uploads


def test_young_uploads_survive_a_store_reporting_old_initiation_times(s3_server_url: str) -> None:
    # moto reports every multipart upload as initiated in 2010: the upload's own record decides.
    store = S3ObjectStore(f"test-{uuid.uuid4().hex[:12]}", endpoint_url=s3_server_url)
    store.ensure_bucket()
    uploads = Uploads(store, 5 * 1024 * 1024, timedelta(hours=1))
    young = uploads.initiate(
        recording_id="rec-s3",
        filename="a.mp4",
        extension="mp4",
        size_bytes=10,
        content_type="video/mp4",
        metadata={},
    )
    assert uploads.expire_stale() == []
    assert uploads.status(young.upload_id).state == "initiated"
    later = datetime.now(UTC) + timedelta(hours=2)
    assert uploads.expire_stale(now=later) == [young.upload_id]
    assert store.list_multipart("uploads/") == []
    assert uploads.status(young.upload_id).state == "failed"
