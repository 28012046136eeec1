"""Reopening a submitted read for revision: a coordinator's audited action of the reading area.

Moved here from the workspace, which is a UI only.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from readerstudy.studies import audit
from readerstudy.studies.models import Study
from readerstudy.studies.selectors import is_coordinator

from ..models import Read, Session
from ..selectors import session_opening_time


class ReopenError(ValidationError):
    """The read or its study's state does not allow reopening; the message says why."""


def _require_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ReopenError("reopening a read needs a reason (it is recorded in the audit log)")
    return reason.strip()


def _require_coordinator(actor, study: Study) -> None:
    if not is_coordinator(actor, study):
        raise ReopenError("only a coordinator of the study can do this")


@transaction.atomic
def read_reopen(*, read: Read, reason: str, actor) -> Read:
    """Reopen a submitted read so that its reader can revise it; answers are kept.

    The read becomes unsubmitted (its answers stay as the reader's draft); a finished session is
    unfinished again. The reader's later sessions would then have no opening time (they open after
    the previous one is finished), so a later session that has already opened keeps its opening
    through an override carrying the same reason. Audited with ``reason``.
    """
    reason = _require_reason(reason)
    read = Read.objects.select_for_update(of=("self",)).select_related("session__study", "session__reader").get(pk=read.pk)
    session = read.session
    study = session.study
    _require_coordinator(actor, study)
    if study.status != Study.Status.PUBLISHED:
        raise ReopenError(f"the study '{study.name}' is {study.status}; only a published study's reads can be reopened")
    if read.submitted_at is None:
        raise ReopenError("this read is not submitted; there is nothing to reopen")
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
