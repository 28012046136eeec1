"""Reads of the study domain that span relations (kept out of model properties)."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from .models import Membership, Study


def studies_coordinated_by(user) -> QuerySet[Study]:
    if not getattr(user, "is_authenticated", False):
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    return Study.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.COORDINATOR, memberships__active=True
    ).distinct()


def is_coordinator(user, study: Study | int) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    study_id = study.pk if isinstance(study, Study) else study
    return Membership.objects.filter(
        study_id=study_id, user=user, role=Membership.Role.COORDINATOR, active=True
    ).exists()


def studies_read_by(user) -> QuerySet[Study]:
    if not getattr(user, "is_authenticated", False):
        return Study.objects.none()
    return Study.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.READER, memberships__active=True
    ).distinct()


def study_overview(study: Study) -> dict:
    """Counts shown on the coordinator's study page."""
    return {
        "cases": study.cases.count(),
        "sequences": list(study.sequences.values_list("name", flat=True)),
        "arms": list(study.arms.values("name", "is_reference")),
        "series": study.cases.aggregate(n=Count("series"))["n"] or 0,
        "items": study.items.count(),
        "readers": study.memberships.filter(role=Membership.Role.READER, active=True).count(),
    }
