"""Roles: who may coordinate (create studies, use the workspace) and who may only read.

Creating a study needs the coordinator permission, Django's ``studies.add_study``, given by an
administrator in the admin or with ``python manage.py grant_coordinator USERNAME`` (which puts the
user in the "Coordinators" group). A user who coordinates a study (an active coordinator
membership) may work on it; everyone else is a reader at most.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from rest_framework.permissions import SAFE_METHODS, BasePermission

from . import selectors
from .models import Membership

COORDINATOR_PERMISSION = "studies.add_study"
COORDINATORS_GROUP = "Coordinators"


def can_create_studies(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(COORDINATOR_PERMISSION))


def is_any_coordinator(user) -> bool:
    """May use the workspace: may create studies, or coordinates at least one."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return can_create_studies(user) or Membership.objects.filter(
        user=user, role=Membership.Role.COORDINATOR, active=True
    ).exists()


@transaction.atomic
def coordinator_grant(*, user) -> Group:
    """Give ``user`` the coordinator permission (through the Coordinators group)."""
    group, _ = Group.objects.get_or_create(name=COORDINATORS_GROUP)
    app_label, codename = COORDINATOR_PERMISSION.split(".")
    group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    user.groups.add(group)
    return group


@transaction.atomic
def coordinator_revoke(*, user) -> None:
    """Take the permission to create studies away (studies already coordinated stay so)."""
    group = Group.objects.filter(name=COORDINATORS_GROUP).first()
    if group is not None:
        user.groups.remove(group)
    app_label, codename = COORDINATOR_PERMISSION.split(".")
    user.user_permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))


class IsStudyCoordinator(BasePermission):
    """Object permission on a Study: the user coordinates it. Querysets are scoped as well, so a
    study the user does not coordinate answers 404, the same as one that does not exist."""

    def has_object_permission(self, request, view, obj) -> bool:
        study = getattr(obj, "study", obj)
        return selectors.is_coordinator(request.user, study)


class CanCreateStudiesOrReadOnly(BasePermission):
    """Creating a study (POST on the study list) needs the coordinator permission."""

    message = "Creating a study needs the coordinator permission; ask an administrator."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS or getattr(view, "action", None) != "create":
            return True
        return can_create_studies(request.user)


class WorkspaceAccessMiddleware:
    """``/workspace/`` is for coordinators: anyone else (a reader) gets the 403 page there, and
    the 404 page for every page under it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith("/workspace/") and not path.startswith("/workspace/login/"):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated and not is_any_coordinator(user):
                from django.core.exceptions import PermissionDenied
                from django.http import Http404

                from readerstudy.errors import page_not_found, permission_denied

                if path == "/workspace/":
                    return permission_denied(request, PermissionDenied())
                # Deeper pages: the same 404 as for a study that does not exist.
                return page_not_found(request, Http404())
        return self.get_response(request)
