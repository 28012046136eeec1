from django.utils.functional import SimpleLazyObject

from .models import Membership


def roles(request):
    """Whether the user coordinates any study (the navigation shows the workspace only then).
    Lazy: pages that do not render the navigation make no query."""

    def coordinates() -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        return user.is_superuser or Membership.objects.filter(
            user=user, role=Membership.Role.COORDINATOR, active=True
        ).exists()

    return {"coordinates_a_study": SimpleLazyObject(coordinates)}
