"""Blinded DICOM serving: ``GET /wado/instances/<public_id>``.

One rule decides who may read: :func:`readerstudy.reading.selectors.instances_readable_by` (an
active reader of a published study whose *open* session holds the series; the reader API applies
the same). An active coordinator of the study may also preview. Everyone else, anonymous users
included, gets the same 404 as for an id that does not exist: same status, body and headers.

Two ways in:

* **Access token** (what the reading page uses). When the reader API hands out a read's
  instance URLs, :func:`instance_urls` decides once, with the rule, which open session the
  reader reads the series in, and appends ``?a=<token>``: signed (SECRET_KEY), binding the user,
  that session, the credential of the request (a hash of the login session's key, or of the API
  token) and an expiry. Serving such a URL costs one SQL query, which fetches the file's path only
  if the facts that can end access are still as they were: the login session (or API token)
  still exists, the reading session is not completed, its study is still published, the user is
  still an active reader (a withdrawn reader loses images at the same moment as the API), the
  coordinator has not moved the opening time into the future, and the series is in that session.
  The URL is stable for an hour (the expiry is rounded), so the browser's cache keeps working.
* **Without a token**, or when the token does not grant the request (expired, made for another
  login, a series it does not cover): the rule is evaluated in full (several queries); coordinators'
  previews and old links use this. The token is only ever a shortcut to the rule's answer.

The file is the blinded copy written by the import; its URL carries only the instance's opaque
id, and no response names the stored file. Responses are ``application/dicom`` and cached
privately for a year (``immutable``): a blinded copy never changes under its id.
``settings.DICOM_SENDFILE_MODE`` hands the transfer to the front server: ``x-accel-redirect``
(nginx, internal location ``DICOM_SENDFILE_PREFIX`` mapped onto MEDIA_ROOT) or ``x-sendfile``
(Apache mod_xsendfile, lighttpd; absolute path). Both headers are consumed by the front server
and never reach the browser.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, quote

from django.conf import settings
from django.contrib.sessions.models import Session as LoginSession
from django.core import signing
from django.db import connection, reset_queries
from django.db.models import Exists, OuterRef, Q
from django.http.cookie import parse_cookie
from django.http import FileResponse, HttpResponse, HttpResponseNotFound
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.http import require_safe

from readerstudy.studies.models import Instance, Membership

from .selectors import instances_readable_by, session_is_open


CACHE_CONTROL = "private, max-age=31536000, immutable"
CONTENT_TYPE = "application/dicom"


_TOKEN_SALT = "readerstudy.wado.access"
_current_request: contextvars.ContextVar = contextvars.ContextVar("wado_current_request", default=None)


class CurrentRequestMiddleware:
    """Makes the request being answered available to :func:`instance_urls` (which is called deep
    inside the reader API's serializers and is given only the series)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


def _credential(request) -> tuple[str, str] | None:
    """(kind, secret) of what authenticated ``request``: its login session or its API token."""
    return _credential_from(request.META.get("HTTP_AUTHORIZATION", ""), request.COOKIES.get(settings.SESSION_COOKIE_NAME))


def _credential_from(authorization: str, session_key: str | None) -> tuple[str, str] | None:
    if authorization.startswith("Token "):
        return "t", authorization[len("Token "):].strip()
    if session_key:
        return "s", session_key
    return None


def _credential_digest(kind: str, secret: str) -> str:
    return _credential_digest_for(kind, secret, settings.SECRET_KEY)


@functools.lru_cache(maxsize=4096)
def _credential_digest_for(kind: str, secret: str, secret_key: str) -> str:
    # A pure function of its arguments (the key is one of them): a reader's browser sends the same
    # login for every image, so the HMAC is computed once per login, not once per GET.
    return salted_hmac(_TOKEN_SALT + kind, secret, secret=secret_key).hexdigest()[:24]


@functools.lru_cache(maxsize=4096)
def _token_payload(token: str, secret_key: str, fallbacks: tuple[str, ...]):
    """The signed payload of ``token`` if its signature is valid, else None (pure, so cached: the
    same token comes with every image of a series; the expiry is checked on every GET)."""
    try:
        payload = signing.Signer(key=secret_key, fallback_keys=list(fallbacks), salt=_TOKEN_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(payload, list) or len(payload) != 5:
        return None
    return tuple(payload)


def access_token(*, user_id: int, session_id: int, kind: str, secret: str, now: float | None = None) -> str:
    """The signed token for ``user_id`` reading in reading session ``session_id`` with this credential.

    The expiry is rounded up to the hour, so the token (and the URLs, and the browser's cache)
    stays the same for an hour; it is valid between WADO_TOKEN_TTL_SECONDS and one hour more.
    """
    now = time.time() if now is None else now
    expires = int(math.ceil((now + settings.WADO_TOKEN_TTL_SECONDS) / 3600.0) * 3600)
    payload = [user_id, session_id, kind, _credential_digest(kind, secret), expires]
    return signing.Signer(salt=_TOKEN_SALT).sign_object(payload, compress=False)


def _open_session_with(user, series):
    """The reader's open reading session that shows ``series`` (the rule of the reader API)."""
    from .models import Session

    candidates = (
        Session.objects.filter(
            reader=user, completed_at__isnull=True, study__status="published",
            study__memberships__user=user, study__memberships__role=Membership.Role.READER,
            study__memberships__active=True,
        )
        .filter(Q(reads__series=series) | Q(reads__series_right=series) | Q(reads__protocol_series__series=series))
        .distinct()
        .order_by("index")
    )
    now = timezone.now()
    return next((s for s in candidates if session_is_open(s, now)), None)


def instance_urls(series) -> list[str]:
    """The URLs of ``series``' instances in display order, for the user being answered.

    For a reader whose open session shows the series, each URL carries an access token (one
    permission decision here, one query per GET); otherwise plain URLs (full check per GET)."""
    ids = list(series.instances.order_by("index").values_list("public_id", flat=True))
    request = _current_request.get()
    user = getattr(request, "user", None)
    credential = _credential(request) if request is not None else None
    suffix = ""
    if credential is not None and user is not None and user.is_authenticated:
        session = _open_session_with(user, series)
        if session is not None:
            suffix = "?a=" + access_token(user_id=user.pk, session_id=session.pk, kind=credential[0], secret=credential[1])
    return [f"/wado/instances/{pid}{suffix}" for pid in ids]


_TOKEN_SQL: dict[str, str] = {}


def _token_sql(kind: str) -> str:
    """The one query of a token GET, written once from the models' table and column names.

    Hand-written rather than built by the ORM for each request: compiling the equivalent
    queryset (three correlated EXISTS) took most of the request's time."""
    if kind in _TOKEN_SQL:
        return _TOKEN_SQL[kind]
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from .models import Read, ReadSeries, Session

    from readerstudy.studies.models import Case, Series, Study

    def t(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    def c(model, field: str) -> str:
        return connection.ops.quote_name(model._meta.get_field(field).column)

    user = get_user_model()
    if kind == "s":
        credential = (
            f"SELECT 1 FROM {t(LoginSession)} ls WHERE ls.{c(LoginSession, 'session_key')} = %(secret)s "
            f"AND ls.{c(LoginSession, 'expire_date')} > %(now)s"
        )
    else:
        credential = (
            f"SELECT 1 FROM {t(Token)} tk WHERE tk.{c(Token, 'key')} = %(secret)s AND tk.{c(Token, 'user')} = %(user)s"
        )
    sql = f"""
SELECT i.{c(Instance, 'path')}, i.{c(Instance, 'size_bytes')}
FROM {t(Instance)} i
JOIN {t(Series)} se ON se.{c(Series, 'id')} = i.{c(Instance, 'series')}
JOIN {t(Case)} ca ON ca.{c(Case, 'id')} = se.{c(Series, 'case')}
WHERE i.{c(Instance, 'public_id')} = %(public_id)s
AND EXISTS (
  SELECT 1 FROM {t(Read)} r
  JOIN {t(Session)} s ON s.{c(Session, 'id')} = r.{c(Read, 'session')}
  JOIN {t(Study)} st ON st.{c(Study, 'id')} = s.{c(Session, 'study')}
  WHERE r.{c(Read, 'session')} = %(session)s
  AND (r.{c(Read, 'series')} = i.{c(Instance, 'series')} OR r.{c(Read, 'series_right')} = i.{c(Instance, 'series')}
       OR EXISTS (SELECT 1 FROM {t(ReadSeries)} rs WHERE rs.{c(ReadSeries, 'read')} = r.{c(Read, 'id')}
                  AND rs.{c(ReadSeries, 'series')} = i.{c(Instance, 'series')}))
  AND s.{c(Session, 'reader')} = %(user)s AND s.{c(Session, 'completed_at')} IS NULL
  AND st.{c(Study, 'status')} = %(published)s AND st.{c(Study, 'id')} = ca.{c(Case, 'study')}
  AND (s.{c(Session, 'opens_at_override')} IS NULL OR s.{c(Session, 'opens_at_override')} <= %(now)s)
)
AND EXISTS (
  SELECT 1 FROM {t(Membership)} m JOIN {t(user)} u ON u.{c(user, 'id')} = m.{c(Membership, 'user')}
  WHERE m.{c(Membership, 'study')} = ca.{c(Case, 'study')} AND m.{c(Membership, 'user')} = %(user)s
  AND m.{c(Membership, 'role')} = %(reader)s AND m.{c(Membership, 'active')} = %(true)s
  AND u.{c(user, 'is_active')} = %(true)s
)
AND EXISTS ({credential})
"""
    _TOKEN_SQL[kind] = sql
    return sql


def _instance_by_token(credential: tuple[str, str] | None, public_id: str, token: str) -> tuple[str, int] | None:
    """(path, size) if ``token`` grants ``public_id`` to a request with ``credential`` now; one SQL query."""
    from readerstudy.studies.models import Study

    payload = _token_payload(token, settings.SECRET_KEY, tuple(getattr(settings, "SECRET_KEY_FALLBACKS", ())))
    if payload is None:
        return None
    user_id, session_id, kind, digest, expires = payload
    if (
        credential is None
        or credential[0] != kind
        or not constant_time_compare(_credential_digest(*credential), digest)
        or not isinstance(expires, int)
        or expires < time.time()
    ):
        return None
    params = {
        "public_id": public_id, "session": session_id, "user": user_id, "secret": credential[1],
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "published": Study.Status.PUBLISHED, "reader": Membership.Role.READER, "true": True,
    }
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(kind), params)
        row = cursor.fetchone()
    return (row[0], int(row[1])) if row else None


def _not_found() -> HttpResponse:
    # A fixed body rather than Http404: the debug 404 page would echo the URL and settings.
    response = HttpResponseNotFound(b"Not found\n", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    # Whether or not the login session was read on the way to the answer, the 404 looks the same.
    patch_vary_headers(response, ("Cookie",))
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
    token = request.GET.get("a")
    found = _instance_by_token(_credential(request), public_id, token) if token else None
    if found is None:
        # No token, or one that does not grant this (expired, another login, a series it does
        # not cover): the rule itself decides. The token is only ever a shortcut to its answer.
        instance = instance_for(request.user, public_id)
        found = (instance.path, instance.size_bytes) if instance is not None else None
    if found is None:
        return _not_found()
    stored_path, size_bytes = found
    path = Path(settings.MEDIA_ROOT) / stored_path
    mode = settings.DICOM_SENDFILE_MODE
    if mode:
        response = HttpResponse(content_type=CONTENT_TYPE)
        if mode == "x-accel-redirect":
            prefix = settings.DICOM_SENDFILE_PREFIX.rstrip("/") + "/"
            response["X-Accel-Redirect"] = prefix + quote(stored_path)
        else:
            response["X-Sendfile"] = str(path)
        # The body is empty, and says so: a length that the body does not have would make the
        # app server and nginx close the connection after each image (no upstream keep-alive).
        response["Content-Length"] = "0"
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
    patch_vary_headers(response, ("Cookie",))
    return response


class TokenFastPath:
    """WSGI wrapper: a GET of an instance URL with an access token, granted, is answered here,
    before Django's request handling and middleware (about half of the request's time).

    It does what :func:`instance_file` does for such a request (one query, the same headers, the
    file through the server's sendfile or the front server). Anything else, a refusal included,
    goes on to Django unchanged, which answers it (a refusal with the usual 404).
    """

    _PATH = re.compile(r"^/wado/instances/([A-Za-z0-9_-]{1,64})$")

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        match = self._PATH.match(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD")
        if match is None or method not in ("GET", "HEAD") or "a=" not in environ.get("QUERY_STRING", ""):
            return self.application(environ, start_response)
        if settings.SECURE_SSL_REDIRECT and not self._is_secure(environ):
            return self.application(environ, start_response)  # Django redirects to https
        token = parse_qs(environ["QUERY_STRING"]).get("a", [""])[-1]
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        credential = _credential_from(environ.get("HTTP_AUTHORIZATION", ""), cookies.get(settings.SESSION_COOKIE_NAME))
        if settings.DEBUG:
            reset_queries()
        _retire_connection()
        try:
            found = _instance_by_token(credential, match.group(1), token)
        finally:
            _retire_connection()
        if found is None:
            return self.application(environ, start_response)
        stored_path, size_bytes = found
        headers = [
            ("Content-Type", CONTENT_TYPE),
            # With a front server the body is empty (see instance_file), else the file.
            ("Content-Length", "0" if settings.DICOM_SENDFILE_MODE else str(size_bytes)),
            ("Cache-Control", CACHE_CONTROL),
            ("Vary", "Cookie"),
            *_STATIC_HEADERS,
            *_csp_header(),
        ]
        mode = settings.DICOM_SENDFILE_MODE
        if mode == "x-accel-redirect":
            headers.append(("X-Accel-Redirect", settings.DICOM_SENDFILE_PREFIX.rstrip("/") + "/" + quote(stored_path)))
            start_response("200 OK", headers)
            return [b""]
        path = Path(settings.MEDIA_ROOT) / stored_path
        if mode == "x-sendfile":
            headers.append(("X-Sendfile", str(path)))
            start_response("200 OK", headers)
            return [b""]
        try:
            handle = path.open("rb")
        except OSError:
            return self.application(environ, start_response)
        start_response("200 OK", headers)
        if method == "HEAD":
            handle.close()
            return [b""]
        wrapper = environ.get("wsgi.file_wrapper")
        return wrapper(handle, 64 * 1024) if wrapper else _chunks(handle)

    @staticmethod
    def _is_secure(environ) -> bool:
        header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        if header and environ.get(header[0]) == header[1]:
            return True
        return environ.get("wsgi.url_scheme") == "https"


def _retire_connection() -> None:
    """What Django's request_started/request_finished receivers (close_old_connections) do for the
    one connection this path uses, without the signal dispatch (a sizeable part of its time):
    close the thread's database connection when it is too old or broken; with a pool, give it back."""
    connection.close_if_unusable_or_obsolete()


# What Django's security middleware adds to every response; the fast path answers the same.
_STATIC_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


_CSP: list[tuple[str, str]] = []


def _csp_header() -> list[tuple[str, str]]:
    """The Content-Security-Policy header django-csp puts on every response (built once)."""
    if not _CSP and getattr(settings, "CONTENT_SECURITY_POLICY", None):
        from csp.utils import build_policy

        _CSP.append(("Content-Security-Policy", build_policy()))
    return _CSP


def _chunks(handle, size: int = 64 * 1024):
    with handle:
        while chunk := handle.read(size):
            yield chunk
