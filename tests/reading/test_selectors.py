"""Reading selectors: the one session-state rule, and lists of sessions that cost the same number of
queries however many sessions they hold (pinned, STYLE.md)."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from readerstudy.reading import services as reading
from readerstudy.reading.models import Read, Session
from readerstudy.reading.selectors import reader_worklist, session_opening_time, session_state, sessions_with_progress
from readerstudy.studies import services
from readerstudy.studies.models import Membership
from tests.factories import series_row

pytestmark = pytest.mark.django_db

# Before the annotated list: 6 / 24 / 69 queries (API) and 4 / 10 / 25 (worklist) for 1 / 6 / 21 sessions.
API_QUERIES = 2  # the page of sessions and the pagination count
WORKLIST_QUERIES = 7  # auth session, user, the annotated list, the template context, 3 for the notices (locked, withdrawn, reopened)


def study_with_sessions(*, coordinator, reader, sessions: int, name: str = "Study"):
    """A published study whose design gives ``reader`` ``sessions`` sessions (one per sequence,
    one day of washout between them), written by the real schedule service."""
    study = services.study_create(name=name, created_by=coordinator, seed=7)
    sequences = [services.sequence_create(study=study, name=f"SEQ {i:02d}") for i in range(sessions)]
    arms = [services.arm_create(study=study, name="Standard", is_reference=True), services.arm_create(study=study, name="Fast")]
    case = services.case_create(study=study, label="C001")
    for sequence in sequences:
        for arm in arms:
            series_row(case=case, sequence=sequence, arm=arm)
    services.questionnaire_apply_template(study=study, template="seed000")
    services.membership_add(study=study, user=reader, role=Membership.Role.READER)
    reading.schedule_materialize(
        study=study, design={"kind": "independent", "session_per_sequence": True, "washout_days": 1},
        actor=coordinator, start=timezone.now() - dt.timedelta(hours=1),
    )
    services.study_set_status(study=study, status="published")
    return study


def test_session_state_is_done_open_or_locked_by_one_rule(coordinator, reader):
    study_with_sessions(coordinator=coordinator, reader=reader, sessions=3)
    first, second, third = Session.objects.filter(reader=reader).order_by("index")
    now = timezone.now()
    assert [session_state(s, now) for s in (first, second, third)] == ["open", "locked", "locked"]
    assert session_opening_time(second) is None  # waits for the first to finish
    first.completed_at = now - dt.timedelta(days=2)
    first.save()
    second.refresh_from_db()
    assert session_opening_time(second) == first.completed_at + dt.timedelta(days=1)
    assert session_state(first, now) == "done" and session_state(second, now) == "open"
    assert session_state(second, first.completed_at + dt.timedelta(hours=23)) == "locked"
    # The annotated list gives the same answers as the one-by-one rule.
    annotated = {s.pk: s for s in sessions_with_progress(Session.objects.filter(reader=reader))}
    for session in (first, second, third):
        session.refresh_from_db()
        assert session_state(annotated[session.pk], now) == session_state(session, now)
        assert session_opening_time(annotated[session.pk]) == session_opening_time(session)
    assert annotated[first.pk].reads_total == 2 and annotated[first.pk].reads_done == 0
    assert annotated[first.pk].next_read_public_id == Read.objects.get(session=first, position=0).public_id


@pytest.mark.parametrize("sessions", [1, 6, 21])
def test_session_lists_cost_the_same_queries_for_1_6_or_21_sessions(coordinator, reader, sessions, client):
    study_with_sessions(coordinator=coordinator, reader=reader, sessions=sessions)
    api = APIClient()
    api.force_authenticate(reader)
    with CaptureQueriesContext(connection) as api_queries:
        response = api.get("/api/reader/sessions/")
    assert response.status_code == 200
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert len(rows) == sessions
    assert [r["state"] for r in rows][:2] == (["open", "locked"] if sessions > 1 else ["open"])
    assert rows[0]["next_read"] and rows[0]["reads_total"] == 2
    assert len(api_queries) == API_QUERIES, [q["sql"] for q in api_queries]

    client.force_login(reader)
    with CaptureQueriesContext(connection) as page_queries:
        page = client.get("/reading/")
    assert page.status_code == 200
    assert len(page_queries) == WORKLIST_QUERIES, [q["sql"] for q in page_queries]
    assert len(reader_worklist(reader)) == sessions


# --- readers are told ---------------------------------------------------------------------------


def _reopen(**kwargs):
    # The reopen service is the workspace's today; the structure issue moves it to reading.
    try:
        from readerstudy.reading.services import read_reopen
    except ImportError:
        from readerstudy.reading.services import read_reopen
    return read_reopen(**kwargs)


def test_readers_are_told_about_lock_withdrawal_closed_sessions_and_reopened_reads(coordinator, reader, client):
    from tests.factories import small_study

    study, _, sessions = small_study(coordinator=coordinator, readers=[reader])
    read = sessions[0].reads.order_by("position").first()
    client.force_login(reader)

    # Reopened by the coordinator: a banner on the worklist with a link, and on the read itself.
    answers = [{"item": k, "level": "", "value": 4} for k in (
        "apparent_snr", "anatomy_discernment", "diagnostic_confidence", "overall_quality")]
    answers.append({"item": "artifacts", "level": "", "value": 0})
    reading.read_submit(read=read, reader=reader, submission_id="sub-000001", answers=answers)
    assert "reopened" not in html.unescape(client.get("/reading/").content.decode())
    _reopen(read=read, reason="wrong level", actor=coordinator)
    page = html.unescape(client.get("/reading/").content.decode())
    assert "The coordinator reopened read 1 of session 1" in page and f"/reading/reads/{read.public_id}/" in page
    assert "wrong level" not in page  # the coordinator's reason is for the audit log
    read_page = client.get(f"/reading/reads/{read.public_id}/").content.decode()
    assert "reopened this read for revision" in read_page

    # Withdrawn: the worklist says so; the read says why it is closed (not a 404 or a debug page).
    membership = study.memberships.get(user=reader, role="reader")
    services.membership_withdraw(membership=membership, reason="left")
    page = html.unescape(client.get("/reading/").content.decode())
    assert f"You have been withdrawn from the study '{study.name}'" in page
    closed = client.get(f"/reading/reads/{read.public_id}/")
    assert closed.status_code == 403 and "not an active reader of this study" in html.unescape(closed.content.decode())
    assert "Back to your worklist" in html.unescape(closed.content.decode())

    # Locked: the study no longer vanishes silently.
    services.membership_add(study=study, user=reader, role="reader")
    services.study_set_status(study=study, status="locked", reason="analysis")
    page = html.unescape(client.get("/reading/").content.decode())
    assert f"The study '{study.name}' has been locked by its coordinator: reading is closed." in page
    closed = client.get(f"/reading/reads/{read.public_id}/")
    assert closed.status_code == 403 and "reading is closed" in html.unescape(closed.content.decode())
    # Someone else's read (or a made-up id) is still a plain 404.
    assert client.get(f"/reading/reads/{read.public_id}x/").status_code == 404


def test_a_session_not_yet_open_says_when_it_opens(coordinator, reader, client):
    study_with_sessions(coordinator=coordinator, reader=reader, sessions=2)
    second = Session.objects.get(reader=reader, index=1)
    client.force_login(reader)
    response = client.get(f"/reading/sessions/{second.public_id}/", follow=True)
    assert response.redirect_chain[-1][0] == "/reading/"
    assert "Session 2 is not open yet: it opens after the previous session and its washout." in html.unescape(response.content.decode())
    read = second.reads.first()
    closed = client.get(f"/reading/reads/{read.public_id}/")
    assert closed.status_code == 403 and "This session is not open yet; it opens after the previous session" in html.unescape(closed.content.decode())
