"""Coordinator workspace pages: set up a study step by step, check and publish it, watch it run,
lock it and take the exports away.

Pages only read (selectors) and render; every change is made by ``static/workspace/workspace.js`` (source: ``frontend/src/workspace/``)
through the REST API, the same endpoints scripts use. Every page answers 404 to anyone who does not
coordinate the study, the same as for a study that does not exist.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.http.response import HttpResponseRedirectBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables

from readerstudy.reading.selectors import form_definition, form_layout, viewer_settings
from readerstudy.reading.services.viewer import MAX_PRESETS
from readerstudy.studies import login_links, services as study_services
from readerstudy.studies.models import ImportJob, Invitation, Item, Membership, ReferenceStandard, Series, Study
from readerstudy.studies.selectors import publish_checklist, studies_coordinated_by

from . import selectors


def _study(request, pk: int) -> Study:
    return get_object_or_404(studies_coordinated_by(request.user), pk=pk)


def _recon_info():
    """Protocol sets and the arms the recon worker can make (for the generate form)."""
    try:
        from recon.models import ReconJob
        from recon.pipeline import available_arms
        from recon.protocols import DEFAULT_PROTOCOL_SET, load_protocols, protocol_set
    except ImportError:  # the recon worker is optional in a deployment that only imports
        return None
    try:
        sets = sorted({key[0] for key in load_protocols()})
        return {"sets": sets, "default": DEFAULT_PROTOCOL_SET,
                "arms": [a for a in available_arms(protocol_set(DEFAULT_PROTOCOL_SET)[0]) if a != "Truth"],
                "sequences": [p.name for p in protocol_set(DEFAULT_PROTOCOL_SET)], "job_model": ReconJob}
    except Exception:  # noqa: BLE001 - a broken protocols file must not take the page down
        return None


@login_required
def index(request):
    studies = studies_coordinated_by(request.user).order_by("-created_at")
    return render(request, "workspace/index.html", {"studies": studies})


@login_required
def study_home(request, pk: int):
    study = _study(request, pk)
    if study.status == Study.Status.DRAFT:
        return redirect("workspace:setup", pk=pk, step="basics")
    if study.status == Study.Status.PUBLISHED:
        return redirect("workspace:dashboard", pk=pk)
    return redirect("workspace:close", pk=pk)


@login_required
def setup(request, pk: int, step: str):
    study = _study(request, pk)
    if step not in selectors.STEP_TITLES:
        raise Http404("no such step")
    problems = publish_checklist(study)
    steps = selectors.step_states(study, problems)
    index = [s["slug"] for s in steps].index(step)
    context = {
        "study": study, "section": "setup", "step": step, "step_title": selectors.STEP_TITLES[step], "steps": steps,
        "previous": steps[index - 1] if index else None, "next": steps[index + 1] if index + 1 < len(steps) else None,
        "editable": study.status == Study.Status.DRAFT,
        "step_problems": [selectors.problem_as_dict(p, study) for p in problems if p.step == step],
        "sequences": list(study.sequences.all()), "arms": list(study.arms.all()),
    }
    if step == "cases":
        series = {}
        for s in Series.objects.filter(case__study=study).select_related("sequence", "arm"):
            series[(s.case_id, s.sequence_id, s.arm_id)] = s
        context["rows"] = [
            {"case": c, "cells": [series.get((c.pk, q.pk, a.pk)) for q in context["sequences"] for a in context["arms"]]}
            for c in study.cases.all()
        ]
        context["imports"] = ImportJob.objects.filter(study=study).order_by("-created_at")[:5]
        context["import_roots"] = [str(r) for r in getattr(settings, "IMPORT_FOLDER_ROOTS", [])]
        recon = _recon_info()
        context["recon"] = recon
        context["recon_jobs"] = recon["job_model"].objects.filter(study=study)[:5] if recon else []
    elif step == "questionnaire":
        context["items"] = list(study.items.prefetch_related("sequences"))
        context["templates"] = study_services.questionnaire_templates()
        context["kinds"] = Item.Kind.choices
        # The window presets readers are offered (PUT /api/studies/<id>/viewer-settings/): the saved
        # ones and a few empty rows to add more.
        viewer = viewer_settings(study.pk)
        presets = viewer["presets"]
        empty_rows = min(MAX_PRESETS - len(presets), max(3, 4 - len(presets)))
        context["viewer"] = viewer
        context["preset_rows"] = list(presets) + [None] * max(0, empty_rows)
        context["max_presets"] = MAX_PRESETS
    elif step == "reference":
        context["reference"] = ReferenceStandard.objects.filter(case__study=study).select_related("case")
        context["findings"] = list(study.items.filter(kind=Item.Kind.CHECKLIST).values_list("key", flat=True))
    elif step == "readers":
        context["members"] = Membership.objects.filter(study=study).select_related("user").order_by("role", "user__username")
        context["invitation_days"] = getattr(settings, "INVITATION_TTL_DAYS", 7)
        context["invitations"] = list(Invitation.objects.filter(study=study).order_by("-created_at", "-id")[:100])
    elif step == "schedule":
        context["design"] = study.reading_design or {}
        context["sessions_written"] = study.sessions.count()
    elif step == "analysis":
        context["analysis"] = study.analysis_settings or {}
        given = context["analysis"].get("items") or {}
        context["items"] = [
            {"item": it, "margin": (given.get(it.key) or {}).get("margin"),
             "direction": (given.get(it.key) or {}).get("direction", "")}
            for it in study.items.all()
        ]
    elif step == "publish":
        context["problems"] = [selectors.problem_as_dict(p, study) for p in problems]
        context["ready"] = not any(p.severity == "error" for p in problems)
    return render(request, "workspace/setup.html", context)


@login_required
def questionnaire_preview(request, pk: int):
    """The form exactly as a reader sees it beside the image (same definition and layout)."""
    study = _study(request, pk)
    items = list(study.items.exclude(kind=Item.Kind.PREFERENCE)) if request.GET.get("layout") != "pair" else list(study.items.all())
    return render(request, "workspace/preview.html", {
        "study": study, "form": form_layout(form_definition(items)), "pair": request.GET.get("layout") == "pair"})


@login_required
def dashboard(request, pk: int):
    study = _study(request, pk)
    reader, case = request.GET.get("reader", "").strip(), request.GET.get("case", "").strip()
    return render(request, "workspace/dashboard.html", {
        "study": study, "section": "dashboard", "data": selectors.dashboard(study), "audit": selectors.audit_events(study, reader=reader, case=case),
        "filter_reader": reader, "filter_case": case,
        "readers": Membership.objects.filter(study=study, role=Membership.Role.READER).select_related("user").order_by("user__username"),
        "cases": study.cases.values_list("label", flat=True),
    })


@login_required
def close(request, pk: int):
    study = _study(request, pk)
    reports = []
    try:
        from readerstudy.reports.models import Report

        reports = list(Report.objects.filter(study=study).order_by("-created_at")[:3])
    except ImportError:
        pass
    data = selectors.dashboard(study)
    return render(request, "workspace/close.html", {"study": study, "section": "close", "data": data, "reports": reports})


@never_cache
@sensitive_variables("token")
def login_link(request, uidb64: str, token: str):
    """A reader's one-time link. GET only asks (link previews and scanners must not spend it);
    the POST logs the reader in and spends the link."""
    user = login_links.login_link_user(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "workspace/login_link.html", {"invalid": True}, status=404)
    if request.method == "POST":
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        login_links.login_link_redeemed(user=user)
        return redirect("reading-worklist")
    return render(request, "workspace/login_link.html", {"username": user.username})


#: The workspace's former API (``/api/studies/<id>/workspace/<old>/``) and where each moved.
#: Publish, reopen and override moved too, but their bodies changed (the status, or the id in the
#: path), so they are not redirected.
FORMER_API = {
    "checklist": "checklist/",
    "answers": "answers/",
    "unblinding-key": "unblinding-key/",
    "reads": "reads/",
    "recon-jobs": "recon-jobs/",
    "schedule": "schedule/",
    "schedule-preview": "schedule/preview/",
    "login-link": "login-links/",
}


def former_api(request, study_pk: int, endpoint: str):
    """A permanent redirect (308: the method and body are kept) from the workspace's former API to
    the owning app's endpoint, for bookmarks and scripts. The target checks permission."""
    if endpoint not in FORMER_API:
        raise Http404("no such endpoint")
    query = request.META.get("QUERY_STRING", "")
    target = f"/api/studies/{int(study_pk)}/{FORMER_API[endpoint]}" + (f"?{query}" if query else "")
    return HttpResponsePermanentRedirect308(target)


class HttpResponsePermanentRedirect308(HttpResponseRedirectBase):
    status_code = 308
