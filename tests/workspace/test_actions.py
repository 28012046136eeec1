"""The workspace's audited actions, through the owning apps' APIs its pages call: reopen a read and
override an opening (reading), withdraw a reader, lock, the unblinding key and one-time login links
(studies), and the answers exports (reading)."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest
from django.test import Client
from django.utils import timezone

from readerstudy.reading import services as reading
from readerstudy.reading.models import Answer, Read
from readerstudy.studies import services
from readerstudy.studies.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_reopen_a_read_is_audited_and_lets_the_reader_revise(answered_study, coordinator, reader, client_for):
    study, sessions = answered_study.study, answered_study.sessions
    assert sessions[0].completed_at is not None
    read = sessions[0].reads.order_by("position").first()
    client = client_for(coordinator)
    url = f"/api/studies/{study.pk}/reads/{read.public_id}/reopen/"
    refused = client.post(url, {"reason": " "}, format="json")
    assert refused.status_code == 400 and "needs a reason" in str(refused.json())
    response = client.post(url, {"reason": "reader asked: wrong level"}, format="json")
    assert response.status_code == 200, response.json()
    read.refresh_from_db()
    sessions[0].refresh_from_db()
    assert read.submitted_at is None and read.answers.exists()
    assert sessions[0].completed_at is None
    event = AuditEvent.objects.get(object_type="reading.read", object_id=str(read.pk), action="event")
    assert event.reason == "reader asked: wrong level" and event.actor == coordinator
    reading.check_read_access(read, reader)  # the reader can open it again
    again = client.post(url, {"reason": "twice"}, format="json")
    assert again.status_code == 400 and "not submitted" in str(again.json())


def test_override_opening_is_audited(scheduled_study, coordinator, client_for):
    study, sessions = scheduled_study.study, scheduled_study.sessions
    when = timezone.now() + dt.timedelta(days=2)
    response = client_for(coordinator).post(
        f"/api/studies/{study.pk}/sessions/{sessions[0].public_id}/override/",
        {"opens_at": when.isoformat(), "reason": "reader on holiday"}, format="json")
    assert response.status_code == 200, response.json()
    sessions[0].refresh_from_db()
    assert sessions[0].opens_at_override == when
    assert study.audit_events.filter(reason="reader on holiday", object_type="reading.session").exists()
    missing = client_for(coordinator).post(
        f"/api/studies/{study.pk}/sessions/{sessions[0].public_id}/override/",
        {"opens_at": None, "reason": ""}, format="json")
    assert missing.status_code == 400


def test_withdraw_a_reader_is_audited(scheduled_study, coordinator, reader, client_for):
    study = scheduled_study.study
    membership = study.memberships.get(user=reader, role="reader")
    client = client_for(coordinator)
    assert client.post(f"/api/studies/{study.pk}/members/{membership.pk}/withdraw/", {"reason": ""}, format="json").status_code == 400
    response = client.post(f"/api/studies/{study.pk}/members/{membership.pk}/withdraw/", {"reason": "left the hospital"}, format="json")
    assert response.status_code == 200
    membership.refresh_from_db()
    assert not membership.active
    assert study.audit_events.filter(object_type="studies.membership", reason="left the hospital").exists()


def test_lock_then_unblinding_key_is_shown_and_every_access_audited(scheduled_study, coordinator, client_for):
    study, series = scheduled_study.study, scheduled_study.series
    client = client_for(coordinator)
    before = client.get(f"/api/studies/{study.pk}/unblinding-key/").json()
    assert before["available"] is False and before["series"] == []
    assert not study.audit_events.filter(object_type="studies.unblinding_key").exists()
    response = client.post(f"/api/studies/{study.pk}/status/", {"status": "locked", "reason": "reading complete"}, format="json")
    assert response.status_code == 200
    assert study.audit_events.filter(reason="reading complete").exists()
    key = client.get(f"/api/studies/{study.pk}/unblinding-key/").json()
    assert key["available"] is True
    by_id = {row["series_public_id"]: row for row in key["series"]}
    assert {by_id[s.public_id]["arm"] for s in series} == {"Standard", "Fast"}
    assert all(by_id[s.public_id]["arm"] == s.arm.name for s in series)
    assert "reader1 s1" in by_id[series[0].public_id]["reads"]
    csv_response = client.get(f"/api/studies/{study.pk}/unblinding-key/?file=csv")
    assert csv_response["Content-Type"].startswith("text/csv") and b"Standard" in csv_response.content
    events = study.audit_events.filter(object_type="studies.unblinding_key", action="access")
    assert events.count() == 2 and all(e.actor == coordinator for e in events)
    # Locked: no more answers, no reopening.
    read = Read.objects.filter(session__study=study).first()
    assert client.post(f"/api/studies/{study.pk}/reads/{read.public_id}/reopen/", {"reason": "x"},
                       format="json").status_code == 400


def test_answers_export_in_three_formats(answered_study, coordinator, client_for):
    study = answered_study.study
    client = client_for(coordinator)
    frames = {}
    for fmt in ("csv", "xlsx", "parquet"):
        response = client.get(f"/api/studies/{study.pk}/answers/?file={fmt}")
        assert response.status_code == 200, fmt
        assert f'answers-study-{study.pk}.{fmt}' in response["Content-Disposition"]
        raw = io.BytesIO(response.content)
        frames[fmt] = {"csv": pd.read_csv, "xlsx": pd.read_excel, "parquet": pd.read_parquet}[fmt](raw)
    assert len(frames["csv"]) > 0
    for fmt in ("xlsx", "parquet"):
        assert list(frames[fmt].columns) == list(frames["csv"].columns)
        assert len(frames[fmt]) == len(frames["csv"])
    assert client.get(f"/api/studies/{study.pk}/answers/?file=sav").status_code == 400


def test_one_time_login_link(scheduled_study, coordinator, reader, client_for):
    study = scheduled_study.study
    membership = study.memberships.get(user=reader, role="reader")
    response = client_for(coordinator).post(
        f"/api/studies/{study.pk}/login-links/", {"membership": membership.pk}, format="json")
    assert response.status_code == 201
    url = response.json()["url"]
    path = url.split("testserver", 1)[1]
    assert study.audit_events.filter(summary__contains="login link issued").exists()
    browser = Client()
    assert b"Sign in as reader1" in browser.get(path).content  # GET does not spend it
    assert browser.get(path).status_code == 200
    login = browser.post(path)
    assert login.status_code == 302 and login["Location"] == "/reading/"
    assert browser.get("/reading/").status_code == 200
    assert study.audit_events.filter(action="access", summary__contains="one-time link").exists()
    spent = Client()
    assert spent.get(path).status_code == 404
    assert spent.post(path).status_code == 404


def test_no_login_link_for_a_coordinator_account(scheduled_study, coordinator, client_for, make_user):
    study = scheduled_study.study
    other = make_user("coord-elsewhere")
    services.study_create(name="Elsewhere", created_by=other)
    services.membership_add(study=study, user=other, role="reader")
    membership = study.memberships.get(user=other, role="reader")
    response = client_for(coordinator).post(
        f"/api/studies/{study.pk}/login-links/", {"membership": membership.pk}, format="json")
    assert response.status_code == 400 and "coordinates a study" in str(response.json())


def test_dashboard_shows_progress_time_per_read_and_filters_the_audit_log(answered_study, coordinator, other_reader):
    from readerstudy.workspace.selectors import audit_events, dashboard

    study, sessions = answered_study.study, answered_study.sessions
    first = sessions[1].reads.order_by("position").first()
    reading.read_start(read=first, reader=other_reader)
    data = dashboard(study)
    rows = {r["username"]: r for r in data["readers"]}
    assert rows["reader1"]["done"] == rows["reader1"]["total"] == 4
    assert rows["reader1"]["rows"][0]["seconds_per_read"] is not None
    assert rows["reader2"]["done"] == 0
    assert [r.pk for r in data["in_progress"]] == [first.pk]

    mine = audit_events(study, reader="reader1")
    assert mine and any(e.object_type == "reading.answers" for e in mine)
    read_ids = set(Read.objects.filter(session=sessions[0]).values_list("pk", flat=True))
    theirs = audit_events(study, reader="reader2")
    assert not any(e.object_type == "reading.answers" and int(e.object_id) in read_ids for e in theirs)
    by_case = audit_events(study, case="C001")
    assert by_case and all(e.object_type in {"studies.case", "studies.series", "reading.read", "reading.answers"} for e in by_case)
    assert any(e.object_type == "reading.answers" for e in by_case)

    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/workspace/studies/{study.pk}/dashboard/?reader=reader1").content.decode()
    assert "Reads in progress" in page and "reader2, session 1, read 1" in page
