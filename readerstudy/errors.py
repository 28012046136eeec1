"""Error pages: friendly 404/403/500 for people, JSON for the API, and 503 with Retry-After when
the database is saturated (no pooled connection free within DB_POOL_TIMEOUT, the PostgreSQL
server out of connection slots, or SQLite still locked after its busy timeout).

The 500 and 503 handlers render without a request context: they must not touch the database.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.db import OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

logger = logging.getLogger(__name__)

# Messages of errors that mean "too many at once, retry", not "broken".
_SATURATION_MESSAGES = (
    "too many clients",
    "remaining connection slots",
    "couldn't get a connection",  # psycopg_pool.PoolTimeout
    "database is locked",  # SQLite after its busy timeout
)


def is_saturation(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the database has no room for this request now."""
    seen = 0
    while exc is not None and seen < 5:
        try:
            from psycopg_pool import PoolTimeout, TooManyRequests
        except ImportError:  # SQLite-only installs
            PoolTimeout = TooManyRequests = ()  # noqa: N806
        if PoolTimeout and isinstance(exc, (PoolTimeout, TooManyRequests)):
            return True
        if isinstance(exc, OperationalError) or type(exc).__name__ == "OperationalError":
            text = str(exc).lower()
            if any(m in text for m in _SATURATION_MESSAGES):
                return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def service_unavailable(request) -> HttpResponse:
    retry_after = str(getattr(settings, "RETRY_AFTER_SECONDS", 5))
    if _wants_json(request):
        response = JsonResponse({"detail": "The server is busy; nothing was changed. Retry shortly."}, status=503)
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = retry_after
    response["Cache-Control"] = "no-store"
    return response


def server_error(request, template_name: str = "500.html") -> HttpResponse:
    """handler500: called inside the ``except`` of Django's handler, so the exception is at hand."""
    exc = sys.exc_info()[1]
    if is_saturation(exc):
        logger.warning("database saturated, answered 503: %s", exc)
        return service_unavailable(request)
    if _wants_json(request):
        return JsonResponse({"detail": "Server error; it has been logged."}, status=500)
    return HttpResponse(loader.get_template(template_name).render(), status=500)


def page_not_found(request, exception, template_name: str = "404.html") -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception, template_name)


def permission_denied(request, exception, template_name: str = "403.html") -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)
    return defaults.permission_denied(request, exception, template_name)


def bad_request(request, exception, template_name: str = "400.html") -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception, template_name)
