"""Test data, built through the real services (STYLE.md: set up data through the services).

The combined fixtures in ``tests/conftest.py`` (``scheduled_study``, ``answered_study``) use these:

* :func:`small_study` — a study with readers and the scheduler's schedule (published by default);
* :func:`ready_draft` — a draft that passes every rule of the publish checklist;
* :func:`reads_submit_all` — a reader answers and submits a whole session through the answer service;
* :func:`series_row` — the one builder that writes rows directly: a Series with instance rows but
  no files, where a test needs the design but not the pixels (the real path, DICOM import, is
  exercised by the import tests).
"""

from __future__ import annotations

import secrets

from django.utils import timezone

from readerstudy.reading import selectors as reading_selectors, services as reading_services
from readerstudy.reading.models import Session
from readerstudy.reading.services import schedule_materialize
from readerstudy.studies import services
from readerstudy.studies.models import Instance, Membership, Series


def fake_uid() -> str:
    return "2.25." + str(int.from_bytes(secrets.token_bytes(12), "big"))


def series_row(*, case, sequence, arm, n_instances: int = 2) -> Series:
    """A Series row with instance rows but no files (for permission tests; imports make real ones)."""
    series = Series.objects.create(
        case=case, sequence=sequence, arm=arm, study_instance_uid=fake_uid(), series_instance_uid=fake_uid(),
        rows=8, columns=8, pixel_spacing_mm=[1.0, 1.0], slice_thickness_mm=4.0,
        image_orientation=[0, 1, 0, 0, 0, -1], num_instances=n_instances,
    )
    for index in range(n_instances):
        Instance.objects.create(
            series=series, index=index, sop_instance_uid=fake_uid(), path=f"instances/{secrets.token_hex(8)}.dcm",
            size_bytes=0, sha256="0" * 64,
        )
    return series


def small_study(*, coordinator, readers=(), name="Study A", publish=True, open_session=True):
    """A study with 2 cases x 1 sequence x 2 arms, the seed 000 questionnaire, a reference
    standard, and the independent design's schedule (no training session) written by the scheduler: one session per
    reader holding every series (open now, or in three days without ``open_session``)."""
    study = services.study_create(name=name, created_by=coordinator, seed=1234)
    seq = services.sequence_create(study=study, name="SAG T2 FS")
    standard = services.arm_create(study=study, name="Standard", is_reference=True)
    fast = services.arm_create(study=study, name="Fast")
    cases = [services.case_create(study=study, label=f"C{i:03d}") for i in (1, 2)]
    services.questionnaire_apply_template(study=study, template="seed000")
    all_series = [series_row(case=c, sequence=seq, arm=a) for c in cases for a in (standard, fast)]
    services.reference_standard_import(
        study=study, rows=[{"case": "C001", "level": "L4-L5", "finding": "disc_herniation", "present": True}]
    )
    for reader in readers:
        services.membership_add(study=study, user=reader, role=Membership.Role.READER)
    sessions = []
    if readers:
        now = timezone.now()
        start = now - timezone.timedelta(hours=1) if open_session else now + timezone.timedelta(days=3)
        written = schedule_materialize(study=study, design={"kind": "independent", "training": False}, actor=coordinator,
                                       start=start)
        by_reader = {s.reader_id: s for s in written}
        sessions = [by_reader[r.pk] for r in readers]
    if publish:
        services.study_set_status(study=study, status="published")
    sessions = list(Session.objects.filter(pk__in=[s.pk for s in sessions]).select_related("reader"))
    sessions.sort(key=lambda s: [r.pk for r in readers].index(s.reader_id))
    for session in sessions:
        session.study = study  # the caller's study: publishing it later is seen through every session
    return study, all_series, sessions


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


def reads_submit_all(session, reader) -> int:
    """Answer and submit every unsubmitted read of ``session`` through the reading service (the
    answers vary with the read, every required item answered). Returns the number submitted."""
    submitted = 0
    for read in session.reads.filter(submitted_at__isnull=True).order_by("position"):
        items = reading_selectors.applicable_items(read)
        answers = []
        for item in items:
            if item.kind == "likert":
                answers.append({"item": item.key, "level": "", "value": item.scale_min + (read.pk + len(answers)) % (item.scale_max - item.scale_min + 1),
                                "payload": {}})
            elif item.kind in ("binary",):
                answers.append({"item": item.key, "level": "", "value": read.pk % 2, "payload": {}})
            elif item.kind == "checklist":
                answers += [{"item": item.key, "level": lv, "value": 0, "payload": {}} for lv in item.levels]
        reading_services.read_submit(read=read, reader=reader, submission_id=f"submit-{read.pk:06d}", answers=answers, comment="",
                            active_seconds=12.0)
        submitted += 1
    return submitted
