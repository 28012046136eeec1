"""Reading services and the reader API: access on every request, drafts and their validation,
idempotent submission, revision rules, audit rows, session completion and washout, overrides."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from readerstudy.reading import services as svc
from readerstudy.reading.models import Answer, Read, Session
from readerstudy.reading.selectors import session_is_open
from readerstudy.studies import services
from readerstudy.studies.models import AuditEvent, Item
from tests.factories import small_study

pytestmark = pytest.mark.django_db

LIKERT = ["apparent_snr", "anatomy_discernment", "diagnostic_confidence", "overall_quality"]


def complete(**override) -> list[dict]:
    """Every seed 000 item answered."""
    values = {key: 4 for key in LIKERT} | {"artifacts": 0} | override
    return [{"item": key, "level": "", "value": value} for key, value in values.items()]


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def url(read, action=""):
    return f"/api/reader/reads/{read.public_id}/" + (f"{action}/" if action else "")


@pytest.fixture
def world(coordinator, reader, other_reader):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader, other_reader])
    reads = list(Read.objects.filter(session=sessions[0]).order_by("position"))
    return {"study": study, "series": series, "sessions": sessions, "reads": reads}


# --- access -------------------------------------------------------------------------------------


def test_a_reader_cannot_open_or_answer_a_read_of_a_session_not_open_yet(coordinator, reader):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader], open_session=False)
    read = sessions[0].reads.first()
    client = client_for(reader)
    assert client.get(url(read)).status_code == 404
    for action, body in (("start", {}), ("draft", {"answers": complete()}), ("heartbeat", {"active_seconds": 3}),
                         ("submit", {"submission_id": "s" * 16, "answers": complete()})):
        response = client.post(url(read, action), body, format="json")
        assert response.status_code == 404, action
        assert "not open yet" in response.json()["detail"]
    with pytest.raises(svc.ReadAccessError, match="opens on"):
        svc.answer_draft_save(read=read, reader=reader, answers=complete())
    assert not Answer.objects.exists()
    read.refresh_from_db()
    assert read.started_at is None
    # The page is refused as well, and the worklist says when it opens.
    client.force_login(reader)
    from django.test import Client

    browser = Client()
    browser.force_login(reader)
    refused = browser.get(f"/reading/reads/{read.public_id}/")  # their own read: a page saying why
    assert refused.status_code == 403 and b"not open yet; it opens on" in refused.content
    assert b"opens " in browser.get("/reading/").content


def test_a_reader_cannot_open_another_readers_read(world, reader, other_reader, coordinator):
    read = world["reads"][0]
    for user in (other_reader, coordinator):
        client = client_for(user)
        assert client.get(url(read)).status_code == 404
        for action in ("start", "draft", "heartbeat"):
            assert client.post(url(read, action), {"answers": complete(), "active_seconds": 1}, format="json").status_code == 404
        assert client.post(url(read, "submit"), {"submission_id": "x" * 20}, format="json").status_code == 404
    with pytest.raises(svc.ReadAccessError):
        svc.read_submit(read=read, reader=other_reader, submission_id="x" * 20, answers=complete())
    assert not Answer.objects.exists()


def test_a_locked_study_or_a_withdrawn_reader_cannot_answer(world, reader):
    read = world["reads"][0]
    membership = world["study"].memberships.get(user=reader, role="reader")
    services.membership_withdraw(membership=membership, reason="left the study")
    with pytest.raises(svc.ReadAccessError, match="not an active reader"):
        svc.answer_draft_save(read=read, reader=reader, answers=complete())
    services.membership_add(study=world["study"], user=reader, role="reader")
    services.study_set_status(study=world["study"], status="locked", reason="analysis")
    with pytest.raises(svc.ReadAccessError, match="locked"):
        svc.answer_draft_save(read=read, reader=reader, answers=complete())


# --- drafts and validation ----------------------------------------------------------------------


def test_read_detail_gives_the_form_and_the_readers_answers_but_nothing_identifying(world, reader):
    read = world["reads"][0]
    client = client_for(reader)
    assert client.post(url(read, "draft"), {"answers": [{"item": "apparent_snr", "value": 3}]}, format="json").status_code == 200
    body = client.get(url(read))
    assert body.status_code == 200
    data = body.json()
    assert [i["key"] for i in data["items"]] == LIKERT + ["artifacts"]
    snr = data["items"][0]
    assert snr["kind"] == "likert" and snr["category"] == "Image quality"
    assert snr["scale"][0] == {"point": 1, "text": "Too noisy, image uninterpretable"}
    assert data["answers"] == [{"item": "apparent_snr", "level": "", "value": 3.0, "payload": {}}]
    assert data["progress"] == {"done": 0, "total": 4} and data["number"] == 1 and data["layout"] == "single"
    text = body.content.decode()
    for word in ("Standard", "Fast", "C001", "C002", "arm", read.series.series_instance_uid):
        assert word not in text, word
    # The sequence name is shown on the image (it is the same in every arm of a case × sequence):
    # the other arm's read of the same case differs only by its own ids, instances and position.
    assert data["sequence"] == "SAG T2 FS"
    twin = Read.objects.get(session=read.session, series__case=read.series.case, series__sequence=read.series.sequence,
                            series__arm__in=read.series.case.study.arms.exclude(pk=read.series.arm_id))
    other = client.get(url(twin)).json()
    own = {"public_id", "instances", "position", "number", "next_read", "answers"}
    assert {k: v for k, v in other.items() if k not in own} == {k: v for k, v in data.items() if k not in own}


def test_draft_autosave_stores_changes_only_and_keeps_the_rest(world, reader):
    read = world["reads"][0]
    changed = svc.answer_draft_save(read=read, reader=reader, answers=complete()[:2], comment="motion at L5")
    assert changed == ["apparent_snr", "anatomy_discernment", "comment"]
    read.refresh_from_db()
    assert read.started_at is not None and read.comment == "motion at L5"
    # The same answers again: nothing written, no audit rows.
    events = AuditEvent.objects.count()
    assert svc.answer_draft_save(read=read, reader=reader, answers=complete()[:2]) == []
    assert AuditEvent.objects.count() == events
    # A change and a clear.
    svc.answer_draft_save(read=read, reader=reader, answers=[
        {"item": "apparent_snr", "value": 2}, {"item": "anatomy_discernment", "value": None},
    ])
    assert dict(Answer.objects.filter(read=read).values_list("item__key", "value")) == {"apparent_snr": 2.0}


@pytest.mark.parametrize(
    "answer, message",
    [
        ({"item": "apparent_snr", "value": 7}, "Apparent SNR: 7 is not a point of the scale 1–5"),
        ({"item": "apparent_snr", "value": 2.5}, "is not a point of the scale 1–5"),
        ({"item": "apparent_snr", "value": "good"}, "'good' is not a point of the scale"),
        ({"item": "artifacts", "value": 2}, "Presence of artifacts: 2 is not 0 (no) or 1 (yes)"),
        ({"item": "artifacts", "value": True}, "is not 0 (no) or 1 (yes)"),
        ({"item": "no_such_item", "value": 1}, "item 'no_such_item' is not asked in this read"),
        ({"item": "apparent_snr", "level": "L4-L5", "value": 3}, "only checklist items have levels"),
        ({"item": "herniation", "level": "C2-C3", "value": 1}, "level 'C2-C3' is not one of"),
        ({"item": "canal_mm", "value": 40}, "40 mm is outside the range 2–25 mm"),
        ({"item": "canal_mm", "value": "wide"}, "'wide' is not a number"),
        ({"item": "roi_signal", "payload": {"mean": 100}}, "an ROI needs a numeric mean and a non-negative sd"),
        ({"item": "roi_signal", "payload": {"mean": 100, "sd": 4, "slice": 9}}, "ROI slice 9 is not between 1 and 2"),
    ],
)
def test_answers_are_validated_against_their_item_with_clear_messages(coordinator, reader, answer, message):
    study, _, sessions = small_study(coordinator=coordinator, readers=[reader], publish=False)
    services.item_create(study=study, key="herniation", label="Disc herniation", kind="checklist",
                         category="Pathology", levels=["L4-L5", "L5-S1"])
    services.item_create(study=study, key="canal_mm", label="Canal diameter", kind="numeric", unit="mm",
                         value_min=2, value_max=25)
    services.item_create(study=study, key="roi_signal", label="Signal ROI", kind="roi", required=False)
    services.study_set_status(study=study, status="published")
    read = sessions[0].reads.first()
    response = client_for(reader).post(url(read, "draft"), {"answers": [{"item": "apparent_snr", "value": 3}, answer]},
                                       format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"], response.json()
    assert not Answer.objects.filter(read=read).exists()  # all or nothing


def test_checklist_numeric_and_roi_answers(coordinator, reader):
    study, _, sessions = small_study(coordinator=coordinator, readers=[reader], publish=False)
    services.item_create(study=study, key="herniation", label="Disc herniation", kind="checklist",
                         category="Pathology", levels=["L4-L5", "L5-S1"])
    services.item_create(study=study, key="canal_mm", label="Canal diameter", kind="numeric", unit="mm",
                         value_min=2, value_max=25)
    services.item_create(study=study, key="roi_signal", label="Signal ROI", kind="roi")
    services.study_set_status(study=study, status="published")
    read = sessions[0].reads.first()
    extra = [
        {"item": "herniation", "level": "L4-L5", "value": 1},
        {"item": "canal_mm", "value": 11.5},
        {"item": "roi_signal", "payload": {"mean": 812.5, "sd": 20.25, "area_mm2": 41.2, "slice": 2,
                                           "ellipse": {"center": [10, 12], "axes": [3, 2]}}},
    ]
    with pytest.raises(svc.AnswersIncompleteError) as missing:
        svc.read_submit(read=read, reader=reader, submission_id="sub-000001", answers=complete() + extra)
    assert missing.value.missing == [{"item": "herniation", "label": "Disc herniation", "levels": ["L5-S1"]}]
    assert "Disc herniation (L5-S1)" in str(missing.value)
    extra.append({"item": "herniation", "level": "L5-S1", "value": 0})
    svc.read_submit(read=read, reader=reader, submission_id="sub-000001", answers=complete() + extra)
    stored = {(a.item.key, a.level): a for a in Answer.objects.filter(read=read).select_related("item")}
    assert stored[("herniation", "L4-L5")].value == 1 and stored[("herniation", "L5-S1")].value == 0
    assert stored[("canal_mm", "")].payload == {"unit": "mm"}
    # A numeric answer measured on the image keeps the measurement's geometry; a bad one is named.
    measured = {"item": "canal_mm", "value": 12.3,
                "payload": {"measurement": {"kind": "length", "slice": 2, "side": "left", "points": [[1, 2, 3], [1, 14.3, 3]]}}}
    with pytest.raises(svc.ReadLockedError):
        svc.answer_draft_save(read=read, reader=reader, answers=[measured])
    other = sessions[0].reads.exclude(pk=read.pk).first()
    svc.answer_draft_save(read=other, reader=reader, answers=[measured])
    assert Answer.objects.get(read=other, item__key="canal_mm").payload == {
        "unit": "mm", "measurement": {"kind": "length", "slice": 2, "side": "left",
                                      "points": [[1.0, 2.0, 3.0], [1.0, 14.3, 3.0]]}}
    bad = {**measured, "payload": {"measurement": {"kind": "length", "slice": 99, "points": []}}}
    with pytest.raises(svc.AnswerInvalidError, match="measurement slice 99 is not between 1 and 2"):
        svc.answer_draft_save(read=other, reader=reader, answers=[bad])
    roi = stored[("roi_signal", "")]
    assert roi.value == 812.5
    assert roi.payload == {"mean": 812.5, "sd": 20.25, "area_mm2": 41.2, "slice": 2, "side": "left",
                           "ellipse": {"center": [10, 12], "axes": [3, 2]}}


def test_an_untouched_grid_blocks_submit_and_not_assessable_only_where_the_item_allows_it(coordinator, reader):
    study, _, sessions = small_study(coordinator=coordinator, readers=[reader], publish=False)
    services.item_create(study=study, key="stenosis", label="Spinal stenosis", kind="checklist",
                         category="Pathology", levels=["L4-L5", "L5-S1"],
                         anchors={"0": "Absent", "1": "Present", "na": "Not assessable"})
    services.item_create(study=study, key="herniation", label="Disc herniation", kind="checklist",
                         category="Pathology", levels=["L4-L5", "L5-S1"])
    services.study_set_status(study=study, status="published")
    read = sessions[0].reads.first()
    # Nothing in the grid: every cell of both findings is named, not silently taken as absent.
    with pytest.raises(svc.AnswersIncompleteError) as missing:
        svc.read_submit(read=read, reader=reader, submission_id="sub-000001", answers=complete())
    assert missing.value.missing == [
        {"item": "stenosis", "label": "Spinal stenosis", "levels": ["L4-L5", "L5-S1"]},
        {"item": "herniation", "label": "Disc herniation", "levels": ["L4-L5", "L5-S1"]},
    ]
    na = {"value": None, "payload": {"not_assessable": True}}
    # "Not assessable" is refused where the item does not offer it ...
    with pytest.raises(svc.AnswerInvalidError) as refused:
        svc.answer_draft_save(read=read, reader=reader, answers=[{"item": "herniation", "level": "L5-S1", **na}])
    assert "no 'not assessable' option" in refused.value.problems[0]
    # ... and answers a cell where it is offered; it is neither absent nor present.
    grid = [
        {"item": "stenosis", "level": "L4-L5", "value": 1}, {"item": "stenosis", "level": "L5-S1", **na},
        {"item": "herniation", "level": "L4-L5", "value": 0}, {"item": "herniation", "level": "L5-S1", "value": 1},
    ]
    changed = svc.answer_draft_save(read=read, reader=reader, answers=grid)
    assert "stenosis@L5-S1" in changed
    cell = Answer.objects.get(read=read, item__key="stenosis", level="L5-S1")
    assert cell.value is None and cell.payload == {"not_assessable": True}
    svc.read_submit(read=read, reader=reader, submission_id="sub-000001", answers=complete())
    from readerstudy.reading.export import answers_tidy

    tidy = answers_tidy(study)
    assert ("stenosis", "L5-S1") not in set(zip(tidy["item"], tidy["level"]))  # left out, not counted as 0
    assert ("stenosis", "L4-L5") in set(zip(tidy["item"], tidy["level"]))
    state = client_for(reader).get(url(read)).json()
    assert {i["key"]: i.get("not_assessable") for i in state["items"] if i["kind"] == "checklist"} == {
        "stenosis": "Not assessable", "herniation": None}
    assert {"item": "stenosis", "level": "L5-S1", "value": None, "payload": {"not_assessable": True}} in state["answers"]


# --- submission ---------------------------------------------------------------------------------


def test_double_submission_neither_duplicates_nor_overwrites(world, reader):
    read = world["reads"][0]
    client = client_for(reader)
    body = {"submission_id": "client-sub-1", "answers": complete(), "comment": "ok"}
    first = client.post(url(read, "submit"), body, format="json")
    assert first.status_code == 200 and first.json()["replayed"] is False
    assert first.json()["next_read"] == world["reads"][1].public_id
    answers_before = list(Answer.objects.filter(read=read).values("pk", "value", "revision", "updated_at"))
    events_before = AuditEvent.objects.count()

    # The same submission again (a retry after a lost response), even with other values: no change.
    again = client.post(url(read, "submit"), body | {"answers": complete(apparent_snr=1)}, format="json")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["submitted_at"] == first.json()["submitted_at"]
    assert list(Answer.objects.filter(read=read).values("pk", "value", "revision", "updated_at")) == answers_before
    assert Answer.objects.filter(read=read).count() == 5
    assert AuditEvent.objects.count() == events_before

    # Another submission of a locked read, or a draft, is refused.
    other = client.post(url(read, "submit"), body | {"submission_id": "client-sub-2"}, format="json")
    assert other.status_code == 409 and "already submitted" in other.json()["detail"]
    draft = client.post(url(read, "draft"), {"answers": complete(apparent_snr=1)}, format="json")
    assert draft.status_code == 409 and "locked" in draft.json()["detail"]
    assert Answer.objects.get(read=read, item__key="apparent_snr").value == 4
    read.refresh_from_db()
    assert read.submission_id == "client-sub-1" and read.comment == "ok"


def test_incomplete_submission_lists_what_is_missing_and_keeps_the_draft(world, reader):
    read = world["reads"][0]
    response = client_for(reader).post(
        url(read, "submit"), {"submission_id": "client-sub-1", "answers": complete()[:3]}, format="json"
    )
    assert response.status_code == 400
    data = response.json()
    assert [m["item"] for m in data["missing"]] == ["overall_quality", "artifacts"]
    assert "still to answer: Overall image quality; Presence of artifacts" in data["detail"]
    read.refresh_from_db()
    assert read.submitted_at is None
    assert Answer.objects.filter(read=read).count() == 3  # the draft survives the refusal
    bad = client_for(reader).post(url(read, "submit"), {"submission_id": "x"}, format="json")
    assert bad.status_code == 400 and "submission_id" in bad.json()["detail"]


def test_answers_and_reads_are_audited_with_the_reader_as_actor(world, reader):
    read = world["reads"][0]
    client = client_for(reader)
    client.post(url(read, "draft"), {"answers": complete()[:1]}, format="json")
    client.post(url(read, "submit"), {"submission_id": "client-sub-1", "answers": complete()}, format="json")
    # One event per save of answers, naming every answer it created or changed, before and after.
    answer_events = list(AuditEvent.objects.filter(object_type="reading.answers", object_id=str(read.pk)).order_by("id"))
    assert len(answer_events) == 2
    assert {e.actor_id for e in answer_events} == {reader.pk} and {e.study_id for e in answer_events} == {read.session.study_id}
    first, second = (e.changes["answers"] for e in answer_events)
    assert list(first) == ["apparent_snr"] and first["apparent_snr"]["before"] is None
    assert first["apparent_snr"]["after"]["value"] == 4.0
    assert sorted(second) == sorted(["anatomy_discernment", "diagnostic_confidence", "overall_quality", "artifacts"])
    stored = {a.item.key: a for a in Answer.objects.filter(read=read).select_related("item")}
    for key, entry in second.items():
        assert entry["before"] is None
        assert entry["after"] == {"id": stored[key].pk, "value": stored[key].value, "payload": {}, "revision": 1}
    submitted = AuditEvent.objects.filter(object_type="reading.read", object_id=str(read.pk), action="update")
    assert any("submitted_at" in e.changes for e in submitted)


# --- revision -----------------------------------------------------------------------------------


def test_revision_is_refused_unless_the_study_allows_it_and_then_audited_with_reason(coordinator, reader):
    study, _, sessions = small_study(coordinator=coordinator, readers=[reader])
    read = sessions[0].reads.order_by("position").first()
    svc.read_submit(read=read, reader=reader, submission_id="client-sub-1", answers=complete())
    client = client_for(reader)
    response = client.post(url(read, "revise"), {"answers": complete(apparent_snr=2), "reason": "misclick"}, format="json")
    assert response.status_code == 409 and "does not allow revising" in response.json()["detail"]

    services.study_update(study=study, allow_revision=True)
    assert client.post(url(read, "revise"), {"answers": complete(apparent_snr=2), "reason": " "}, format="json").status_code == 400
    response = client.post(url(read, "revise"), {"answers": complete(apparent_snr=2), "reason": "misclick"}, format="json")
    assert response.status_code == 200 and response.json()["changed"] == ["apparent_snr"]
    answer = Answer.objects.get(read=read, item__key="apparent_snr")
    assert (answer.value, answer.revision) == (2, 2)
    update = AuditEvent.objects.filter(object_type="reading.answers", object_id=str(read.pk)).latest("id")
    assert update.reason == "misclick" and update.actor == reader
    assert update.changes["answers"] == {"apparent_snr": {
        "before": {"id": answer.pk, "value": 4.0, "payload": {}, "revision": 1},
        "after": {"id": answer.pk, "value": 2.0, "payload": {}, "revision": 2}}}
    assert AuditEvent.objects.filter(object_type="reading.read", summary__startswith="read revised", reason="misclick").exists()
    # A revision cannot remove a required answer.
    response = client.post(url(read, "revise"), {"answers": [{"item": "artifacts", "value": None}], "reason": "x"}, format="json")
    assert response.status_code == 400 and "changed, not removed" in response.json()["detail"]


def test_revision_ends_when_a_later_session_has_started(coordinator, reader):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader])
    services.study_update(study=study, allow_revision=True)
    later = Session.objects.create(study=study, reader=reader, index=1, washout_days=0)
    Read.objects.create(session=later, position=0, series=series[0])
    reads = list(sessions[0].reads.order_by("position"))
    for n, read in enumerate(reads):
        svc.read_submit(read=read, reader=reader, submission_id=f"client-sub-{n}", answers=complete())
    svc.read_revise(read=reads[0], reader=reader, answers=complete(overall_quality=5), reason="second look")
    svc.read_start(read=later.reads.get(), reader=reader)
    with pytest.raises(svc.ReadLockedError, match="later session has started"):
        svc.read_revise(read=reads[0], reader=reader, answers=complete(overall_quality=3), reason="third look")


# --- sessions, washout and overrides ------------------------------------------------------------


def test_finishing_a_session_starts_the_washout_of_the_next(coordinator, reader):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader])
    second = Session.objects.create(study=study, reader=reader, index=1, washout_days=28)
    Read.objects.create(session=second, position=0, series=series[1])
    reads = list(sessions[0].reads.order_by("position"))
    start = timezone.now()
    for n, read in enumerate(reads):
        result = svc.read_submit(read=read, reader=reader, submission_id=f"client-sub-{n}", answers=complete(), now=start)
        assert result.session_completed is (n == len(reads) - 1)
    assert result.next_read is None
    sessions[0].refresh_from_db()
    assert sessions[0].completed_at == start
    assert AuditEvent.objects.filter(object_type="reading.session", summary="session 1 finished").exists()

    second.refresh_from_db()
    assert not session_is_open(second, start + dt.timedelta(days=27, hours=23))
    assert session_is_open(second, start + dt.timedelta(days=28, seconds=1))
    with pytest.raises(svc.ReadAccessError, match="not open yet"):
        svc.read_start(read=second.reads.get(), reader=reader, now=start + dt.timedelta(days=1))
    svc.read_start(read=second.reads.get(), reader=reader, now=start + dt.timedelta(days=28, minutes=1))
    # The finished session is closed for reading; a repeated submission still answers the same.
    with pytest.raises(svc.ReadAccessError, match="finished"):
        svc.read_heartbeat(read=reads[0], reader=reader, active_seconds=5)
    assert svc.read_submit(read=reads[-1], reader=reader, submission_id=f"client-sub-{len(reads) - 1}").replayed


def test_coordinator_override_of_an_opening_is_audited(coordinator, reader, other_reader):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader], open_session=False)
    session = sessions[0]
    assert not session_is_open(session)
    with pytest.raises(svc.ReadingError, match="needs a reason"):
        svc.session_override_opening(session=session, opens_at=timezone.now(), reason="", actor=coordinator)
    with pytest.raises(svc.ReadingError, match="only a coordinator"):
        svc.session_override_opening(session=session, opens_at=timezone.now(), reason="x", actor=reader)
    svc.session_override_opening(session=session, opens_at=timezone.now() - dt.timedelta(minutes=1),
                                 reason="reader on leave next week", actor=coordinator)
    session.refresh_from_db()
    assert session_is_open(session)
    event = AuditEvent.objects.get(object_type="reading.session", action="event", summary__contains="overridden")
    assert event.actor == coordinator and event.reason == "reader on leave next week"
    update = AuditEvent.objects.get(object_type="reading.session", action="update")
    assert "opens_at_override" in update.changes and update.reason == "reader on leave next week"

    # The former progress page sends the coordinator to the workspace dashboard; a reader gets 404.
    from django.test import Client

    page = Client()
    page.force_login(coordinator)
    progress = page.get(f"/reading/studies/{study.pk}/progress/")
    assert progress.status_code == 302 and progress["Location"] == f"/workspace/studies/{study.pk}/dashboard/"
    page.force_login(reader)
    assert page.get(f"/reading/studies/{study.pk}/progress/").status_code == 404


# --- side-by-side preference --------------------------------------------------------------------


def test_preference_is_stored_from_the_first_arms_point_of_view_and_given_back_raw(coordinator, reader):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader], publish=False)
    services.questionnaire_apply_template(study=study, template="seed003")
    services.study_set_status(study=study, status="published")
    standard_c1, fast_c1 = series[0], series[1]
    pair_session = Session.objects.create(study=study, reader=reader, index=1, opens_at_override=timezone.now())
    # Fast on the left, Standard (the reference, first of the pair) on the right.
    read = Read.objects.create(session=pair_session, position=0, series=fast_c1, series_right=standard_c1)
    client = client_for(reader)
    detail = client.get(url(read)).json()
    keys = [i["key"] for i in detail["items"]]
    assert "pref_snr" in keys and detail["layout"] == "pair" and len(detail["instances_right"]) == 2
    assert detail["items"][keys.index("pref_snr")]["scale"][0] == {"point": 1, "text": "Left much better"}
    response = client.post(url(read, "draft"), {"answers": [{"item": "pref_snr", "value": 1}]}, format="json")
    assert response.status_code == 200
    answer = Answer.objects.get(read=read, item__key="pref_snr")
    assert answer.value == 5  # the reader preferred the left (Fast): 5 = second arm much better
    assert answer.payload == {"raw": 1, "first_side": "right"}
    detail = client.get(url(read))
    assert detail.json()["answers"] == [{"item": "pref_snr", "level": "", "value": 1, "payload": {}}]
    assert b"first_side" not in detail.content
    # Single reads never ask preference items.
    single = sessions[0].reads.first()
    assert "pref_snr" not in [i["key"] for i in client.get(url(single)).json()["items"]]


# --- active time --------------------------------------------------------------------------------


def test_heartbeats_add_active_seconds_bounded_by_the_time_the_server_saw(world, reader):
    read = world["reads"][0]
    t0 = timezone.now()
    svc.read_start(read=read, reader=reader, now=t0)
    assert svc.read_heartbeat(read=read, reader=reader, active_seconds=10, now=t0 + dt.timedelta(seconds=15)) == 10
    # Claims more than elapsed (+5 s slack) are cut; so is anything above a minute.
    assert svc.read_heartbeat(read=read, reader=reader, active_seconds=100, now=t0 + dt.timedelta(seconds=20)) == 20
    assert svc.read_heartbeat(read=read, reader=reader, active_seconds=500, now=t0 + dt.timedelta(seconds=620)) == 80
    assert svc.read_heartbeat(read=read, reader=reader, active_seconds=-3, now=t0 + dt.timedelta(seconds=630)) == 80
    # Heartbeats are timing, not answers: no audit row each.
    assert not AuditEvent.objects.filter(object_type="reading.read", changes__has_key="active_seconds").exists()
    svc.read_submit(read=read, reader=reader, submission_id="client-sub-1", answers=complete(), active_seconds=4,
                    now=t0 + dt.timedelta(seconds=632))
    read.refresh_from_db()
    assert read.active_seconds == 84 and read.started_at == t0
    assert svc.read_heartbeat(read=read, reader=reader, active_seconds=9, now=t0 + dt.timedelta(seconds=640)) == 84


def test_reading_page_renders_the_form_and_no_identifying_text(world, reader):
    from django.test import Client

    page = Client()
    page.force_login(reader)
    worklist = page.get("/reading/")
    assert worklist.status_code == 200 and b"Start reading" in worklist.content
    start = page.get(f"/reading/sessions/{world['sessions'][0].public_id}/")
    read = world["reads"][0]
    assert start.status_code == 302 and start["Location"] == f"/reading/reads/{read.public_id}/"
    html = page.get(start["Location"]).content.decode()
    assert "Too noisy, image uninterpretable" in html and "Read 1 of 4" in html and "Ctrl</kbd>+<kbd>Enter" in html
    for word in ("Standard", "Fast", "C001", "C002", "Study A"):
        assert word not in html, word
    assert page.get(f"/reading/reads/{world['reads'][0].public_id}x/").status_code == 404


def test_hot_reader_endpoints_have_pinned_query_counts(world, reader, django_assert_max_num_queries):
    read, other = world["reads"][0], world["reads"][1]
    client = client_for(reader)
    with django_assert_max_num_queries(11):  # + viewer presets, the reopened check, the case read's panes
        assert client.get(url(read)).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.post(url(read, "heartbeat"), {"active_seconds": 2}, format="json").status_code == 200
    with django_assert_max_num_queries(30):  # 5 new answers: an insert and an audit row each
        assert client.post(url(read, "draft"), {"answers": complete()}, format="json").status_code == 200
    with django_assert_max_num_queries(14):  # unchanged answers are not written again
        assert client.post(url(read, "draft"), {"answers": complete()}, format="json").status_code == 200
    with django_assert_max_num_queries(26):
        assert client.post(url(read, "submit"), {"answers": complete(), "submission_id": "client-sub-1"},
                           format="json").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.post(url(read, "submit"), {"answers": complete(), "submission_id": "client-sub-1"},
                           format="json").json()["replayed"]
    assert client.get(url(other)).json()["progress"]["done"] == 1


def test_coordinator_session_api_lists_progress_and_overrides_with_reason(coordinator, reader, other_reader):
    study, _, sessions = small_study(coordinator=coordinator, readers=[reader], open_session=False)
    base = f"/api/studies/{study.pk}/sessions/"
    for user in (reader, other_reader):
        assert client_for(user).get(base).status_code == 404
    client = client_for(coordinator)
    rows = client.get(base).json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert [(r["reader"], r["state"], r["reads_total"], r["reads_done"]) for r in rows] == [("reader1", "locked", 4, 0)]
    target = f"{base}{sessions[0].public_id}/override/"
    assert client.post(target, {"opens_at": "2026-01-01T08:00:00Z", "reason": ""}, format="json").status_code == 400
    assert client_for(reader).post(target, {"opens_at": "2026-01-01T08:00:00Z", "reason": "x"}, format="json").status_code == 404
    response = client.post(target, {"opens_at": "2026-01-01T08:00:00Z", "reason": "early start agreed"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "open"
    assert AuditEvent.objects.filter(object_type="reading.session", reason="early start agreed", actor=coordinator).exists()


@pytest.mark.django_db(transaction=True)
def test_the_last_two_reads_submitted_at_the_same_time_still_finish_the_session(coordinator, reader, monkeypatch):
    """Two submissions of one session's last two reads, at once (two tabs, a retried request): the
    second one waits for the first, so whichever commits last sees the other's read submitted and
    finishes the session. Forced interleaving: the first submission has looked for the session's
    next unsubmitted read (the second's) and not committed yet when the second runs."""
    import threading

    from django.db import connection

    study, series, sessions = small_study(coordinator=coordinator, readers=[reader])
    reads = list(sessions[0].reads.order_by("position"))
    for n, read in enumerate(reads[:-2]):
        svc.read_submit(read=read, reader=reader, submission_id=f"client-sub-{n}", answers=complete())
    first, second = reads[-2], reads[-1]
    looked, errors = threading.Event(), []
    original = svc.reads._next_read

    def next_read_then_pause(read):
        found = original(read)
        if read.pk == first.pk:
            looked.set()
            time.sleep(1.0)  # the second submission runs now (or waits for this one to commit)
        return found

    monkeypatch.setattr(svc.reads, "_next_read", next_read_then_pause)

    def submit(read, n):
        try:
            svc.read_submit(read=Read.objects.get(pk=read.pk), reader=reader, submission_id=f"client-sub-{n}",
                            answers=complete())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    a = threading.Thread(target=submit, args=(first, len(reads) - 2))
    a.start()
    assert looked.wait(30)
    b = threading.Thread(target=submit, args=(second, len(reads) - 1))
    b.start()
    a.join(60)
    b.join(60)
    assert not errors, errors
    assert Read.objects.filter(session=sessions[0], submitted_at__isnull=True).count() == 0
    sessions[0].refresh_from_db()
    assert sessions[0].completed_at is not None
