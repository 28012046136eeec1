"""One-time login links for reader accounts: a coordinator issues one (audited), the reader opens
it once. Services of the study domain (membership); the page that redeems a link is the
workspace's (``/workspace/login/<uidb64>/<token>/``)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from . import audit
from .models import Membership, Study
from .selectors import is_coordinator

User = get_user_model()


class LoginLinkError(ValidationError):
    """A login link the membership or the study's state does not allow; the message says why."""


class _LoginLinkTokens(PasswordResetTokenGenerator):
    """Django's password-reset tokens with their own salt: the hash covers the user's password and
    last login, so the first login through the link (which sets ``last_login``) spends every link
    issued before it. Valid for ``PASSWORD_RESET_TIMEOUT`` (default 3 days)."""

    key_salt = "readerstudy.workspace.login_link"  # unchanged: links issued before the move stay valid


login_link_tokens = _LoginLinkTokens()


def _login_link_refusal(user, study: Study, actor) -> str:
    if user.is_staff or user.is_superuser:
        return f"'{user.username}' is a staff account; it cannot get a login link"
    memberships = Membership.objects.filter(user=user, active=True)
    if memberships.filter(role=Membership.Role.COORDINATOR).exists():
        return f"'{user.username}' coordinates a study; a login link is for reader accounts only"
    others = memberships.exclude(study__in=Study.objects.filter(
        memberships__user=actor, memberships__role=Membership.Role.COORDINATOR, memberships__active=True))
    if others.exists() and not actor.is_superuser:
        return f"'{user.username}' also reads in a study you do not coordinate; ask that study's coordinator"
    return ""


@transaction.atomic
def login_link_issue(*, membership: Membership, actor) -> tuple[str, str]:
    """A one-time login link for a reader of the study: returns (uidb64, token). Audited; the token
    itself is never stored or logged."""
    study = membership.study
    if not is_coordinator(actor, study):
        raise LoginLinkError("only a coordinator of the study can do this")
    if membership.role != Membership.Role.READER or not membership.active:
        raise LoginLinkError("login links are for active readers of the study")
    if study.status == Study.Status.LOCKED:
        raise LoginLinkError(f"the study '{study.name}' is locked")
    refusal = _login_link_refusal(membership.user, study, actor)
    if refusal:
        raise LoginLinkError(refusal)
    user = membership.user
    audit.record(action="event", obj=membership, summary=f"one-time login link issued for {user.username}", actor=actor)
    return urlsafe_base64_encode(force_bytes(user.pk)), login_link_tokens.make_token(user)


def login_link_user(*, uidb64: str, token: str):
    """The user a link is for, or None when the link is unknown, used or expired."""
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        return None
    if not user.is_active or not login_link_tokens.check_token(user, token):
        return None
    if user.is_staff or user.is_superuser or Membership.objects.filter(user=user, role=Membership.Role.COORDINATOR, active=True).exists():
        return None
    return user


def login_link_redeemed(*, user) -> None:
    """Record a login through a link (the caller logs the user in, which spends the link)."""
    for study_id in Membership.objects.filter(user=user, role=Membership.Role.READER, active=True).values_list("study_id", flat=True):
        audit.record(action="access", object_type="auth.user", object_id=str(user.pk), study_id=study_id,
                     summary=f"{user.username} logged in with a one-time link", actor=user)
