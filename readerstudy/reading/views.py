"""Reading pages: the reader's worklist and reading page, the coordinator's progress table with
the opening-date override, and the tidy answers download.

Thin views (STYLE.md): parse, check permission, call one service or selector, render. A read the
reader may not work on now is a 404, the same as an id that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated

from readerstudy.studies.selectors import studies_coordinated_by

from . import services
from .export import answers_csv
from .models import Read, Session
from .selectors import (
    form_layout, read_state, reader_notices, reader_worklist, session_is_open, session_opening_time, session_state,
    sessions_with_progress,
)


@login_required
def worklist(request):
    finished = request.GET.get("finished", "")
    return render(request, "reading/worklist.html", {
        "rows": reader_worklist(request.user),
        "notices": reader_notices(request.user),
        "finished": int(finished) if finished.isdigit() else None,
    })


@login_required
def session_continue(request, public_id: str):
    """Go to the first unsubmitted read of an open session (the worklist's link)."""
    session = get_object_or_404(Session, public_id=public_id, reader=request.user, study__status="published")
    if session.completed_at is not None:
        messages.info(request, f"Session {session.index + 1} is finished.")
        return redirect("reading-worklist")
    if not session_is_open(session):
        opening = session_opening_time(session)
        when = f"on {opening:%Y-%m-%d %H:%M} UTC" if opening else "after the previous session and its washout"
        messages.info(request, f"Session {session.index + 1} is not open yet: it opens {when}.")
        return redirect("reading-worklist")
    read = session.reads.filter(submitted_at__isnull=True).order_by("position").first()
    if read is None:
        return redirect("reading-worklist")
    return redirect("reading-read", public_id=read.public_id)


@login_required
def read_page(request, public_id: str):
    read = get_object_or_404(
        Read.objects.select_related("session__study", "series__arm", "series__sequence", "series_right__arm"),
        public_id=public_id, session__reader=request.user,
    )
    try:
        services.check_read_access(read, request.user)
    except services.ReadAccessError as exc:
        # The reader's own read, closed to them now (study locked, reader withdrawn, session not
        # open or finished): say why, plainly. Someone else's read stays a 404 above.
        return render(request, "reading/closed.html", {"reason": exc.messages[0]}, status=403)
    state = read_state(read)
    return render(request, "reading/read.html", {"state": state, "read": read, "form": form_layout(state["items"])})


# --- coordinator --------------------------------------------------------------------------------


@login_required
def study_progress(request, study_pk: int):
    """Every reader's progress per session, with the override form."""
    study = get_object_or_404(studies_coordinated_by(request.user), pk=study_pk)
    now = timezone.now()
    sessions = sessions_with_progress(
        Session.objects.filter(study=study).select_related("reader").order_by("reader__username", "index")
    ).annotate(seconds=Sum("reads__active_seconds", filter=Q(reads__submitted_at__isnull=False)))
    by_reader: dict[str, list[dict]] = defaultdict(list)
    for s in sessions:
        by_reader[s.reader.username].append({
            "session": s, "state": session_state(s, now), "opens_at": session_opening_time(s),
            "total": s.reads_total, "done": s.reads_done, "minutes": round((s.seconds or 0) / 60, 1),
        })
    return render(request, "reading/progress.html", {"study": study, "readers": dict(by_reader), "now": now})


@login_required
@require_POST
def session_override(request, public_id: str):
    session = get_object_or_404(Session.objects.select_related("study"), public_id=public_id)
    if not studies_coordinated_by(request.user).filter(pk=session.study_id).exists():
        raise Http404("no such session")
    raw = request.POST.get("opens_at", "").strip()
    opens_at = None
    if raw:
        try:
            opens_at = dt.datetime.fromisoformat(raw)
        except ValueError:
            messages.error(request, f"'{raw}' is not a date and time (YYYY-MM-DDTHH:MM).")
            return redirect("reading-study-progress", study_pk=session.study_id)
        if timezone.is_naive(opens_at):
            opens_at = timezone.make_aware(opens_at, timezone.get_current_timezone())
    try:
        services.session_override_opening(
            session=session, opens_at=opens_at, reason=request.POST.get("reason", ""), actor=request.user
        )
    except services.ReadingError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        when = f"{opens_at:%Y-%m-%d %H:%M %Z}" if opens_at else "its schedule (override removed)"
        messages.success(request, f"{session.reader} session {session.index + 1} now opens {when}.")
    return redirect("reading-study-progress", study_pk=session.study_id)


@extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR}, summary="Tidy answers table (CSV)")
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def answers_export(request, study_pk: int):
    """The tidy answers table as CSV (coordinators of the study only). A DRF view, so that scripts
    can fetch it with an API token (``Authorization: Token ...``) as well as the browser session."""
    study = get_object_or_404(studies_coordinated_by(request.user), pk=study_pk)
    response = HttpResponse(answers_csv(study), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="answers-study-{study.pk}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
