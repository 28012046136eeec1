"""Writes of the study domain. Views, the admin, commands and jobs call these; each change is
validated (``full_clean``) and atomic, and the audit log records it (see ``audit.py``).

Design changes (sequences, arms, cases, items) are only allowed while a study is a draft:
once published, readers' sessions depend on them.
"""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from typing import Any, Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from . import audit
from .selectors import CHECKLIST_STEP_TITLES, publish_errors
from .models import Arm, Case, Item, Membership, ReferenceStandard, Sequence, Series, Study

User = get_user_model()


class StudyStateError(ValidationError):
    """The study's state (published, locked) forbids the change."""


def _require_draft(study: Study, what: str) -> None:
    if study.status != Study.Status.DRAFT:
        raise StudyStateError(f"cannot {what}: study '{study.name}' is {study.status}, not a draft")


def _require_not_locked(study: Study, what: str) -> None:
    if study.status == Study.Status.LOCKED:
        raise StudyStateError(f"cannot {what}: study '{study.name}' is locked")


def _save(obj):
    obj.full_clean()
    obj.save()
    return obj


# --- study and membership -----------------------------------------------------------------------


@transaction.atomic
def study_create(*, name: str, created_by, description: str = "", seed: int | None = None) -> Study:
    study = Study(name=name, description=description, created_by=created_by)
    if seed is not None:
        study.seed = seed
    _save(study)
    membership_add(study=study, user=created_by, role=Membership.Role.COORDINATOR)
    return study


@transaction.atomic
def study_update(*, study: Study, **fields: Any) -> Study:
    allowed = {"name", "description", "allow_revision", "analysis_settings", "seed"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(f"unknown or read-only study fields: {', '.join(sorted(unknown))}")
    _require_not_locked(study, "change the study")
    if "seed" in fields and fields["seed"] != study.seed:
        _require_draft(study, "change the seed")
    for key, value in fields.items():
        setattr(study, key, value)
    study.full_clean()
    # Only the fields asked for: a caller holding an older copy of the study must not write back
    # columns that others changed since (the reading design, the status).
    study.save(update_fields=list(fields) or None)
    return study


@transaction.atomic
def study_set_status(*, study: Study, status: str, reason: str = "") -> Study:
    order = [Study.Status.DRAFT, Study.Status.PUBLISHED, Study.Status.LOCKED]
    if status not in order:
        raise ValidationError(f"unknown status {status!r}")
    if order.index(status) < order.index(study.status):
        raise StudyStateError(f"study '{study.name}' is {study.status}; it cannot go back to {status}")
    if status == Study.Status.PUBLISHED and study.status == Study.Status.DRAFT:
        problems = study_publish_problems(study=study)
        if problems:
            raise ValidationError(["cannot publish: " + p for p in problems])
    with audit.with_reason(reason):
        study.status = status
        return _save(study)


def study_publish_problems(*, study: Study) -> list[str]:
    """What must be fixed before the study can be published (empty list: ready): the errors of
    the one publish checklist, ``selectors.publish_checklist``, each with the part of the study
    where it is fixed."""
    problems = [f"{p.message} ({CHECKLIST_STEP_TITLES[p.step]})" for p in publish_errors(study)]
    return problems


@transaction.atomic
def membership_add(*, study: Study, user, role: str) -> Membership:
    membership = Membership.objects.filter(study=study, user=user, role=role).first()
    if membership is None:
        return _save(Membership(study=study, user=user, role=role))
    if not membership.active:
        membership.active = True
        _save(membership)
    return membership


@transaction.atomic
def membership_withdraw(*, membership: Membership, reason: str) -> Membership:
    if not reason.strip():
        raise ValidationError("withdrawing a member needs a reason")
    with audit.with_reason(reason):
        membership.active = False
        return _save(membership)


def reader_create(*, study: Study, username: str, password: str | None = None) -> tuple[Any, str]:
    """Trusted: create a reader account (or reuse one) and add it to the study. Returns (user,
    password; "" for an existing account). For management commands, the demo and tests only: it
    tells whether the username existed, so requests invite readers instead (``invitations.py``)."""
    from django.contrib.auth.hashers import make_password
    from django.utils.crypto import get_random_string

    with transaction.atomic():
        password = password or get_random_string(16)
        user, created = User.objects.get_or_create(username=username, defaults={"password": make_password(password)})
        if not created:
            password = ""
        membership_add(study=study, user=user, role=Membership.Role.READER)
    return user, password


# --- design objects -----------------------------------------------------------------------------


@transaction.atomic
def sequence_create(*, study: Study, name: str, order: int | None = None) -> Sequence:
    _require_draft(study, "add a sequence")
    order = study.sequences.count() if order is None else order
    return _save(Sequence(study=study, name=name, order=order))


@transaction.atomic
def arm_create(*, study: Study, name: str, is_reference: bool = False, order: int | None = None, description: str = "") -> Arm:
    _require_draft(study, "add an arm")
    order = study.arms.count() if order is None else order
    if is_reference:
        study.arms.filter(is_reference=True).update(is_reference=False)
    return _save(Arm(study=study, name=name, is_reference=is_reference, order=order, description=description))


@transaction.atomic
def arm_set_reference(*, arm: Arm) -> Arm:
    _require_draft(arm.study, "change the reference arm")
    for other in arm.study.arms.filter(is_reference=True).exclude(pk=arm.pk):
        other.is_reference = False
        _save(other)
    arm.is_reference = True
    return _save(arm)


@transaction.atomic
def case_create(*, study: Study, label: str, is_training: bool = False) -> Case:
    _require_draft(study, "add a case")
    return _save(Case(study=study, label=label, is_training=is_training))


@transaction.atomic
def design_object_update(*, obj, **fields: Any):
    """Update a Sequence, Arm, Case or Item of a draft study."""
    study = obj.study
    _require_draft(study, f"change {obj._meta.verbose_name}")
    if fields.get("is_reference") and isinstance(obj, Arm):
        fields.pop("is_reference")
        arm_set_reference(arm=obj)
    sequences = fields.pop("sequences", None)
    for key, value in fields.items():
        setattr(obj, key, value)
    _save(obj)
    if sequences is not None:
        obj.sequences.set(sequences)
    return obj


@transaction.atomic
def design_object_delete(*, obj) -> None:
    _require_draft(obj.study, f"delete {obj._meta.verbose_name}")
    obj.delete()


ITEM_FIELDS = {
    "key", "label", "help_text", "kind", "category", "order", "required", "scale_min", "scale_max",
    "anchors", "levels", "unit", "value_min", "value_max",
}


def _validate_item(item: Item) -> None:
    errors: dict[str, str] = {}
    kind = item.kind
    if kind in (Item.Kind.LIKERT, Item.Kind.PREFERENCE):
        if item.scale_min is None or item.scale_max is None or item.scale_min >= item.scale_max:
            errors["scale_max"] = f"{kind} item '{item.key}' needs scale_min < scale_max"
        else:
            expected = {str(p) for p in range(item.scale_min, item.scale_max + 1)}
            if not isinstance(item.anchors, dict):
                errors["anchors"] = "anchors must be an object {point: text}"
            elif set(item.anchors) != expected:
                errors["anchors"] = (
                    f"item '{item.key}' needs one anchor text per point {item.scale_min}..{item.scale_max}; "
                    f"got points {sorted(item.anchors)}"
                )
            elif any(not str(text).strip() for text in item.anchors.values()):
                errors["anchors"] = f"item '{item.key}' has an empty anchor text"
    if kind == Item.Kind.CHECKLIST:
        if not isinstance(item.levels, list) or not item.levels or not all(isinstance(v, str) and v for v in item.levels):
            errors["levels"] = f"checklist item '{item.key}' needs a non-empty list of level names"
        elif len(set(item.levels)) != len(item.levels):
            errors["levels"] = f"checklist item '{item.key}' lists a level twice"
    elif item.levels:
        errors["levels"] = f"only checklist items have levels ('{item.key}' is {kind})"
    if kind == Item.Kind.NUMERIC and not item.unit:
        errors["unit"] = f"numeric item '{item.key}' needs a unit"
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def item_create(*, study: Study, sequences: Iterable[Sequence] = (), **fields: Any) -> Item:
    _require_draft(study, "add a questionnaire item")
    unknown = set(fields) - ITEM_FIELDS
    if unknown:
        raise ValidationError(f"unknown item fields: {', '.join(sorted(unknown))}")
    fields.setdefault("order", study.items.count())
    item = Item(study=study, **fields)
    _validate_item(item)
    _save(item)
    if sequences:
        item.sequences.set(sequences)
    return item


@transaction.atomic
def item_update(*, item: Item, **fields: Any) -> Item:
    unknown = set(fields) - ITEM_FIELDS - {"sequences"}
    if unknown:
        raise ValidationError(f"unknown item fields: {', '.join(sorted(unknown))}")
    sequences = fields.pop("sequences", None)
    for key, value in fields.items():
        setattr(item, key, value)
    _validate_item(item)
    return design_object_update(obj=item, **({"sequences": sequences} if sequences is not None else {}))


# --- questionnaire templates --------------------------------------------------------------------


def questionnaire_templates() -> dict[str, dict]:
    """The questionnaire templates shipped with the product, by key (seed000 ... seed003)."""
    folder = resources.files("readerstudy.studies") / "questionnaires"
    templates = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            templates[data["key"]] = data
    return templates


@transaction.atomic
def questionnaire_apply_template(*, study: Study, template: str) -> list[Item]:
    """Add a template's items to the study. Fails without change if any key already exists."""
    templates = questionnaire_templates()
    if template not in templates:
        raise ValidationError(f"unknown questionnaire template {template!r}; choose one of {', '.join(templates)}")
    items = templates[template]["items"]
    clashes = sorted(set(study.items.values_list("key", flat=True)) & {i["key"] for i in items})
    if clashes:
        raise ValidationError(f"the study already has items {', '.join(clashes)}; template {template} not applied")
    return [item_create(study=study, **item) for item in items]


# --- reference standard -------------------------------------------------------------------------

REFERENCE_COLUMNS = ["case", "level", "finding", "present"]
_TRUE = {"1", "true", "yes", "present"}
_FALSE = {"0", "false", "no", "absent"}


def parse_reference_standard_csv(text: str) -> list[dict[str, Any]]:
    """Parse ``case,level,finding,present`` rows; errors name the line and the problem."""
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    missing = [c for c in REFERENCE_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REFERENCE_COLUMNS + ["source"]]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing columns: {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown columns: {', '.join(unknown)}")
        raise ValidationError(f"reference standard CSV: {'; '.join(parts)} (expected {','.join(REFERENCE_COLUMNS)})")
    rows, errors, seen = [], [], set()
    for line_no, row in enumerate(reader, start=2):
        case, level, finding = (row["case"] or "").strip(), (row["level"] or "").strip(), (row["finding"] or "").strip()
        present_raw = (row["present"] or "").strip().lower()
        if not case or not finding:
            errors.append(f"line {line_no}: case and finding are required")
            continue
        if present_raw in _TRUE:
            present = True
        elif present_raw in _FALSE:
            present = False
        else:
            errors.append(f"line {line_no}: present={row['present']!r} is not 0/1/true/false")
            continue
        key = (case, level, finding)
        if key in seen:
            errors.append(f"line {line_no}: duplicate row for case {case}, level {level or '(case)'}, finding {finding}")
            continue
        seen.add(key)
        rows.append({"case": case, "level": level, "finding": finding, "present": present,
                     "source": (row.get("source") or "").strip()})
    if errors:
        raise ValidationError(errors)
    return rows


@transaction.atomic
def reference_standard_import(*, study: Study, rows: list[dict[str, Any]], source: str = "consensus") -> int:
    """Create or update reference-standard rows; all or nothing. Returns the number of rows."""
    _require_not_locked(study, "change the reference standard")
    cases = {c.label: c for c in study.cases.all()}
    unknown = sorted({r["case"] for r in rows} - set(cases))
    if unknown:
        raise ValidationError(f"reference standard names cases not in the study: {', '.join(unknown[:20])}")
    for row in rows:
        obj = ReferenceStandard.objects.filter(case=cases[row["case"]], level=row["level"], finding=row["finding"]).first()
        if obj is None:
            obj = ReferenceStandard(case=cases[row["case"]], level=row["level"], finding=row["finding"])
        obj.present = row["present"]
        obj.source = row.get("source") or source
        _save(obj)
    return len(rows)


# --- unblinding key -----------------------------------------------------------------------------


def study_unblinding_key(*, study: Study, actor, fmt: str = "json") -> list[dict]:
    """Which blinded series was which arm, for a locked study's coordinator; every access audited.

    One row per series: blinded ids (public id, SeriesInstanceUID) and what they hide (case,
    sequence, arm, original SeriesInstanceUID), with the reads that showed it (through the
    ``reads``/``reads_right`` relations the reading area's ``Read`` puts on ``Series``).
    """
    from .selectors import is_coordinator

    if not is_coordinator(actor, study):
        raise StudyStateError("only a coordinator of the study can see the unblinding key")
    if study.status != Study.Status.LOCKED:
        raise StudyStateError("the unblinding key is shown only after the study is locked")
    series = list(
        Series.objects.filter(case__study=study).select_related("case", "sequence", "arm")
        .prefetch_related("reads__session__reader", "reads_right__session__reader")
        .order_by("case__label", "sequence__order", "arm__order")
    )

    def shown(series_obj) -> str:
        labelled = []
        for side, reads in (("left", series_obj.reads.all()), ("right", series_obj.reads_right.all())):
            for read in reads:
                session = read.session
                label = f"{session.reader.username} s{session.index + 1} #{read.position + 1}"
                if side == "right":
                    label += " (right)"
                elif read.series_right_id:
                    label += " (left)"
                labelled.append(((session.reader.username, session.index, read.position, side), label))
        return "; ".join(label for _, label in sorted(labelled))

    rows = [
        {
            "series_public_id": s.public_id,
            "blinded_series_instance_uid": s.series_instance_uid,
            "case": s.case.label,
            "sequence": s.sequence.name,
            "arm": s.arm.name,
            "reference_arm": s.arm.is_reference,
            "original_series_instance_uid": s.original_series_instance_uid,
            "reads": shown(s),
        }
        for s in series
    ]
    audit.record(action="access", obj=study, object_type="studies.unblinding_key", object_id=str(study.pk),
                 summary=f"unblinding key viewed ({fmt}, {len(rows)} series)", actor=actor)
    return rows
