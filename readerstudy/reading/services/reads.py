"""Writes of reading: starting a read, autosaving drafts, submitting, revising, heartbeats, session
completion and the coordinator's opening-date override.

Every function is keyword-only, atomic and validated, and checks on every call what the server
must enforce (DESIGN.md, blinding and integrity rules): the read belongs to the reader, the study is
published (not a draft, not locked), the reader is an active member, and the session is open now
(timezone-aware, :func:`readerstudy.reading.selectors.session_is_open`).

Answers of a read that is not submitted yet are its draft; submitting validates that every
required item is complete and locks the read. Answer rows are never overwritten silently: every
save and delete goes through the audit signals (``studies.audit``), revisions carry a reason.

Preference items are stored from the analysis point of view: ``value`` is the score for *first
arm of the pair vs second* (see :func:`pair_orientation`), whatever side the reader saw it on;
``payload`` keeps what the reader clicked (``raw``) and where the first arm was shown
(``first_side``). The reader only ever gets ``raw`` back.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from readerstudy.studies import audit
from readerstudy.studies.models import Item, Membership, Study
from readerstudy.studies.selectors import is_coordinator

from ..models import Answer, Read, Session
from ..selectors import (
    allows_not_assessable, applicable_items, case_panes, missing_answers, per_sequence_levels, pair_orientation, session_is_open, session_opening_time,
)

# A heartbeat may credit at most this many seconds, and never more than the server saw pass since
# the previous one (plus a little slack for network jitter).
HEARTBEAT_MAX_SECONDS = 60.0
HEARTBEAT_SLACK_SECONDS = 5.0
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
COMMENT_MAX_CHARS = 5000


class ReadingError(ValidationError):
    """A reading request the rules refuse."""


class ReadAccessError(ReadingError):
    """Not the reader's read, or its session is not open, or the study is not published.

    Views answer it like a missing object (404), so nobody learns that someone else's read exists.
    """


class ReadLockedError(ReadingError):
    """The read is submitted (and may not be revised this way)."""


class AnswerInvalidError(ReadingError):
    """An answer does not fit its item. ``problems``: one message per bad answer."""

    def __init__(self, problems: list[str]):
        super().__init__(problems)
        self.problems = problems


class AnswersIncompleteError(ReadingError):
    """Required items are not answered. ``missing``: ``[{"item", "label", "levels"}]``."""

    def __init__(self, missing: list[dict[str, Any]]):
        parts = [m["label"] + (f" ({', '.join(m['levels'])})" if m["levels"] else "") for m in missing]
        super().__init__(f"not complete; still to answer: {'; '.join(parts)}")
        self.missing = missing


# --- what the reader may touch ------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _check_owner(read: Read, reader) -> None:
    session = read.session
    if reader is None or not getattr(reader, "is_authenticated", False) or session.reader_id != reader.pk:
        raise ReadAccessError("no such read")
    if session.study.status != Study.Status.PUBLISHED:
        raise ReadAccessError(f"the study is {session.study.status}; reading is closed")
    active = getattr(read, "reader_is_active", None)  # annotated by _locked (the session's reader is reader)
    if active is None:
        active = Membership.objects.filter(
            study_id=session.study_id, user_id=reader.pk, role=Membership.Role.READER, active=True
        ).exists()
    if not active:
        raise ReadAccessError("you are not an active reader of this study")


def check_read_access(read: Read, reader, now: dt.datetime | None = None) -> None:
    """Raise :class:`ReadAccessError` unless ``reader`` may work on ``read`` now."""
    _check_owner(read, reader)
    _check_open(read, now)


def _check_open(read: Read, now: dt.datetime | None = None) -> None:
    """The session-is-open half of :func:`check_read_access` (for a caller that checked the owner)."""
    if not session_is_open(read.session, _now(now)):
        if read.session.completed_at is not None:
            raise ReadAccessError("this session is finished")
        opening = session_opening_time(read.session)
        when = f"on {opening:%Y-%m-%d %H:%M} UTC" if opening else "after the previous session and its washout"
        raise ReadAccessError(f"this session is not open yet; it opens {when}")


def _locked(read: Read) -> Read:
    """The read re-fetched under a row lock, so concurrent saves of one read queue up. What the
    first look (before the lock) worked out from the read's design (panes, applicable items) does
    not change and is carried over; the fresh row is the audit log's "before" (no second read)."""
    active_reader = Membership.objects.filter(
        study_id=OuterRef("session__study_id"), user_id=OuterRef("session__reader_id"), role=Membership.Role.READER,
        active=True,
    )
    # The series a read shows never change: they are taken over from the first look when it has
    # them, else loaded when used (fewer joins to build and run under the lock); the session and
    # study are fresh.
    locked = (
        # The session's row too: saves and submissions of one session's reads queue up, so the one
        # that submits last sees every other read of the session submitted and finishes it.
        Read.objects.select_for_update(of=("self", "session"))
        .select_related("session__study", "session__reader")  # the reader: the audit's summary names them
        .annotate(reader_is_active=Exists(active_reader))  # the membership checked in the same query
        .get(pk=read.pk)
    )
    if locked.series_id == read.series_id and locked.series_right_id == read.series_right_id:
        if Read.series.is_cached(read):
            locked.series = read.series
        if read.series_right_id is not None and Read.series_right.is_cached(read):
            locked.series_right = read.series_right
    for cached in ("_case_panes", "_applicable_items"):
        if hasattr(read, cached):
            setattr(locked, cached, getattr(read, cached))
    audit.remember(locked)
    return locked


# --- validating one answer ----------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _scale_point(item: Item, value: Any) -> tuple[float | None, str]:
    number = _number(value)
    if number is None or number != round(number) or not item.scale_min <= number <= item.scale_max:
        return None, f"{value!r} is not a point of the scale {item.scale_min}–{item.scale_max}"
    return number, ""


def _clean(item: Item, level: str, value: Any, payload: Any, read: Read, per_sequence=()) -> tuple[float, dict]:
    """(value, payload) to store for one answer, or ValueError naming the problem."""
    payload = payload if isinstance(payload, dict) else {}
    if item.kind == Item.Kind.CHECKLIST:
        if level not in item.levels:
            raise ValueError(f"level {level!r} is not one of {', '.join(item.levels)}")
    elif per_sequence:
        if level not in per_sequence:
            raise ValueError(f"in this case read it is answered per sequence: level {level!r} is not one of "
                             f"{', '.join(per_sequence)}")
    elif level:
        raise ValueError("only checklist items have levels")

    if item.kind == Item.Kind.LIKERT:
        number, problem = _scale_point(item, value)
        if problem:
            raise ValueError(problem)
        return number, {}
    if item.kind == Item.Kind.CHECKLIST and value is None and payload.get("not_assessable") is True:
        if not allows_not_assessable(item):
            raise ValueError("this finding has no 'not assessable' option; answer 0 (absent) or 1 (present)")
        return None, {"not_assessable": True}
    if item.kind in (Item.Kind.BINARY, Item.Kind.CHECKLIST):
        number = _number(value)
        if number not in (0.0, 1.0):
            raise ValueError(f"{value!r} is not 0 (no) or 1 (yes)")
        return number, {}
    if item.kind == Item.Kind.NUMERIC:
        number = _number(value)
        if number is None:
            raise ValueError(f"{value!r} is not a number")
        if (item.value_min is not None and number < item.value_min) or (
            item.value_max is not None and number > item.value_max
        ):
            low = "-∞" if item.value_min is None else f"{item.value_min:g}"
            high = "∞" if item.value_max is None else f"{item.value_max:g}"
            raise ValueError(f"{number:g} {item.unit} is outside the range {low}–{high} {item.unit}")
        cleaned = {"unit": item.unit}
        if payload.get("measurement") is not None:
            cleaned["measurement"] = _clean_measurement(payload["measurement"], read)
        return number, cleaned
    if item.kind == Item.Kind.ROI:
        return _clean_roi(item, payload, read)
    if item.kind == Item.Kind.PREFERENCE:
        orientation = pair_orientation(read)
        if orientation is None:
            raise ValueError("a preference is only asked for a side-by-side pair")
        raw, problem = _scale_point(item, value)
        if problem:
            raise ValueError(problem)
        corrected = raw if orientation.first_side == "left" else item.scale_min + item.scale_max - raw
        return corrected, {"raw": raw, "first_side": orientation.first_side}
    raise ValueError(f"unknown item kind {item.kind!r}")


def _viewport_series(read: Read, side: Any, what: str):
    """The series shown in the viewport ``side`` names: ``left`` (the read's series, the first pane
    of a case read), ``right`` (a pair's right side) or ``pane-K`` (pane K, 1-based, of a case read)."""
    if side == "left":
        return read.series
    if side == "right" and read.series_right_id is not None:
        return read.series_right
    if isinstance(side, str) and side.startswith("pane-") and side[5:].isdigit():
        pane = read.protocol_series.select_related("series").filter(position=int(side[5:]) - 1).first()
        if pane is not None:
            return pane.series
    raise ValueError(f"{what} side {side!r} is not a viewport of this read")


def _clean_measurement(measurement: Any, read: Read) -> dict:
    """Where a numeric answer was measured on the image (a length or angle tool): kept with the
    answer so the measurement can be checked later."""
    if not isinstance(measurement, dict):
        raise ValueError("a measurement must be an object {kind, slice, side, points}")
    kind = measurement.get("kind")
    if kind not in ("length", "angle"):
        raise ValueError(f"measurement kind {kind!r} is not 'length' or 'angle'")
    side = measurement.get("side", "left")
    series = _viewport_series(read, side, "measurement")
    slice_number = measurement.get("slice")
    if isinstance(slice_number, bool) or not isinstance(slice_number, int) or not 1 <= slice_number <= series.num_instances:
        raise ValueError(f"measurement slice {slice_number!r} is not between 1 and {series.num_instances}")
    points = measurement.get("points") or []
    if not isinstance(points, list) or len(points) > 3 or not all(
        isinstance(p, list) and len(p) == 3 and all(_number(x) is not None for x in p) for p in points
    ):
        raise ValueError("measurement points must be up to three [x, y, z] coordinates in mm")
    return {"kind": kind, "slice": slice_number, "side": side, "points": [[float(x) for x in p] for p in points]}


def _clean_roi(item: Item, payload: dict, read: Read) -> tuple[float, dict]:
    mean, sd = _number(payload.get("mean")), _number(payload.get("sd"))
    if mean is None or sd is None or sd < 0:
        raise ValueError("an ROI needs a numeric mean and a non-negative sd")
    area = payload.get("area_mm2")
    if area is not None and (_number(area) is None or _number(area) < 0):
        raise ValueError(f"ROI area {area!r} is not a non-negative number of mm²")
    side = payload.get("side", "left")
    series = _viewport_series(read, side, "ROI")
    slice_number = payload.get("slice")
    if isinstance(slice_number, bool) or not isinstance(slice_number, int) or not 1 <= slice_number <= series.num_instances:
        raise ValueError(f"ROI slice {slice_number!r} is not between 1 and {series.num_instances}")
    ellipse = payload.get("ellipse")
    if ellipse is not None and not isinstance(ellipse, dict):
        raise ValueError("ROI ellipse geometry must be an object")
    if item.value_min is not None and mean < item.value_min or item.value_max is not None and mean > item.value_max:
        raise ValueError(f"ROI mean {mean:g} is outside the item's range")
    cleaned = {"mean": mean, "sd": sd, "area_mm2": _number(area), "slice": slice_number, "side": side}
    if ellipse is not None:
        cleaned["ellipse"] = ellipse
    return mean, cleaned


_ITEMS_CACHE: "OrderedDict[tuple, list[Item]]" = OrderedDict()
_ITEMS_CACHE_SIZE = 32
_ITEMS_LOCK = threading.Lock()


_PANES_CACHE: "OrderedDict[str, list]" = OrderedDict()
_PANES_CACHE_SIZE = 20000


def _cached_panes(read: Read) -> None:
    """Put the read's panes (its ReadSeries, which never change for a read; a rewritten schedule
    makes new reads with new ids) on ``read`` from the process's cache, or read them once."""
    if hasattr(read, "_case_panes"):
        return
    with _ITEMS_LOCK:
        panes = _PANES_CACHE.get(read.public_id)
    if panes is None:
        panes = case_panes(read)
        with _ITEMS_LOCK:
            _PANES_CACHE[read.public_id] = panes
            while len(_PANES_CACHE) > _PANES_CACHE_SIZE:
                _PANES_CACHE.popitem(last=False)
    read._case_panes = panes


def _published_items(study: Study) -> list[Item] | None:
    """The questionnaire of a published or locked study, kept in the process: it cannot change
    any more (design changes are for drafts only, and a study never goes back to draft), and every
    save of every read needs it. None for a draft (read afresh each time)."""
    if study.status == Study.Status.DRAFT:
        return None
    key = (study.pk, study.created_at)  # a recycled id (a test database) is another study
    with _ITEMS_LOCK:
        items = _ITEMS_CACHE.get(key)
        if items is not None:
            _ITEMS_CACHE.move_to_end(key)
            return items
    items = list(Item.objects.filter(study_id=study.pk).prefetch_related("sequences"))
    with _ITEMS_LOCK:
        _ITEMS_CACHE[key] = items
        while len(_ITEMS_CACHE) > _ITEMS_CACHE_SIZE:
            _ITEMS_CACHE.popitem(last=False)
    return items


def _parse_checked(read: Read, reader, answers: Iterable[dict], now: dt.datetime | None) -> "Parsed":
    """:func:`_parse`, for a read the caller fetched as the reader's own; the full access check
    follows under the row lock. Only a refused parse checks access first, so that a read the
    reader may not work on is still answered as missing (404), never with its form's problems."""
    try:
        return _parse(read, answers)
    except AnswerInvalidError:
        check_read_access(read, reader, now)
        raise


def _parse(read: Read, answers: Iterable[dict]) -> dict[tuple[int, str], tuple[Item, float | None, dict]]:
    """Validate a list of ``{item, level, value, payload}``; ``value`` None (and no ROI payload)
    clears an answer. Raises :class:`AnswerInvalidError` with every problem at once."""
    _cached_panes(read)
    if not hasattr(read, "_applicable_items"):
        read._applicable_items = applicable_items(read, _published_items(read.session.study))
    items = {item.key: item for item in read._applicable_items}
    panes = case_panes(read)
    per_sequence = {key: [level for level, _ in per_sequence_levels(item, panes)] for key, item in items.items()}
    problems, parsed = [], {}
    if not isinstance(answers, (list, tuple)):
        raise AnswerInvalidError(["answers must be a list of {item, level, value}"])
    for n, entry in enumerate(answers, start=1):
        if not isinstance(entry, dict):
            problems.append(f"answer {n}: expected an object with item, level and value")
            continue
        key, level = str(entry.get("item", "")), str(entry.get("level") or "")
        item = items.get(key)
        if item is None:
            problems.append(f"answer {n}: item {key!r} is not asked in this read")
            continue
        where = item.label + (f" at {level}" if level else "")
        value, payload = entry.get("value"), entry.get("payload")
        if value is None and not (item.kind in (Item.Kind.ROI, Item.Kind.CHECKLIST) and payload):
            if item.kind == Item.Kind.CHECKLIST and level not in item.levels:
                problems.append(f"{where}: level {level!r} is not one of {', '.join(item.levels)}")
                continue
            parsed[(item.pk, level)] = (item, None, {})
            continue
        try:
            stored, stored_payload = _clean(item, level, value, payload, read, per_sequence[key])
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if (item.pk, level) in parsed:
            problems.append(f"{where}: answered twice in one request")
            continue
        parsed[(item.pk, level)] = (item, stored, stored_payload)
    if problems:
        raise AnswerInvalidError(problems)
    return parsed


Parsed = dict[tuple[int, str], tuple[Item, "float | None", dict]]


def _remember_answered(read: Read, existing: dict, parsed: Parsed) -> None:
    """What the read's answers will be once ``parsed`` is written: ``{item_id: {levels given}}``
    in the sense of :func:`missing_answers` (a value, or "not assessable"), kept on the read so
    the submission checks completeness without reading the answers back."""
    given = {key: a.value is not None or (a.payload or {}).get("not_assessable") is True for key, a in existing.items()}
    for key, (_item, value, payload) in parsed.items():
        given[key] = value is not None or (payload or {}).get("not_assessable") is True
    answered: dict[int, set[str]] = {}
    for (item_id, level), ok in given.items():
        if ok:
            answered.setdefault(item_id, set()).add(level)
    read._answered = answered


@dataclass(frozen=True)
class _Stored:
    """A stored answer as read for a save: plain values, made into an :class:`Answer` only when
    it changes (a save of 53 unchanged answers builds no model instances)."""

    pk: int
    item_id: int
    level: str
    value: float | None
    payload: Any
    revision: int

    def instance(self, read: Read, item: Item) -> Answer:
        # Without its dates: a change writes value, payload, revision and updated_at only.
        answer = Answer(id=self.pk, read=read, item=item, level=self.level, value=self.value, payload=self.payload,
                        revision=self.revision)
        answer._state.adding, answer._state.db = False, Answer.objects.db
        return answer


def _stored_answers(read: Read) -> dict[tuple[int, str], _Stored]:
    rows = Answer.objects.filter(read=read).values_list(
        "pk", "item_id", "level", "value", "payload", "revision")
    return {(row[1], row[2]): _Stored(*row) for row in rows}


def _answer_state(answer: Answer | _Stored) -> dict[str, Any]:
    return {"id": answer.pk, "value": answer.value, "payload": answer.payload, "revision": answer.revision}


def _apply(read: Read, parsed: Parsed, *, revising: bool = False) -> list[str]:
    """Write the changes among the ``parsed`` answers; unchanged answers are not saved again (no
    audit noise). Returns the keys (``item`` or ``item@level``) that changed.

    A constant number of queries whatever the number of answers: one read of the stored answers,
    then at most one bulk insert, one bulk update (or up to two plain UPDATEs) and one delete, and
    one audit event for the
    whole save (``object_type`` ``reading.answers``, ``object_id`` the read) that holds, per
    changed key, the answer's state before and after (``None`` where it did not exist / was
    removed). Bulk writes skip the model signals, so the event is written here, in the same
    transaction, with the actor and reason of the context (``studies.audit``).
    """
    existing = _stored_answers(read)
    _remember_answered(read, existing, parsed)
    now = timezone.now()
    to_create: list[tuple[str, Answer]] = []
    to_update: list[tuple[str, Answer, dict]] = []
    to_delete: list[tuple[str, _Stored]] = []
    changed: list[str] = []
    for (item_id, level), (item, value, payload) in parsed.items():
        stored = existing.get((item_id, level))
        label = item.key + (f"@{level}" if level else "")
        if value is None and not payload:  # cleared (a "not assessable" cell has no value but a payload)
            if stored is not None:
                if revising:
                    raise AnswerInvalidError([f"{item.label}: a submitted answer can be changed, not removed"])
                to_delete.append((label, stored))
                changed.append(label)
            continue
        if stored is None:
            answer = Answer(read=read, item=item, level=level, value=value, payload=payload)
            to_create.append((label, answer))
        elif stored.value == value and stored.payload == payload:
            continue  # unchanged (the usual case: the page sends every answer on each save)
        else:
            answer = stored.instance(read, item)
            before = _answer_state(stored)
            if revising:
                answer.revision += 1
            answer.value, answer.payload, answer.updated_at = value, payload, now
            to_update.append((label, answer, before))
        # The read and item were checked above under the read's row lock, and the database holds
        # the (read, item, level) constraint: what is left to validate is the fields set here.
        answer.full_clean(exclude=["read", "item"], validate_unique=False, validate_constraints=False)
        changed.append(label)
    if not changed:
        return changed
    if to_delete:
        # One DELETE without the per-row signals (nothing refers to an answer; the event below
        # records what was removed): QuerySet.delete() would load each row and audit it again.
        Answer.objects.filter(pk__in=[a.pk for _, a in to_delete])._raw_delete(Answer.objects.db)
    if to_create:
        Answer.objects.bulk_create([a for _, a in to_create])
    if 0 < len(to_update) <= 2:  # the usual autosave: a plain UPDATE is far cheaper to build than bulk_update's CASEs
        for _, answer, _ in to_update:
            Answer.objects.filter(pk=answer.pk).update(value=answer.value, payload=answer.payload,
                                                       revision=answer.revision, updated_at=answer.updated_at)
    elif to_update:
        Answer.objects.bulk_update([a for _, a, _ in to_update], ["value", "payload", "revision", "updated_at"])
    entries: dict[str, dict] = {}
    for label, answer in to_create:
        entries[label] = {"before": None, "after": _answer_state(answer)}
    for label, answer, before in to_update:
        entries[label] = {"before": before, "after": _answer_state(answer)}
    for label, answer in to_delete:
        entries[label] = {"before": _answer_state(answer), "after": None}
    counts = [f"{len(lst)} {word}" for lst, word in ((to_create, "new"), (to_update, "changed"), (to_delete, "removed")) if lst]
    audit.record(
        action="update", object_type="reading.answers", object_id=str(read.pk), study_id=read.session.study_id,
        summary=f"answers of read {read.pk} saved ({', '.join(counts)}): {', '.join(changed)}"[:255],
        changes={"read": read.pk, "answers": {label: entries[label] for label in changed}},
    )
    return changed


def _clean_read(read: Read) -> None:
    # The session and series were loaded under the row lock and do not change here; the database
    # holds the unique and check constraints. What is left to validate is the fields we set.
    read.full_clean(exclude=["session", "series", "series_right"], validate_unique=False, validate_constraints=False)


def _set_comment(read: Read, comment: str | None) -> bool:
    if comment is None or comment == read.comment:
        return False
    if not isinstance(comment, str) or len(comment) > COMMENT_MAX_CHARS:
        raise AnswerInvalidError([f"the comment must be text of at most {COMMENT_MAX_CHARS} characters"])
    read.comment = comment
    return True


# --- services -----------------------------------------------------------------------------------


@transaction.atomic
def read_start(*, read: Read, reader, now: dt.datetime | None = None) -> Read:
    """Open ``read`` for ``reader``: the first time, record ``started_at``; later, restart the
    heartbeat clock so time away from the page is not credited."""
    now = _now(now)
    read = _locked(read)
    check_read_access(read, reader, now)
    if read.started_at is None:
        read.started_at = now
        read.last_heartbeat_at = now
        read.full_clean()
        read.save()
    elif read.submitted_at is None:
        Read.objects.filter(pk=read.pk).update(last_heartbeat_at=now)
        read.last_heartbeat_at = now
    return read


def answer_draft_save(
    *, read: Read, reader, answers: list[dict], comment: str | None = None, now: dt.datetime | None = None
) -> list[str]:
    """Autosave: validate and store the given answers of an unsubmitted read (others untouched).

    Returns the changed answer keys. Raises :class:`ReadLockedError` once the read is submitted,
    :class:`AnswerInvalidError` (nothing saved) if any answer does not fit its item.
    """
    now = _now(now)
    # Parsed before the transaction: on SQLite it holds the database's write lock, which every
    # other reader's save waits for. Access is checked under the lock.
    parsed = _parse_checked(read, reader, answers, now)
    with transaction.atomic(), audit.batched():
        read = _locked(read)
        check_read_access(read, reader, now)
        if read.submitted_at is not None:
            raise ReadLockedError("this read is submitted; its answers are locked")
        return _save_draft(read, parsed, comment, now)


def _save_draft(read: Read, parsed: Parsed, comment: str | None, now: dt.datetime, *, save: bool = True) -> list[str]:
    """Store the answers (and comment); ``save=False`` leaves the read's own row to the caller,
    which saves it once (the submission)."""
    dirty = False
    if read.started_at is None:
        read.started_at, read.last_heartbeat_at = now, now
        dirty = True
    changed = _apply(read, parsed)
    if _set_comment(read, comment):
        changed.append("comment")
        dirty = True
    if dirty and save:
        _clean_read(read)
        read.save(update_fields=_DRAFT_FIELDS)
    read._dirty = dirty and not save
    return changed


@dataclass(frozen=True)
class SubmitResult:
    read: Read
    replayed: bool  # True: this submission was already accepted; nothing changed
    session_completed: bool
    next_read: Read | None


# The columns of its own row that a save of answers (started, comment) and a submission may set.
_DRAFT_FIELDS = ["started_at", "last_heartbeat_at", "comment"]
_SUBMIT_FIELDS = [*_DRAFT_FIELDS, "active_seconds", "submitted_at", "submission_id"]


def _next_read(read: Read) -> Read | None:
    """The session's next unsubmitted read (its id is what the page needs)."""
    return (Read.objects.filter(session_id=read.session_id, submitted_at__isnull=True).order_by("position")
            .only("pk", "public_id", "session_id", "position").first())


def read_submit(
    *,
    read: Read,
    reader,
    submission_id: str,
    answers: list[dict] | None = None,
    comment: str | None = None,
    active_seconds: float | None = None,
    now: dt.datetime | None = None,
) -> SubmitResult:
    """Submit ``read``: save the last answers, require every required item, lock the read, and
    finish the session when this was its last read (which starts the next session's washout).

    Idempotent: a repeated request with the same ``submission_id`` returns the first result and
    changes nothing (even after the session finished); a different id for a submitted read is a
    :class:`ReadLockedError`. One transaction: the answers sent along are saved as the draft, then
    the read is checked for completeness and locked; an :class:`AnswersIncompleteError` (which lists
    what is missing) is raised after the draft is committed, so it loses nothing.
    """
    now = _now(now)
    if not isinstance(submission_id, str) or not SUBMISSION_ID.match(submission_id):
        raise AnswerInvalidError(["submission_id must be 8–64 letters, digits or -_.:"])
    if reader is None or read.session.reader_id != getattr(reader, "pk", None):
        raise ReadAccessError("no such read")
    if read.submitted_at is not None:
        # A repeated submission (the page retries until it has an answer) of a read already
        # submitted when this request began: answered without a transaction or a row lock. A
        # submission is only ever undone by a coordinator's reopen, which a replay may precede.
        _check_owner(read, reader)
        replay = _replay(read, submission_id)
        if replay is not None:
            return replay
    # Parsed before the transaction (on SQLite it holds the database's write lock); access is
    # checked under the lock.
    parsed = _parse_checked(read, reader, answers or [], now) if read.submitted_at is None else {}
    with transaction.atomic(), audit.batched():  # the answers' and the read's events: one INSERT
        locked = _locked(read)
        _check_owner(locked, reader)
        replay = _replay(locked, submission_id)  # also a concurrent twin that got here first
        if replay is not None:
            return replay
        _check_open(locked, now)
        if parsed or comment is not None:
            _save_draft(locked, parsed, comment, now, save=False)
        missing = missing_answers(locked, items=getattr(locked, "_applicable_items", None),
                                  answered=getattr(locked, "_answered", None))
        if missing:
            # The draft is kept (committed below); the refusal lists what is missing.
            if getattr(locked, "_dirty", False):
                _clean_read(locked)
                locked.save(update_fields=_DRAFT_FIELDS)
        else:
            if active_seconds is not None:
                locked.active_seconds += _credit(locked, active_seconds, now)
            locked.started_at = locked.started_at or now
            locked.submitted_at = now
            locked.submission_id = submission_id
            locked.last_heartbeat_at = now
            _clean_read(locked)
            locked.save(update_fields=_SUBMIT_FIELDS)  # an UPDATE of what a submission sets, not of every column
            next_read = _next_read(locked)  # None: this was the session's last unsubmitted read
            completed = next_read is None and session_complete_if_done(session=locked.session, now=now, all_submitted=True)
            return SubmitResult(read=locked, replayed=False, session_completed=completed, next_read=next_read)
    raise AnswersIncompleteError(missing)


def _replay(read: Read, submission_id: str) -> SubmitResult | None:
    """The earlier result if ``read`` (whose owner the caller checked) is already submitted under
    ``submission_id``; a :class:`ReadLockedError` if under another id; None if it is not submitted."""
    if read.submitted_at is None:
        return None
    if read.submission_id != submission_id:
        raise ReadLockedError("this read is already submitted; its answers are locked")
    return SubmitResult(read=read, replayed=True, session_completed=read.session.completed_at is not None,
                        next_read=_next_read(read))


def session_complete_if_done(*, session: Session, now: dt.datetime | None = None, all_submitted: bool = False) -> bool:
    """Set ``completed_at`` once every read of ``session`` is submitted. Returns True if it did.
    ``all_submitted``: the caller just found no unsubmitted read (under the read's lock)."""
    if session.completed_at is not None:
        return False
    if not all_submitted and session.reads.filter(submitted_at__isnull=True).exists():
        return False
    session.completed_at = _now(now)
    session.full_clean()
    session.save()
    audit.record(
        action="event", obj=session, summary=f"session {session.index + 1} finished",
        changes={"completed_at": session.completed_at.isoformat()},
    )
    return True


def _check_revisable(read: Read, reader, now: dt.datetime) -> None:
    _check_owner(read, reader)
    if read.submitted_at is None:
        raise ReadLockedError("this read is not submitted yet; save a draft instead")
    if not read.session.study.allow_revision:
        raise ReadLockedError("this study does not allow revising a submitted read")
    session = read.session
    if session.completed_at is None:
        if not session_is_open(session, now):
            raise ReadAccessError("this session is not open")
        return
    # A finished session stays revisable until the reader starts the next one: after that, a
    # change could draw on what the next session showed.
    later_started = Read.objects.filter(
        session__study_id=session.study_id, session__reader_id=session.reader_id, session__index__gt=session.index,
        started_at__isnull=False,
    ).exists()
    if later_started:
        raise ReadLockedError("a later session has started; this read can no longer be revised")


@transaction.atomic
def read_revise(
    *, read: Read, reader, answers: list[dict], reason: str, comment: str | None = None, now: dt.datetime | None = None
) -> list[str]:
    """Change answers of a submitted read, if the study allows it. Each changed answer's
    ``revision`` goes up; the audit rows carry ``reason``. Returns the changed keys."""
    now = _now(now)
    if not isinstance(reason, str) or not reason.strip():
        raise AnswerInvalidError(["revising a submitted read needs a reason"])
    read = _locked(read)
    _check_revisable(read, reader, now)
    with audit.acting_as(reader, reason=reason.strip()):
        changed = _apply(read, _parse(read, answers), revising=True)
        if _set_comment(read, comment):
            read.full_clean()
            read.save()
            changed.append("comment")
        missing = missing_answers(read)
        if missing:
            raise AnswersIncompleteError(missing)
        if changed:
            audit.record(action="event", obj=read, summary=f"read revised: {', '.join(changed)}"[:255],
                         changes={"changed": changed}, reason=reason.strip(), actor=reader)
    return changed


def _credit(read: Read, active_seconds: Any, now: dt.datetime) -> float:
    claimed = _number(active_seconds)
    if claimed is None or claimed <= 0 or read.submitted_at is not None:
        return 0.0
    since = read.last_heartbeat_at or read.started_at or now
    elapsed = max(0.0, (now - since).total_seconds())
    return min(claimed, elapsed + HEARTBEAT_SLACK_SECONDS, HEARTBEAT_MAX_SECONDS)


@transaction.atomic
def read_heartbeat(*, read: Read, reader, active_seconds: float, now: dt.datetime | None = None) -> float:
    """Credit the active seconds the page measured since its last heartbeat, bounded by the time the
    server saw pass (and :data:`HEARTBEAT_MAX_SECONDS`). Returns the read's total active seconds.

    Written with a queryset update, not ``save()``: a heartbeat every few seconds is timing, not an
    answer, and would flood the audit log; the total is in the audited row of the submission.
    """
    now = _now(now)
    read = _locked(read)
    check_read_access(read, reader, now)
    credit = _credit(read, active_seconds, now)
    if read.submitted_at is None:
        Read.objects.filter(pk=read.pk).update(active_seconds=F("active_seconds") + credit, last_heartbeat_at=now)
        read.active_seconds += credit
    return read.active_seconds


@transaction.atomic
def session_override_opening(*, session: Session, opens_at: dt.datetime | None, reason: str, actor) -> Session:
    """A coordinator sets (or, with None, removes) the opening date of ``session``, overriding its
    date and washout. Audited with ``reason``."""
    if not isinstance(reason, str) or not reason.strip():
        raise ReadingError("overriding a session's opening needs a reason")
    if opens_at is not None and timezone.is_naive(opens_at):
        raise ReadingError("the opening time must be timezone-aware")
    session = Session.objects.select_for_update(of=("self",)).select_related("study").get(pk=session.pk)
    if not is_coordinator(actor, session.study):
        raise ReadingError("only a coordinator of the study can override a session's opening")
    if session.study.status == Study.Status.LOCKED:
        raise ReadingError(f"the study '{session.study.name}' is locked")
    if session.completed_at is not None:
        raise ReadingError("this session is already finished")
    before = session.opens_at_override
    with audit.acting_as(actor, reason=reason.strip()):
        session.opens_at_override = opens_at
        session.full_clean()
        session.save()
        audit.record(
            action="event", obj=session,
            summary=f"opening of {session} overridden: {opens_at.isoformat() if opens_at else 'override removed'}",
            changes={"opens_at_override": [before.isoformat() if before else None,
                                           opens_at.isoformat() if opens_at else None]},
            reason=reason.strip(), actor=actor,
        )
    return session
