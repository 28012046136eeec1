"""The study's window presets: set by a coordinator through the API, given to every read of the
study the same way (whatever the arm), validated with messages naming the preset."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from readerstudy.reading.models import Read
from tests.factories import small_study

pytestmark = pytest.mark.django_db

PRESETS = [{"name": "Spine T2", "window_center": 600, "window_width": 1200},
           {"name": "Bone", "window_center": 300, "window_width": 700}]


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_coordinator_sets_presets_and_every_read_gets_the_same(coordinator, reader):
    study, _, sessions = small_study(coordinator=coordinator, readers=[reader])
    url = f"/api/studies/{study.pk}/viewer-settings/"
    api = client_for(coordinator)
    assert api.get(url).json() == {"presets": [], "initial_preset": ""}
    response = api.put(url, {"presets": PRESETS, "initial_preset": "Spine T2"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["initial_preset"] == "Spine T2"
    assert [p["name"] for p in response.json()["presets"]] == ["Spine T2", "Bone"]

    # Every read of the study, whatever its arm, carries the same presets and the neutral sequence name.
    reader_api = client_for(reader)
    states = [reader_api.get(f"/api/reader/reads/{r.public_id}/").json() for r in Read.objects.filter(session__study=study)]
    assert {str(s["viewer"]) for s in states} == {str({"presets": response.json()["presets"], "initial_preset": "Spine T2"})}
    assert {s["sequence"] for s in states} == {"SAG T2 FS"}
    for s in states:
        assert "Standard" not in str(s) and "Fast" not in str(s)


@pytest.mark.parametrize("body, message", [
    ({"presets": [{"name": "A", "window_center": 1, "window_width": 0}]}, "window_width must be positive"),
    ({"presets": PRESETS + [PRESETS[0]]}, "the name 'Spine T2' is used twice"),
    ({"presets": PRESETS, "initial_preset": "Brain"}, "initial_preset 'Brain' is not one of the presets"),
])
def test_bad_presets_are_refused_with_a_message_and_nothing_changes(coordinator, reader, body, message):
    study, _, _ = small_study(coordinator=coordinator, readers=[reader])
    url = f"/api/studies/{study.pk}/viewer-settings/"
    api = client_for(coordinator)
    response = api.put(url, body, format="json")
    assert response.status_code == 400 and message in str(response.json())
    assert api.get(url).json() == {"presets": [], "initial_preset": ""}


def test_only_coordinators_of_the_study_see_or_set_presets(coordinator, reader):
    study, _, _ = small_study(coordinator=coordinator, readers=[reader])
    url = f"/api/studies/{study.pk}/viewer-settings/"
    assert client_for(reader).get(url).status_code == 404
    assert client_for(reader).put(url, {"presets": PRESETS}, format="json").status_code == 404
