import pytest

from ras_core import catalogue
from ras_core.ids import is_valid_recording_id


def test_every_processed_output_belongs_to_exactly_one_job() -> None:
    owners = [name for job in catalogue.JOB_TYPES for name in job.processed_outputs]
    assert sorted(owners) == sorted(out.name for out in catalogue.PROCESSED_OUTPUTS)


def test_dependent_jobs_need_the_three_independent_ones() -> None:
    for name in ("match-details", "shot-details", "match-report"):
        assert set(catalogue.job_type(name).depends_on) == {
            "event-detection",
            "player-tracking",
            "ball-tracking",
        }


def test_raw_keys_follow_the_contract_layout() -> None:
    raw = catalogue.raw_output("physical-metrics")
    assert raw.key("rec-001") == "raw/physical-metrics/rec-001.parquet"


def test_unknown_job_type_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="event-detection"):
        catalogue.job_type("goal-detection")


@pytest.mark.parametrize(
    ("value", "valid"),
    [("rec-001", True), ("A", True), ("a" * 64, True), ("a" * 65, False), ("-rec", False),
     ("rec/1", False), ("rec 1", False), ("", False), ("rec-1\n", False), ("ré", False)],
)
def test_recording_id_pattern(value: str, valid: bool) -> None:
    assert is_valid_recording_id(value) is valid
