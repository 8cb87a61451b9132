"""Training clips as pure decisions: moments, windows, ids, prompts, fingerprints and the split."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from ras_core import training_clips as tc
from ras_core.recording import Period, Pitch, RecordingMetadata
from ras_core.training_clips import ClipSettings, Moment

RECORDING = RecordingMetadata(
    recording_id="rec-1",
    fps=25.0,
    duration_s=5400.0,
    pitch=Pitch(105.0, 68.0),
    video_uris=("videos/rec-1/main.mp4", "videos/rec-1/behind-goal.mp4"),
    periods=(Period(1, 0.0, 2700.0), Period(2, 2760.0, 5400.0)),
    home_team="Home FC",
    away_team="Away FC",
)


def _shot(shot_id: str, time_s: float, side: str, outcome: str, period: int = 1) -> dict:
    return {"id": shot_id, "time_s": time_s, "period": period, "team_side": side, "outcome": outcome}


def _event(event_id: str, kind: str, start_s: float, side: str | None, period: int | None = 1) -> dict:
    return {
        "id": event_id,
        "type": kind,
        "start_s": start_s,
        "end_s": start_s,
        "period": period,
        "team_side": side,
    }


def test_shots_come_from_shot_details_and_a_goal_event_after_a_scoring_shot_is_that_shot() -> None:
    shots = [_shot("s1", 100.0, "home", "saved"), _shot("s2", 300.0, "away", "goal")]
    events = [
        _event("e1", "shot", 100.5, "home"),  # the same shot as s1, told with less
        _event("e2", "shot", 299.0, "away"),
        _event("e3", "goal", 301.0, "away"),  # s2's goal
        _event("e4", "goal", 900.0, "home"),  # a goal shot details missed (an own goal)
        _event("e5", "corner", 120.0, "home"),
    ]

    moments = tc.choose_moments(events, shots, ClipSettings(), RECORDING.periods)

    assert [(m.moment_id, m.type, m.outcome) for m in moments] == [
        ("s1", "shot", "saved"),
        ("s2", "shot", "goal"),
        ("e4", "goal", None),
    ]


def test_event_types_come_from_the_settings() -> None:
    shots = [_shot("s1", 100.0, "home", "goal")]
    events = [_event("e1", "goal", 101.0, "home"), _event("e2", "corner", 120.0, "home", period=None)]

    corners = tc.choose_moments(events, shots, ClipSettings(moment_types=("corner",)), RECORDING.periods)
    goals_only = tc.choose_moments(events, shots, ClipSettings(moment_types=("goal",)), RECORDING.periods)

    assert [(m.moment_id, m.type, m.period) for m in corners] == [("e2", "corner", 1)]
    # Without shots chosen, a goal is the goal event itself.
    assert [(m.moment_id, m.type) for m in goals_only] == [("e1", "goal")]


@pytest.mark.parametrize(
    ("time_s", "window"),
    [
        (100.0, (92.0, 104.0)),
        (3.0, (0.0, 7.0)),  # the build-up clamped at the start of the video
        (5398.0, (5390.0, 5400.0)),  # the reaction clamped at its end
    ],
)
def test_windows_are_clamped_to_the_video(time_s: float, window: tuple[float, float]) -> None:
    moment = Moment("m", "shot", time_s, time_s, 1, "home", "saved")

    assert tc.clip_window(moment, ClipSettings(before_s=8.0, after_s=4.0), 5400.0) == window


@pytest.mark.parametrize("time_s", [5400.5, 9000.0])
def test_a_moment_after_the_video_has_no_window_and_says_why(time_s: float) -> None:
    moment = Moment("m", "shot", time_s, time_s, 2, "home", "saved")

    reason = tc.clip_window(moment, ClipSettings(), 5400.0)

    assert isinstance(reason, str) and "outside the video" in reason


def test_a_window_clamped_too_short_is_rejected() -> None:
    moment = Moment("m", "shot", 5399.8, 5399.8, 2, "home", "saved")
    settings = ClipSettings(before_s=0.0, after_s=4.0, min_duration_s=1.0)

    assert "shorter than 1 s" in tc.clip_window(moment, settings, 5400.0)  # type: ignore[operator]


def test_every_moment_is_cut_from_every_angle_with_contract_clip_ids() -> None:
    moments = [
        Moment("s1", "shot", 100.0, 100.0, 1, "home", "post"),
        Moment("late", "goal", 6000.0, 6000.0, 2, "away"),
    ]

    plan = tc.plan_clips(RECORDING, moments, ClipSettings())

    assert [(c.clip_id, c.angle_index, c.source_uri) for c in plan.clips] == [
        ("rec-1-s1-0", 0, "videos/rec-1/main.mp4"),
        ("rec-1-s1-1", 1, "videos/rec-1/behind-goal.mp4"),
    ]
    assert all(c.duration_s == 12.0 for c in plan.clips)
    assert [(r.clip_id, r.angle_index) for r in plan.rejected] == [("rec-1-late-0", 0), ("rec-1-late-1", 1)]
    assert all("outside the video" in r.reason for r in plan.rejected)


def test_a_window_is_clamped_to_its_own_angles_video_not_only_the_recordings() -> None:
    moments = [
        Moment(f"s{i}", "shot", t, t, 2, "home", "saved") for i, t in enumerate((3000.0, 3496.5, 3600.0))
    ]
    behind_goal = [c for c in tc.plan_clips(RECORDING, moments, ClipSettings()).clips if c.angle_index == 1]
    # This angle's camera stopped at 3500 s of the 5400 s recording.
    fitted = [tc.fit_to_video(c, 3500.0, min_duration_s=1.0) for c in behind_goal]

    assert fitted[0] == behind_goal[0]  # inside the angle: unchanged
    assert isinstance(fitted[1], tc.PlannedClip)
    assert (fitted[1].start_s, fitted[1].end_s) == (3488.5, 3500.0)
    assert fitted[2] == "window 3592..3604 s lies past the end: angle 1's video ends at 3500 s"
    too_short = tc.fit_to_video(replace(behind_goal[1], start_s=3499.5), 3500.0, min_duration_s=1.0)
    assert too_short == "window 3499.5..3500.5 s: angle 1's video ends at 3500 s, leaving less than 1 s"


def test_ids_that_would_not_fit_an_object_key_become_a_stable_digest() -> None:
    assert tc.safe_moment_id("shot-007") == "shot-007"
    odd = tc.safe_moment_id("shot 7/a")
    assert odd == tc.safe_moment_id("shot 7/a") and odd.startswith("m") and len(odd) == 13
    assert odd != tc.safe_moment_id("shot 7/b")


def test_the_split_is_the_contracts_hash_rule_and_close_to_80_20() -> None:
    ids = [f"rec-{r}-shot-{s:03d}-{a}" for r in range(20) for s in range(25) for a in range(2)]

    training = [i for i in ids if tc.is_training(i)]

    for clip in ids[:50]:
        expected = int(hashlib.sha256(clip.encode()).hexdigest()[:16], 16) % 100 < 80
        assert tc.is_training(clip) is expected
    assert 0.76 < len(training) / len(ids) < 0.84


def test_adding_clips_moves_none_of_the_existing_ones_between_training_and_validation() -> None:
    before = [(f"rec-a-s{i}-0", f"file:///c/a{i}.mp4", f"prompt {i}") for i in range(40)]
    added = [(f"rec-b-s{i}-0", f"file:///c/b{i}.mp4", f"prompt b{i}") for i in range(40)]

    training_before, validation_before = tc.split_dataset(before)
    training_after, validation_after = tc.split_dataset(before + added)

    assert set(training_before) <= set(training_after)
    assert set(validation_before) <= set(validation_after)
    assert set(training_before).isdisjoint(validation_after)


def test_dataset_lines_are_the_trainers_format() -> None:
    training, validation = tc.split_dataset([("rec-1-s1-0", "s3://bucket/processed/x.mp4", "A shot")])

    [line] = training + validation
    assert json.loads(line) == {"videoGcsUri": "s3://bucket/processed/x.mp4", "textPrompt": "A shot"}


@pytest.mark.parametrize(
    ("time_s", "period", "minute"),
    [
        (0.0, 1, 1),
        (59.9, 1, 1),
        (60.0, 1, 2),
        (2760.0, 2, 46),
        (2760.0 + 22 * 60 + 5, 2, 68),
        (2750.0, 1, 46),
    ],
)
def test_match_minutes_restart_at_45_in_the_second_half(time_s: float, period: int, minute: int) -> None:
    assert tc.match_minute(time_s, period, RECORDING.periods) == minute


def test_the_prompt_says_type_team_outcome_and_minute() -> None:
    shot = Moment("s1", "shot", 2760.0 + 22 * 60 + 5, 0.0, 2, "away", "saved")
    kick = Moment("e9", "free-kick", 30.0, 30.0, 1, None)

    assert tc.prompt(shot, RECORDING) == (
        "A shot by Away FC (the away team), saved by the goalkeeper, in the 68th minute of a football match."
    )
    nameless = replace(RECORDING, home_team=None)
    assert (
        tc.prompt(kick, nameless) == "A free kick by an unknown team, in the 1st minute of a football match."
    )
    assert "the home team" in tc.prompt(replace(kick, team_side="home"), nameless)


def test_the_fingerprint_changes_with_the_source_version_and_the_window_only() -> None:
    [clip] = tc.plan_clips(
        replace(RECORDING, video_uris=("videos/a.mp4",)),
        [Moment("s1", "shot", 100.0, 100.0, 1, "home", "goal")],
        ClipSettings(),
    ).clips

    same = tc.clip_fingerprint(clip, "etag-1")
    assert tc.clip_fingerprint(clip, "etag-1") == same
    assert tc.clip_fingerprint(clip, "etag-2") != same
    assert tc.clip_fingerprint(replace(clip, end_s=clip.end_s + 1), "etag-1") != same
    assert tc.clip_fingerprint(replace(clip, prompt="other words"), "etag-1") == same


def test_only_cut_entries_of_a_current_manifest_are_reused() -> None:
    [clip] = tc.plan_clips(
        replace(RECORDING, video_uris=("videos/a.mp4",)),
        [Moment("s1", "shot", 100.0, 100.0, 1, "home", "goal")],
        ClipSettings(),
    ).clips
    cut = tc.manifest_entry(clip, state="cut", key="k", fingerprint="f", duration_s=12.0, size_bytes=10)
    failed = tc.manifest_entry(
        replace(clip, clip_id="rec-1-s2-0"), state="failed", reason="ffmpeg exited with 1"
    )
    past_end = tc.manifest_entry(
        replace(clip, clip_id="rec-1-s3-0"), state="failed", reason="past the end", fingerprint="g"
    )
    document = tc.manifest("rec-1", ClipSettings(), [failed, cut, past_end])

    assert [e["clip_id"] for e in document["clips"]] == ["rec-1-s1-0", "rec-1-s2-0", "rec-1-s3-0"]
    assert set(tc.reusable_entries(document)) == {"rec-1-s1-0", "rec-1-s3-0"}
    assert tc.reusable_entries({**document, "manifest_version": 0}) == {}
    assert tc.reusable_entries(None) == {}
