"""Coordinator pages of the report: the study's report page, "generate", and downloads.

Only coordinators of the study see anything: for everyone else the study answers 404, as a
missing one would.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from readerstudy.studies.selectors import studies_coordinated_by

from . import selectors, services
from .models import Report
from .render import CONTENT_TYPES, FORMATS


def _study(request, study_pk: int):
    return get_object_or_404(studies_coordinated_by(request.user), pk=study_pk)


def download_urls(report: Report) -> dict[str, str]:
    return {fmt: reverse("reports:download", args=[report.study_id, report.public_id, fmt])
            for fmt in FORMATS if (report.files or {}).get(fmt)}


def _page(request, study, *, problem: str = "", status: int = 200):
    reports = list(selectors.reports_of(study)[:10])
    latest = reports[0] if reports else None
    return render(request, "reports/study_report.html", {
        "study": study, "report": latest, "reports": reports, "problem": problem,
        "downloads": download_urls(latest) if latest else {},
        "working": latest is not None and latest.state in (Report.State.QUEUED, Report.State.RUNNING),
    }, status=status)


@login_required
def report_page(request, study_pk: int):
    return _page(request, _study(request, study_pk))


@login_required
@require_POST
def report_generate(request, study_pk: int):
    study = _study(request, study_pk)
    try:
        services.report_request(study=study, actor=request.user)
    except ValidationError as exc:
        return _page(request, study, problem=" ".join(exc.messages), status=400)
    return redirect("reports:page", study_pk=study.pk)


@xframe_options_sameorigin  # the report page shows the HTML in a frame
@login_required
def report_download(request, study_pk: int, public_id: str, fmt: str):
    study = _study(request, study_pk)
    report = get_object_or_404(Report, study=study, public_id=public_id)
    if fmt not in FORMATS:
        raise Http404("unknown format")
    path = services.report_file(report, fmt)
    if path is None:
        raise Http404("this report has no such file (yet)")
    name = f"report_{study.pk}_{report.public_id[:8]}.{fmt}"
    return FileResponse(path.open("rb"), as_attachment=fmt != "html", filename=name, content_type=CONTENT_TYPES[fmt])
