"""Reading's rules of the publish checklist (``studies.selectors.publish_checklist`` discovers this
module): every active reader has sessions, the written schedule still matches the study, and no
withdrawn reader keeps sessions of a draft."""

from __future__ import annotations

from collections.abc import Iterable

from readerstudy.studies.models import Membership, Study
from readerstudy.studies.selectors import Problem, active_readers, publish_rule

from . import services
from .models import Session


def schedule_stale(study: Study) -> str:
    """Why the written schedule no longer matches the study (cases, series, arms or readers changed
    since it was written), or "" when writing it again would give the same sessions."""
    design = study.reading_design or {}
    existing = list(Session.objects.filter(study=study).prefetch_related("reads").order_by("reader_id", "index"))
    if not design or not existing:
        return ""
    try:
        wanted = services._series_rows(study, services._schedule_for(study, services._as_design(design)))
    except services.ScheduleError as exc:
        return f"the written schedule cannot be rebuilt: {'; '.join(exc.messages)}"
    key = lambda row: (row[0], row[1])  # noqa: E731
    if sorted(services._existing_rows(existing), key=key) != sorted(wanted, key=key):
        return "the study changed since the schedule was written (cases, series, arms or readers); write it again"
    return ""


@publish_rule(75)
def written_schedule(study: Study) -> Iterable[Problem]:
    if not study.reading_design:
        return
    scheduled = set(Session.objects.filter(study=study).values_list("reader_id", flat=True))
    without = sorted(m.user.username for m in active_readers(study) if m.user_id not in scheduled)
    if without:
        yield Problem("schedule_readers", f"readers without sessions: {', '.join(without)}; write the "
                      "schedule again", "schedule")
    stale = schedule_stale(study)
    if stale:
        yield Problem("schedule_stale", stale, "schedule")
    withdrawn = Membership.objects.filter(study=study, role=Membership.Role.READER, active=False,
                                          user_id__in=scheduled).select_related("user")
    if withdrawn.exists() and study.status == Study.Status.DRAFT:
        yield Problem("schedule_withdrawn", "the schedule has sessions for withdrawn readers "
                      f"({', '.join(m.user.username for m in withdrawn)}); write the schedule again", "schedule")
