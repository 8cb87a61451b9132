"""Failure classes from the reasons the platform writes (ras_core.failures)."""

import pytest

from ras_core.failures import FailureClass, classify_failure


@pytest.mark.parametrize(
    ("source", "reason", "expected"),
    [
        ("callback", "model crashed; exit code 137", FailureClass.EMA_FAILED),
        ("callback", "EMA reported the job failed without a reason", FailureClass.EMA_FAILED),
        (
            "callback",
            "EMA reported succeeded but raw/events/rec-1.json was not uploaded",
            FailureClass.MISSING_UPLOAD,
        ),
        ("import", "events: events.json row 3: missing column 'frame'", FailureClass.CONTRACT),
        ("dispatch", "EMA refused the trigger: 400 bad recording", FailureClass.EMA_REFUSED),
        ("dispatch", "EMA unreachable: 503 after 4 tries", FailureClass.EMA_UNREACHABLE),
        ("dispatch", "recording metadata invalid: fps must be > 0", FailureClass.INVALID_METADATA),
        ("api", "cancelled by the operator", FailureClass.OTHER),
        ("api", None, FailureClass.OTHER),
    ],
)
def test_each_reason_the_platform_writes_has_its_class(
    source: str, reason: str | None, expected: FailureClass
) -> None:
    assert classify_failure(source, reason) is expected
