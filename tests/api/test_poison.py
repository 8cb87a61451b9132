"""The chaos run's poison callbacks (ras_tools/poison.py) against the app in-process: every kind gets
the answer it must, and the rows written past the edge end quarantined (the full run with process
kills is tests/chaos)."""

from __future__ import annotations

from pathlib import Path

from ras_platform.object_store import LocalObjectStore
from ras_tools.poison import EXPECTED, Poisoner
from tests.api.conftest import EMA, PENDING_ID, RUNNING_ID, Api
from tests.lifecycle_support import lifecycle_for


def test_poison_is_refused_or_cleaned_and_rows_past_the_edge_quarantined(api: Api, tmp_path: Path) -> None:
    store = api.platform.state_store
    poisoner = Poisoner("", EMA["X-Token"], [RUNNING_ID, PENDING_ID], store, postgres=False, http=api.client)
    for n in range(2 * len(EXPECTED)):
        poisoner.send(n)
        if n % 5 == 0:
            poisoner.inject(n // 5)
    objects = LocalObjectStore(tmp_path / "objects", signing_key="k" * 32, base_url="http://testserver")
    for _ in range(3):
        lifecycle_for(store, objects).process_inbox()

    lines: list[str] = []
    assert poisoner.verify(lines.append) == [], lines
    assert {kind for kind, _ in poisoner.answers} == set(EXPECTED)
    assert len(poisoner.injected) == 2 and store.dead_letters.counts()["callback_inbox"] == 2
    assert store.pending_callbacks() == []
