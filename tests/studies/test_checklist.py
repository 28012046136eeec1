"""Each rule of the one publish checklist (``studies.selectors.publish_checklist``, with the rules
reading and reports register), and the one service that enforces it: every way to publish a study
(``POST /api/studies/<id>/status/``, the workspace's publish button, which calls it, a service call)
refuses the same studies."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from readerstudy.reading.services import schedule_materialize
from readerstudy.studies import services
from readerstudy.studies.models import Membership, Series
from readerstudy.studies.selectors import publish_checklist
from readerstudy.workspace.selectors import problem_as_dict
from tests.factories import ready_draft, series_row

pytestmark = pytest.mark.django_db


def rules(study, severity="error"):
    return {p.rule for p in publish_checklist(study) if p.severity == severity}


def test_empty_study_lists_every_missing_part_with_its_step(coordinator):
    study = services.study_create(name="Empty", created_by=coordinator)
    problems = {p.rule: p for p in publish_checklist(study)}
    assert {"sequences", "arms", "cases", "items", "readers", "schedule"} <= set(problems)
    assert problems["sequences"].step == "design"
    assert problems["cases"].step == "cases"
    assert problems["items"].step == "questionnaire"
    assert problems["readers"].step == "readers"
    assert problem_as_dict(problems["schedule"], study)["url"] == f"/workspace/studies/{study.pk}/setup/schedule/"


def test_ready_draft_has_no_errors(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader])
    assert rules(study) == set()


def test_one_arm_and_no_reference_arm(coordinator):
    study = services.study_create(name="S", created_by=coordinator)
    services.arm_create(study=study, name="Fast")
    assert {"arms", "reference_arm"} <= rules(study)


def test_missing_series_names_case_and_links_to_it(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader], skip=("C2", "Fast"))
    case = study.cases.get(label="C2")
    problems = [p for p in publish_checklist(study) if p.rule == "series_missing"]
    assert len(problems) == 1
    assert "case C2" in problems[0].message and "SAG T2 FS / Fast" in problems[0].message
    assert problem_as_dict(problems[0], study)["url"].endswith(f"#case-{case.pk}")


def test_empty_series_is_an_error(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader])
    Series.objects.filter(case__label="C1").first().instances.all().delete()
    assert "series_empty" in rules(study)


def test_geometry_mismatch_across_arms(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader])
    Series.objects.filter(case__label="C1", arm__name="Fast").update(rows=16)
    assert "geometry" in rules(study)


def test_all_training_cases(coordinator):
    study = services.study_create(name="S", created_by=coordinator)
    case = services.case_create(study=study, label="T1", is_training=True)
    assert case.is_training
    assert "cases" in rules(study)


def test_questionnaire_must_cover_every_sequence(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader])
    t1 = services.sequence_create(study=study, name="SAG T1")
    seq = study.sequences.get(name="SAG T2 FS")
    for item in study.items.all():
        services.item_update(item=item, sequences=[seq])
    assert t1 and "items_sequence" in rules(study)


def test_side_by_side_needs_a_preference_item(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader])
    schedule_materialize(study=study, design={"kind": "side_by_side", "pairs": [["Standard", "Fast"]]}, actor=coordinator)
    study.refresh_from_db()
    assert "items_preference" in rules(study)


def test_reader_added_after_the_schedule_needs_a_new_schedule(coordinator, reader, other_reader, make_user):
    study = ready_draft(coordinator, [reader, other_reader])
    services.reader_create(study=study, username="late")
    assert "schedule_readers" in rules(study)


def test_single_reader_and_missing_reference_standard_are_warnings(coordinator, reader):
    study = ready_draft(coordinator, [reader])
    services.item_create(study=study, key="disc_herniation", label="Disc herniation", kind="checklist", levels=["L4-L5"])
    assert rules(study) == set()
    assert {"readers", "reference", "analysis"} <= rules(study, "warning")


def publish(client, study, reason=""):
    return client.post(f"/api/studies/{study.pk}/status/", {"status": "published", "reason": reason}, format="json")


def test_status_endpoint_refuses_with_the_checklist_then_publishes(coordinator, reader, other_reader, client_for):
    study = services.study_create(name="Not ready", created_by=coordinator)
    client = client_for(coordinator)
    response = publish(client, study)
    assert response.status_code == 400
    text = " ".join(response.json()["detail"])
    assert "no sequences" in text and "(Sequences and arms)" in text and "no cases" in text
    study.refresh_from_db()
    assert study.status == "draft"

    ready = ready_draft(coordinator, [reader, other_reader])
    response = publish(client, ready, reason="go")
    assert response.status_code == 200, response.json()
    ready.refresh_from_db()
    assert ready.status == "published"
    assert ready.audit_events.filter(reason="go").exists()


def test_one_arm_and_no_reading_design_is_refused_by_every_entry_point(coordinator, reader, other_reader, client_for):
    """The bug: the workspace refused this study, ``POST /api/studies/<id>/status/`` published it."""
    study = services.study_create(name="One arm", created_by=coordinator)
    seq = services.sequence_create(study=study, name="SAG T2 FS")
    arm = services.arm_create(study=study, name="Standard", is_reference=True)
    case = services.case_create(study=study, label="C1")
    series_row(case=case, sequence=seq, arm=arm)
    services.questionnaire_apply_template(study=study, template="seed000")
    for r in (reader, other_reader):
        services.membership_add(study=study, user=r, role=Membership.Role.READER)
    assert {"arms", "schedule"} <= rules(study)

    response = publish(client_for(coordinator), study)
    assert response.status_code == 400
    text = " ".join(response.json()["detail"])
    assert "only one arm" in text and "no reading design" in text
    with pytest.raises(ValidationError, match="only one arm"):
        services.study_set_status(study=study, status="published")
    checklist = client_for(coordinator).get(f"/api/studies/{study.pk}/checklist/").json()
    assert checklist["ready"] is False
    assert {"arms", "schedule"} <= {p["rule"] for p in checklist["problems"] if p["severity"] == "error"}
    page = client_for(coordinator).get(f"/workspace/studies/{study.pk}/setup/publish/").content.decode()
    assert "only one arm" in page and "Publish the study" not in page
    study.refresh_from_db()
    assert study.status == "draft"


def test_rules_of_reading_and_reports_are_enforced_by_the_status_service(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader])
    services.study_update(study=study, analysis_settings={"fdr": "sometimes"})
    with pytest.raises(ValidationError, match="analysis settings are invalid"):
        services.study_set_status(study=study, status="published")
    services.study_update(study=study, analysis_settings={})
    services.reader_create(study=study, username="late")
    with pytest.raises(ValidationError, match="readers without sessions: late"):
        services.study_set_status(study=study, status="published")


def test_warnings_do_not_block_publishing(coordinator, reader):
    study = ready_draft(coordinator, [reader])
    assert {"readers", "analysis"} <= rules(study, "warning")
    assert services.study_set_status(study=study, status="published").status == "published"


def test_invalid_analysis_settings_are_an_error(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader])
    services.study_update(study=study, analysis_settings={"unit": "case-mean", "fdr": "bh"})
    assert "analysis_invalid" not in rules(study)
    services.study_update(study=study, analysis_settings={"fdr": "sometimes"})
    problems = [p for p in publish_checklist(study) if p.rule == "analysis_invalid"]
    assert problems and "sometimes" in problems[0].message and problems[0].step == "analysis"


def test_schedule_written_before_a_case_was_added_is_stale(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader])
    assert "schedule_stale" not in rules(study)
    case = services.case_create(study=study, label="C3")
    for arm in study.arms.all():
        series_row(case=case, sequence=study.sequences.get(), arm=arm)
    assert "schedule_stale" in rules(study)
    schedule_materialize(study=study, design=study.reading_design, actor=coordinator)
    assert "schedule_stale" not in rules(study)


def test_a_coordinator_cannot_also_be_a_reader(coordinator, reader, other_reader):
    study = ready_draft(coordinator, [reader, other_reader])
    services.membership_add(study=study, user=coordinator, role=Membership.Role.READER)
    problems = [p for p in publish_checklist(study) if p.rule == "reader_is_coordinator"]
    assert problems and "coord" in problems[0].message and problems[0].step == "readers"
