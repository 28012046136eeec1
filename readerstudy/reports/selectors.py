"""What a report is built from, read from the database: tidy answers, the analysis configuration,
the reference standard and image-integrity figures, and the hashes that key the report cache."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.db.models import Count, Q, QuerySet

from readerstudy.reading.export import answers_tidy
from readerstudy.studies.models import Item, ReferenceStandard, Study

from .build import answers_csv_bytes
from .models import Report

#: Item kinds of the questionnaire → kinds of the analysis configuration.
ITEM_KINDS = {
    Item.Kind.LIKERT: "likert", Item.Kind.BINARY: "binary", Item.Kind.CHECKLIST: "finding",
    Item.Kind.NUMERIC: "numeric", Item.Kind.ROI: "numeric", Item.Kind.PREFERENCE: "preference",
}


@dataclass
class ReportInputs:
    answers: pd.DataFrame
    config: dict[str, Any]
    reference_standard: pd.DataFrame | None
    integrity: pd.DataFrame | None
    meta: dict[str, Any]
    answers_sha256: str
    settings_sha256: str
    notes: list[str] = field(default_factory=list)


def integrity_path(study: Study) -> Path:
    """Where the study's image-integrity table (SSIM, L1 per volume) is kept, if it has one."""
    return Path(settings.MEDIA_ROOT) / "reports" / f"study_{study.pk}" / "integrity.csv"


def study_analysis_config(study: Study, answers: pd.DataFrame) -> dict[str, Any]:
    """The analysis configuration of ``study``: ``Study.analysis_settings`` (keys of
    ``docs/analysis.md``) over defaults taken from the questionnaire and the reference arm.

    Every item that occurs in the answers gets an ``[items.<key>]`` table (kind from the item's kind,
    scale and label from the item); ``analysis_settings["items"][key]`` entries are merged over it,
    so a coordinator states only margins, directions or kinds that differ. Items with no answers
    are left out (the engine refuses configured items without data).
    """
    raw = dict(study.analysis_settings or {})
    raw.pop("report", None)  # options of the report itself, not of the analysis (see report_options)
    present = set(answers["item"]) if "item" in answers else set()
    given_items = raw.pop("items", {}) or {}
    items: dict[str, dict[str, Any]] = {}
    for item in study.items.all():
        if item.key not in present:
            continue
        spec: dict[str, Any] = {"kind": ITEM_KINDS[item.kind], "label": item.label}
        if item.kind in (Item.Kind.LIKERT, Item.Kind.PREFERENCE) and item.scale_min is not None:
            spec["scale"] = [int(item.scale_min), int(item.scale_max)]
        spec.update(given_items.get(item.key, {}))
        items[item.key] = spec
    for key, spec in given_items.items():
        if key in present and key not in items:
            items[key] = dict(spec)
    config: dict[str, Any] = {"items": items, **raw}
    if "reference" not in config:
        ref = study.arms.filter(is_reference=True).first()
        if ref is not None:
            config["reference"] = ref.name
    derived = config.get("derived") or {}
    if derived:  # a derived quantity needs its ROI items answered
        config["derived"] = {name: d for name, d in derived.items()
                             if all(d.get(k) in items for k in ("signal", "noise", "signal_reference") if k in d)}
    return config


def report_options(study: Study) -> dict[str, Any]:
    """``Study.analysis_settings["report"]``: ``title`` and ``notes`` (e.g. that some readers are
    simulated), shown at the top of the report."""
    opts = (study.analysis_settings or {}).get("report") or {}
    notes = opts.get("notes") or []
    notes = notes if isinstance(notes, list) else [notes]
    return {"title": str(opts.get("title") or ""), "notes": [str(n) for n in notes]}


def study_reference_standard(study: Study) -> pd.DataFrame | None:
    rows = list(
        ReferenceStandard.objects.filter(case__study=study, case__is_training=False)
        .values_list("case__label", "level", "finding", "present")
    )
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["case", "level", "finding", "present"])
    frame["present"] = frame["present"].astype(int)
    return frame


def study_integrity(study: Study) -> pd.DataFrame | None:
    path = integrity_path(study)
    if not path.exists():
        return None
    return pd.read_csv(path, dtype={"case": str, "sequence": str, "reference": str, "test": str},
                       keep_default_na=False)


def study_reads_by_reader(study: Study) -> dict[str, dict[str, int]]:
    """Per reader (username): reads scheduled and submitted, training sessions and cases left out —
    so that a reader with no answer yet is still listed on the report's verdict page."""
    from readerstudy.reading.models import Read

    rows = (
        Read.objects.filter(session__study=study, session__is_training=False, series__case__is_training=False)
        .values("session__reader__username")
        .annotate(scheduled=Count("id"), submitted=Count("id", filter=Q(submitted_at__isnull=False)))
        .order_by("session__reader__username")
    )
    return {r["session__reader__username"]: {"scheduled": r["scheduled"], "submitted": r["submitted"]} for r in rows}


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def report_inputs(study: Study) -> ReportInputs:
    """Everything a report of ``study`` is built from, with the hashes that key the cache.

    The answers are not validated here: the analysis engine does that once, when the report is
    built (a reference standard that does not fit them is then left out with a note).
    """
    answers = answers_tidy(study)
    config = study_analysis_config(study, answers)
    reference = study_reference_standard(study)
    integrity = study_integrity(study)
    options = report_options(study)
    notes: list[str] = list(options["notes"])
    reads = study_reads_by_reader(study)
    settings_hash = _sha256_json({
        "reads": reads,
        "config": config,
        "reference": None if reference is None else reference.to_csv(index=False),
        "integrity": None if integrity is None else integrity.to_csv(index=False),
        "report": options,
    })
    meta = {"study": study.name, "seed": study.seed,
            "sequences": list(study.sequences.order_by("order", "name").values_list("name", flat=True)),
            "arms": list(study.arms.order_by("order", "name").values_list("name", flat=True)),
            "reads": reads,
            **({"title": options["title"]} if options["title"] else {})}
    return ReportInputs(answers=answers, config=config, reference_standard=reference, integrity=integrity, meta=meta,
                        answers_sha256=hashlib.sha256(answers_csv_bytes(answers)).hexdigest(),
                        settings_sha256=settings_hash, notes=notes)


def reports_of(study: Study) -> QuerySet[Report]:
    return Report.objects.filter(study=study)


def report_latest(study: Study) -> Report | None:
    return reports_of(study).first()
