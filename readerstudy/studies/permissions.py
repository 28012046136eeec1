from rest_framework.permissions import BasePermission

from . import selectors


class IsStudyCoordinator(BasePermission):
    """Object permission on a Study: the user coordinates it. Querysets are scoped as well, so a
    study the user does not coordinate answers 404, the same as one that does not exist."""

    def has_object_permission(self, request, view, obj) -> bool:
        study = getattr(obj, "study", obj)
        return selectors.is_coordinator(request.user, study)
