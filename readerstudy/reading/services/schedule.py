"""Writes of the reading area. Each is keyword-only, validated and atomic; the audit log records
every row it creates, changes or deletes (``studies.audit``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from readerstudy.studies import audit
import dataclasses

from readerstudy.studies.models import Case, Item, Membership, Series, Study

from ..models import Read, ReadSeries, Session
from ..scheduler import CaseRead, Design, PairRead, Schedule, build_schedule, design_from_dict


class ScheduleError(ValidationError):
    """The study's schedule cannot be built or written."""


class ScheduleStartedError(ScheduleError):
    """Reading has started; replacing the schedule would lose or orphan a reader's work."""


def _as_design(design: Design | dict[str, Any]) -> Design:
    if isinstance(design, Design):
        return design
    try:
        return design_from_dict(design)
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"invalid reading design: {exc}") from exc


def design_resolve(*, study: Study, design: Design | dict[str, Any]) -> Design:
    """The design as :func:`schedule_materialize` will use it for ``study``: parsed, with
    ``case_reads=None`` decided (see ``_resolve_case_reads``). For previews of the schedule."""
    return _resolve_case_reads(study, _as_design(design))


def _resolve_case_reads(study: Study, design: Design) -> Design:
    """``case_reads=None`` ("decide for me"): case reads with a hanging protocol when the
    questionnaire asks per-level pathology (checklist items) and the design shows more than one
    sequence, as radiologists grade them on the sagittals and axials of a case together."""
    if design.case_reads is not None or design.KIND == "side_by_side" or getattr(design, "session_per_sequence", False):
        return design if design.case_reads is not None else dataclasses.replace(design, case_reads=False)
    sequences = design.sequences or tuple(study.sequences.values_list("name", flat=True))
    per_level = Item.objects.filter(study=study, kind=Item.Kind.CHECKLIST).exists()
    return dataclasses.replace(design, case_reads=bool(per_level and len(sequences) > 1))


def _schedule_for(study: Study, design: Design) -> Schedule:
    design = _resolve_case_reads(study, design)
    readers = list(
        Membership.objects.filter(study=study, role=Membership.Role.READER, active=True).values_list(
            "user_id", flat=True
        )
    )
    cases = list(Case.objects.filter(study=study, is_training=False).values_list("label", flat=True))
    training_cases = list(Case.objects.filter(study=study, is_training=True).values_list("label", flat=True))
    sequences = list(study.sequences.values_list("name", flat=True))
    arms = list(study.arms.values_list("name", flat=True))
    for what, values in (("active readers", readers), ("cases", cases), ("sequences", sequences), ("arms", arms)):
        if not values:
            raise ScheduleError(f"cannot schedule study '{study.name}': it has no {what}")
    try:
        return build_schedule(study.seed, design, readers, cases, sequences, arms, training_cases=training_cases)
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"cannot schedule study '{study.name}': {exc}") from exc


def _series_rows(study: Study, schedule: Schedule) -> list[tuple[int, int, bool, int, list[tuple]]]:
    """Each session as (reader, index, is_training, washout_days, [(series_id, series_right_id,
    protocol_series_ids), ...]); ``protocol_series_ids`` is the case read's series in pane order
    (empty for series reads and pairs)."""
    by_key = {
        (case, sequence, arm): pk
        for pk, case, sequence, arm in Series.objects.filter(case__study=study).values_list(
            "pk", "case__label", "sequence__name", "arm__name"
        )
    }
    missing: set[tuple] = set()

    def series_id(case, sequence, arm) -> int | None:
        pk = by_key.get((case, sequence, arm))
        if pk is None:
            missing.add((case, sequence, arm))
        return pk

    rows = []
    for session in schedule.sessions:
        reads = []
        for read in session.reads:
            if isinstance(read, PairRead):
                reads.append(
                    (
                        series_id(read.case, read.sequence, read.left_arm),
                        series_id(read.case, read.sequence, read.right_arm),
                        (),
                    )
                )
            elif isinstance(read, CaseRead):
                panes = tuple(series_id(read.case, sequence, read.arm) for sequence in read.sequences)
                reads.append((panes[0], None, panes))
            else:
                reads.append((series_id(read.case, read.sequence, read.arm), None, ()))
        rows.append((session.reader, session.index, session.is_training, session.washout_days, reads))
    if missing:
        names = [f"case {c}, sequence {s}, arm {a}" for c, s, a in sorted(missing, key=str)]
        shown = "; ".join(names[:10]) + (f"; and {len(names) - 10} more" if len(names) > 10 else "")
        raise ScheduleError(
            f"cannot schedule study '{study.name}': the design needs {len(names)} series that do not exist: {shown}"
        )
    return rows


def _existing_rows(sessions: list[Session]) -> list[tuple[int, int, bool, int, list[tuple[int, int | None]]]]:
    return [
        (
            s.reader_id,
            s.index,
            s.is_training,
            s.washout_days,
            [
                (r.series_id, r.series_right_id,
                 tuple(p.series_id for p in sorted(r.protocol_series.all(), key=lambda p: p.position)))
                for r in sorted(s.reads.all(), key=lambda r: r.position)
            ],
        )
        for s in sessions
    ]


def _refuse_if_started(study: Study) -> None:
    started = (
        Read.objects.filter(session__study=study)
        .filter(Q(started_at__isnull=False) | Q(submitted_at__isnull=False) | Q(answers__isnull=False))
        .select_related("session__reader")
        .first()
    )
    if started is not None:
        raise ScheduleStartedError(
            f"cannot replace the schedule of study '{study.name}': reading has started "
            f"({started.session.reader} session {started.session.index + 1}, read {started.position + 1})"
        )
    finished = Session.objects.filter(study=study, completed_at__isnull=False).select_related("reader").first()
    if finished is not None:
        raise ScheduleStartedError(
            f"cannot replace the schedule of study '{study.name}': {finished} is already finished"
        )
    overridden = Session.objects.filter(study=study, opens_at_override__isnull=False).select_related("reader").first()
    if overridden is not None:
        raise ScheduleStartedError(
            f"cannot replace the schedule of study '{study.name}': {overridden} has a coordinator's opening-date "
            "override that a new schedule would drop; remove the override first"
        )


def schedule_materialize(
    *, study: Study, design: Design | dict[str, Any], actor, start: dt.datetime | None = None
) -> list[Session]:
    """Build the study's reading schedule and write it as Session and Read rows, in one transaction.

    The schedule is :func:`~readerstudy.reading.scheduler.build_schedule` of the study seed, its active
    readers (user ids), cases (labels; training cases apart), sequences and arms (names). The first
    session of each reader opens at ``start`` (default now); later sessions have no date and carry
    ``washout_days``: they open that long after the reader finishes the previous one (see
    ``selectors.session_opening_time``). The design is stored in ``study.reading_design``.

    Running it again is safe while no reading has started. If the new schedule equals the stored
    one, the rows are kept as they are (their public ids stay valid); only the first sessions'
    opening is moved when ``start`` is given. Otherwise the old sessions and reads are replaced.

    Parameters
    ----------
    study : Study
        The study; not locked.
    design : Design or dict
        A scheduler design, or its ``to_dict()`` form (as stored in ``Study.reading_design``).
    actor : User
        Who asked; audit events are attributed to them.
    start : datetime, optional
        Timezone-aware opening of every reader's first session. Default: now.

    Returns
    -------
    list of Session
        The study's sessions, ordered by reader and index.

    Raises
    ------
    ScheduleError
        Invalid or impossible design, a study without readers, cases, sequences or arms, a locked
        study, or a series the design needs that does not exist (named in the message).
    ScheduleStartedError
        The study has sessions whose reading has started (a read opened, submitted or answered, a
        session finished) or that carry an opening-date override.
    """
    design = _as_design(design)
    design = _resolve_case_reads(study, design)
    caller_study = study
    if start is not None and timezone.is_naive(start):
        raise ScheduleError("start must be timezone-aware")
    with audit.acting_as(actor, reason="reading schedule materialized"), transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.status == Study.Status.LOCKED:
            raise ScheduleError(f"cannot schedule study '{study.name}': it is locked")
        schedule = _schedule_for(study, design)
        wanted = _series_rows(study, schedule)

        existing = list(
            Session.objects.filter(study=study).prefetch_related("reads__protocol_series").order_by("reader_id", "index")
        )
        key = lambda row: (row[0], row[1])  # noqa: E731 - sort key used twice
        unchanged = (
            existing
            and sorted(_existing_rows(existing), key=key) == sorted(wanted, key=key)
            and all(s.opens_at is None for s in existing if s.index > 0)
        )
        if unchanged:
            if start is not None:
                for session in existing:
                    if session.index == 0 and session.opens_at != start:
                        session.opens_at = start
                        session.full_clean()
                        session.save(update_fields=["opens_at"])
            sessions = existing
        else:
            if existing:
                _refuse_if_started(study)
                Read.objects.filter(session__study=study).delete()
                Session.objects.filter(study=study).delete()
            sessions = _write(study, wanted, start or timezone.now())

        stored = design.to_dict()
        if study.reading_design != stored:
            study.reading_design = stored
            study.full_clean()
            study.save(update_fields=["reading_design"])
        audit.record(
            action="event",
            obj=study,
            summary=(
                f"reading schedule {'kept' if unchanged else 'written'}: {design.KIND}, "
                f"{len(sessions)} sessions, {sum(len(row[4]) for row in wanted)} reads"
            ),
            changes={"design": stored, "seed": study.seed},
            actor=actor,
        )
    caller_study.reading_design = study.reading_design
    return sorted(sessions, key=lambda s: (s.reader_id, s.index))


def _write(study: Study, wanted, start: dt.datetime) -> list[Session]:
    sessions = []
    for reader_id, index, is_training, washout_days, reads in sorted(wanted, key=lambda row: (row[0], row[1])):
        session = Session(
            study=study,
            reader_id=reader_id,
            index=index,
            is_training=is_training,
            opens_at=start if index == 0 else None,
            washout_days=washout_days,
        )
        session.full_clean()
        session.save()
        for position, (series_id, series_right_id, panes) in enumerate(reads):
            read = Read(session=session, position=position, series_id=series_id, series_right_id=series_right_id)
            # The session and series were just written or read in this transaction, positions are
            # unique by construction and the pair arms distinct; skipping the per-row lookups and
            # constraint queries keeps a paper-sized study (800+ reads) to a few seconds. The
            # database constraints still hold the line.
            read.full_clean(
                exclude=["session", "series", "series_right"], validate_unique=False, validate_constraints=False
            )
            read.save()
            if panes:
                ReadSeries.objects.bulk_create(
                    [ReadSeries(read=read, series_id=pk, position=i) for i, pk in enumerate(panes)]
                )
        sessions.append(session)
    return sessions
