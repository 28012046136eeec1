"""Inviting readers: the coordinator's reply does not reveal whether a username has an account,
and only the invited person, by opening the link and accepting, becomes a reader."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from readerstudy.studies import invitations, services
from readerstudy.studies.models import AuditEvent, Invitation, Membership

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a-long-enough-Passw0rd"


@pytest.fixture
def study(coordinator):
    return services.study_create(name="Invite study", created_by=coordinator)


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def invite(coordinator, study, username, email="", path="invitations/"):
    response = api(coordinator).post(f"/api/studies/{study.pk}/{path}", {"username": username, "email": email}, format="json")
    assert response.status_code == 201, response.content
    return response


def token_of(response) -> str:
    return re.search(r"/invitations/([^/]+)/$", response.json()["url"]).group(1)


def test_the_reply_is_the_same_whether_or_not_the_username_has_an_account(coordinator, study):
    frozen = timezone.now().replace(microsecond=0)
    with mock.patch("django.utils.timezone.now", return_value=frozen):
        with CaptureQueriesContext(connection) as unknown_queries:
            unknown = invite(coordinator, study, "dr-who", path="members/readers/")
        User.objects.create_user("dr-who", password=PASSWORD)
        with CaptureQueriesContext(connection) as existing_queries:
            existing = invite(coordinator, study, "dr-who", path="members/readers/")
    # Byte for byte the same but for the link's token.
    assert unknown.status_code == existing.status_code == 201
    assert token_of(unknown) != token_of(existing)
    assert unknown.content.replace(token_of(unknown).encode(), b"T") == existing.content.replace(token_of(existing).encode(), b"T")
    assert dict(unknown.items()).keys() == dict(existing.items()).keys()
    assert existing.json()["state"] == "invited" and "password" not in existing.json()
    # The same work on the server (hence the same time): the same statements, none on the user table.
    shape = lambda queries: [re.sub(r"'[^']*'|\w*\d\w*", "?", q["sql"]) for q in queries.captured_queries]  # noqa: E731
    assert shape(unknown_queries) == shape(existing_queries)
    assert not any("auth_user" in q["sql"] for q in existing_queries.captured_queries)
    # Nobody became a reader, and only a hash of each token is stored.
    assert not Membership.objects.filter(study=study, role="reader").exists()
    stored = list(Invitation.objects.values_list("token_hash", flat=True))
    assert token_of(existing) not in stored and invitations.token_hash(token_of(existing)) in stored
    assert not AuditEvent.objects.filter(summary__contains=token_of(existing)).exists()


def test_a_new_person_sets_a_password_and_becomes_a_reader(coordinator, study):
    response = invite(coordinator, study, "newbie", email="newbie@example.org")
    url = response.json()["url"].replace("http://testserver", "")
    browser = Client()
    page = browser.get(url)
    assert page.status_code == 200 and "You are new here" in page.content.decode() and "newbie" in page.content.decode()
    assert browser.post(url, {"password1": PASSWORD, "password2": "other"}).status_code == 400
    assert browser.post(url, {"password1": "short", "password2": "short"}).status_code == 400
    assert not User.objects.filter(username="newbie").exists()
    done = browser.post(url, {"password1": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/reading/"
    user = User.objects.get(username="newbie")
    assert user.email == "newbie@example.org" and user.check_password(PASSWORD) and not user.is_staff
    assert Membership.objects.get(study=study, user=user).role == "reader"
    assert browser.get("/reading/").status_code == 200  # signed in
    invitation = Invitation.objects.get(username="newbie")
    assert invitation.state() == "accepted" and invitation.accepted_by == user
    # Audited: the invitation, the new account, the acceptance and the membership it made.
    events = AuditEvent.objects.filter(study=study)
    assert events.filter(object_type="studies.invitation", summary="reader invited: newbie", actor=coordinator).exists()
    assert events.filter(object_type="auth.user", summary__contains="created through an invitation", actor=user).exists()
    assert events.filter(object_type="studies.invitation", summary__startswith="invitation accepted by newbie", actor=user).exists()
    assert events.filter(object_type="studies.membership", action="create", actor=user).exists()
    # The coordinator sees it accepted; the link works once.
    listed = api(coordinator).get(f"/api/studies/{study.pk}/invitations/").json()["results"]
    assert [(i["username"], i["state"]) for i in listed] == [("newbie", "accepted")]
    again = Client().get(url)
    assert again.status_code == 410 and "already used" in again.content.decode()


def test_an_existing_user_must_sign_in_as_that_user_and_accept(coordinator, study, make_user):
    alice = make_user("alice")
    other = make_user("mallory")
    url = invite(coordinator, study, "alice").json()["url"].replace("http://testserver", "")
    # Not signed in: asking for a new account with a taken name changes nothing.
    anonymous = Client()
    refused = anonymous.post(url, {"password1": PASSWORD, "password2": PASSWORD})
    assert refused.status_code == 409 and "already exists" in refused.content.decode()
    alice.refresh_from_db()
    assert not alice.check_password(PASSWORD)
    assert not Membership.objects.filter(study=study, user=alice).exists()
    # Signed in as somebody else: refused.
    as_other = Client()
    as_other.force_login(other)
    assert as_other.get(url).status_code == 403 and as_other.post(url).status_code == 403
    assert not Membership.objects.filter(study=study, role="reader").exists()
    # Until alice accepts, the coordinator sees an invitation, not a member.
    listed = api(coordinator).get(f"/api/studies/{study.pk}/invitations/").json()["results"]
    assert [(i["username"], i["state"]) for i in listed] == [("alice", "invited")]
    members = api(coordinator).get(f"/api/studies/{study.pk}/members/").json()["results"]
    assert "alice" not in [m["username"] for m in members]
    # Alice signs in: the page asks, the POST accepts.
    as_alice = Client()
    as_alice.force_login(alice)
    page = as_alice.get(url)
    assert page.status_code == 200 and "Accept the invitation" in page.content.decode()
    assert Invitation.objects.get().state() == "invited"  # a GET (a link preview) spends nothing
    accepted = as_alice.post(url)
    assert accepted.status_code == 302 and accepted["Location"] == "/reading/"
    assert Membership.objects.get(study=study, user=alice).active
    assert AuditEvent.objects.filter(object_type="studies.invitation", summary="invitation accepted by alice", actor=alice).exists()
    assert as_alice.post(url).status_code == 410


def test_unknown_expired_and_replaced_links_say_so(coordinator, study, make_user):
    assert Client().get("/invitations/not-a-token/").status_code == 404
    assert "does not work" in Client().get("/invitations/not-a-token/").content.decode()
    past = timezone.now() - dt.timedelta(days=30)
    _, old_token = invitations.invitation_issue(study=study, username="late", actor=coordinator, now=past)
    expired = Client().get(f"/invitations/{old_token}/")
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    assert Client().post(f"/invitations/{old_token}/", {"password1": PASSWORD, "password2": PASSWORD}).status_code == 410
    assert not User.objects.filter(username="late").exists()
    first = token_of(invite(coordinator, study, "twice"))
    second = token_of(invite(coordinator, study, "twice"))
    replaced = Client().get(f"/invitations/{first}/")
    assert replaced.status_code == 410 and "replaced" in replaced.content.decode()
    assert Client().get(f"/invitations/{second}/").status_code == 200
    states = sorted(i.state() for i in Invitation.objects.filter(username="twice"))
    assert states == ["invited", "revoked"]


def test_only_a_coordinator_of_an_unlocked_study_invites(coordinator, study, reader, make_user):
    stranger = make_user("stranger")
    for user in (reader, stranger):
        response = api(user).post(f"/api/studies/{study.pk}/invitations/", {"username": "x1"}, format="json")
        assert response.status_code == 404
    assert api(coordinator).post(f"/api/studies/{study.pk}/invitations/", {"username": "bad name!"},
                                 format="json").status_code == 400
    with pytest.raises(invitations.InvitationError, match="only a coordinator"):
        invitations.invitation_issue(study=study, username="x2", actor=stranger)
    Study = type(study)
    Study.objects.filter(pk=study.pk).update(status="locked")
    study.refresh_from_db()
    with pytest.raises(invitations.InvitationError, match="locked"):
        invitations.invitation_issue(study=study, username="x3", actor=coordinator)
    assert not Invitation.objects.exists()


def test_the_trusted_service_still_adds_readers_directly(coordinator, study):
    user, password = services.reader_create(study=study, username="scripted")
    assert password and Membership.objects.filter(study=study, user=user, role="reader", active=True).exists()


def test_the_workspace_readers_step_lists_invitations_and_offers_the_invite_form(coordinator, study):
    invite(coordinator, study, "pending-person")
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/workspace/studies/{study.pk}/setup/readers/").content.decode()
    assert "<td>pending-person</td>" in page and "<td>invited</td>" in page
    assert f'data-api="/api/studies/{study.pk}/invitations/"' in page and 'data-then="link"' in page
