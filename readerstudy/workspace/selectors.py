"""Reads for the coordinator workspace: the setup steps and their state (from the one publish
checklist, ``studies.selectors.publish_checklist``) and the running dashboard."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from readerstudy.reading.models import Read, Session
from readerstudy.reading.selectors import session_is_open, session_opening_time, session_state
from readerstudy.studies.models import Instance, Membership, Series, Study
from readerstudy.studies.selectors import CHECKLIST_STEP_TITLES, CHECKLIST_STEPS, Problem

#: The setup steps in order: (slug, title); the publish checklist's steps.
STEPS = CHECKLIST_STEPS
STEP_TITLES = CHECKLIST_STEP_TITLES


def problem_as_dict(problem: Problem, study: Study) -> dict[str, Any]:
    """A checklist problem with the link to the setup step (and the row) that fixes it."""
    url = reverse("workspace:setup", kwargs={"pk": study.pk, "step": problem.step})
    return {**problem.as_dict(), "url": url + (f"#{problem.anchor}" if problem.anchor else "")}


def step_states(study: Study, problems: list[Problem]) -> list[dict[str, Any]]:
    errors = Counter(p.step for p in problems if p.severity == "error")
    warnings = Counter(p.step for p in problems if p.severity == "warning")
    # The last step gathers everything: it is done only when the whole study is.
    errors["publish"] = sum(errors.values())
    warnings["publish"] = sum(warnings.values())
    return [
        {"slug": slug, "title": title, "errors": errors[slug], "warnings": warnings[slug],
         "url": reverse("workspace:setup", kwargs={"pk": study.pk, "step": slug})}
        for slug, title in STEPS
    ]


# --- dashboard ----------------------------------------------------------------------------------


def _state(session: Session, now: dt.datetime) -> str:
    return session_state(session, now)


def dashboard(study: Study, *, now: dt.datetime | None = None, soon_days: int = 7) -> dict[str, Any]:
    """Progress per reader and session, sessions opening soon, reads in progress, time per read."""
    now = now or timezone.now()
    sessions = list(
        Session.objects.filter(study=study).select_related("reader")
        .annotate(total=Count("reads"), done=Count("reads", filter=Q(reads__submitted_at__isnull=False)),
                  seconds=Sum("reads__active_seconds", filter=Q(reads__submitted_at__isnull=False)))
        .order_by("reader__username", "index")
    )
    members = {m.user_id: m for m in Membership.objects.filter(study=study, role=Membership.Role.READER).select_related("user")}
    by_reader: dict[int, dict[str, Any]] = {}
    soon = []
    for s in sessions:
        opening = session_opening_time(s)
        state = _state(s, now)
        row = {"session": s, "state": state, "opens_at": opening, "total": s.total, "done": s.done,
               "seconds_per_read": round((s.seconds or 0) / s.done, 1) if s.done else None}
        member = members.get(s.reader_id)
        entry = by_reader.setdefault(s.reader_id, {"username": s.reader.username, "membership": member,
                                                   "active": bool(member and member.active), "rows": [],
                                                   "total": 0, "done": 0})
        entry["rows"].append(row)
        entry["total"] += s.total
        entry["done"] += s.done
        if state == "locked" and opening is not None and opening <= now + dt.timedelta(days=soon_days):
            soon.append(row)
        elif state == "locked" and opening is None:
            pass
    for user_id, member in members.items():
        if user_id not in by_reader:
            by_reader[user_id] = {"username": member.user.username, "membership": member, "active": member.active,
                                  "rows": [], "total": 0, "done": 0}
    in_progress = list(
        Read.objects.filter(session__study=study, started_at__isnull=False, submitted_at__isnull=True)
        .select_related("session__reader").order_by("started_at")
    )
    submitted = list(
        Read.objects.filter(session__study=study, submitted_at__isnull=False)
        .select_related("session__reader", "series__case").order_by("-submitted_at")[:50]
    )
    seconds = [r.active_seconds for r in Read.objects.filter(session__study=study, submitted_at__isnull=False).only("active_seconds")]
    return {
        "readers": sorted(by_reader.values(), key=lambda e: e["username"]),
        "soon": sorted(soon, key=lambda r: r["opens_at"]),
        "in_progress": in_progress,
        "submitted": submitted,
        "median_seconds": round(sorted(seconds)[len(seconds) // 2], 1) if seconds else None,
        "reads_total": sum(s.total for s in sessions),
        "reads_done": sum(s.done for s in sessions),
        "now": now,
    }


def audit_events(study: Study, *, reader: str = "", case: str = "", limit: int = 200):
    """The study's audit log, newest first, filtered by a reader (their actions and the events about
    their sessions, reads and membership) or a case (its rows, series, reads and answers)."""
    events = study.audit_events.select_related("actor")
    if reader:
        sessions = list(Session.objects.filter(study=study, reader__username=reader).values_list("pk", flat=True))
        reads = list(Read.objects.filter(session_id__in=sessions).values_list("pk", flat=True))
        memberships = list(Membership.objects.filter(study=study, user__username=reader).values_list("pk", flat=True))
        from readerstudy.reading.models import Answer

        answers = list(Answer.objects.filter(read_id__in=reads).values_list("pk", flat=True))
        events = events.filter(
            Q(actor__username=reader)
            | Q(object_type="reading.session", object_id__in=[str(p) for p in sessions])
            | Q(object_type="reading.read", object_id__in=[str(p) for p in reads])
            | Q(object_type="studies.membership", object_id__in=[str(p) for p in memberships])
            | Q(object_type="reading.answers", object_id__in=[str(p) for p in reads])  # one event per save
            | Q(object_type="reading.answer", object_id__in=[str(p) for p in answers])  # logs written before that
        )
    if case:
        series = list(Series.objects.filter(case__study=study, case__label=case).values_list("pk", flat=True))
        case_ids = list(study.cases.filter(label=case).values_list("pk", flat=True))
        reads = list(Read.objects.filter(Q(series_id__in=series) | Q(series_right_id__in=series)).values_list("pk", flat=True))
        from readerstudy.reading.models import Answer

        answer_ids = list(Answer.objects.filter(read_id__in=reads).values_list("pk", flat=True))
        events = events.filter(
            Q(object_type="studies.case", object_id__in=[str(p) for p in case_ids])
            | Q(object_type="studies.series", object_id__in=[str(p) for p in series])
            | Q(object_type="reading.read", object_id__in=[str(p) for p in reads])
            | Q(object_type="reading.answers", object_id__in=[str(p) for p in reads])
            | Q(object_type="reading.answer", object_id__in=[str(p) for p in answer_ids])
        )
    return events[:limit]


def instances_count(study: Study) -> int:
    return Instance.objects.filter(series__case__study=study).count()
