"""Reads for the coordinator workspace: the setup steps and their state, the publish checklist
(what is missing, with the step that fixes it), the schedule preview, and the running dashboard."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from readerstudy.reading.models import Read, Session
from readerstudy.reading.scheduler import PairRead, build_schedule, design_from_dict
from readerstudy.reading.selectors import session_opening_time, session_state
from readerstudy.studies import services as study_services
from readerstudy.studies.models import Instance, Item, Membership, ReferenceStandard, Series, Study

#: The setup steps in order: (slug, title).
STEPS = [
    ("basics", "Name and description"),
    ("design", "Sequences and arms"),
    ("cases", "Cases and series"),
    ("questionnaire", "Questionnaire"),
    ("reference", "Reference standard"),
    ("readers", "Readers"),
    ("schedule", "Reading design"),
    ("analysis", "Analysis settings"),
    ("publish", "Check and publish"),
]
STEP_TITLES = dict(STEPS)


@dataclass(frozen=True)
class Problem:
    """One thing to fix before publishing (``severity`` "error") or to look at ("warning")."""

    rule: str
    message: str
    step: str
    severity: str = "error"
    anchor: str = ""

    def as_dict(self, study: Study) -> dict[str, Any]:
        url = reverse("workspace:setup", kwargs={"pk": study.pk, "step": self.step})
        return {**asdict(self), "step_title": STEP_TITLES[self.step], "url": url + (f"#{self.anchor}" if self.anchor else "")}


def active_readers(study: Study):
    return Membership.objects.filter(study=study, role=Membership.Role.READER, active=True).select_related("user")


def publish_checklist(study: Study) -> list[Problem]:
    """Every rule a study must pass before it is published, as problems with the step that fixes
    them. Errors block publishing; warnings do not."""
    problems: list[Problem] = []
    sequences = list(study.sequences.all())
    arms = list(study.arms.all())
    cases = list(study.cases.all())
    items = list(study.items.prefetch_related("sequences"))
    if not study.name.strip():
        problems.append(Problem("name", "the study has no name", "basics"))
    if not sequences:
        problems.append(Problem("sequences", "no sequences: add at least one (e.g. SAG T2 FS)", "design"))
    if not arms:
        problems.append(Problem("arms", "no arms: add at least two (e.g. Standard and Fast)", "design"))
    elif len(arms) < 2:
        problems.append(Problem("arms", "only one arm: a reader study compares at least two", "design"))
    if arms and not any(a.is_reference for a in arms):
        problems.append(Problem("reference_arm", "no reference arm: mark the arm the others are compared with", "design"))
    if not cases:
        problems.append(Problem("cases", "no cases: import series or generate them with the recon worker", "cases"))
    elif not any(not c.is_training for c in cases):
        problems.append(Problem("cases", "every case is a training case; the analysis needs study cases", "cases"))

    # Every case has every series the design needs, none empty, same geometry across arms.
    present: dict[tuple[int, int, int], Series] = {}
    for series in Series.objects.filter(case__study=study).annotate(n_files=Count("instances")):
        present[(series.case_id, series.sequence_id, series.arm_id)] = series
        if series.n_files == 0 or series.n_files != series.num_instances:
            problems.append(Problem(
                "series_empty", f"case {series.case.label}, {series.sequence.name}, {series.arm.name}: the series has "
                f"{series.n_files} of {series.num_instances} images", "cases", anchor=f"case-{series.case_id}"))
    for case in cases:
        missing = [f"{s.name} / {a.name}" for s in sequences for a in arms if (case.pk, s.pk, a.pk) not in present]
        if missing:
            problems.append(Problem(
                "series_missing", f"case {case.label} is missing {len(missing)} series: {', '.join(missing)}",
                "cases", anchor=f"case-{case.pk}"))
    for message in study_services.geometry_mismatches(study):
        problems.append(Problem("geometry", message, "cases"))

    # The questionnaire is complete.
    if not items:
        problems.append(Problem("items", "no questionnaire items: start from a template or add items", "questionnaire"))
    else:
        for seq in sequences:
            if not any(not i.sequences.all() or seq in i.sequences.all() for i in items if i.kind != Item.Kind.PREFERENCE):
                problems.append(Problem("items_sequence", f"no item is asked for sequence {seq.name}", "questionnaire"))
        if not any(i.required for i in items):
            problems.append(Problem("items_required", "no item is required: a reader could submit an empty form",
                                    "questionnaire", severity="warning"))
    design = study.reading_design or {}
    has_preference = any(i.kind == Item.Kind.PREFERENCE for i in items)
    if design.get("kind") == "side_by_side" and not has_preference:
        problems.append(Problem("items_preference", "a side-by-side design needs a preference item", "questionnaire"))
    if design and design.get("kind") != "side_by_side" and has_preference:
        problems.append(Problem("items_preference", "preference items are asked only in side-by-side reads; this design "
                                "has none, so they will never be answered", "questionnaire", severity="warning"))

    # Reference standard: findings asked per level without truth (sensitivity needs it).
    findings = {i.key for i in items if i.kind == Item.Kind.CHECKLIST}
    if findings and cases:
        known = set(ReferenceStandard.objects.filter(case__study=study).values_list("finding", flat=True))
        without = sorted(findings - known)
        if without:
            problems.append(Problem("reference", f"no reference standard for {', '.join(without)}; sensitivity and "
                                    "specificity will be skipped", "reference", severity="warning"))

    # Readers and the schedule.
    readers = list(active_readers(study))
    if not readers:
        problems.append(Problem("readers", "no readers: add reader accounts", "readers"))
    elif len(readers) < 2:
        problems.append(Problem("readers", "one reader: agreement between readers needs two or more", "readers",
                                severity="warning"))
    coordinators = set(Membership.objects.filter(study=study, role=Membership.Role.COORDINATOR, active=True)
                       .values_list("user_id", flat=True))
    both = sorted(m.user.username for m in readers if m.user_id in coordinators)
    if both:
        problems.append(Problem("reader_is_coordinator", f"{', '.join(both)} also coordinates this study and would read "
                                "it unblinded; withdraw them as a reader or add a separate reader account", "readers"))
    if not design:
        problems.append(Problem("schedule", "no reading design: choose one, preview it and write the schedule", "schedule"))
    else:
        scheduled = set(Session.objects.filter(study=study).values_list("reader_id", flat=True))
        without = sorted(m.user.username for m in readers if m.user_id not in scheduled)
        if without:
            problems.append(Problem("schedule_readers", f"readers without sessions: {', '.join(without)}; write the "
                                    "schedule again", "schedule"))
        stale = schedule_stale(study)
        if stale:
            problems.append(Problem("schedule_stale", stale, "schedule"))
        withdrawn = Membership.objects.filter(study=study, role=Membership.Role.READER, active=False,
                                              user_id__in=scheduled)
        if withdrawn.exists() and study.status == Study.Status.DRAFT:
            problems.append(Problem("schedule_withdrawn", "the schedule has sessions for withdrawn readers "
                                    f"({', '.join(m.user.username for m in withdrawn)}); write the schedule again",
                                    "schedule"))

    problem = analysis_settings_problem(study)
    if problem:
        problems.append(Problem("analysis_invalid", problem, "analysis"))
    if not study.analysis_settings:
        problems.append(Problem("analysis", "no analysis settings: the defaults will be used (margins per kind, "
                                "case-mean unit, Benjamini–Hochberg)", "analysis", severity="warning"))
    return problems


def schedule_stale(study: Study) -> str:
    """Why the written schedule no longer matches the study (cases, series, arms or readers changed
    since it was written), or "" when writing it again would give the same sessions."""
    from readerstudy.reading import services as reading_services

    design = study.reading_design or {}
    existing = list(Session.objects.filter(study=study).prefetch_related("reads").order_by("reader_id", "index"))
    if not design or not existing:
        return ""
    try:
        wanted = reading_services._series_rows(study, reading_services._schedule_for(study, reading_services._as_design(design)))
    except reading_services.ScheduleError as exc:
        return f"the written schedule cannot be rebuilt: {'; '.join(exc.messages)}"
    key = lambda row: (row[0], row[1])  # noqa: E731
    if sorted(reading_services._existing_rows(existing), key=key) != sorted(wanted, key=key):
        return "the study changed since the schedule was written (cases, series, arms or readers); write it again"
    return ""


def analysis_settings_problem(study: Study) -> str:
    """The analysis engine's complaint about the study's settings (as the report would build them,
    with every item answered), or "" when they parse."""
    if not study.analysis_settings:
        return ""
    import pandas as pd

    from readerstudy.analysis.config import parse_config
    from readerstudy.reports.selectors import study_analysis_config

    answers = pd.DataFrame({"item": list(study.items.values_list("key", flat=True))})
    try:
        parse_config(study_analysis_config(study, answers))
    except (TypeError, ValueError, KeyError) as exc:
        return f"the analysis settings are invalid: {exc}"
    return ""


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


# --- schedule preview ---------------------------------------------------------------------------


def schedule_preview(study: Study, design_data: dict[str, Any]) -> dict[str, Any]:
    """What :func:`reading.services.schedule_materialize` would write, per reader, without writing:
    sessions, reads, counts per arm, and when each session opens. Raises ValueError/TypeError with
    the scheduler's message for an impossible design."""
    design = design_from_dict(design_data)
    readers = {m.user_id: m.user.username for m in active_readers(study)}
    cases = list(study.cases.filter(is_training=False).values_list("label", flat=True))
    training = list(study.cases.filter(is_training=True).values_list("label", flat=True))
    sequences = list(study.sequences.values_list("name", flat=True))
    arms = list(study.arms.values_list("name", flat=True))
    for what, values in (("active readers", readers), ("cases", cases), ("sequences", sequences), ("arms", arms)):
        if not values:
            raise ValueError(f"the study has no {what} yet")
    schedule = build_schedule(study.seed, design, list(readers), cases, sequences, arms, training_cases=training)
    out = []
    for reader_id, username in sorted(readers.items(), key=lambda kv: kv[1]):
        sessions = []
        for session in schedule.for_reader(reader_id):
            per_arm: Counter = Counter()
            for read in session.reads:
                per_arm["|".join(map(str, (read.left_arm, read.right_arm))) if isinstance(read, PairRead) else str(read.arm)] += 1
            if session.index == 0:
                opens = "when the study is published"
            elif session.washout_days:
                opens = f"{session.washout_days} days after session {session.index} is finished"
            else:
                opens = f"as soon as session {session.index} is finished"
            sessions.append({
                "number": session.index + 1, "is_training": session.is_training, "reads": len(session.reads),
                "per_arm": dict(sorted(per_arm.items())), "washout_days": session.washout_days, "opens": opens,
            })
        out.append({"reader": username, "sessions": sessions, "reads": sum(s["reads"] for s in sessions)})
    return {"design": design.to_dict(), "seed": study.seed, "readers": out}


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
            | Q(object_type="reading.answer", object_id__in=[str(p) for p in answers])
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
            | Q(object_type="reading.answer", object_id__in=[str(p) for p in answer_ids])
        )
    return events[:limit]


def instances_count(study: Study) -> int:
    return Instance.objects.filter(series__case__study=study).count()
