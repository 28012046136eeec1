from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from readerstudy.studies import audit, services
from readerstudy.studies.models import Arm, AuditEvent, Item, ReferenceStandard, Study
from tests.factories import small_study

pytestmark = pytest.mark.django_db


def test_templates_ship_the_seed_questionnaires():
    templates = services.questionnaire_templates()
    assert set(templates) == {"seed000", "seed001", "seed002", "seed003"}
    t000 = {i["key"]: i for i in templates["seed000"]["items"]}
    assert t000["apparent_snr"]["anchors"]["1"] == "Too noisy, image uninterpretable"
    assert t000["overall_quality"]["anchors"]["5"] == "Excellent"
    assert t000["artifacts"]["kind"] == "binary"
    t001 = templates["seed001"]["items"]
    findings = [i["key"] for i in t001 if i["kind"] == "checklist"]
    assert findings == [
        "spinal_stenosis", "foraminal_stenosis", "disc_degeneration", "disc_bulge", "disc_herniation",
        "facet_synovial_cyst", "modic_changes", "schmorl_nodes",
    ]
    assert all(i["levels"] == ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"] for i in t001 if i["kind"] == "checklist")
    assert [i["scale_max"] for i in t001 if i["kind"] == "likert"] == [4] * 5
    prefs = [i for i in templates["seed003"]["items"] if i["kind"] == "preference"]
    assert len(prefs) == 8 and prefs[0]["anchors"]["1"] == "Left much better"


def test_every_template_applies_cleanly(coordinator):
    for key in ("seed000", "seed001", "seed002", "seed003"):
        study = services.study_create(name=f"T {key}", created_by=coordinator)
        items = services.questionnaire_apply_template(study=study, template=key)
        assert len(items) == len(services.questionnaire_templates()[key]["items"])
    with pytest.raises(ValidationError, match="already has items"):
        services.questionnaire_apply_template(study=study, template="seed003")


def test_item_validation_names_the_problem(coordinator):
    study = services.study_create(name="S", created_by=coordinator)
    with pytest.raises(ValidationError, match="one anchor text per point 1..5"):
        services.item_create(study=study, key="q", label="Q", kind="likert", scale_min=1, scale_max=5, anchors={"1": "bad"})
    with pytest.raises(ValidationError, match="needs a non-empty list of level names"):
        services.item_create(study=study, key="c", label="C", kind="checklist", levels=[])
    with pytest.raises(ValidationError, match="needs a unit"):
        services.item_create(study=study, key="n", label="N", kind="numeric")
    assert study.items.count() == 0


def test_database_constraints_hold_without_the_services(coordinator):
    study = services.study_create(name="S", created_by=coordinator)
    Arm.objects.create(study=study, name="Standard", is_reference=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Arm.objects.create(study=study, name="Fast", is_reference=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(study=study, key="x", label="X", kind="likert", scale_min=5, scale_max=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(study=study, key="y", label="Y", kind="nonsense")
    with pytest.raises(IntegrityError), transaction.atomic():
        Study.objects.create(name="bad", created_by=coordinator, status="whatever")


def test_reference_arm_moves_and_design_freezes_after_publish(coordinator, reader):
    study, _, _ = small_study(coordinator=coordinator, readers=[reader], publish=False)
    fast = study.arms.get(name="Fast")
    services.arm_set_reference(arm=fast)
    assert list(study.arms.filter(is_reference=True)) == [fast]
    services.study_set_status(study=study, status="published")
    with pytest.raises(ValidationError, match="not a draft"):
        services.case_create(study=study, label="C099")
    with pytest.raises(ValidationError, match="cannot go back"):
        services.study_set_status(study=study, status="draft")


def test_publish_lists_what_is_missing(coordinator):
    study = services.study_create(name="Empty", created_by=coordinator)
    with pytest.raises(ValidationError) as err:
        services.study_set_status(study=study, status="published")
    text = " ".join(err.value.messages)
    for expected in ("no sequences", "no arms", "no cases", "no questionnaire items", "no readers"):
        assert expected in text


def test_reference_standard_csv_errors_and_atomicity(coordinator, reader):
    study, _, _ = small_study(coordinator=coordinator, readers=[reader])
    before = ReferenceStandard.objects.count()
    with pytest.raises(ValidationError, match="unknown columns: severity"):
        services.parse_reference_standard_csv("case,level,finding,present,severity\nC001,L4-L5,x,1,2\n")
    with pytest.raises(ValidationError, match="line 3: present='maybe'"):
        services.parse_reference_standard_csv("case,level,finding,present\nC001,L1-L2,x,1\nC001,L2-L3,x,maybe\n")
    rows = services.parse_reference_standard_csv("case,level,finding,present\nC001,L1-L2,x,1\nC404,L2-L3,x,0\n")
    with pytest.raises(ValidationError, match="cases not in the study: C404"):
        services.reference_standard_import(study=study, rows=rows)
    assert ReferenceStandard.objects.count() == before


def test_audit_log_records_changes_with_actor_and_is_append_only(coordinator):
    with audit.acting_as(coordinator):
        study = services.study_create(name="Audited", created_by=coordinator)
        services.study_update(study=study, description="new words")
    events = list(AuditEvent.objects.filter(study=study).order_by("id"))
    assert [e.action for e in events][:3] == ["create", "create", "update"]
    assert all(e.actor == coordinator for e in events)
    assert events[-1].changes["description"] == ["", "new words"]

    event = events[0]
    event.summary = "tampered"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    # The database refuses too, whatever the Python code does.
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE studies_auditevent SET summary = 'x' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert event.summary != "tampered"


def test_publish_refuses_arms_whose_geometry_differs(coordinator, reader):
    study, series, _ = small_study(coordinator=coordinator, readers=[reader], publish=False)
    fast = next(s for s in series if s.arm.name == "Fast" and s.case.label == "C002")
    fast.rows = 16
    fast.save()
    with pytest.raises(ValidationError, match=r"case C002, SAG T2 FS: the arms differ in geometry"):
        services.study_set_status(study=study, status="published")


def test_study_update_writes_only_the_fields_it_is_given(coordinator):
    study = services.study_create(name="Stale", created_by=coordinator)
    stale = Study.objects.get(pk=study.pk)
    Study.objects.filter(pk=study.pk).update(reading_design={"kind": "independent"})
    services.study_update(study=stale, description="changed")
    study.refresh_from_db()
    assert study.description == "changed"
    assert study.reading_design == {"kind": "independent"}
