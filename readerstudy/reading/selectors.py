"""Reads of the reading area that span relations: when a session opens and its state, the reader's
worklist and sessions with their progress, which instances a reader may receive, the items a read
asks, what is still missing, and the read as the reading page and the reader API show it.

Session state has one rule, :func:`session_state`: ``done`` once finished, ``open`` from its opening
time (:func:`session_opening_time`), ``locked`` before. Lists of sessions go through
:func:`sessions_with_progress`, which annotates what the rule and the progress columns need, so a
list costs one query however many sessions it has.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast
from django.utils import timezone

from readerstudy.studies.models import Arm, AuditEvent, Instance, Item, Membership, Study
from readerstudy.studies.selectors import studies_read_by

from .models import Answer, Read, Session, ViewerSettings

SessionState = str  # "done" | "open" | "locked"


def _previous_sessions() -> QuerySet[Session]:
    return Session.objects.filter(
        study_id=OuterRef("study_id"), reader_id=OuterRef("reader_id"), index=OuterRef("index") - 1
    )


def sessions_with_progress(sessions: QuerySet[Session]) -> QuerySet[Session]:
    """``sessions`` annotated with ``reads_total``, ``reads_done``, ``next_read_public_id`` (first
    unsubmitted read) and the previous session's completion, which :func:`session_opening_time`
    uses instead of a query per session."""
    previous = _previous_sessions()
    first_open = Read.objects.filter(session_id=OuterRef("pk"), submitted_at__isnull=True).order_by("position")
    return sessions.annotate(
        reads_total=Count("reads", distinct=True),
        reads_done=Count("reads", filter=Q(reads__submitted_at__isnull=False), distinct=True),
        previous_exists=Exists(previous),
        previous_completed_at=Subquery(previous.values("completed_at")[:1]),
        next_read_public_id=Subquery(first_open.values("public_id")[:1]),
    )


def _previous_completion(session: Session) -> tuple[bool, dt.datetime | None]:
    if hasattr(session, "previous_exists"):
        return bool(session.previous_exists), session.previous_completed_at
    previous = (
        Session.objects.filter(study_id=session.study_id, reader_id=session.reader_id, index=session.index - 1)
        .only("completed_at")
        .first()
    )
    return previous is not None, previous.completed_at if previous is not None else None


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
        exists, completed_at = _previous_completion(session)
        if exists:
            if completed_at is None:
                return None
            candidates.append(completed_at + dt.timedelta(days=session.washout_days))
    if not candidates:
        return session.created_at if hasattr(session, "created_at") else timezone.now()
    return max(candidates)


def session_state(session: Session, now: dt.datetime | None = None) -> SessionState:
    """The one rule: ``done`` (finished), ``open`` (its opening time has passed) or ``locked``.
    Checked on every request; the server, not the browser, decides."""
    if session.completed_at is not None:
        return "done"
    opening = session_opening_time(session)
    return "open" if opening is not None and opening <= (now or timezone.now()) else "locked"


def session_is_open(session: Session, now: dt.datetime | None = None) -> bool:
    return session_state(session, now) == "open"


def reader_sessions(user) -> QuerySet[Session]:
    """The reader's sessions in published studies where they are an active reader, with progress."""
    return sessions_with_progress(
        Session.objects.filter(reader=user, study__in=studies_read_by(user), study__status="published")
        .select_related("study")
        .order_by("study__name", "index")
    )


def reader_worklist(user, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The reader's sessions with state (open / done / locked), opening time and progress."""
    now = now or timezone.now()
    return [
        {"session": s, "state": session_state(s, now), "opens_at": session_opening_time(s),
         "total": s.reads_total, "done": s.reads_done}
        for s in reader_sessions(user)
    ]


def _reopen_events():
    """Audit events of a coordinator reopening a submitted read (``submitted_at`` set back to None)."""
    return AuditEvent.objects.filter(object_type="reading.read", action="event", changes__has_key="submitted_at")


def read_was_reopened(read: Read) -> bool:
    """The coordinator reopened this (now unsubmitted) read for revision."""
    return read.submitted_at is None and _reopen_events().filter(object_id=str(read.pk)).exists()


def reader_notices(user) -> list[dict[str, str]]:
    """What changed in the reader's studies without their doing, for the worklist's banners:
    a study locked by its coordinator, the reader withdrawn from a study, a read reopened for
    revision. ``[{"kind": "locked" | "withdrawn" | "reopened", "text": ..., "read": public id or ""}]``.
    Only the reader's own studies and reads; nothing about arms or cases."""
    if not getattr(user, "is_authenticated", False):
        return []
    notices = []
    for name in (
        Study.objects.filter(sessions__reader=user, status=Study.Status.LOCKED).distinct().order_by("name")
        .values_list("name", flat=True)
    ):
        notices.append({"kind": "locked", "read": "", "text": (
            f"The study '{name}' has been locked by its coordinator: reading is closed. "
            "Your submitted answers are kept.")})
    for name in (
        Membership.objects.filter(user=user, role=Membership.Role.READER, active=False,
                                  study__status=Study.Status.PUBLISHED, study__sessions__reader=user)
        .distinct().order_by("study__name").values_list("study__name", flat=True)
    ):
        notices.append({"kind": "withdrawn", "read": "", "text": (
            f"You have been withdrawn from the study '{name}': its reads are closed to you. "
            "Your submitted answers are kept.")})
    reopened = (
        Read.objects.filter(session__reader=user, submitted_at__isnull=True, session__study__in=studies_read_by(user),
                            session__study__status=Study.Status.PUBLISHED)
        .annotate(reopened=Exists(_reopen_events().filter(object_id=Cast(OuterRef("pk"), CharField()))))
        .filter(reopened=True)
        .select_related("session__study")
        .order_by("session__study__name", "session__index", "position")
    )
    for read in reopened:
        notices.append({"kind": "reopened", "read": read.public_id, "text": (
            f"The coordinator reopened read {read.position + 1} of session {read.session.index + 1} "
            f"in '{read.session.study.name}' for revision: check your answers and submit it again.")})
    return notices


def instances_readable_by(user, now: dt.datetime | None = None) -> QuerySet[Instance]:
    """Instances of series in the user's currently open sessions."""
    sessions = sessions_with_progress(
        Session.objects.filter(
            reader=user, completed_at__isnull=True, study__status="published",
            # the reader API's rule: only while an active reader (withdrawal ends image access too)
            study__memberships__user=user, study__memberships__role="reader", study__memberships__active=True,
        ).distinct()
    )
    open_ids = [s.pk for s in sessions if session_is_open(s, now)]
    return Instance.objects.filter(
        Q(series__reads__session_id__in=open_ids) | Q(series__reads_right__session_id__in=open_ids)
        | Q(series__case_reads__read__session_id__in=open_ids)
    ).distinct()


# --- what a read asks --------------------------------------------------------------------------


NOT_ASSESSABLE = "na"


def allows_not_assessable(item: Item) -> bool:
    """A checklist item may be answered "not assessable" (at a level) when the coordinator gave it
    an anchor text for that answer: ``anchors = {"0": "Absent", "1": "Present", "na": "Not
    assessable"}``. Such an answer has no value (it is left out of the tidy table, so it counts
    neither as absent nor as present) and the payload ``{"not_assessable": true}``."""
    return (
        item.kind == Item.Kind.CHECKLIST and isinstance(item.anchors, dict)
        and bool(str(item.anchors.get(NOT_ASSESSABLE, "")).strip())
    )


PER_SEQUENCE_KINDS = (Item.Kind.LIKERT, Item.Kind.BINARY, Item.Kind.NUMERIC)


def case_panes(read: Read) -> list[tuple[str, int, str]]:
    """A case read's panes as ``(level code, sequence id, sequence name)``: level ``"@1"`` is the
    first pane. Empty for series reads and pairs. Kept on the read object (its panes never change)."""
    cached = getattr(read, "_case_panes", None)
    if cached is None:
        cached = [
            (f"@{position + 1}", sequence_id, name)
            for position, sequence_id, name in read.protocol_series.order_by("position").values_list(
                "position", "series__sequence_id", "series__sequence__name"
            )
        ]
        read._case_panes = cached
    return cached


def per_sequence_levels(item: Item, panes: list[tuple[str, int, str]]) -> list[tuple[str, str]]:
    """In a case read, a series-level item (Likert, yes/no, numeric) is asked once per pane whose
    sequence it applies to; its answers carry the pane as their level (``"@K"``), which the tidy
    table turns back into that pane's sequence with an empty level. ``[(level, sequence name)]``;
    empty outside case reads and for per-level, ROI and preference items."""
    if not panes or item.kind not in PER_SEQUENCE_KINDS:
        return []
    wanted = {s.pk for s in item.sequences.all()}
    return [(level, name) for level, sequence_id, name in panes if not wanted or sequence_id in wanted]


def applicable_items(read: Read, study_items: list[Item] | None = None) -> list[Item]:
    """The items asked in ``read``: those of its sequence (or of every sequence); preference items
    only for side-by-side pairs. ``study_items``: the study's items with their sequences
    prefetched, when the caller has them."""
    is_pair = read.series_right_id is not None
    shown = {read.series.sequence_id} | {sequence_id for _, sequence_id, _ in case_panes(read)}
    items = []
    if study_items is None:
        study_items = Item.objects.filter(study_id=read.session.study_id).prefetch_related("sequences")
    for item in study_items:
        sequence_ids = {s.pk for s in item.sequences.all()}
        if sequence_ids and not sequence_ids & shown:
            continue
        if item.kind == Item.Kind.PREFERENCE and not is_pair:
            continue
        items.append(item)
    return items



@dataclass(frozen=True)
class PairOrientation:
    first: Arm
    second: Arm
    first_side: str  # "left" or "right": where the reader saw the first arm


def pair_orientation(read: Read) -> PairOrientation | None:
    """The analysis point of view of a side-by-side read: which arm is first of the pair.

    The study's side-by-side design names its pairs in that order (``reading_design["pairs"]``);
    a pair it does not name is ordered reference first, then by the arms' order.
    """
    if read.series_right_id is None:
        return None
    left, right = read.series.arm, read.series_right.arm
    first = None
    design = read.session.study.reading_design or {}
    for pair in design.get("pairs") or ():
        if len(pair) == 2 and {str(pair[0]), str(pair[1])} == {left.name, right.name}:
            first = left if str(pair[0]) == left.name else right
            break
    if first is None:
        first = min((left, right), key=lambda a: (not a.is_reference, a.order, a.name))
    second = right if first is left else left
    return PairOrientation(first=first, second=second, first_side="left" if first is left else "right")



def missing_answers(read: Read, items: list[Item] | None = None,
                    answered: dict[int, set[str]] | None = None) -> list[dict[str, Any]]:
    """Required items of ``read`` that are not (completely) answered, in form order. ``levels``:
    the checklist levels, or in a case read the sequences (``"@K"`` codes; ``level_labels`` names
    them), still to answer. ``items``: the read's
    :func:`applicable_items` when the caller has them already; ``answered``: ``{item id: {levels
    with a value or "not assessable"}}`` when the caller knows the stored answers."""
    if answered is None:
        answered = {}
        given = Q(value__isnull=False) | Q(payload__not_assessable=True)
        for item_id, level in Answer.objects.filter(given, read=read).values_list("item_id", "level"):
            answered.setdefault(item_id, set()).add(level)
    missing = []
    panes = case_panes(read)
    for item in applicable_items(read) if items is None else items:
        if not item.required:
            continue
        have = answered.get(item.pk, set())
        per_sequence = per_sequence_levels(item, panes)
        if per_sequence:
            lacking = [(level, name) for level, name in per_sequence if level not in have]
            if lacking:
                missing.append({"item": item.key, "label": item.label, "levels": [level for level, _ in lacking],
                                "level_labels": [name for _, name in lacking]})
        elif item.kind == Item.Kind.CHECKLIST:
            lacking = [level for level in item.levels if level not in have]
            if lacking:
                missing.append({"item": item.key, "label": item.label, "levels": lacking})
        elif "" not in have:
            missing.append({"item": item.key, "label": item.label, "levels": []})
    return missing




# --- the read as the reader sees it -------------------------------------------------------------


def _instance_urls(series) -> list[str]:
    # Signed access tokens for the reader's open session (one permission decision per read).
    from readerstudy.reading.serving import instance_urls

    return instance_urls(series)


def form_definition(items: list[Item], panes: list[tuple[str, int, str]] | None = None) -> list[dict]:
    """The items as the form shows them: no arm, nothing study-design internal. In a case read
    (``panes``), a series-level item lists the sequences it is asked for (``per_sequence``)."""
    out = []
    for item in items:
        entry = {
            "key": item.key,
            "label": item.label,
            "kind": item.kind,
            "category": item.category,
            "required": item.required,
            "help_text": item.help_text,
        }
        if item.kind in (Item.Kind.LIKERT, Item.Kind.PREFERENCE):
            entry["scale"] = [
                {"point": p, "text": str(item.anchors.get(str(p), ""))} for p in range(item.scale_min, item.scale_max + 1)
            ]
        elif item.kind in (Item.Kind.BINARY, Item.Kind.CHECKLIST):
            anchors = item.anchors if isinstance(item.anchors, dict) else {}
            entry["scale"] = [{"point": 0, "text": str(anchors.get("0", "No"))},
                              {"point": 1, "text": str(anchors.get("1", "Yes"))}]
        if item.kind == Item.Kind.CHECKLIST:
            entry["levels"] = list(item.levels)
            entry["not_assessable"] = str(item.anchors[NOT_ASSESSABLE]) if allows_not_assessable(item) else None
        if item.kind in (Item.Kind.NUMERIC, Item.Kind.ROI):
            entry["unit"] = item.unit
            entry["range"] = [item.value_min, item.value_max]
        per_sequence = per_sequence_levels(item, panes or [])
        if per_sequence:
            entry["per_sequence"] = [{"level": level, "label": name} for level, name in per_sequence]
        out.append(entry)
    return out


def reader_answer(answer: Answer) -> dict:
    """An answer as the reader gave it. A preference goes back as the point clicked: the stored,
    corrected value (and the side of the first arm) would tell which side is which."""
    if answer.item.kind == Item.Kind.PREFERENCE:
        return {"item": answer.item.key, "level": answer.level, "value": answer.payload.get("raw"), "payload": {}}
    payload = {k: v for k, v in answer.payload.items() if k != "unit"}
    return {"item": answer.item.key, "level": answer.level, "value": answer.value, "payload": payload}


def viewer_settings(study_id: int) -> dict[str, Any]:
    """The study's window presets and the initial one (none set: the image's own window)."""
    row = ViewerSettings.objects.filter(study_id=study_id).first()
    return {
        "presets": list(row.presets) if row else [],
        "initial_preset": row.initial_preset if row else "",
    }


def read_state(read: Read) -> dict:
    """Everything the reading page needs about ``read`` (one serializer for the API and the page)."""
    items = applicable_items(read)
    session_reads = list(read.session.reads.order_by("position").values_list("public_id", "submitted_at"))
    done = sum(1 for _, submitted in session_reads if submitted is not None)
    next_read = next((pid for pid, submitted in session_reads if submitted is None and pid != read.public_id), None)
    answers = Answer.objects.filter(read=read).select_related("item").order_by("item__order", "item__key", "level")
    panes = [p.series for p in read.protocol_series.select_related("series__sequence").order_by("position")]
    pane_levels = [(f"@{i + 1}", s.sequence_id, s.sequence.name) for i, s in enumerate(panes)]
    layout = "pair" if read.series_right_id else "case" if panes else "single"
    return {
        "public_id": read.public_id,
        "session": read.session.public_id,
        "session_number": read.session.index + 1,
        "is_training": read.session.is_training,
        "position": read.position,
        "number": read.position + 1,
        "layout": layout,
        "instances": _instance_urls(read.series),
        "instances_right": _instance_urls(read.series_right) if read.series_right_id else None,
        "progress": {"done": done, "total": len(session_reads)},
        "submitted_at": read.submitted_at.isoformat() if read.submitted_at else None,
        "revisable": bool(read.submitted_at and read.session.study.allow_revision),
        "items": form_definition(items, pane_levels),
        "answers": [reader_answer(a) for a in answers],
        "comment": read.comment,
        "next_read": next_read,
        "reopened": read_was_reopened(read),
        # The sequence name is the same in every arm (a Series is case × sequence × arm), so the
        # overlay may show it; nothing else about the series is sent.
        "sequence": " + ".join(s.sequence.name for s in panes) if panes else read.series.sequence.name,
        # A case read: every sequence of the case in one arm, in the hanging protocol's pane order.
        "panes": [{"label": s.sequence.name, "instances": _instance_urls(s)} for s in panes] or None,
        "viewer": viewer_settings(read.session.study_id),
    }



def form_layout(items: list[dict]) -> list[dict]:
    """Items grouped for the template: consecutive checklist items that share their levels become
    one grid (levels × findings); everything else stays one block per item."""
    blocks: list[dict] = []
    for item in items:
        last = blocks[-1] if blocks else None
        if item["kind"] == "checklist":
            if last and last["kind"] == "grid" and last["levels"] == item["levels"]:
                last["items"].append(item)
            else:
                blocks.append({"kind": "grid", "levels": item["levels"], "items": [item], "category": item["category"]})
        elif item.get("per_sequence"):
            # Asked once per sequence of a case read: one block per pane, its level the pane's code.
            for pane in item["per_sequence"]:
                blocks.append({"kind": item["kind"], "item": item, "category": item["category"],
                               "level": pane["level"], "sequence": pane["label"]})
        else:
            blocks.append({"kind": item["kind"], "item": item, "category": item["category"], "level": "", "sequence": ""})
    for block in blocks:
        if block["kind"] == "grid":
            block["rows"] = [{"level": level, "cells": block["items"]} for level in block["levels"]]
    return blocks


