"""What the platform does to a video with ffmpeg (through `ras_platform.ffmpeg`, the one wrapper):
probe it, take a thumbnail, cut it into an HLS ladder.

The bundled ffmpeg has no ffprobe, so the probe reads what `ffmpeg -i` prints about the container and
its first video stream while copying one second of it to nowhere. A file ffmpeg cannot read fails the
probe with ffmpeg's own last words ("Invalid data found when processing input", "moov atom not found").
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from ras_core.uploads import ProbedVideo
from ras_platform.ffmpeg import FfmpegError, container_duration_s, run_ffmpeg

PROBE_TIMEOUT_S = 60.0
DEFAULT_LADDER = (360, 720)  # contracts.md: rungs above the source's height are skipped
SEGMENT_S = 4
_VIDEO_STREAM = re.compile(r"Stream #0:\d+.*?: Video: (?P<codec>\w+)(?P<rest>.*)")
_SIZE = re.compile(r", (\d{2,5})x(\d{2,5})[ ,]")
_RATE = re.compile(r", (\d+(?:\.\d+)?)(k?) (fps|tbr)")


def video_folder(recording_id: str) -> str:
    """Where a recording's processed video lives: thumbnail, probe, renditions."""
    return f"processed/video/{recording_id}/"


def renditions_key(recording_id: str) -> str:
    """Written last, once: the renditions present (the master playlist is generated from it)."""
    return f"{video_folder(recording_id)}renditions.json"


class NotAVideo(ValueError):
    """The file is no video ffmpeg can read; the message is ffmpeg's reason."""


def probe_video(path: Path, *, timeout_s: float = PROBE_TIMEOUT_S) -> ProbedVideo:
    try:
        log = run_ffmpeg(
            ["-i", str(path), "-map", "0:v:0", "-c", "copy", "-t", "1", "-f", "null", "-"],
            timeout_s=timeout_s,
        )
    except FfmpegError as error:
        raise NotAVideo(_last_words(error)) from error
    return parse_probe(log)


def parse_probe(log: str) -> ProbedVideo:
    """The probe from ffmpeg's description of its input (the part before "Stream mapping")."""
    described = log.split("Stream mapping:")[0]
    duration_s, stream = container_duration_s(described), _VIDEO_STREAM.search(described)
    if stream is None:
        raise NotAVideo("no video stream")
    if duration_s is None:
        raise NotAVideo("no duration: the container does not say how long the video is")
    size = _SIZE.search(stream.group("rest"))
    rates = {
        kind: float(value) * (1000 if kilo else 1)
        for value, kilo, kind in _RATE.findall(stream.group("rest"))
    }
    fps = rates.get("fps") or rates.get("tbr")
    if size is None or not fps:
        raise NotAVideo(f"video stream without a frame size or rate: {stream.group(0).strip()}")
    return ProbedVideo(
        duration_s=duration_s,
        fps=fps,
        width=int(size.group(1)),
        height=int(size.group(2)),
        codec=stream.group("codec"),
    )


def _last_words(error: FfmpegError) -> str:
    lines = [line.strip() for line in error.stderr_tail.splitlines() if line.strip()]
    # "Error opening input file /path": the line after it (or the last) says why, without our paths.
    reasons = [re.sub(r"^\[[^]]*\] ", "", line) for line in lines if "/" not in line or "Error" not in line]
    return reasons[-1] if reasons else error.reason


def make_thumbnail(video: Path, dest: Path, *, at_s: float, width: int = 320) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            "-y",
            "-ss",
            f"{at_s:.3f}",
            "-i",
            str(video),
            "-frames:v",
            "1",
            "-vf",
            f"scale={width}:-2",
            str(dest),
        ]
    )
    return dest


@dataclass(frozen=True)
class Rendition:
    """One rung of the HLS ladder: `{name}/index.m3u8` and its segments."""

    name: str  # "360p"
    width: int
    height: int
    bandwidth: int  # peak bits per second, for the master playlist

    def to_dict(self) -> dict[str, int | str]:
        return {"name": self.name, "width": self.width, "height": self.height, "bandwidth": self.bandwidth}


def ladder_for(source_height: int, ladder: tuple[int, ...] = DEFAULT_LADDER) -> list[int]:
    """The rungs not above the source; a source smaller than every rung is kept at its own height."""
    rungs = [height for height in sorted(set(ladder)) if height <= source_height]
    return rungs or [source_height - source_height % 2]


def make_hls(
    video: Path, out_dir: Path, probe: ProbedVideo, *, ladder: tuple[int, ...] = DEFAULT_LADDER
) -> list[Rendition]:
    """Encode every rung in one ffmpeg run (the source is read once): H.264, a keyframe every
    SEGMENT_S seconds so each segment starts with one, VOD playlists of ~SEGMENT_S s segments."""
    gop = max(1, round(probe.fps * SEGMENT_S))
    args = ["-y", "-i", str(video)]
    renditions = []
    for height in ladder_for(probe.height, ladder):
        name = f"{height}p"
        width = _even(probe.width * height / probe.height)
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        args += ["-map", "0:v:0", "-map", "0:a:0?", "-vf", f"scale={width}:{height}"]
        args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-pix_fmt", "yuv420p"]
        args += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-c:a", "aac", "-b:a", "96k"]
        args += ["-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod"]
        args += [
            "-hls_segment_filename",
            str(out_dir / name / "seg_%05d.ts"),
            str(out_dir / name / "index.m3u8"),
        ]
        renditions.append((name, width, height))
    run_ffmpeg(args, timeout_s=max(120.0, probe.duration_s * 2))
    return [
        Rendition(name, width, height, _peak_bandwidth(out_dir / name)) for name, width, height in renditions
    ]


def _peak_bandwidth(folder: Path) -> int:
    """The largest segment's bits per second, as HLS's BANDWIDTH asks (peak, not average)."""
    playlist = (folder / "index.m3u8").read_text().splitlines()
    peak = 0.0
    for line, following in itertools.pairwise(playlist):
        if line.startswith("#EXTINF:"):
            seconds = float(line.split(":", 1)[1].rstrip(",").split(",")[0])
            peak = max(peak, (folder / following).stat().st_size * 8 / max(seconds, 0.001))
    return int(peak) or 1


def master_playlist(renditions: list[dict[str, int | str]]) -> str:
    """The HLS master playlist naming each rendition's playlist, lowest first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for rendition in sorted(renditions, key=lambda r: int(r["height"])):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rendition['bandwidth']},"
            f"RESOLUTION={rendition['width']}x{rendition['height']}"
        )
        lines.append(f"{rendition['name']}/index.m3u8")
    return "\n".join(lines) + "\n"


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)
