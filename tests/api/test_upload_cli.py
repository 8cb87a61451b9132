"""`ras upload` against the API served over loopback: an interrupted upload resumes where it stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ras_api.app import create_app
from ras_core.uploads import original_key
from ras_platform.cli import main
from ras_platform.settings import Settings
from ras_platform.upload_client import UploadClient, resume_file
from tests.adapters.conftest import free_port
from tests.adapters.test_object_store import LoopbackServer

TOKEN = "zola-test-token"
PART_SIZE = 32 * 1024


def test_ras_upload_resumes_an_interrupted_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=tmp_path / "data",
        api_base_url=base_url,
        zola_token=TOKEN,
        signing_key="test-signing-key",
        upload_part_size=PART_SIZE,
    )
    app = create_app(settings)
    video = tmp_path / "match.mp4"
    video.write_bytes(b"\x00\x01video" * 20_000)  # 140 kB: five parts
    meta = tmp_path / "meta.json"
    meta.write_text(
        json.dumps({"recording_id": "ignored", "fps": 1, "pitch": {"length_m": 105, "width_m": 68}})
    )
    monkeypatch.setenv("RAS_API_BASE_URL", base_url)
    monkeypatch.setenv("RAS_ZOLA_TOKEN", TOKEN)

    with LoopbackServer(app, port):
        with UploadClient(base_url, TOKEN) as client:  # the connection drops after two parts
            first = client.upload(
                video, recording_id="rec-cli", metadata=json.loads(meta.read_text()), stop_after_parts=2
            )
        assert first.state == "uploading" and resume_file(video).exists()

        assert main(["upload", str(video), "--recording-id", "rec-cli", "--metadata", str(meta)]) == 0

    out = capsys.readouterr().out
    assert f"rec-cli: upload {first.upload_id} completed (resumed)" in out
    assert not resume_file(video).exists()
    objects = app.state.platform.object_store
    assert objects.get_bytes(original_key(first.upload_id, "mp4")) == video.read_bytes()
    sidecar = json.loads(objects.get_bytes(f"uploads/{first.upload_id}/metadata.json"))
    assert sidecar == {"recording_id": "rec-cli", "pitch": {"length_m": 105.0, "width_m": 68.0}}
