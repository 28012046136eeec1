"""schedule_materialize: the scheduler's output written as Session and Read rows."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from readerstudy.reading import selectors
from readerstudy.reading.models import Answer, Read, Session
from readerstudy.reading.scheduler import (
    CaseRead,
    CrossoverDesign,
    IndependentDesign,
    PairRead,
    SideBySideDesign,
    build_schedule,
)
from readerstudy.reading.services import ScheduleError, ScheduleStartedError, schedule_materialize
from readerstudy.studies.models import Arm, AuditEvent, Case, Item, Membership, Sequence, Series, Study

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
_uid = itertools.count(1)


def add_series(case, sequence, arm):
    n = next(_uid)
    return Series.objects.create(
        case=case,
        sequence=sequence,
        arm=arm,
        study_instance_uid=f"2.25.{n}1",
        series_instance_uid=f"2.25.{n}2",
        rows=384,
        columns=384,
        pixel_spacing_mm=[0.68, 0.68],
        image_orientation=[0, 1, 0, 0, 0, -1],
        num_instances=30,
    )


@pytest.fixture
def make_study(db, coordinator, make_user):
    """A study with readers, cases (and training cases), sequences, arms and every series."""

    def _make(
        *, readers=2, cases=4, training_cases=0, sequences=("SAG T2 FS", "SAG T1"), arms=("Standard", "Fast"),
        name="Lumbar", seed=20260302, skip=(),
    ):
        study = Study.objects.create(name=name, seed=seed, created_by=coordinator)
        Membership.objects.create(study=study, user=coordinator, role=Membership.Role.COORDINATOR)
        for i in range(readers):
            user = make_user(f"{name.lower()}-reader{i + 1}")
            Membership.objects.create(study=study, user=user, role=Membership.Role.READER)
        seq_rows = [Sequence.objects.create(study=study, name=s, order=i) for i, s in enumerate(sequences)]
        arm_rows = [
            Arm.objects.create(study=study, name=a, order=i, is_reference=(i == 0)) for i, a in enumerate(arms)
        ]
        case_rows = [Case.objects.create(study=study, label=f"C{i + 1:03d}") for i in range(cases)]
        case_rows += [
            Case.objects.create(study=study, label=f"T{i + 1}", is_training=True) for i in range(training_cases)
        ]
        for case, seq, arm in itertools.product(case_rows, seq_rows, arm_rows):
            if (case.label, seq.name, arm.name) not in skip:
                add_series(case, seq, arm)
        return study

    return _make


def reader_ids(study):
    return sorted(
        Membership.objects.filter(study=study, role="reader", active=True).values_list("user_id", flat=True)
    )


def rows_of(study):
    """The written schedule as plain tuples, to compare with the scheduler's."""
    out = []
    for session in Session.objects.filter(study=study).order_by("reader_id", "index"):
        reads = []
        related = ("series__case", "series__sequence", "series__arm", "series_right__arm")
        for read in session.reads.select_related(*related):
            right = read.series_right.arm.name if read.series_right else None
            series = read.series
            reads.append((read.position, series.case.label, series.sequence.name, series.arm.name, right))
        out.append((session.reader_id, session.index, session.is_training, session.washout_days, reads))
    return out


def expected_rows(study, design):
    schedule = build_schedule(
        study.seed,
        design,
        reader_ids(study),
        study.cases.filter(is_training=False).values_list("label", flat=True),
        study.sequences.values_list("name", flat=True),
        study.arms.values_list("name", flat=True),
        training_cases=study.cases.filter(is_training=True).values_list("label", flat=True),
    )
    out = []
    for session in schedule.sessions:
        reads = []
        for position, read in enumerate(session.reads):
            if isinstance(read, PairRead):
                reads.append((position, read.case, read.sequence, read.left_arm, read.right_arm))
            else:
                reads.append((position, read.case, read.sequence, read.arm, None))
        out.append((session.reader, session.index, session.is_training, session.washout_days, reads))
    return out


def test_crossover_writes_the_scheduled_sessions_and_reads(make_study, coordinator):
    study = make_study(readers=3, cases=5)
    design = CrossoverDesign(washout_days=28)

    sessions = schedule_materialize(study=study, design=design, actor=coordinator, start=START)

    assert rows_of(study) == expected_rows(study, design)
    assert [(s.reader_id, s.index) for s in sessions] == [(r, k) for r in reader_ids(study) for k in (0, 1)]
    for session in sessions:
        assert session.opens_at == (START if session.index == 0 else None)
        assert session.washout_days == (0 if session.index == 0 else 28)
        assert not session.is_training
        assert session.reads.count() == 5 * 2  # five cases, two sequences, one arm each
    study.refresh_from_db()
    assert study.reading_design == design.to_dict() | {"case_reads": False}  # resolved: no per-level items


def test_sessions_open_at_start_then_after_the_washout(make_study, coordinator):
    study = make_study()
    schedule_materialize(study=study, design=CrossoverDesign(washout_days=28), actor=coordinator, start=START)
    first, second = Session.objects.filter(study=study, reader_id=reader_ids(study)[0]).order_by("index")

    assert selectors.session_opening_time(first) == START
    assert selectors.session_opening_time(second) is None  # not until the first is finished
    finished = START + dt.timedelta(days=3)
    Session.objects.filter(pk=first.pk).update(completed_at=finished)
    assert selectors.session_opening_time(second) == finished + dt.timedelta(days=28)


def test_rerun_on_an_untouched_schedule_keeps_the_same_rows(make_study, coordinator):
    study = make_study()
    design = CrossoverDesign(washout_days=28)
    first = schedule_materialize(study=study, design=design, actor=coordinator, start=START)
    before = rows_of(study)
    read_ids = sorted(Read.objects.filter(session__study=study).values_list("public_id", flat=True))

    again = schedule_materialize(study=study, design=design.to_dict(), actor=coordinator)

    assert [s.pk for s in again] == [s.pk for s in first]
    assert rows_of(study) == before
    assert sorted(Read.objects.filter(session__study=study).values_list("public_id", flat=True)) == read_ids
    assert all(s.opens_at == START for s in again if s.index == 0)


def test_rerun_with_a_new_start_moves_only_the_first_opening(make_study, coordinator):
    study = make_study()
    schedule_materialize(study=study, design=CrossoverDesign(), actor=coordinator, start=START)
    later = START + dt.timedelta(days=7)
    sessions = schedule_materialize(study=study, design=CrossoverDesign(), actor=coordinator, start=later)
    assert [s.opens_at for s in sessions] == [later, None] * 2


def test_rerun_with_another_design_replaces_an_untouched_schedule(make_study, coordinator):
    study = make_study()
    schedule_materialize(study=study, design=CrossoverDesign(), actor=coordinator, start=START)
    design = IndependentDesign(session_per_sequence=True, washout_days=7)

    schedule_materialize(study=study, design=design, actor=coordinator, start=START)

    assert rows_of(study) == expected_rows(study, design)
    study.refresh_from_db()
    assert study.reading_design["kind"] == "independent"
    assert AuditEvent.objects.filter(study=study, action="delete", object_type="reading.read").exists()


@pytest.mark.parametrize("touch", ["started", "answered", "finished"])
def test_refuses_to_replace_a_schedule_once_reading_started(make_study, coordinator, touch):
    study = make_study()
    schedule_materialize(study=study, design=CrossoverDesign(), actor=coordinator, start=START)
    read = Read.objects.filter(session__study=study, session__index=0).first()
    if touch == "started":
        Read.objects.filter(pk=read.pk).update(started_at=START)
    elif touch == "answered":
        item = Item.objects.create(study=study, key="overall", label="Overall", kind="likert", scale_min=1, scale_max=5)
        Answer.objects.create(read=read, item=item, value=4)
    else:
        Session.objects.filter(pk=read.session_id).update(completed_at=START)
    before = rows_of(study)

    with pytest.raises(ScheduleStartedError, match="cannot replace the schedule of study 'Lumbar'"):
        schedule_materialize(study=study, design=IndependentDesign(), actor=coordinator, start=START)

    assert rows_of(study) == before
    study.refresh_from_db()
    assert study.reading_design["kind"] == "crossover"


def test_refuses_to_drop_an_opening_override(make_study, coordinator):
    study = make_study()
    schedule_materialize(study=study, design=CrossoverDesign(), actor=coordinator, start=START)
    Session.objects.filter(study=study, index=1).update(opens_at_override=START)
    with pytest.raises(ScheduleStartedError, match="override"):
        schedule_materialize(study=study, design=IndependentDesign(), actor=coordinator)


def test_a_missing_series_is_named_and_nothing_is_written(make_study, coordinator):
    study = make_study(skip={("C002", "SAG T1", "Fast")})
    with pytest.raises(ScheduleError, match="series that do not exist: case C002, sequence SAG T1, arm Fast"):
        schedule_materialize(study=study, design=CrossoverDesign(), actor=coordinator, start=START)
    assert not Session.objects.filter(study=study).exists()
    study.refresh_from_db()
    assert study.reading_design == {}


def test_side_by_side_writes_pairs_with_the_scheduled_placement(make_study, coordinator):
    study = make_study(cases=5, arms=("Standard", "Fast", "Fast-DL"))
    design = SideBySideDesign(pairs=[("Standard", "Fast"), ("Standard", "Fast-DL"), ("Fast-DL", "Fast")])

    schedule_materialize(study=study, design=design, actor=coordinator, start=START)

    assert rows_of(study) == expected_rows(study, design)
    reads = Read.objects.filter(session__study=study)
    assert reads.count() == 2 * 5 * 2 * 3
    assert not reads.filter(series_right__isnull=True).exists()
    for read in reads.select_related("series", "series_right"):
        assert read.series.case_id == read.series_right.case_id
        assert read.series.sequence_id == read.series_right.sequence_id


def test_training_reads_come_first_in_a_flagged_session(make_study, coordinator):
    study = make_study(training_cases=2)
    schedule_materialize(study=study, design=CrossoverDesign(washout_days=28), actor=coordinator, start=START)
    for reader in reader_ids(study):
        training, first, second = Session.objects.filter(study=study, reader_id=reader).order_by("index")
        assert training.is_training and not first.is_training and not second.is_training
        assert (training.opens_at, first.opens_at, second.opens_at) == (START, None, None)
        assert (training.washout_days, first.washout_days, second.washout_days) == (0, 0, 28)
        assert set(training.reads.values_list("series__case__label", flat=True)) == {"T1", "T2"}
        assert not first.reads.filter(series__case__is_training=True).exists()
        # The first study session opens as soon as training is done.
        Session.objects.filter(pk=training.pk).update(completed_at=START + dt.timedelta(hours=1))
        assert selectors.session_opening_time(first) == START + dt.timedelta(hours=1)


def test_only_active_readers_are_scheduled(make_study, coordinator):
    study = make_study(readers=3)
    withdrawn = Membership.objects.filter(study=study, role="reader").order_by("user_id").first()
    withdrawn.active = False
    withdrawn.save()
    schedule_materialize(study=study, design=IndependentDesign(), actor=coordinator, start=START)
    readers = set(Session.objects.filter(study=study).values_list("reader_id", flat=True))
    assert readers == set(reader_ids(study)) and withdrawn.user_id not in readers and coordinator.pk not in readers


def test_changes_are_audited_as_the_actor(make_study, coordinator):
    study = make_study()
    schedule_materialize(study=study, design=IndependentDesign(), actor=coordinator, start=START)
    created = AuditEvent.objects.filter(study=study, action="create", object_type="reading.read")
    assert created.count() == Read.objects.filter(session__study=study).count()
    assert set(created.values_list("actor_id", flat=True)) == {coordinator.pk}
    event = AuditEvent.objects.get(study=study, action="event")
    assert event.actor_id == coordinator.pk and "independent" in event.summary


def test_default_start_is_now(make_study, coordinator):
    study = make_study()
    before = timezone.now()
    sessions = schedule_materialize(study=study, design=IndependentDesign(), actor=coordinator)
    assert all(before <= s.opens_at <= timezone.now() for s in sessions if s.index == 0)


@pytest.mark.parametrize(
    ("kwargs", "design", "message"),
    [
        ({"readers": 0}, IndependentDesign(), "has no active readers"),
        ({"cases": 0}, IndependentDesign(), "has no cases"),
        ({"arms": ("Standard", "Fast", "Fast-DL")}, CrossoverDesign(sessions=2), "cannot be read in 2 sessions"),
        ({}, SideBySideDesign(pairs=[("Standard", "Fast-DL")]), "names arm\\(s\\) \\['Fast-DL'\\]"),
        ({}, {"kind": "crossover", "washout": 28}, "invalid reading design: .*unknown fields"),
    ],
)
def test_impossible_schedules_raise_clear_errors(make_study, coordinator, kwargs, design, message):
    study = make_study(**kwargs)
    with pytest.raises(ScheduleError, match=message):
        schedule_materialize(study=study, design=design, actor=coordinator, start=START)
    assert not Session.objects.filter(study=study).exists()


def test_naive_start_and_locked_study_are_refused(make_study, coordinator):
    study = make_study()
    with pytest.raises(ScheduleError, match="timezone-aware"):
        schedule_materialize(study=study, design=IndependentDesign(), actor=coordinator, start=dt.datetime(2026, 3, 2))
    Study.objects.filter(pk=study.pk).update(status="locked")
    with pytest.raises(ScheduleError, match="locked"):
        schedule_materialize(study=study, design=IndependentDesign(), actor=coordinator, start=START)


# --- case reads (hanging protocol) --------------------------------------------------------------


def test_case_reads_group_a_cases_sequences_in_one_arm_and_keep_the_randomization():
    readers, cases, sequences, arms = ["r1", "r2"], ["C1", "C2", "C3"], ["AX T2", "SAG T1", "SAG T2 FS"], ["Standard", "Fast"]
    layout = ("SAG T2 FS", "SAG T1", "AX T2")
    plain = build_schedule(11, CrossoverDesign(washout_days=28), readers, cases, sequences, arms)
    grouped = build_schedule(11, CrossoverDesign(washout_days=28, case_reads=True, case_layout=layout),
                             readers, cases, sequences, arms)
    assert [(s.reader, s.index, s.washout_days) for s in plain.sessions] == \
        [(s.reader, s.index, s.washout_days) for s in grouped.sessions]
    for before, after in zip(plain.sessions, grouped.sessions):
        # One read per case × arm, in the order the series reads had; every sequence, in the layout.
        order = list(dict.fromkeys((r.case, r.arm) for r in before.reads))
        assert [(r.case, r.arm) for r in after.reads] == order
        assert all(isinstance(r, CaseRead) and r.sequences == layout for r in after.reads)
    with pytest.raises(ValueError, match="case_layout"):
        build_schedule(11, CrossoverDesign(case_reads=True, case_layout=("COR T2",)), readers, cases, sequences, arms)
    with pytest.raises(ValueError, match="side-by-side"):
        SideBySideDesign(pairs=[("Standard", "Fast")], case_reads=True)
    with pytest.raises(ValueError, match="session_per_sequence"):
        IndependentDesign(session_per_sequence=True, case_reads=True)


def test_case_reads_are_the_default_for_per_level_questionnaires_and_name_the_layout(make_study, coordinator):
    study = make_study(readers=1, cases=2, sequences=("SAG T2 FS", "SAG T1", "AX T2"))
    Item.objects.create(study=study, key="stenosis", label="Stenosis", kind="checklist", levels=["L4-L5"])
    schedule_materialize(study=study, design={"kind": "crossover", "washout_days": 28,
                                              "case_layout": ["SAG T2 FS", "SAG T1", "AX T2"]},
                         actor=coordinator, start=START)
    study.refresh_from_db()
    assert study.reading_design["case_reads"] is True
    from readerstudy.reading.services import design_resolve

    assert design_resolve(study=study, design={"kind": "crossover"}).case_reads is True  # what previews should show
    assert design_resolve(study=study, design={"kind": "crossover", "case_reads": False}).case_reads is False
    reads = list(Read.objects.filter(session__study=study).order_by("session__index", "position"))
    assert len(reads) == 2 * 2  # two sessions (arms) × two cases
    for read in reads:
        panes = list(read.protocol_series.order_by("position").select_related("series__sequence", "series__arm"))
        assert [p.series.sequence.name for p in panes] == ["SAG T2 FS", "SAG T1", "AX T2"]
        assert len({p.series.arm_id for p in panes}) == 1 and {p.series.case_id for p in panes} == {read.series.case_id}
        assert read.series_id == panes[0].series_id
    # A measurement in a case read names its pane and is checked against that pane's series.
    from readerstudy.reading import services as reading

    Item.objects.create(study=study, key="canal_mm", label="Canal", kind="numeric", unit="mm", required=False)
    Study.objects.filter(pk=study.pk).update(status="published")
    first = reads[0]
    reader = first.session.reader
    m = {"kind": "length", "slice": 30, "side": "pane-3", "points": [[0, 0, 0], [0, 10, 0]]}
    # (A numeric item is asked per sequence in a case read: the answer for the axial pane is "@3".)
    reading.answer_draft_save(read=first, reader=reader, answers=[
        {"item": "canal_mm", "level": "@3", "value": 10, "payload": {"measurement": m}}])
    with pytest.raises(reading.AnswerInvalidError, match="side 'pane-4' is not a viewport"):
        reading.answer_draft_save(read=first, reader=reader, answers=[
            {"item": "canal_mm", "level": "@3", "value": 10, "payload": {"measurement": {**m, "side": "pane-4"}}}])
    with pytest.raises(reading.AnswerInvalidError, match="answered per sequence: level '' is not one of @1, @2, @3"):
        reading.answer_draft_save(read=first, reader=reader, answers=[{"item": "canal_mm", "value": 10}])
    Answer.objects.filter(read=first).delete()
    Study.objects.filter(pk=study.pk).update(status="draft")

    # Running it again with the stored design keeps the rows (same schedule).
    ids = sorted(r.public_id for r in reads)
    schedule_materialize(study=study, design=study.reading_design, actor=coordinator)
    assert sorted(Read.objects.filter(session__study=study).values_list("public_id", flat=True)) == ids
    # A study without per-level items keeps series reads.
    other = make_study(readers=1, cases=2, name="Other", sequences=("SAG T2 FS", "SAG T1"))
    schedule_materialize(study=other, design={"kind": "crossover", "washout_days": 28}, actor=coordinator, start=START)
    other.refresh_from_db()
    assert other.reading_design["case_reads"] is False
    assert not Read.objects.filter(session__study=other, protocol_series__isnull=False).exists()


def test_a_case_read_asks_series_level_items_per_sequence_and_the_tidy_table_splits_them(make_study, coordinator):
    from readerstudy.reading import services as reading
    from readerstudy.reading.export import answers_tidy
    from readerstudy.reading.selectors import missing_answers, read_state

    study = make_study(readers=1, cases=1, sequences=("SAG T2 FS", "AX T2"))
    Item.objects.create(study=study, key="stenosis", label="Stenosis", kind="checklist", levels=["L4-L5", "L5-S1"])
    Item.objects.create(study=study, key="quality", label="Quality", kind="likert", scale_min=1, scale_max=5,
                        anchors={str(p): f"p{p}" for p in range(1, 6)})
    schedule_materialize(study=study, design={"kind": "crossover", "washout_days": 28,
                                              "case_layout": ["SAG T2 FS", "AX T2"]}, actor=coordinator, start=START)
    Study.objects.filter(pk=study.pk).update(status="published")
    read = Read.objects.get(session__study=study, session__index=0)
    reader = read.session.reader
    state = read_state(read)
    assert state["layout"] == "case" and [p["label"] for p in state["panes"]] == ["SAG T2 FS", "AX T2"]
    quality = next(i for i in state["items"] if i["key"] == "quality")
    assert quality["per_sequence"] == [{"level": "@1", "label": "SAG T2 FS"}, {"level": "@2", "label": "AX T2"}]
    assert "per_sequence" not in next(i for i in state["items"] if i["key"] == "stenosis")

    reading.answer_draft_save(read=read, reader=reader, answers=[
        {"item": "quality", "level": "@1", "value": 4},
        {"item": "stenosis", "level": "L4-L5", "value": 1}, {"item": "stenosis", "level": "L5-S1", "value": 0},
    ])
    assert missing_answers(read) == [{"item": "quality", "label": "Quality", "levels": ["@2"], "level_labels": ["AX T2"]}]
    with pytest.raises(reading.AnswersIncompleteError):
        reading.read_submit(read=read, reader=reader, submission_id="sub-000001")
    reading.read_submit(read=read, reader=reader, submission_id="sub-000001",
                        answers=[{"item": "quality", "level": "@2", "value": 2}])
    tidy = answers_tidy(study)
    rows = {(r.item, r.sequence, r.level): r.value for r in tidy.itertuples()}
    assert rows == {
        ("quality", "SAG T2 FS", ""): 4, ("quality", "AX T2", ""): 2,
        ("stenosis", "SAG T2 FS + AX T2", "L4-L5"): 1, ("stenosis", "SAG T2 FS + AX T2", "L5-S1"): 0,
    }
