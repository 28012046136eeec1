"""Blinded DICOM serving: ``GET /wado/instances/<public_id>``.

An instance is served to a reader whose *open* session contains its series
(:func:`readerstudy.reading.selectors.instances_readable_by`, checked on every request, so the
server enforces washout), or to an active coordinator of its study (preview). Everyone else,
anonymous users included, gets the same 404 as for an id that does not exist: same status,
same body, same headers, and the same database work up to the answer.

The file is the blinded copy written by the import; its URL carries only the instance's opaque
id, and no response names the stored file. Responses are ``application/dicom`` and cached
privately for a year (``immutable``): a blinded copy never changes under its id.
``settings.DICOM_SENDFILE_MODE`` hands the transfer to the front server: ``x-accel-redirect``
(nginx, internal location ``DICOM_SENDFILE_PREFIX`` mapped onto MEDIA_ROOT) or ``x-sendfile``
(Apache mod_xsendfile, lighttpd; absolute path). Both headers are consumed by the front server
and never reach the browser.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.http import FileResponse, HttpResponse, HttpResponseNotFound
from django.views.decorators.http import require_safe

from readerstudy.reading.selectors import instances_readable_by

from .models import Instance, Membership

CACHE_CONTROL = "private, max-age=31536000, immutable"
CONTENT_TYPE = "application/dicom"


def _not_found() -> HttpResponse:
    # A fixed body rather than Http404: the debug 404 page would echo the URL and settings.
    response = HttpResponseNotFound(b"Not found\n", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


def instance_for(user, public_id: str) -> Instance | None:
    """The instance ``user`` may receive under ``public_id``, or None (missing or not theirs)."""
    if not user.is_authenticated:
        return None
    coordinates = Membership.objects.filter(
        study_id=OuterRef("series__case__study_id"), user=user, role=Membership.Role.COORDINATOR, active=True
    )
    readable = instances_readable_by(user).values("pk")
    return (
        Instance.objects.filter(public_id=public_id)
        .filter(Q(pk__in=readable) | Q(Exists(coordinates)))
        .only("pk", "path", "size_bytes")
        .first()
    )


@require_safe
def instance_file(request, public_id: str):
    instance = instance_for(request.user, public_id)
    if instance is None:
        return _not_found()
    path = Path(settings.MEDIA_ROOT) / instance.path
    mode = settings.DICOM_SENDFILE_MODE
    if mode:
        response = HttpResponse(content_type=CONTENT_TYPE)
        if mode == "x-accel-redirect":
            prefix = settings.DICOM_SENDFILE_PREFIX.rstrip("/") + "/"
            response["X-Accel-Redirect"] = prefix + quote(instance.path)
        else:
            response["X-Sendfile"] = str(path)
        response["Content-Length"] = str(instance.size_bytes)
    else:
        try:
            handle = path.open("rb")
        except OSError:
            # A row without its file is a server fault, but tell the client nothing more.
            return _not_found()
        response = FileResponse(handle, content_type=CONTENT_TYPE)
        if response.has_header("Content-Disposition"):
            del response["Content-Disposition"]  # it would carry the stored (opaque) file name
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    return response
