"""The append-only audit log.

Every create, update and delete of a study-owned model writes an AuditEvent, whoever makes it
(admin, API, service, worker). The acting user comes from a context variable that the
middleware sets for each request and that jobs set with ``acting_as``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import decimal
from typing import Any, Iterator

from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

_actor: contextvars.ContextVar[Any] = contextvars.ContextVar("audit_actor", default=None)
_reason: contextvars.ContextVar[str] = contextvars.ContextVar("audit_reason", default="")
_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("audit_batch", default=None)

# Models whose changes are audited, by app label and model name (lower case).
AUDITED = {
    ("studies", "study"),
    ("studies", "membership"),
    ("studies", "sequence"),
    ("studies", "arm"),
    ("studies", "case"),
    ("studies", "series"),
    ("studies", "item"),
    ("studies", "referencestandard"),
    ("reading", "session"),
    ("reading", "read"),
    ("reading", "answer"),
}
_SKIP_FIELDS = {"updated_at"}


@contextlib.contextmanager
def acting_as(user, reason: str = "") -> Iterator[None]:
    """Attribute changes made inside the block to ``user`` (jobs, commands)."""
    token_user = _actor.set(user if user is not None and getattr(user, "is_authenticated", False) else None)
    token_reason = _reason.set(reason)
    try:
        yield
    finally:
        _actor.reset(token_user)
        _reason.reset(token_reason)


@contextlib.contextmanager
def with_reason(reason: str) -> Iterator[None]:
    """Record ``reason`` on the changes made inside the block, keeping the current actor."""
    token = _reason.set(reason)
    try:
        yield
    finally:
        _reason.reset(token)


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Collect the events recorded inside the block and write them with one INSERT when it ends
    without an error (use inside the transaction of the changes: they commit or roll back
    together). Events keep their order."""
    events: list = []
    token = _batch.set(events)
    try:
        yield
    finally:
        _batch.reset(token)
    if events:
        from .models import AuditEvent

        AuditEvent.objects.bulk_create(events)


def set_actor(user) -> None:
    """Attribute the rest of this request's changes to ``user`` (for authentication that
    happens after the middleware, such as DRF's token authentication)."""
    _actor.set(user if user is not None and getattr(user, "is_authenticated", False) else None)


class AuditActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The (lazy) user is resolved only when a change is recorded: a request that changes
        # nothing (an image GET) loads no session and no user for the audit log.
        token_user = _actor.set(getattr(request, "user", None))
        token_reason = _reason.set("")
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token_user)
            _reason.reset(token_reason)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    data = {}
    for field in instance._meta.concrete_fields:
        if field.name in _SKIP_FIELDS:
            continue
        data[field.attname] = _jsonable(getattr(instance, field.attname))
    return data


def study_id_of(instance: models.Model) -> int | None:
    from .models import Study

    if isinstance(instance, Study):
        return instance.pk
    for path in ("study_id", "case.study_id", "session.study_id", "read.session.study_id"):
        obj: Any = instance
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except Exception:  # noqa: BLE001 - an unrelated model simply has no study
            continue
        if obj is not None:
            return obj
    return None


def record(
    *,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    study_id: int | None = None,
    summary: str = "",
    changes: dict | None = None,
    reason: str = "",
    actor=None,
):
    """Write one AuditEvent. Use for events that are not model saves (access, overrides)."""
    from .models import AuditEvent

    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        if study_id is None:
            study_id = study_id_of(obj)
    actor = actor if actor is not None else _actor.get()
    event = AuditEvent(
        actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        study_id=study_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        summary=summary[:255],
        changes=changes or {},
        reason=reason or _reason.get(),
    )
    batch = _batch.get()
    if batch is not None:
        batch.append(event)  # written when the batched() block ends
    else:
        event.save()
    return event


def _is_audited(sender) -> bool:
    return (sender._meta.app_label, sender._meta.model_name) in AUDITED


def remember(instance: models.Model) -> None:
    """``instance`` was just read from the database (under a row lock): its next ``save()`` is
    diffed against this state instead of reading the row again."""
    instance._audit_before = snapshot(instance)
    instance._audit_fresh = True


def _pre_save(sender, instance, raw=False, **kwargs):
    if raw or not _is_audited(sender) or instance.pk is None:
        return
    if instance.__dict__.pop("_audit_fresh", False):
        return  # remember(): _audit_before is the row as loaded
    try:
        before = sender._default_manager.get(pk=instance.pk)
    except sender.DoesNotExist:
        return
    instance._audit_before = snapshot(before)


def _post_save(sender, instance, created, raw=False, **kwargs):
    if raw or not _is_audited(sender):
        return
    after = snapshot(instance)
    if created:
        record(action="create", obj=instance, summary=f"created {instance}", changes={"after": after})
        return
    before = getattr(instance, "_audit_before", None) or {}
    diff = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    instance._audit_before = after
    if diff:
        record(action="update", obj=instance, summary=f"changed {instance}", changes=diff)


def _post_delete(sender, instance, **kwargs):
    if not _is_audited(sender):
        return
    study_id = study_id_of(instance)
    from .models import Study

    if isinstance(instance, Study):
        study_id = None  # the row is gone; the event keeps its id in the snapshot
    record(
        action="delete",
        obj=instance,
        study_id=study_id,
        summary=f"deleted {instance}",
        changes={"before": snapshot(instance)},
    )


def connect_signals() -> None:
    pre_save.connect(_pre_save, dispatch_uid="audit_pre_save")
    post_save.connect(_post_save, dispatch_uid="audit_post_save")
    post_delete.connect(_post_delete, dispatch_uid="audit_post_delete")
