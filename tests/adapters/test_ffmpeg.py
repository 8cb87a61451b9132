"""The ffmpeg adapter with the bundled binary: real ffmpeg processes on tiny generated videos."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from ras_platform.ffmpeg import FfmpegError, FfmpegTimeout, has_filter, make_test_video, run_ffmpeg


def _first_frame(path: Path, width: int, height: int) -> np.ndarray:
    frames = imageio_ffmpeg.read_frames(str(path))
    next(frames)  # the first item is the stream's metadata
    frame = np.frombuffer(next(frames), dtype=np.uint8).reshape(height, width, 3)
    frames.close()
    return frame


def test_test_video_has_the_asked_duration_size_and_rate(tmp_path: Path) -> None:
    video = tmp_path / "match.mp4"
    make_test_video(video, duration_s=3, width=160, height=90, fps=10)

    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(video))
    assert frames == 30
    assert seconds == pytest.approx(3.0, abs=0.1)
    assert _first_frame(video, 160, 90).shape == (90, 160, 3)


def test_match_clock_is_burned_in_when_drawtext_is_available(tmp_path: Path) -> None:
    if not has_filter("drawtext"):
        pytest.skip("the bundled ffmpeg has no drawtext filter")
    with_clock, without_clock = tmp_path / "clock.mp4", tmp_path / "plain.mp4"

    assert make_test_video(with_clock, duration_s=1, width=320, height=180, fps=5) is True
    assert (
        make_test_video(without_clock, duration_s=1, width=320, height=180, fps=5, match_clock=False) is False
    )

    clock_corner = (slice(140, 170), slice(10, 90))  # where the clock box is drawn (bottom left)
    rest = (slice(0, 100), slice(120, 320))
    first_with, first_without = _first_frame(with_clock, 320, 180), _first_frame(without_clock, 320, 180)
    corner_delta = np.abs(first_with[clock_corner].astype(int) - first_without[clock_corner].astype(int))
    rest_delta = np.abs(first_with[rest].astype(int) - first_without[rest].astype(int))
    assert corner_delta.mean() > 10 * max(rest_delta.mean(), 1.0)


def test_a_failure_carries_ffmpegs_own_words(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-video.mp4"
    with pytest.raises(FfmpegError) as raised:
        run_ffmpeg(["-i", str(missing), "-f", "null", "-"], timeout_s=30)

    assert "No such file or directory" in raised.value.stderr_tail
    assert "exited with" in str(raised.value)
    assert str(missing) in raised.value.ffmpeg_args


def test_a_stuck_ffmpeg_is_killed_at_its_timeout() -> None:
    endless = ["-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=5", "-f", "null", "-"]
    with pytest.raises(FfmpegTimeout) as raised:
        run_ffmpeg(endless, timeout_s=0.5)

    assert "timed out after 0.5 s" in str(raised.value)
