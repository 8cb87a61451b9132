"""The one ffmpeg adapter: which binary, how it is run, and the videos the platform makes with it.

The binary is the one `imageio-ffmpeg` ships in its wheel, so `pip install` is the whole setup (no
system ffmpeg, no download at run time). Every call has a timeout, because a stuck ffmpeg would
otherwise hold a run (and a core) forever, and a failure carries the tail of ffmpeg's stderr, which is
where ffmpeg says what went wrong.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# ffmpeg writes its whole configuration and progress to stderr; the reason is in the last lines.
STDERR_TAIL_CHARS = 2000
DEFAULT_TIMEOUT_S = 120.0


class FfmpegError(RuntimeError):
    """ffmpeg exited non-zero (or could not start); `stderr_tail` says why in ffmpeg's words."""

    def __init__(self, message: str, *, args: Sequence[str], stderr_tail: str = "") -> None:
        super().__init__(f"{message}: {stderr_tail}" if stderr_tail else message)
        self.reason = message
        self.ffmpeg_args = list(args)
        self.stderr_tail = stderr_tail


class FfmpegTimeout(FfmpegError):
    """ffmpeg ran longer than its timeout and was killed."""


@cache
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary (imageio-ffmpeg; `IMAGEIO_FFMPEG_EXE` overrides it)."""
    # Imported here: only processes that touch video pay for it.
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(
    args: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S, executable: str | None = None
) -> str:
    """Run ffmpeg with `args` (everything after the binary); returns its stderr (ffmpeg's log).

    `-nostdin` keeps ffmpeg from reading the terminal (it would stop a background process), and
    `-hide_banner` keeps the build configuration out of the stderr tail an error carries.
    `executable` replaces the bundled binary (a wrapper, another build).
    """
    command = [executable or ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    try:
        completed = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as error:
        # subprocess.run kills the child before raising, so nothing is left running.
        raise FfmpegTimeout(
            f"ffmpeg timed out after {timeout_s:g} s", args=args, stderr_tail=_tail(error.stderr)
        ) from None
    except OSError as error:
        raise FfmpegError(f"ffmpeg could not start: {error}", args=args) from error
    stderr = _decode(completed.stderr)
    if completed.returncode != 0:
        raise FfmpegError(
            f"ffmpeg exited with {completed.returncode}", args=args, stderr_tail=_tail(completed.stderr)
        )
    return stderr


@cache
def has_filter(name: str) -> bool:
    """Whether the bundled ffmpeg was built with the filter `name` (drawtext needs libfreetype)."""
    listing = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-filters"], capture_output=True, timeout=30, check=False
    )
    return any(line.split()[1:2] == [name] for line in _decode(listing.stdout).splitlines() if line.strip())


# The match clock as mm:ss of the frame's own timestamp, so a clip shows where in the match it was cut;
# bottom left, clear of testsrc2's own counter in the top left corner.
_MATCH_CLOCK = (
    r"drawtext=text='%{pts\:gmtime\:0\:%M\\\:%S}'"
    ":x=w*0.04:y=h-th-h*0.06:fontsize=h/10:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=4"
)


def make_test_video(
    dest: Path,
    *,
    duration_s: float,
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    match_clock: bool = True,
    bitrate_kbps: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    crf: int | None = None,
) -> bool:
    """Write an H.264 MP4 of ffmpeg's `testsrc2` pattern to `dest`; True if a match clock is burned in.

    The clock needs the drawtext filter and a font; a build or a machine without them still gets the
    video, without the clock. A keyframe every second keeps seeking in it as cheap as in broadcast video.
    `crf` trades picture for size (x264's constant rate factor; higher is smaller, 51 at most).
    `bitrate_kbps` pads the stream to a constant bitrate (a test pattern compresses far better than a
    match), so a file can be as large as a broadcast recording of the same length.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = f"testsrc2=duration={duration_s:g}:size={width}x{height}:rate={fps}"
    if match_clock and has_filter("drawtext"):
        try:
            run_ffmpeg(
                _test_video_args(source, dest, fps, _MATCH_CLOCK, crf, bitrate_kbps), timeout_s=timeout_s
            )
            return True
        except FfmpegTimeout:
            raise
        except FfmpegError:
            pass  # most likely no usable font on this machine: fall through to the plain pattern
    run_ffmpeg(_test_video_args(source, dest, fps, None, crf, bitrate_kbps), timeout_s=timeout_s)
    return False


def _test_video_args(
    source: str,
    dest: Path,
    fps: int,
    video_filter: str | None,
    crf: int | None = None,
    bitrate_kbps: int | None = None,
) -> list[str]:
    filters = ["-vf", video_filter] if video_filter else []
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(fps)]
    encode += ["-crf", str(crf)] if crf is not None else []
    if bitrate_kbps:
        rate = f"{bitrate_kbps}k"
        encode += ["-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", rate]
        encode += ["-x264-params", "nal-hrd=cbr"]
    return ["-y", "-f", "lavfi", "-i", source, *filters, *encode, "-movflags", "+faststart", str(dest)]


@dataclass(frozen=True)
class CutClip:
    frames: int
    fps: float

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


# What a clip is encoded as; `ras_core.training_clips.CLIP_ENCODING` names this, so change both together.
# x264's ultrafast at crf 23: a 12 s 720p clip of a 8 Mbit/s source costs ~1.8 CPU-s to seek, decode
# and encode (one thread), against ~3.3 with superfast and ~4.3 with veryfast (the bench's 96-min
# source, two cuts at once on 2 cores: 0.9 s of wall time per clip against 1.8 with superfast). It
# drops CABAC, deblocking and B-frames, so a clip is ~1.5x larger than superfast's (9.4 against
# 6.4 MB) at the same SSIM against its source: bytes are cheap next to the cores ~200 clips a game take.
CLIP_ENCODE_ARGS = (
    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-movflags", "+faststart",
)  # fmt: skip
_FRAMES = re.compile(r"frame=\s*(\d+)")
_OUTPUT_FPS = re.compile(r"Output #0.*?Video:.*?(\d+(?:\.\d+)?) fps", re.DOTALL)


def cut_clip(
    source: Path,
    dest: Path,
    *,
    start_s: float,
    duration_s: float,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    threads: int = 1,
    executable: str | None = None,
) -> CutClip:
    """Cut `duration_s` from `start_s` of a local video into `dest`, re-encoding only that window.

    `-ss` before `-i` seeks in the input (to the keyframe before `start_s`, then decodes up to it
    exactly), so a clip late in a 90-minute match costs no more than one at its start. A window
    past the end of the video gives no frames: that is an error here, not an empty file.
    `threads` bounds the decoder and the encoder alike: with clips cut in parallel, one per core,
    a decoder with a thread per core would only make the cuts contend (~10% more CPU per clip).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = [
        "-y", "-threads", str(threads), "-ss", f"{start_s:.3f}", "-i", str(source), "-t", f"{duration_s:.3f}",
        "-map", "0:v:0", "-map", "0:a:0?", *CLIP_ENCODE_ARGS, "-threads", str(threads), str(dest),
    ]  # fmt: skip
    log = run_ffmpeg(args, timeout_s=timeout_s, executable=executable)
    frames = [int(n) for n in _FRAMES.findall(log)]
    fps = _OUTPUT_FPS.search(log)
    if not frames or frames[-1] == 0 or fps is None:
        raise FfmpegError(
            f"no frames in {start_s:g}..{start_s + duration_s:g} s (the video ends before?)",
            args=args,
            stderr_tail=_tail(log),
        )
    return CutClip(frames[-1], float(fps.group(1)))


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")


def container_duration_s(log: str) -> float | None:
    """The input's length as `ffmpeg -i` prints it ("Duration: 00:01:30.04"), or None."""
    found = _DURATION.search(log)
    if found is None:
        return None
    hours, minutes, seconds = found.groups()
    return round(int(hours) * 3600 + int(minutes) * 60 + float(seconds), 3)


def probe_duration(
    video: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S, executable: str | None = None
) -> float:
    """The length of a local video in seconds, from its container's header (nothing is decoded)."""
    log = run_ffmpeg(
        ["-i", str(video), "-t", "0", "-f", "null", "-"], timeout_s=timeout_s, executable=executable
    )
    duration_s = container_duration_s(log)
    if duration_s is None:
        raise FfmpegError(
            f"{video.name} has no duration (not a video?)", args=[str(video)], stderr_tail=_tail(log)
        )
    return duration_s


def loop_video(segment: Path, dest: Path, *, duration_s: float, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """`segment` repeated to `duration_s`, stream-copied (no re-encoding): a long video in the time of
    writing its bytes, with timestamps running on across the repeats."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = ["-y", "-stream_loop", "-1", "-i", str(segment), "-t", f"{duration_s:g}", "-c", "copy"]
    run_ffmpeg([*args, "-movflags", "+faststart", str(dest)], timeout_s=timeout_s)


def make_thumbnail_strip(
    video: Path,
    dest: Path,
    *,
    duration_s: float,
    frames: int = 6,
    width: int = 160,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    executable: str | None = None,
) -> None:
    """A JPEG of `frames` stills taken evenly across `video`, side by side: a clip at a glance."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    rate = frames / max(duration_s, 0.1)
    tiles = f"fps={rate:.6f},scale={width}:-2,tile={frames}x1"
    args = ["-y", "-i", str(video), "-vf", tiles, "-frames:v", "1", "-q:v", "5", str(dest)]
    run_ffmpeg(args, timeout_s=timeout_s, executable=executable)


def _decode(output: bytes | str | None) -> str:
    if output is None:
        return ""
    return output if isinstance(output, str) else output.decode("utf-8", errors="replace")


def _tail(output: bytes | str | None) -> str:
    return _decode(output).strip()[-STDERR_TAIL_CHARS:]
