"""Server-rendered pages. The coordinator's full workspace is its own issue; these pages
show a coordinator their studies with cases and series, and a reader their worklist."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from readerstudy.reading.models import Session
from readerstudy.reading.selectors import session_is_open, session_opening_time

from . import selectors, services
from .models import Series


@login_required
def home(request):
    coordinated = selectors.studies_coordinated_by(request.user)
    now = timezone.now()
    sessions = []
    for session in (
        Session.objects.filter(reader=request.user, study__in=selectors.studies_read_by(request.user), study__status="published")
        .select_related("study")
        .order_by("study__name", "index")
    ):
        if session.completed_at:
            state = "done"
        elif session_is_open(session, now):
            state = "open"
        else:
            state = "locked"
        total = session.reads.count()
        done = session.reads.filter(submitted_at__isnull=False).count()
        sessions.append({"session": session, "state": state, "opens_at": session_opening_time(session), "total": total, "done": done})
    return render(request, "studies/home.html", {"studies": coordinated, "sessions": sessions})


@login_required
def study_detail(request, pk: int):
    study = get_object_or_404(selectors.studies_coordinated_by(request.user), pk=pk)
    sequences = list(study.sequences.all())
    arms = list(study.arms.all())
    grid: dict[int, dict[tuple[int, int], Series]] = defaultdict(dict)
    for series in Series.objects.filter(case__study=study).select_related("case"):
        grid[series.case_id][(series.sequence_id, series.arm_id)] = series
    rows = []
    for case in study.cases.all():
        cells = [grid[case.pk].get((seq.pk, arm.pk)) for seq in sequences for arm in arms]
        rows.append({"case": case, "cells": cells})
    return render(
        request,
        "studies/study_detail.html",
        {
            "study": study,
            "sequences": sequences,
            "arms": arms,
            "rows": rows,
            "items": study.items.all(),
            "overview": selectors.study_overview(study),
            "problems": services.study_publish_problems(study=study) if study.status == "draft" else [],
            "members": study.memberships.select_related("user").order_by("role", "user__username"),
            "audit": study.audit_events.select_related("actor")[:20],
        },
    )
