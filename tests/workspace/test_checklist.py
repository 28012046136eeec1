"""Each publish rule of the workspace checklist, and the publish endpoint that enforces it."""

from __future__ import annotations

import pytest

from readerstudy.reading.services import schedule_materialize
from readerstudy.studies import services
from readerstudy.studies.models import Membership, Series
from readerstudy.workspace.selectors import publish_checklist
from tests.factories import series_row

pytestmark = pytest.mark.django_db


def rules(study, severity="error"):
    return {p.rule for p in publish_checklist(study) if p.severity == severity}


def ready_draft(coordinator, readers, skip=None):
    """A draft that passes every rule: 2 cases x 1 sequence x 2 arms, seed000 items, a schedule."""
    study = services.study_create(name="Draft", created_by=coordinator, seed=7)
    seq = services.sequence_create(study=study, name="SAG T2 FS")
    arms = [services.arm_create(study=study, name="Standard", is_reference=True), services.arm_create(study=study, name="Fast")]
    cases = [services.case_create(study=study, label=f"C{i}") for i in (1, 2)]
    for case in cases:
        for arm in arms:
            if (case.label, arm.name) != skip:
                series_row(case=case, sequence=seq, arm=arm)
    services.questionnaire_apply_template(study=study, template="seed000")
    for r in readers:
        services.membership_add(study=study, user=r, role=Membership.Role.READER)
    if skip is None:
        schedule_materialize(study=study, design={"kind": "crossover", "washout_days": 14}, actor=coordinator)
    return study


def test_empty_study_lists_every_missing_part_with_its_step(coordinator):
    study = services.study_create(name="Empty", created_by=coordinator)
    problems = {p.rule: p for p in publish_checklist(study)}
    assert {"sequences", "arms", "cases", "items", "readers", "schedule"} <= set(problems)
    assert problems["sequences"].step == "design"
    assert problems["cases"].step == "cases"
    assert problems["items"].step == "questionnaire"
    assert problems["readers"].step == "readers"
    assert problems["schedule"].as_dict(study)["url"] == f"/workspace/studies/{study.pk}/setup/schedule/"


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
    assert problems[0].as_dict(study)["url"].endswith(f"#case-{case.pk}")


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


def test_publish_endpoint_refuses_with_the_list_then_publishes(coordinator, reader, other_reader, client_for):
    study = services.study_create(name="Not ready", created_by=coordinator)
    client = client_for(coordinator)
    response = client.post(f"/api/studies/{study.pk}/workspace/publish/", {}, format="json")
    assert response.status_code == 400
    assert {p["rule"] for p in response.json()["problems"]} >= {"sequences", "cases"}
    study.refresh_from_db()
    assert study.status == "draft"

    ready = ready_draft(coordinator, [reader, other_reader])
    response = client.post(f"/api/studies/{ready.pk}/workspace/publish/", {"reason": "go"}, format="json")
    assert response.status_code == 200, response.json()
    ready.refresh_from_db()
    assert ready.status == "published"
    assert ready.audit_events.filter(reason="go").exists()
    assert client.post(f"/api/studies/{ready.pk}/workspace/publish/", {}, format="json").status_code == 409


def test_schedule_preview_writes_nothing_and_matches_the_written_schedule(coordinator, reader, other_reader, client_for):
    study = ready_draft(coordinator, [reader, other_reader])
    client = client_for(coordinator)
    design = {"kind": "crossover", "washout_days": 14}
    response = client.post(f"/api/studies/{study.pk}/workspace/schedule-preview/", {"design": design}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert [r["reader"] for r in data["readers"]] == ["reader1", "reader2"]
    first = data["readers"][0]["sessions"]
    assert len(first) == 2 and first[1]["opens"] == "14 days after session 1 is finished"
    assert sum(first[0]["per_arm"].values()) == 2
    written = study.sessions.filter(reader=reader).order_by("index")
    assert [s.reads.count() for s in written] == [s["reads"] for s in first]
    bad = client.post(f"/api/studies/{study.pk}/workspace/schedule-preview/", {"design": {"kind": "nope"}}, format="json")
    assert bad.status_code == 400 and "invalid reading design" in str(bad.json())


def test_schedule_endpoint_writes_sessions(coordinator, reader, other_reader, client_for):
    study = ready_draft(coordinator, [reader, other_reader])
    response = client_for(coordinator).post(
        f"/api/studies/{study.pk}/workspace/schedule/", {"design": {"kind": "independent"}}, format="json")
    assert response.status_code == 200, response.json()
    study.refresh_from_db()
    assert study.reading_design["kind"] == "independent"
    assert response.json()["sessions"] == study.sessions.count() == 2


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
