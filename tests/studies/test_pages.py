import pytest
from django.test import Client

from tests.factories import small_study

pytestmark = pytest.mark.django_db


def test_navigation_offers_the_workspace_only_to_coordinators(coordinator, reader):
    small_study(coordinator=coordinator, readers=[reader])
    pages = {}
    for user in (coordinator, reader):
        client = Client()
        client.force_login(user)
        pages[user.username] = client.get("/").content.decode()
    assert 'href="/workspace/"' in pages["coord"]
    assert 'href="/workspace/"' not in pages["reader1"]
    assert 'href="/reading/"' in pages["reader1"]


def test_study_page_is_the_coordinators_only(coordinator, reader):
    study, _, _ = small_study(coordinator=coordinator, readers=[reader])
    client = Client()
    client.force_login(reader)
    assert client.get(f"/studies/{study.pk}/").status_code == 404
    client.force_login(coordinator)
    page = client.get(f"/studies/{study.pk}/").content.decode()
    assert "C001" in page and "Reading progress" in page
