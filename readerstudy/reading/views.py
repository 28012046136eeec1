"""Reading pages: the reader's worklist and reading page, and the tidy answers download (the
coordinator's progress and opening-date overrides live in the workspace dashboard).

Thin views (STYLE.md): parse, check permission, call one service or selector, render. A read the
reader may not work on now is a 404, the same as an id that does not exist.
"""

from __future__ import annotations


from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated

from readerstudy.studies.selectors import studies_coordinated_by

from . import services
from .export import answers_csv
from .models import Read, Session
from .selectors import (
    form_layout, read_state, reader_notices, reader_worklist, session_is_open, session_opening_time,
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
    """The former progress page: the workspace's dashboard shows every reader's progress and
    overrides opening dates through the sessions API (404 for anyone who does not coordinate)."""
    study = get_object_or_404(studies_coordinated_by(request.user), pk=study_pk)
    return redirect("workspace:dashboard", pk=study.pk)


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
