"""Blinded serving: only a reader whose open session holds the instance (or a coordinator of its
study) gets it; everyone else gets the same 404 as for an id that does not exist."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from django.urls import reverse

from readerstudy.studies.models import Membership, Series, Study

pytestmark = pytest.mark.django_db

MISSING = "AAAAAAAAAAAAAAAAAAAAAA"


def url(public_id: str) -> str:
    return reverse("instance-file", args=[public_id])


def fetch(client, user, public_id):
    client.logout()
    if user is not None:
        client.force_login(user)
    return client.get(url(public_id))


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def signature(response):
    """What a client can observe of a 404: status, headers and body."""
    return response.status_code, sorted(response.headers.items()), body(response)


@pytest.fixture
def series_pair(imported):
    standard = Series.objects.get(case__label="C001", sequence__name="SAG T2 FS", arm__name="Standard")
    fast = Series.objects.get(case__label="C001", sequence__name="SAG T2 FS", arm__name="Fast")
    return standard, fast


def test_reader_with_an_open_session_gets_the_blinded_file(client, reader, study, series_pair, make_session, settings):
    standard, _ = series_pair
    make_session(study, reader, [standard])
    instance = standard.instances.get(index=2)

    response = fetch(client, reader, instance.public_id)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert int(response["Content-Length"]) == instance.size_bytes
    assert "Content-Disposition" not in response
    data = body(response)
    assert data == (Path(settings.MEDIA_ROOT) / instance.path).read_bytes()
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.SOPInstanceUID == instance.sop_instance_uid and ds.PatientName == ""
    # The URL carries the opaque id only.
    assert instance.sop_instance_uid not in url(instance.public_id)
    assert instance.path not in url(instance.public_id)


def test_pair_reads_serve_both_sides(client, reader, study, series_pair, make_session):
    from readerstudy.reading.models import Read, Session

    standard, fast = series_pair
    session = make_session(study, reader, [])
    Read.objects.create(session=session, position=0, series=standard, series_right=fast)
    for series in (standard, fast):
        assert fetch(client, reader, series.instances.first().public_id).status_code == 200


def test_everyone_else_gets_the_same_404_as_for_a_missing_id(
    client, reader, other_reader, make_user, study, series_pair, make_session
):
    standard, fast = series_pair
    make_session(study, reader, [standard], index=0)
    make_session(study, reader, [fast], index=1, open=False)  # washout not over
    make_session(study, other_reader, [fast], index=0, completed=True)  # finished
    instance_fast = fast.instances.first()
    instance_standard = standard.instances.first()
    baseline = signature(fetch(client, reader, MISSING))
    assert baseline[0] == 404

    cases = [
        (reader, instance_fast.public_id),  # in the reader's session that is not open yet
        (other_reader, instance_standard.public_id),  # another reader's session
        (other_reader, instance_fast.public_id),  # own session, already completed
        (make_user("outsider"), instance_standard.public_id),  # no session at all
        (None, instance_standard.public_id),  # anonymous
        (None, MISSING),
    ]
    for user, public_id in cases:
        response = fetch(client, user, public_id)
        assert signature(response) == baseline, (user, public_id)


def test_session_in_an_unpublished_study_serves_nothing(client, reader, study, series_pair, make_session):
    standard, _ = series_pair
    make_session(study, reader, [standard])
    Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
    assert fetch(client, reader, standard.instances.first().public_id).status_code == 404


def test_coordinator_preview(client, coordinator, make_user, study, series_pair):
    standard, _ = series_pair
    instance = standard.instances.first()
    assert fetch(client, coordinator, instance.public_id).status_code == 200

    other = make_user("other-coordinator")
    other_study = Study.objects.create(name="Another study", created_by=other)
    Membership.objects.create(study=other_study, user=other, role=Membership.Role.COORDINATOR)
    assert fetch(client, other, instance.public_id).status_code == 404
    Membership.objects.filter(study=study, user=coordinator).update(active=False)
    assert fetch(client, coordinator, instance.public_id).status_code == 404


def test_only_safe_methods(client, coordinator, series_pair):
    standard, _ = series_pair
    client.force_login(coordinator)
    instance = standard.instances.first()
    assert client.post(url(instance.public_id)).status_code == 405
    assert client.head(url(instance.public_id)).status_code == 200


@pytest.mark.parametrize(
    "mode, header",
    [("x-accel-redirect", "X-Accel-Redirect"), ("x-sendfile", "X-Sendfile")],
)
def test_sendfile_modes(client, reader, other_reader, study, series_pair, make_session, settings, mode, header):
    settings.DICOM_SENDFILE_MODE = mode
    settings.DICOM_SENDFILE_PREFIX = "/protected-media/"
    standard, _ = series_pair
    make_session(study, reader, [standard])
    instance = standard.instances.first()

    response = fetch(client, reader, instance.public_id)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response.content == b""
    # The length of the (empty) body, not of the file: the front server sends the file with its
    # own length, and a length the body does not have would close the app server's connection
    # after every image (no keep-alive between nginx and the app server).
    assert response["Content-Length"] == "0"
    if mode == "x-accel-redirect":
        assert response[header] == "/protected-media/" + instance.path
    else:
        assert response[header] == str(Path(settings.MEDIA_ROOT) / instance.path)
    # The permission check is the same whichever server sends the bytes.
    denied = fetch(client, other_reader, instance.public_id)
    assert denied.status_code == 404 and header not in denied


# --- access tokens: one permission decision per read, one SQL query per instance -------------------


def _read_urls(client, read) -> list[str]:
    response = client.get(f"/api/reader/reads/{read.public_id}/")
    assert response.status_code == 200, response.content
    return response.json()["instances"]


@pytest.fixture
def reading(client, reader, study, series_pair, make_session):
    """A reader logged in, with the instance URLs the reader API gave for the open read."""
    standard, fast = series_pair
    session = make_session(study, reader, [standard])
    make_session(study, reader, [fast], index=1, open=False)
    client.force_login(reader)
    read = session.reads.get()
    return {"session": session, "read": read, "urls": _read_urls(client, read), "standard": standard, "fast": fast}


def test_reader_api_urls_carry_a_token_and_cost_one_query(client, reading, django_assert_max_num_queries, settings):
    urls = reading["urls"]
    assert len(urls) == reading["standard"].instances.count()
    assert all("?a=" in u for u in urls)
    # The same URLs within the hour, so the browser's cache (immutable, a year) is reused.
    assert _read_urls(client, reading["read"]) == urls
    for u in urls:
        with django_assert_max_num_queries(1):
            response = client.get(u)
        assert response.status_code == 200
        assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    instance = reading["standard"].instances.order_by("index").first()
    assert body(client.get(urls[0])) == (Path(settings.MEDIA_ROOT) / instance.path).read_bytes()


def test_withdrawn_reader_loses_images_and_api_at_the_same_moment(client, reading, reader, study):
    url0 = reading["urls"][0]
    plain = url0.split("?")[0]
    assert client.get(url0).status_code == 200 and client.get(plain).status_code == 200
    Membership.objects.filter(study=study, user=reader, role=Membership.Role.READER).update(active=False)
    assert client.get(f"/api/reader/reads/{reading['read'].public_id}/").status_code == 404
    assert client.get(url0).status_code == 404
    assert client.get(plain).status_code == 404  # the rule without a token says the same


@pytest.mark.parametrize("change", ["completed", "unpublished", "logged_out", "override_future", "user_inactive"])
def test_what_ends_access_ends_it_for_issued_urls(client, reading, reader, study, change):
    import datetime as dt

    from django.utils import timezone

    from readerstudy.reading.models import Session

    url0 = reading["urls"][0]
    baseline = signature(client.get(f"/wado/instances/{MISSING}"))
    assert client.get(url0).status_code == 200
    if change == "completed":
        Session.objects.filter(pk=reading["session"].pk).update(completed_at=timezone.now())
    elif change == "unpublished":
        Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
    elif change == "logged_out":
        client.logout()
    elif change == "override_future":
        Session.objects.filter(pk=reading["session"].pk).update(opens_at_override=timezone.now() + dt.timedelta(days=3))
    else:
        type(reader).objects.filter(pk=reader.pk).update(is_active=False)
    if change == "logged_out":
        assert client.get(url0).status_code == 404
    else:
        assert signature(client.get(url0)) == baseline


def test_token_is_bound_to_its_user_session_and_login(client, reading, other_reader, study, make_session, reader):
    from django.test import Client

    from readerstudy.reading.serving import _credential_from, _instance_by_token

    url0 = reading["urls"][0]
    path, token = url0.split("?a=")
    public_id = path.rsplit("/", 1)[1]
    # Another account: not with this URL...
    other = Client()
    other.force_login(other_reader)
    assert other.get(url0).status_code == 404
    # ...and once it reads the same series in its own open session, by its own right, not the token's.
    make_session(study, other_reader, [reading["standard"]])
    assert _instance_by_token(_credential_from("", other.cookies["sessionid"].value), public_id, token) is None
    assert other.get(url0).status_code == 200
    assert Client().get(url0).status_code == 404  # anonymous
    # A token that does not grant the request is no shortcut: the rule decides in full. Another login
    # of the same reader may read (it is their read); a tampered token changes nothing either way;
    # a token does not open an instance of a session that is not open yet.
    elsewhere = Client()
    elsewhere.force_login(reader)
    assert _instance_by_token(_credential_from("", elsewhere.cookies["sessionid"].value), public_id, token) is None
    assert elsewhere.get(url0).status_code == 200
    assert _instance_by_token(_credential_from("", client.cookies["sessionid"].value), public_id, token[:-2] + "xx") is None
    assert client.get(f"{path}?a={token[:-2]}xx").status_code == 200
    locked_instance = reading["fast"].instances.first()
    assert client.get(f"/wado/instances/{locked_instance.public_id}?a={token}").status_code == 404


def test_expired_token_is_refused(client, reading, reader, settings):
    import time

    from readerstudy.reading.serving import access_token

    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    instance = reading["standard"].instances.first()
    from readerstudy.reading.serving import _credential_from, _instance_by_token

    old = access_token(user_id=reader.pk, session_id=reading["session"].pk, kind="s", secret=session_key,
                       now=time.time() - settings.WADO_TOKEN_TTL_SECONDS - 7200)
    fresh = access_token(user_id=reader.pk, session_id=reading["session"].pk, kind="s", secret=session_key)
    credential = _credential_from("", session_key)
    assert _instance_by_token(credential, instance.public_id, fresh) is not None
    assert _instance_by_token(credential, instance.public_id, old) is None  # expired: no shortcut


def test_verified_tokens_are_remembered_only_under_the_key_that_signed_them(client, reading, reader, settings):
    """Token checks are cached (the same token comes with every image), keyed by the signing key:
    a key rotation still refuses the old tokens at once, and each GET still checks the expiry."""
    from readerstudy.reading.serving import _credential_from, _instance_by_token, access_token

    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    instance = reading["standard"].instances.first()
    credential = _credential_from("", session_key)
    token = access_token(user_id=reader.pk, session_id=reading["session"].pk, kind="s", secret=session_key)
    assert _instance_by_token(credential, instance.public_id, token) is not None
    assert _instance_by_token(credential, instance.public_id, token) is not None  # (cached)
    settings.SECRET_KEY = "another-" + "k" * 50
    assert _instance_by_token(credential, instance.public_id, token) is None
    settings.SECRET_KEY_FALLBACKS = ["another-" + "k" * 50]
    assert _instance_by_token(credential, instance.public_id, token) is None  # the old key is not a fallback


def test_api_token_clients_get_urls_bound_to_their_token(reading, reader, django_assert_max_num_queries):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = Token.objects.create(user=reader)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    urls = api.get(f"/api/reader/reads/{reading['read'].public_id}/").json()["instances"]
    assert all("?a=" in u for u in urls)
    with django_assert_max_num_queries(1):
        assert api.get(urls[0]).status_code == 200
    assert APIClient().get(urls[0]).status_code == 404
    token.delete()
    assert api.get(urls[0]).status_code == 404


def test_wsgi_fast_path_answers_granted_token_gets_like_the_view(client, reading, settings, django_assert_max_num_queries,
                                                                 monkeypatch):
    """The app server's entry point (readerstudy.wsgi) answers a granted token GET before Django's
    middleware: same status, headers and bytes as the view, one query; refusals go on to Django."""
    from django.core import signals
    from django.db import close_old_connections
    from django.test import RequestFactory

    from readerstudy.reading import serving
    from readerstudy.wsgi import application

    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    def wsgi_get(u, **extra):
        path, _, query = u.partition("?")
        environ = RequestFactory().get(path, QUERY_STRING=query, HTTP_COOKIE=cookie, **extra).environ
        environ["QUERY_STRING"] = query
        seen = {}

        def start_response(status, headers):
            seen["status"], seen["headers"] = status, headers

        # As Django's test client does: the test's transaction keeps the connection open (the
        # fast path retires the connection itself, as close_old_connections would).
        monkeypatch.setattr(serving, "_retire_connection", lambda: None)
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            chunks = application(environ, start_response)
            data = b"".join(chunks)
            getattr(chunks, "close", lambda: None)()
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)
        return seen["status"], dict(seen["headers"]), data

    u = reading["urls"][1]
    view = client.get(u)
    with django_assert_max_num_queries(1):
        status, headers, data = wsgi_get(u)
    assert status == "200 OK" and data == body(view)
    assert headers == {k: v for k, v in view.headers.items()}
    # A refusal (another credential) is Django's ordinary 404.
    cookie = f"{settings.SESSION_COOKIE_NAME}=not-a-session"
    status, headers, data = wsgi_get(u)
    assert status.startswith("404") and data == b"Not found\n"
    # x-accel: the header for nginx, no body.
    settings.DICOM_SENDFILE_MODE = "x-accel-redirect"
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    status, headers, data = wsgi_get(u)
    assert status == "200 OK" and data == b"" and headers["X-Accel-Redirect"].startswith("/protected-media/")
