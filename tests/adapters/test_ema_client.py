"""EmaClient against httpx.MockTransport: retry rules, backoff, idempotency header, EMA's messages."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import httpx
import pytest

from ras_core.catalogue import JobType, job_type
from ras_platform.ema_client import EmaClient, EmaError, EmaJobRef, parse_retry_after

V2_JOB = job_type("event-detection")
V3_JOB = job_type("player-tracking")
KEY = "rec-001:event-detection:1"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Answers from a script, one response (or exception) per request, and keeps the requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(handler: Handler, sleeps: list[float] | None = None, **options: object) -> EmaClient:
    record = sleeps if sleeps is not None else []
    return EmaClient(
        "http://ema.test/",
        "secret-key",
        transport=httpx.MockTransport(handler),
        sleep=record.append,
        rng=random.Random(7),
        **options,  # type: ignore[arg-type]
    )


def accepted_v2() -> httpx.Response:
    return httpx.Response(202, json={"job_id": "ema-1", "job_state": "scheduled"})


def test_trigger_v2_posts_to_v2_with_headers_and_body() -> None:
    recorder = Recorder(accepted_v2())
    ref = client(recorder).trigger(V2_JOB, {"job_kind": "event-detection"}, idempotency_key=KEY)
    assert ref == EmaJobRef("ema-1", "scheduled")
    (request,) = recorder.requests
    assert (request.method, str(request.url)) == ("POST", "http://ema.test/v2/jobs")
    assert request.headers["X-Api-Key"] == "secret-key"
    assert request.headers["Idempotency-Key"] == KEY
    assert json.loads(request.content) == {"job_kind": "event-detection"}


def test_trigger_v3_posts_to_v3_and_parses_its_answer() -> None:
    recorder = Recorder(httpx.Response(202, json={"id": "ema-3", "state": "scheduled"}))
    ref = client(recorder).trigger(V3_JOB, {"kind": "player-tracking"}, idempotency_key=KEY)
    assert ref == EmaJobRef("ema-3", "scheduled")
    assert str(recorder.requests[0].url) == "http://ema.test/v3/jobs"


def test_a_repeated_key_answered_with_200_is_the_existing_job() -> None:
    recorder = Recorder(httpx.Response(200, json={"job_id": "ema-1", "job_state": "running"}))
    assert client(recorder).trigger(V2_JOB, {}, idempotency_key=KEY) == EmaJobRef("ema-1", "running")


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (413, False),
        (422, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_retry_rules_by_status(status: int, retried: bool) -> None:
    recorder = Recorder(httpx.Response(status, json={"message": f"status {status}"}), accepted_v2())
    ema = client(recorder)
    if retried:
        assert ema.trigger(V2_JOB, {}, idempotency_key=KEY).job_id == "ema-1"
        assert len(recorder.requests) == 2
    else:
        with pytest.raises(EmaError) as caught:
            ema.trigger(V2_JOB, {}, idempotency_key=KEY)
        assert (caught.value.final, caught.value.status_code) == (True, status)
        assert caught.value.message == f"status {status}"
        assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("closed"),
    ],
)
def test_transport_errors_are_retried(error: Exception) -> None:
    recorder = Recorder(error, accepted_v2())
    assert client(recorder).trigger(V2_JOB, {}, idempotency_key=KEY).job_id == "ema-1"
    assert len(recorder.requests) == 2


def test_retryable_failure_after_max_attempts_is_not_final() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(503, json={"message": "EMA is overloaded"}))
    with pytest.raises(EmaError) as caught:
        client(recorder, sleeps, max_attempts=4).trigger(V2_JOB, {}, idempotency_key=KEY)
    assert (caught.value.final, caught.value.status_code) == (False, 503)
    assert caught.value.message == "EMA is overloaded"
    assert len(recorder.requests) == 4
    assert len(sleeps) == 3  # no sleep after the last attempt


def test_unreachable_after_max_attempts_is_not_final() -> None:
    recorder = Recorder(httpx.ConnectError("connection refused"))
    with pytest.raises(EmaError) as caught:
        client(recorder, max_attempts=3).trigger(V2_JOB, {}, idempotency_key=KEY)
    assert (caught.value.final, caught.value.status_code) == (False, None)
    assert "connection refused" in caught.value.message


def test_idempotency_key_is_constant_across_retries() -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"), httpx.Response(500), httpx.Response(429), accepted_v2())
    client(recorder).trigger(V2_JOB, {"a": 1}, idempotency_key=KEY)
    assert [r.headers["Idempotency-Key"] for r in recorder.requests] == [KEY] * 4
    assert {r.content for r in recorder.requests} == {b'{"a":1}'}


def test_backoff_is_exponential_bounded_and_jittered() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(500))
    with pytest.raises(EmaError):
        client(recorder, sleeps, max_attempts=9, backoff_base_s=0.5, backoff_max_s=4.0).trigger(
            V2_JOB, {}, idempotency_key=KEY
        )
    ceilings = [min(4.0, 0.5 * 2**i) for i in range(8)]
    assert len(sleeps) == 8
    assert all(0 <= slept <= ceiling for slept, ceiling in zip(sleeps, ceilings, strict=True))
    assert len(set(sleeps)) == len(sleeps)  # jittered, not a fixed schedule


def test_backoff_jitter_spans_the_window() -> None:
    ema = client(Recorder(accepted_v2()), backoff_base_s=1.0, backoff_max_s=8.0)
    delays = [ema.backoff_delay(10) for _ in range(2000)]
    assert max(delays) <= 8.0
    assert min(delays) < 0.5 and max(delays) > 7.5  # full jitter: anywhere in [0, cap]


def test_retry_after_is_honoured() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "3"}), accepted_v2())
    client(recorder, sleeps, backoff_max_s=0.1).trigger(V2_JOB, {}, idempotency_key=KEY)
    assert sleeps == [3.0]


def test_retry_after_is_capped() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(503, headers={"Retry-After": "86400"}), accepted_v2())
    client(recorder, sleeps).trigger(V2_JOB, {}, idempotency_key=KEY)
    assert sleeps == [60.0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("5", 5.0),
        ("0", 0.0),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(header, now=now) == expected


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(422, json={"message": "fps must be > 0"}), "fps must be > 0"),
        (httpx.Response(400, json={"detail": "unknown job kind"}), "unknown job kind"),
        (httpx.Response(400, json={"error": "bad upload url"}), "bad upload url"),
        (httpx.Response(400, text="plain refusal"), "plain refusal"),
        (httpx.Response(403), "403 Forbidden"),
    ],
)
def test_ema_message_is_kept(response: httpx.Response, message: str) -> None:
    with pytest.raises(EmaError) as caught:
        client(Recorder(response)).trigger(V2_JOB, {}, idempotency_key=KEY)
    assert caught.value.message == message


def test_malformed_success_answer_is_an_error() -> None:
    recorder = Recorder(httpx.Response(202, json={"unexpected": True}))
    with pytest.raises(EmaError, match="unexpected trigger answer"):
        client(recorder).trigger(V2_JOB, {}, idempotency_key=KEY)


@pytest.mark.parametrize(("job", "version"), [(V2_JOB, "v2"), (V3_JOB, "v3")])
def test_cancel_deletes_by_version(job: JobType, version: str) -> None:
    recorder = Recorder(httpx.Response(204))
    client(recorder).cancel(job, "ema/1")
    (request,) = recorder.requests
    assert request.method == "DELETE"
    assert request.url.raw_path == f"/{version}/jobs/ema%2F1".encode()
    assert request.headers["X-Api-Key"] == "secret-key"
    assert request.headers["Idempotency-Key"]


def test_cancel_of_a_gone_job_is_fine_but_other_refusals_raise() -> None:
    client(Recorder(httpx.Response(404, json={"message": "no such job"}))).cancel(V2_JOB, "ema-1")
    with pytest.raises(EmaError) as caught:
        client(Recorder(httpx.Response(409, json={"message": "already finished"}))).cancel(V2_JOB, "ema-1")
    assert caught.value.final and caught.value.message == "already finished"


def test_cancel_retries_server_errors() -> None:
    recorder = Recorder(httpx.Response(502), httpx.Response(204))
    client(recorder).cancel(V3_JOB, "ema-1")
    assert len(recorder.requests) == 2
