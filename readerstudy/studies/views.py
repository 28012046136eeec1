"""The site's entry pages. There is one coordinator UI, the workspace (``/workspace/``), and one
reader UI, the worklist (``/reading/``); these views send each user to theirs and keep the older
study-page URLs working for bookmarks."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect

from . import selectors


@login_required
def home(request):
    """Coordinators (and staff, who create studies) land in the workspace; everyone else on their
    reading worklist."""
    if request.user.is_staff or selectors.studies_coordinated_by(request.user).exists():
        return redirect("workspace:index")
    return redirect("reading-worklist")


@login_required
def study_detail(request, pk: int):
    """The former study page: now the study in the workspace (404 for anyone who does not
    coordinate it, as before)."""
    study = get_object_or_404(selectors.studies_coordinated_by(request.user), pk=pk)
    return redirect("workspace:study", pk=study.pk)
