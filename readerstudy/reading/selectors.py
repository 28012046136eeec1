"""Reads that span relations: when a session opens, which instances a reader may receive."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from readerstudy.studies.models import Instance

from .models import Session


def session_opening_time(session: Session) -> dt.datetime | None:
    """When ``session`` opens, or None while it cannot open yet.

    A coordinator's override wins. Otherwise the session opens at ``opens_at`` (if set) and no
    sooner than ``washout_days`` after the reader finished the previous session.
    """
    if session.opens_at_override is not None:
        return session.opens_at_override
    candidates = []
    if session.opens_at is not None:
        candidates.append(session.opens_at)
    if session.index > 0:
        previous = (
            Session.objects.filter(study_id=session.study_id, reader_id=session.reader_id, index=session.index - 1)
            .only("completed_at")
            .first()
        )
        if previous is not None:
            if previous.completed_at is None:
                return None
            candidates.append(previous.completed_at + dt.timedelta(days=session.washout_days))
    if not candidates:
        return session.created_at if hasattr(session, "created_at") else timezone.now()
    return max(candidates)


def session_is_open(session: Session, now: dt.datetime | None = None) -> bool:
    """Open: its opening time has passed and it is not finished. Checked on every request."""
    if session.completed_at is not None:
        return False
    opening = session_opening_time(session)
    return opening is not None and opening <= (now or timezone.now())


def instances_readable_by(user, now: dt.datetime | None = None) -> QuerySet[Instance]:
    """Instances of series in the user's currently open sessions."""
    open_ids = [
        s.pk
        for s in Session.objects.filter(
            reader=user, completed_at__isnull=True, study__status="published",
            # the reader API's rule: only while an active reader (withdrawal ends image access too)
            study__memberships__user=user, study__memberships__role="reader", study__memberships__active=True,
        ).distinct()
        if session_is_open(s, now)
    ]
    return Instance.objects.filter(
        Q(series__reads__session_id__in=open_ids) | Q(series__reads_right__session_id__in=open_ids)
    ).distinct()
