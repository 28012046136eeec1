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
    if mode == "x-accel-redirect":
        assert response[header] == "/protected-media/" + instance.path
    else:
        assert response[header] == str(Path(settings.MEDIA_ROOT) / instance.path)
    # The permission check is the same whichever server sends the bytes.
    denied = fetch(client, other_reader, instance.public_id)
    assert denied.status_code == 404 and header not in denied
