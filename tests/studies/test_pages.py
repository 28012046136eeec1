"""The entry pages send each user to their UI; the former study page redirects to the workspace."""

import pytest
from django.test import Client

from tests.factories import small_study

pytestmark = pytest.mark.django_db


def test_home_sends_coordinators_to_the_workspace_and_readers_to_their_worklist(coordinator, reader):
    small_study(coordinator=coordinator, readers=[reader])
    pages = {}
    for user in (coordinator, reader):
        client = Client()
        client.force_login(user)
        assert client.get("/")["Location"] == ("/workspace/" if user == coordinator else "/reading/")
        pages[user.username] = client.get("/", follow=True).content.decode()
    assert 'href="/workspace/"' in pages["coord"] and "Study A" in pages["coord"]
    assert 'href="/workspace/"' not in pages["reader1"]
    assert 'href="/reading/"' in pages["reader1"]
    assert Client().get("/")["Location"].startswith("/accounts/login/")


def test_the_former_study_page_redirects_to_the_workspace_for_its_coordinators_only(coordinator, reader):
    study, _, _ = small_study(coordinator=coordinator, readers=[reader])
    client = Client()
    client.force_login(reader)
    assert client.get(f"/studies/{study.pk}/").status_code == 404
    client.force_login(coordinator)
    response = client.get(f"/studies/{study.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/workspace/studies/{study.pk}/"
    page = client.get(f"/studies/{study.pk}/", follow=True).content.decode()
    assert "C001" in page or "Dashboard" in page
