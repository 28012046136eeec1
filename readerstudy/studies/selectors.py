"""Reads of the study domain that span relations (kept out of model properties)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

from django.db.models import Count, QuerySet
from django.utils.module_loading import autodiscover_modules

from .models import Item, Membership, ReferenceStandard, Series, Study


def studies_coordinated_by(user) -> QuerySet[Study]:
    if not getattr(user, "is_authenticated", False):
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    return Study.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.COORDINATOR, memberships__active=True
    ).distinct()


def is_coordinator(user, study: Study | int) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    study_id = study.pk if isinstance(study, Study) else study
    return Membership.objects.filter(
        study_id=study_id, user=user, role=Membership.Role.COORDINATOR, active=True
    ).exists()


def studies_read_by(user) -> QuerySet[Study]:
    if not getattr(user, "is_authenticated", False):
        return Study.objects.none()
    return Study.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.READER, memberships__active=True
    ).distinct()


def study_overview(study: Study) -> dict:
    """Counts of a study (the API's ``overview``)."""
    return {
        "cases": study.cases.count(),
        "sequences": list(study.sequences.values_list("name", flat=True)),
        "arms": list(study.arms.values("name", "is_reference")),
        "series": study.cases.aggregate(n=Count("series"))["n"] or 0,
        "items": study.items.count(),
        "readers": study.memberships.filter(role=Membership.Role.READER, active=True).count(),
    }


# --- the publish checklist ----------------------------------------------------------------------
#
# One list of rules a study must pass before it is published. ``studies.services.study_set_status``
# enforces it (through ``study_publish_problems``) and the workspace shows it, so every entry
# point (the API, the workspace, the admin, commands) refuses the same studies.
#
# The rules about the study's own design live here. Apps above studies in the flow (reading: the
# written schedule; reports: the analysis settings) add theirs in a ``checklist.py`` module that
# registers functions with :func:`publish_rule`; those modules are discovered the first time the
# checklist runs, the way the admin discovers ``admin.py``, so that studies imports none of them.

#: The parts of a study a problem belongs to, in the order a coordinator sets them up: (slug, title).
CHECKLIST_STEPS = [
    ("basics", "Name and description"),
    ("design", "Sequences and arms"),
    ("cases", "Cases and series"),
    ("questionnaire", "Questionnaire"),
    ("reference", "Reference standard"),
    ("readers", "Readers"),
    ("schedule", "Reading design"),
    ("analysis", "Analysis settings"),
    ("publish", "Check and publish"),
]
CHECKLIST_STEP_TITLES = dict(CHECKLIST_STEPS)


@dataclass(frozen=True)
class Problem:
    """One thing to fix before publishing (``severity`` "error") or to look at ("warning"), with
    the part of the study (``step``, a slug of :data:`CHECKLIST_STEPS`) where it is fixed."""

    rule: str
    message: str
    step: str
    severity: str = "error"
    anchor: str = ""

    def __post_init__(self) -> None:
        if self.step not in CHECKLIST_STEP_TITLES:
            raise ValueError(f"unknown checklist step {self.step!r}")
        if self.severity not in ("error", "warning"):
            raise ValueError(f"unknown severity {self.severity!r}")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "step_title": CHECKLIST_STEP_TITLES[self.step]}


PublishRule = Callable[[Study], Iterable[Problem]]
_publish_rules: dict[str, tuple[int, PublishRule]] = {}
_discovered = False


def publish_rule(order: int) -> Callable[[PublishRule], PublishRule]:
    """Register ``fn(study) -> problems`` as a publish rule; ``order`` places its problems in the
    list (10 basics ... 90 analysis, as in :data:`CHECKLIST_STEPS`)."""

    def register(fn: PublishRule) -> PublishRule:
        _publish_rules[f"{fn.__module__}.{fn.__qualname__}"] = (order, fn)
        return fn

    return register


def publish_checklist(study: Study) -> list[Problem]:
    """Every rule a study must pass before it is published, as problems with the step that fixes
    them. Errors block publishing; warnings do not."""
    global _discovered
    if not _discovered:
        autodiscover_modules("checklist")
        _discovered = True
    problems: list[Problem] = []
    for _, rule in sorted(_publish_rules.values(), key=lambda entry: entry[0]):
        problems.extend(rule(study))
    return problems


def publish_errors(study: Study) -> list[Problem]:
    return [p for p in publish_checklist(study) if p.severity == "error"]


def active_readers(study: Study) -> QuerySet[Membership]:
    return Membership.objects.filter(study=study, role=Membership.Role.READER, active=True).select_related("user")


@publish_rule(10)
def _basics(study: Study) -> Iterable[Problem]:
    if not study.name.strip():
        yield Problem("name", "the study has no name", "basics")


@publish_rule(20)
def _design(study: Study) -> Iterable[Problem]:
    arms = list(study.arms.all())
    if not study.sequences.exists():
        yield Problem("sequences", "no sequences: add at least one (e.g. SAG T2 FS)", "design")
    if not arms:
        yield Problem("arms", "no arms: add at least two (e.g. Standard and Fast)", "design")
    elif len(arms) < 2:
        yield Problem("arms", "only one arm: a reader study compares at least two", "design")
    if arms and not any(a.is_reference for a in arms):
        yield Problem("reference_arm", "no reference arm: mark the arm the others are compared with", "design")


@publish_rule(30)
def _cases(study: Study) -> Iterable[Problem]:
    """Every case has every series the design needs, none empty, the same geometry across arms."""
    cases = list(study.cases.all())
    if not cases:
        yield Problem("cases", "no cases: import series or generate them with the recon worker", "cases")
    elif all(c.is_training for c in cases):
        yield Problem("cases", "every case is a training case; the analysis needs study cases", "cases")
    sequences = list(study.sequences.all())
    arms = list(study.arms.all())
    present: set[tuple[int, int, int]] = set()
    for series in (Series.objects.filter(case__study=study).select_related("case", "sequence", "arm")
                   .annotate(n_files=Count("instances"))):
        present.add((series.case_id, series.sequence_id, series.arm_id))
        if series.n_files == 0 or series.n_files != series.num_instances:
            yield Problem(
                "series_empty", f"case {series.case.label}, {series.sequence.name}, {series.arm.name}: the series has "
                f"{series.n_files} of {series.num_instances} images", "cases", anchor=f"case-{series.case_id}")
    for case in cases:
        missing = [f"{s.name} / {a.name}" for s in sequences for a in arms if (case.pk, s.pk, a.pk) not in present]
        if missing:
            yield Problem("series_missing", f"case {case.label} is missing {len(missing)} series: {', '.join(missing)}",
                          "cases", anchor=f"case-{case.pk}")
    for message in geometry_mismatches(study):
        yield Problem("geometry", message, "cases")


@publish_rule(40)
def _questionnaire(study: Study) -> Iterable[Problem]:
    items = list(study.items.prefetch_related("sequences"))
    if not items:
        yield Problem("items", "no questionnaire items: start from a template or add items", "questionnaire")
    else:
        for seq in study.sequences.all():
            if not any(not i.sequences.all() or seq in i.sequences.all() for i in items if i.kind != Item.Kind.PREFERENCE):
                yield Problem("items_sequence", f"no item is asked for sequence {seq.name}", "questionnaire")
        if not any(i.required for i in items):
            yield Problem("items_required", "no item is required: a reader could submit an empty form",
                          "questionnaire", severity="warning")
    design = study.reading_design or {}
    has_preference = any(i.kind == Item.Kind.PREFERENCE for i in items)
    if design.get("kind") == "side_by_side" and not has_preference:
        yield Problem("items_preference", "a side-by-side design needs a preference item", "questionnaire")
    if design and design.get("kind") != "side_by_side" and has_preference:
        yield Problem("items_preference", "preference items are asked only in side-by-side reads; this design "
                      "has none, so they will never be answered", "questionnaire", severity="warning")


@publish_rule(50)
def _reference(study: Study) -> Iterable[Problem]:
    """Findings asked per level without truth: sensitivity and specificity need it."""
    findings = set(study.items.filter(kind=Item.Kind.CHECKLIST).values_list("key", flat=True))
    if findings and study.cases.exists():
        known = set(ReferenceStandard.objects.filter(case__study=study).values_list("finding", flat=True))
        without = sorted(findings - known)
        if without:
            yield Problem("reference", f"no reference standard for {', '.join(without)}; sensitivity and "
                          "specificity will be skipped", "reference", severity="warning")


@publish_rule(60)
def _readers(study: Study) -> Iterable[Problem]:
    readers = list(active_readers(study))
    if not readers:
        yield Problem("readers", "no readers: add reader accounts", "readers")
    elif len(readers) < 2:
        yield Problem("readers", "one reader: agreement between readers needs two or more", "readers",
                      severity="warning")
    coordinators = set(Membership.objects.filter(study=study, role=Membership.Role.COORDINATOR, active=True)
                       .values_list("user_id", flat=True))
    both = sorted(m.user.username for m in readers if m.user_id in coordinators)
    if both:
        yield Problem("reader_is_coordinator", f"{', '.join(both)} also coordinates this study and would read "
                      "it unblinded; withdraw them as a reader or add a separate reader account", "readers")


@publish_rule(70)
def _reading_design(study: Study) -> Iterable[Problem]:
    # Whether the written schedule matches the design is reading's rule (reading/checklist.py).
    if not study.reading_design:
        yield Problem("schedule", "no reading design: choose one, preview it and write the schedule", "schedule")


@publish_rule(90)
def _analysis_defaults(study: Study) -> Iterable[Problem]:
    # Whether the settings parse is the report's rule (reports/checklist.py).
    if not study.analysis_settings:
        yield Problem("analysis", "no analysis settings: the defaults will be used (margins per kind, "
                      "case-mean unit, Benjamini–Hochberg)", "analysis", severity="warning")


def geometry_mismatches(study: Study) -> list[str]:
    """Arms of one case and sequence must share the matrix, spacing, orientation and slice count:
    a reader would otherwise tell the arms apart by their geometry."""
    groups: dict[tuple[str, str], dict[tuple, list[str]]] = {}
    for series in Series.objects.filter(case__study=study).select_related("case", "sequence", "arm"):
        geometry = (
            series.rows, series.columns, tuple(round(v, 4) for v in series.pixel_spacing_mm),
            tuple(round(v, 4) for v in series.image_orientation), series.num_instances,
        )
        groups.setdefault((series.case.label, series.sequence.name), {}).setdefault(geometry, []).append(series.arm.name)
    problems = []
    for (case, sequence), by_geometry in sorted(groups.items()):
        if len(by_geometry) > 1:
            described = "; ".join(
                f"{', '.join(sorted(arms))}: {g[0]}x{g[1]}, spacing {list(g[2])} mm, {g[4]} slices"
                for g, arms in by_geometry.items()
            )
            problems.append(f"case {case}, {sequence}: the arms differ in geometry ({described})")
    return problems
