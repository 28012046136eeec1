"""The workspace's schedule step, through reading's API: preview a design without writing it, then
write it."""

from __future__ import annotations

import pytest

from tests.factories import ready_draft

pytestmark = pytest.mark.django_db


def test_schedule_preview_writes_nothing_and_matches_the_written_schedule(coordinator, reader, other_reader, client_for):
    study = ready_draft(coordinator, [reader, other_reader])
    client = client_for(coordinator)
    design = {"kind": "crossover", "washout_days": 14}
    response = client.post(f"/api/studies/{study.pk}/schedule/preview/", {"design": design}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert [r["reader"] for r in data["readers"]] == ["reader1", "reader2"]
    first = data["readers"][0]["sessions"]
    assert len(first) == 2 and first[1]["opens"] == "14 days after session 1 is finished"
    assert sum(first[0]["per_arm"].values()) == 2
    written = study.sessions.filter(reader=reader).order_by("index")
    assert [s.reads.count() for s in written] == [s["reads"] for s in first]
    bad = client.post(f"/api/studies/{study.pk}/schedule/preview/", {"design": {"kind": "nope"}}, format="json")
    assert bad.status_code == 400 and "invalid reading design" in str(bad.json())


def test_schedule_endpoint_writes_sessions(coordinator, reader, other_reader, client_for):
    study = ready_draft(coordinator, [reader, other_reader])
    response = client_for(coordinator).post(
        f"/api/studies/{study.pk}/schedule/", {"design": {"kind": "independent"}}, format="json")
    assert response.status_code == 200, response.json()
    study.refresh_from_db()
    assert study.reading_design["kind"] == "independent"
    assert response.json()["sessions"] == study.sessions.count() == 2
