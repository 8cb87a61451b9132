"""Poison callbacks for the chaos run (`ras chaos --poison N`, docs/chaos.md).

Two kinds, interleaved with the simulator's normal callbacks while processes are being killed:

- Sent to the API, as a hostile or broken EMA would: a NUL in `job_id` (must be a 422), a NUL and
  control characters in the reason (202, stored cleaned), a 2 MB reason (413 before it is parsed), a
  200 kB reason (202, cut), extra fields nested 600 deep (422). None may be a 5xx, and every one the
  API acknowledged must end processed like any callback. They name job ids EMA never made, so they
  are stale and change no job.
- Written straight into the inbox, as rows an older API acknowledged before the edge refused them:
  a job kind the catalogue does not know (every backend), and on PostgreSQL a NUL in the reason of a
  job's current EMA job (PostgreSQL refuses it on every apply). Each must end quarantined with its
  reason, while the normal callbacks around it are applied.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, select

from ras_core.states import JobState, decide
from ras_platform.dead_letters import INBOX

# Job states a `failed` callback is applied in, as the state machine decides; of these, the ones
# with an EMA job are in flight at EMA.
_FAILS = tuple(s.value for s in JobState if decide(s, 1, JobState.FAILED).applied)

# What the API must answer to each poison sent to it.
EXPECTED = {"nul-job-id": 422, "nul-reason": 202, "huge": 413, "long-reason": 202, "nested": 422}
KINDS = tuple(EXPECTED)


@dataclass
class Poisoner:
    api_url: str
    ema_token: str
    recordings: list[str]
    store: Any
    postgres: bool
    http: Any = httpx  # anything with httpx's `post` (a TestClient in tests)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    acknowledged: list[tuple[str, str, str]] = field(default_factory=list)  # recording, job id, state
    injected: list[tuple[int, str]] = field(default_factory=list)  # (inbox id, kind) written past the edge
    sent: int = 0

    def send(self, n: int) -> None:
        """Send the `n`-th poison callback; a connection error (the API is being killed) is retried later."""
        kind = KINDS[n % len(KINDS)]
        recording_id = self.recordings[n % len(self.recordings)]
        body, raw = _body(kind, n)
        try:
            answer = self.http.post(
                f"{self.api_url}/recordings/{recording_id}/jobs/callback",
                content=raw if raw is not None else json.dumps(body).encode(),
                headers={"X-Token": self.ema_token, "Content-Type": "application/json"},
                timeout=30,
            )
        except httpx.HTTPError:
            return
        self.sent += 1
        self.answers[(kind, answer.status_code)] += 1
        problem = answer.headers.get("content-type", "").startswith("application/problem+json")
        if answer.status_code != EXPECTED[kind] or (answer.status_code >= 400 and not problem):
            self.unexpected.append(f"{kind} on {recording_id}: {answer.status_code} {answer.text[:200]}")
        if answer.status_code == 202:
            self.acknowledged.append((recording_id, body["job_id"], body["job_state"]))

    def inject(self, n: int) -> None:
        """Write the `n`-th row past the edge into the inbox."""
        from ras_platform.db.schema import callback_inbox, job_states

        recording_id = self.recordings[n % len(self.recordings)]
        payload: dict[str, Any] = {
            "job_id": f"legacy-{n}",
            "job_kind": "goal-detection",
            "job_state": "running",
            "emitted_at": datetime.now(UTC).isoformat(),
        }
        kind = "unknown-kind"
        with self.store._engine.begin() as conn:
            if self.postgres and n % 2:
                # The current EMA job of a job still in flight: applying `failed` to it reaches the
                # change log, which refuses the NUL. (A completed job refuses `failed` as an illegal
                # transition before any reason is written, so it would test nothing.)
                row = conn.execute(
                    select(job_states.c.recording_id, job_states.c.job_type, job_states.c.ema_job_id).where(
                        job_states.c.recording_id.in_(self.recordings),
                        job_states.c.ema_job_id.is_not(None),
                        job_states.c.state.in_(_FAILS),
                    )
                ).first()
                if row is not None:
                    recording_id = row.recording_id
                    payload |= {
                        "job_id": row.ema_job_id,
                        "job_kind": row.job_type,
                        "job_state": "failed",
                        "job_reason": "decoder crashed at \u0000",
                    }
                    kind = "nul-reason"
            inbox_id = conn.execute(
                insert(callback_inbox)
                .values(
                    recording_id=recording_id,
                    job_id=payload["job_id"],
                    job_kind=payload["job_kind"],
                    job_state=payload["job_state"],
                    payload=payload,
                    dedupe_key=f"poison|{uuid.uuid4().hex}",
                    received_at=datetime.now(UTC),
                )
                .returning(callback_inbox.c.id)
            ).scalar_one()
        self.injected.append((inbox_id, kind))

    def verify(self, say: Callable[[str], None]) -> list[str]:
        """Problems: unexpected answers, acknowledged poison not processed, injected rows not quarantined."""
        from ras_platform.db.schema import callback_inbox

        problems = list(self.unexpected)
        with self.store._engine.connect() as conn:
            rows = conn.execute(
                select(
                    callback_inbox.c.id,
                    callback_inbox.c.recording_id,
                    callback_inbox.c.job_id,
                    callback_inbox.c.job_state,
                    callback_inbox.c.processed_at,
                    callback_inbox.c.outcome,
                    callback_inbox.c.payload,
                )
            ).all()
        by_key = {(r.recording_id, r.job_id, r.job_state): r for r in rows}
        for key in self.acknowledged:
            row = by_key.get(key)
            if row is None or row.processed_at is None or row.outcome is None:
                problems.append(f"poison acknowledged but not processed: {key}")
            elif "\x00" in json.dumps(row.payload, ensure_ascii=False):
                problems.append(f"poison stored with a NUL: {key}")
        letters = {d.row_id: d for d in self.store.dead_letters.quarantined(source=INBOX, limit=100_000)}
        by_id = {r.id: r for r in rows}
        stale = 0
        for inbox_id, kind in self.injected:
            letter = letters.get(inbox_id)
            if letter is not None and letter.reason:
                continue
            row = by_id.get(inbox_id)
            if kind == "nul-reason" and row is not None and row.outcome in ("stale", "illegal"):
                # The job was retried (stale) or completed (illegal) before the row was applied:
                # neither writes the reason, so there was nothing to refuse. Processed like any
                # stale or illegal callback.
                stale += 1
                continue
            problems.append(f"injected {kind} inbox row {inbox_id} is not quarantined with a reason")
        answers = ", ".join(f"{kind} {status}: {n}" for (kind, status), n in sorted(self.answers.items()))
        reasons = Counter(letters[i].reason.split(":")[0] for i, _ in self.injected if i in letters)
        quarantined = sum(i in letters for i, _ in self.injected)
        say(
            f"poison: sent {self.sent} ({answers}); injected {len(self.injected)} rows past the edge, "
            f"quarantined {quarantined} ({dict(reasons)}), stale by then {stale}; "
            f"problems {len(problems)}"
        )
        for problem in problems[:20]:
            say(f"POISON {problem}")
        return problems


def _body(kind: str, n: int) -> tuple[dict[str, Any], bytes | None]:
    body: dict[str, Any] = {
        "job_id": f"poison-{n}",
        "job_kind": "event-detection",
        "job_state": "failed",
        "job_exit_code": 1,
        "job_reason": "bad frame",
        "emitted_at": datetime.now(UTC).isoformat(),
    }
    if kind == "nul-job-id":
        body["job_id"] = f"poison\u0000{n}"
    elif kind == "nul-reason":
        body["job_reason"] = "bad\u0000frame\u0007\u001b[31m"
    elif kind == "huge":
        body["job_reason"] = "x" * (2 * 1024 * 1024)
    elif kind == "long-reason":
        body["job_reason"] = "y" * 200_000
    elif kind == "nested":
        return body, (json.dumps(body)[:-1] + ', "extra": ' + "[" * 600 + "]" * 600 + "}").encode()
    return body, None
