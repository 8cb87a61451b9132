"""EMA's v2/v3 job API over httpx: trigger and cancel, with the retry rules of contracts.md.

Retrying a POST is safe only because every request carries the same Idempotency-Key on every
attempt: EMA answers a repeated key with the job it already made. 408, 429, 5xx and transport
errors (connect, read, timeout) are retried with exponential backoff and full jitter; any other 4xx
is final at once. Retries here cover seconds-long blips; a longer outage ends in
`EmaError(final=False)`, which the caller turns into a failed attempt that dispatch may retry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ras_core.catalogue import JobType

if TYPE_CHECKING:
    import httpx

RETRYABLE_STATUS = frozenset({408, 429})
# A Retry-After above this is not waited for inside one run: the attempt fails and dispatch retries.
RETRY_AFTER_CAP_S = 60.0
_MESSAGE_FIELDS = ("message", "detail", "error", "title", "reason")


@dataclass(frozen=True)
class EmaJobRef:
    job_id: str
    state: str


class EmaError(Exception):
    """EMA refused (final) or could not be reached (not final). `message` is EMA's own when it
    gave one, so it can be kept as the job's reason."""

    def __init__(self, message: str, *, status_code: int | None = None, final: bool) -> None:
        super().__init__(f"EMA {status_code or 'unreachable'}: {message}")
        self.message = message
        self.status_code = status_code
        self.final = final


def is_retryable_status(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUS or status_code >= 500


class EmaClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        # httpx is imported where it is used: every Dagster run process loads this module, and
        # import runs that trigger nothing would pay ~0.3 s of start-up for it.
        import httpx

        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"X-Api-Key": api_key},
            timeout=timeout_s,
            transport=transport,
        )
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self._rng = rng or random.Random()

    def trigger(self, job: JobType, body: dict[str, Any], *, idempotency_key: str) -> EmaJobRef:
        """POST the job to the API version that serves it; EMA's job id and state."""
        response = self._send("POST", f"/{job.ema_api_version}/jobs", idempotency_key, json=body)
        return _job_ref(response)

    def cancel(self, job: JobType, ema_job_id: str, *, idempotency_key: str | None = None) -> None:
        """DELETE the EMA job; a 404 means it is already gone, which is what we wanted."""
        path = f"/{job.ema_api_version}/jobs/{quote(ema_job_id, safe='')}"
        try:
            self._send("DELETE", path, idempotency_key or f"cancel:{ema_job_id}")
        except EmaError as error:
            if error.status_code != 404:
                raise

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, idempotency_key: str, **kwargs: Any) -> httpx.Response:
        import httpx

        headers = {"Idempotency-Key": idempotency_key}
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as error:  # connect/read errors and timeouts
                if last:
                    raise EmaError(f"{type(error).__name__}: {error}", final=False) from error
                self._sleep(self.backoff_delay(attempt))
                continue
            if response.is_success:
                return response
            if not is_retryable_status(response.status_code):
                raise EmaError(_message(response), status_code=response.status_code, final=True)
            if last:
                raise EmaError(_message(response), status_code=response.status_code, final=False)
            self._sleep(self._retry_delay(response, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def backoff_delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^(attempt-1))], so retrying callers spread out."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            return self.backoff_delay(attempt)
        return min(retry_after, RETRY_AFTER_CAP_S)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent/garbled."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _job_ref(response: httpx.Response) -> EmaJobRef:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        # v2 answers {"job_id", "job_state"}, v3 {"id", "state"}.
        job_id = data.get("job_id", data.get("id"))
        state = data.get("job_state", data.get("state"))
        if isinstance(job_id, str) and job_id and isinstance(state, str):
            return EmaJobRef(job_id, state)
    raise EmaError(
        f"unexpected trigger answer: {response.text[:200]!r}", status_code=response.status_code, final=True
    )


def _message(response: httpx.Response) -> str:
    """EMA's own words when the body has them (kept as the job's reason), else the status line."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for field in _MESSAGE_FIELDS:
            if isinstance(data.get(field), str) and data[field]:
                return data[field]
    text = response.text.strip()
    return text[:500] if text else f"{response.status_code} {response.reason_phrase}"
