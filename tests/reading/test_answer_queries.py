"""A save of N answers costs a constant number of SQL queries (bulk writes, one audit event per
save): pinned for the reading page's three requests on the 53-answer demo questionnaire."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from readerstudy.reading.models import Answer, Read
from readerstudy.studies import services
from readerstudy.studies.models import AuditEvent
from tests.factories import small_study

pytestmark = pytest.mark.django_db

# Measured on SQLite, with the transaction's two statements (here SAVEPOINT/RELEASE, in the
# server BEGIN/COMMIT): first save 11 (9 once the published questionnaire and the read's panes are
# cached in the process), one-change autosave 7, submit 9. The view's own lookup of the read is
# included; token authentication (one more) is not, as the test client forces the user. A
# 53-answer first save took 120 queries before bulk writes and one audit event per save.
MAX_FIRST_SAVE = 11
MAX_AUTOSAVE = 7
MAX_SUBMIT = 9


@pytest.fixture
def world53(coordinator, reader):
    study, _series, sessions = small_study(coordinator=coordinator, readers=[reader], publish=False)
    checklist = [i for i in services.questionnaire_templates()["seed001"]["items"] if i["kind"] == "checklist"]
    for item in checklist:
        services.item_create(study=study, **item)
    services.study_set_status(study=study, status="published")
    answers = [{"item": k, "level": "", "value": v} for k, v in
               (("apparent_snr", 4), ("anatomy_discernment", 4), ("diagnostic_confidence", 3),
                ("overall_quality", 4), ("artifacts", 0))]
    answers += [{"item": i["key"], "level": lv, "value": int(n % 5 == 0)} for n, (i, lv) in
                enumerate((i, lv) for i in checklist for lv in i["levels"])]
    assert len(answers) == 53
    client = APIClient()
    client.force_authenticate(reader)
    reads = list(Read.objects.filter(session=sessions[0]).order_by("position"))
    return client, reads, answers


def _post(client, read, action, body, limit):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/api/reader/reads/{read.public_id}/{action}/", body, format="json")
    assert response.status_code == 200, response.content
    sql = "\n".join(q["sql"][:160] for q in queries.captured_queries)
    assert len(queries) <= limit, f"{action}: {len(queries)} queries (at most {limit}):\n{sql}"
    return response.json(), len(queries)


def test_a_53_answer_save_an_autosave_and_a_submit_take_a_constant_number_of_queries(world53):
    client, reads, answers = world53
    read = reads[0]
    data, first = _post(client, read, "draft", {"answers": answers}, MAX_FIRST_SAVE)
    assert len(data["changed"]) == 53 and Answer.objects.filter(read=read).count() == 53
    changed = [dict(a) for a in answers]
    changed[0]["value"] = 3
    data, autosave = _post(client, read, "draft", {"answers": changed}, MAX_AUTOSAVE)
    assert data["changed"] == ["apparent_snr"]
    changed[1]["value"] = 2
    data, submit = _post(client, read, "submit", {"answers": changed, "submission_id": "sub-00000001",
                                                  "active_seconds": 1}, MAX_SUBMIT)
    assert data["replayed"] is False
    assert Answer.objects.get(read=read, item__key="anatomy_discernment").value == 2
    # The page's retry of the same submission: no transaction, no lock (the read, the membership,
    # the next read).
    data, _ = _post(client, read, "submit", {"answers": changed, "submission_id": "sub-00000001"}, 3)
    assert data["replayed"] is True
    # The count does not depend on N: a first save of 5 answers costs what one of 53 does (both
    # with the published questionnaire already in the process's cache).
    _data, small_first = _post(client, reads[1], "draft", {"answers": answers[:5]}, MAX_FIRST_SAVE)
    _data, big_first = _post(client, reads[2], "draft", {"answers": answers}, MAX_FIRST_SAVE)
    assert small_first == big_first <= first, (small_first, big_first, first)

    # One audit event per save, and it holds every change.
    events = AuditEvent.objects.filter(object_type="reading.answers", object_id=str(read.pk)).order_by("id")
    assert events.count() == 3
    assert len(events[0].changes["answers"]) == 53
    assert events[1].changes["answers"]["apparent_snr"]["before"]["value"] == 4.0
    assert events[1].changes["answers"]["apparent_snr"]["after"]["value"] == 3.0


def test_a_cleared_answer_is_audited_with_its_last_state_and_nothing_else_is_written(world53):
    client, reads, answers = world53
    read = reads[0]
    _post(client, read, "draft", {"answers": answers[:3]}, MAX_FIRST_SAVE)
    stored = Answer.objects.get(read=read, item__key="diagnostic_confidence")
    data, _ = _post(client, read, "draft", {"answers": [{"item": "diagnostic_confidence", "value": None}]}, MAX_AUTOSAVE)
    assert data["changed"] == ["diagnostic_confidence"]
    assert not Answer.objects.filter(pk=stored.pk).exists()
    event = AuditEvent.objects.filter(object_type="reading.answers", object_id=str(read.pk)).latest("id")
    assert event.changes["answers"] == {"diagnostic_confidence": {
        "before": {"id": stored.pk, "value": 3.0, "payload": {}, "revision": 1}, "after": None}}
    assert "1 removed" in event.summary
    # Sending the same answers again changes nothing and writes no event.
    events = AuditEvent.objects.count()
    data, _ = _post(client, read, "draft", {"answers": answers[:2]}, MAX_AUTOSAVE)
    assert data["changed"] == [] and AuditEvent.objects.count() == events
