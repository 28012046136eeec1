"""Writes the coordinator workspace needs that no other area owns: reopening a submitted read for
revision, one-time login links for readers, and the audited access to the unblinding key.

Keyword-only, atomic, audited (STYLE.md "Services and selectors"). Everything else the workspace
changes goes through the owners' services (``studies.services``, ``reading.services``,
``recon.services``, ``reports.services``).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from readerstudy.reading.models import Read, Session
from readerstudy.reading.selectors import session_opening_time
from readerstudy.studies import audit
from readerstudy.studies.models import Membership, Study
from readerstudy.studies.selectors import is_coordinator

User = get_user_model()


class WorkspaceError(ValidationError):
    """A coordinator action the study's state does not allow; the message says why."""


def _require_reason(reason: str, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise WorkspaceError(f"{what} needs a reason (it is recorded in the audit log)")
    return reason.strip()


def _require_coordinator(actor, study: Study) -> None:
    if not is_coordinator(actor, study):
        raise WorkspaceError("only a coordinator of the study can do this")


# --- reopen a read ------------------------------------------------------------------------------


@transaction.atomic
def read_reopen(*, read: Read, reason: str, actor) -> Read:
    """Reopen a submitted read so that its reader can revise it; answers are kept.

    The read becomes unsubmitted (its answers stay as the reader's draft); a finished session is
    unfinished again. The reader's later sessions would then have no opening time (they open after
    the previous one is finished), so a later session that has already opened keeps its opening
    through an override carrying the same reason. Audited with ``reason``.
    """
    reason = _require_reason(reason, "reopening a read")
    read = Read.objects.select_for_update(of=("self",)).select_related("session__study", "session__reader").get(pk=read.pk)
    session = read.session
    study = session.study
    _require_coordinator(actor, study)
    if study.status != Study.Status.PUBLISHED:
        raise WorkspaceError(f"the study '{study.name}' is {study.status}; only a published study's reads can be reopened")
    if read.submitted_at is None:
        raise WorkspaceError("this read is not submitted; there is nothing to reopen")
    now = timezone.now()
    with audit.acting_as(actor, reason=reason):
        if session.completed_at is not None:
            for later in Session.objects.filter(study=study, reader=session.reader, index__gt=session.index).order_by("index"):
                opening = session_opening_time(later)
                if later.completed_at is None and later.opens_at_override is None and opening is not None and opening <= now:
                    later.opens_at_override = opening
                    later.full_clean()
                    later.save()
            session.completed_at = None
            session.full_clean()
            session.save()
        before = read.submitted_at
        read.submitted_at = None
        read.submission_id = ""
        read.full_clean(exclude=["session", "series", "series_right"])
        read.save()
        audit.record(
            action="event", obj=read,
            summary=f"read {read.position + 1} of {session} reopened for revision",
            changes={"submitted_at": [before.isoformat(), None]}, reason=reason, actor=actor,
        )
    return read


# --- one-time login links -----------------------------------------------------------------------


class _LoginLinkTokens(PasswordResetTokenGenerator):
    """Django's password-reset tokens with their own salt: the hash covers the user's password and
    last login, so the first login through the link (which sets ``last_login``) spends every link
    issued before it. Valid for ``PASSWORD_RESET_TIMEOUT`` (default 3 days)."""

    key_salt = "readerstudy.workspace.login_link"


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
    _require_coordinator(actor, study)
    if membership.role != Membership.Role.READER or not membership.active:
        raise WorkspaceError("login links are for active readers of the study")
    if study.status == Study.Status.LOCKED:
        raise WorkspaceError(f"the study '{study.name}' is locked")
    refusal = _login_link_refusal(membership.user, study, actor)
    if refusal:
        raise WorkspaceError(refusal)
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


# --- unblinding key -----------------------------------------------------------------------------


def unblinding_key(*, study: Study, actor, fmt: str = "json") -> list[dict]:
    """Which blinded series was which arm, for a locked study's coordinator; every access audited.

    One row per series: blinded ids (public id, SeriesInstanceUID) and what they hide (case,
    sequence, arm, original SeriesInstanceUID), with the reads that showed it.
    """
    from readerstudy.studies.models import Series

    _require_coordinator(actor, study)
    if study.status != Study.Status.LOCKED:
        raise WorkspaceError("the unblinding key is shown only after the study is locked")
    reads: dict[int, list[str]] = {}
    for read in Read.objects.filter(session__study=study).select_related("session__reader").order_by(
            "session__reader__username", "session__index", "position"):
        label = f"{read.session.reader.username} s{read.session.index + 1} #{read.position + 1}"
        reads.setdefault(read.series_id, []).append(label + (" (left)" if read.series_right_id else ""))
        if read.series_right_id:
            reads.setdefault(read.series_right_id, []).append(label + " (right)")
    rows = [
        {
            "series_public_id": s.public_id,
            "blinded_series_instance_uid": s.series_instance_uid,
            "case": s.case.label,
            "sequence": s.sequence.name,
            "arm": s.arm.name,
            "reference_arm": s.arm.is_reference,
            "original_series_instance_uid": s.original_series_instance_uid,
            "reads": "; ".join(reads.get(s.pk, [])),
        }
        for s in Series.objects.filter(case__study=study).select_related("case", "sequence", "arm").order_by(
            "case__label", "sequence__order", "arm__order")
    ]
    audit.record(action="access", obj=study, object_type="studies.unblinding_key", object_id=str(study.pk),
                 summary=f"unblinding key viewed ({fmt}, {len(rows)} series)", actor=actor)
    return rows


def opening_in(opening: dt.datetime | None, now: dt.datetime) -> float | None:
    """Hours until ``opening`` (negative: past), for 'opening soon' lists."""
    return None if opening is None else (opening - now).total_seconds() / 3600
