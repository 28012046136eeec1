"""Inviting readers: a coordinator invites a person by username (and optionally e-mail); the
person opens the one-time link and either sets a password (a new account with that username) or
logs in as that user, and accepts. Only an accepted invitation makes a reader.

Issuing an invitation never looks the username up: the reply, the queries and the time are the
same whether or not an account with that name exists, so the API does not reveal who has an
account. The link's token is returned once and never stored (only its SHA-256); an invitation
expires after ``INVITATION_TTL_DAYS`` (default 7), works once, and a newer invitation of the same
username to the same study replaces it. Issuing and accepting are audited.

Trusted code (management commands, the demo) adds readers directly with
``services.membership_add`` or ``services.reader_create``; requests go through invitations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import audit
from .models import Invitation, Membership, Study
from .selectors import is_coordinator

User = get_user_model()


class InvitationError(ValidationError):
    """The invitation cannot be issued or accepted; the message says why."""


class InvitationAccountExists(InvitationError):
    """A new account was asked for a username that is taken: log in as that user to accept."""


def _ttl() -> dt.timedelta:
    return dt.timedelta(days=float(getattr(settings, "INVITATION_TTL_DAYS", 7)))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_issue(*, study: Study, username: str, email: str = "", actor, now: dt.datetime | None = None) -> tuple[Invitation, str]:
    """A new invitation of ``username`` to read in ``study``: returns (invitation, token). The
    token is for the link (``/invitations/<token>/``) and is not kept. Earlier pending invitations
    of the same username to the study stop working."""
    now = now or timezone.now()
    if not is_coordinator(actor, study):
        raise InvitationError("only a coordinator of the study can invite readers")
    if study.status == Study.Status.LOCKED:
        raise InvitationError(f"the study '{study.name}' is locked")
    username = (username or "").strip()
    User.username_validator(username)
    if not username or len(username) > 150:
        raise InvitationError("a username has 1 to 150 characters")
    email = (email or "").strip()
    if email:
        validate_email(email)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        Invitation.objects.filter(study=study, username=username, accepted_at__isnull=True,
                                  revoked_at__isnull=True).update(revoked_at=now)
        invitation = Invitation(study=study, username=username, email=email, token_hash=token_hash(token),
                                created_by=actor, expires_at=now + _ttl())
        invitation.save()
        audit.record(
            action="event", obj=invitation, object_type="studies.invitation", study_id=study.pk,
            summary=f"reader invited: {username}",
            changes={"username": username, "email": email, "expires_at": invitation.expires_at.isoformat()},
            actor=actor,
        )
    return invitation, token


def invitation_find(token: str) -> Invitation | None:
    """The invitation a link's token belongs to (whatever its state), or None."""
    if not token or len(token) > 200:
        return None
    return Invitation.objects.select_related("study").filter(token_hash=token_hash(token)).first()


def invitation_refusal(invitation: Invitation, now: dt.datetime | None = None) -> str:
    """Why the invitation cannot be accepted ("" if it can), in words for its page."""
    state = invitation.state(now)
    if state == "accepted":
        return "This invitation was already accepted. Sign in to open your reading worklist."
    if state == "revoked":
        return "This invitation was replaced by a newer one or withdrawn. Ask the study coordinator for a new link."
    if state == "expired":
        return (f"This invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
                "Ask the study coordinator for a new link.")
    if invitation.study.status == Study.Status.LOCKED:
        return "The study is closed; it no longer takes readers."
    return ""


def _accept(invitation_pk: int, user, now: dt.datetime, new_account: bool) -> Membership:
    from .services import membership_add

    invitation = Invitation.objects.select_for_update().select_related("study").get(pk=invitation_pk)
    refusal = invitation_refusal(invitation, now)
    if refusal:
        raise InvitationError(refusal)
    if user.username != invitation.username:
        raise InvitationError(f"this invitation is for '{invitation.username}', not for '{user.username}'")
    with audit.acting_as(user):
        membership = membership_add(study=invitation.study, user=user, role=Membership.Role.READER)
        invitation.accepted_at, invitation.accepted_by = now, user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit.record(
            action="event", obj=invitation, object_type="studies.invitation", study_id=invitation.study_id,
            summary=f"invitation accepted by {user.username}" + (" (new account)" if new_account else ""),
            changes={"membership": membership.pk, "user": user.pk, "new_account": new_account}, actor=user,
        )
    return membership


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user, now: dt.datetime | None = None) -> Membership:
    """``user`` (logged in, with the invitation's username) accepts: they become a reader."""
    if user is None or not user.is_authenticated or not user.is_active:
        raise InvitationError("sign in to accept the invitation")
    return _accept(invitation.pk, user, now or timezone.now(), new_account=False)


def invitation_accept_new_account(*, invitation: Invitation, password: str, now: dt.datetime | None = None):
    """A new account with the invitation's username and ``password`` (checked by the password
    validators), which accepts at once. Returns the user. :class:`InvitationAccountExists` if the
    username is taken (nothing changes)."""
    now = now or timezone.now()
    refusal = invitation_refusal(invitation, now)
    if refusal:
        raise InvitationError(refusal)
    candidate = User(username=invitation.username, email=invitation.email)
    validate_password(password, candidate)
    try:
        with transaction.atomic():
            if User.objects.filter(username=invitation.username).exists():
                raise InvitationAccountExists(
                    f"An account named '{invitation.username}' already exists: sign in as {invitation.username} "
                    "to accept the invitation.")
            user = User.objects.create_user(invitation.username, email=invitation.email, password=password)
            audit.record(action="event", object_type="auth.user", object_id=str(user.pk), study_id=invitation.study_id,
                         summary=f"account {user.username} created through an invitation", actor=user)
            _accept(invitation.pk, user, now, new_account=True)
    except IntegrityError as exc:  # created by a concurrent request since the check
        raise InvitationAccountExists(
            f"An account named '{invitation.username}' already exists: sign in to accept the invitation.") from exc
    return user
