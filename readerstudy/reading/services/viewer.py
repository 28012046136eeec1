"""The study's viewer settings: window presets chosen by the coordinator (per study, the same for
every arm) and the one applied when a read opens."""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from readerstudy.studies import audit
from readerstudy.studies.models import Study
from readerstudy.studies.selectors import is_coordinator

from ..models import ViewerSettings

MAX_PRESETS = 12


def _clean_presets(presets: Any) -> list[dict[str, Any]]:
    if not isinstance(presets, (list, tuple)):
        raise ValidationError("presets must be a list of {name, window_center, window_width}")
    if len(presets) > MAX_PRESETS:
        raise ValidationError(f"at most {MAX_PRESETS} presets")
    cleaned, names, problems = [], set(), []
    for n, preset in enumerate(presets, start=1):
        if not isinstance(preset, dict):
            problems.append(f"preset {n}: expected an object with name, window_center and window_width")
            continue
        name = str(preset.get("name", "")).strip()
        center, width = preset.get("window_center"), preset.get("window_width")
        if not name or len(name) > 64:
            problems.append(f"preset {n}: a name of 1–64 characters is needed")
        elif name in names:
            problems.append(f"preset {n}: the name '{name}' is used twice")
        numbers_ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (center, width))
        if not numbers_ok:
            problems.append(f"preset {n} ({name or 'unnamed'}): window_center and window_width must be numbers")
        elif width <= 0:
            problems.append(f"preset {n} ({name}): window_width must be positive, not {width:g}")
        names.add(name)
        if numbers_ok:
            cleaned.append({"name": name, "window_center": float(center), "window_width": float(width)})
    if problems:
        raise ValidationError(problems)
    return cleaned


@transaction.atomic
def viewer_settings_set(*, study: Study, presets: list[dict], initial_preset: str = "", actor) -> ViewerSettings:
    """Set the study's window presets and the one a read opens with (empty: the image's own
    window). Coordinators only; not once the study is locked. Audited."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if not is_coordinator(actor, study):
        raise ValidationError("only a coordinator of the study can set its viewer presets")
    if study.status == Study.Status.LOCKED:
        raise ValidationError(f"the study '{study.name}' is locked")
    cleaned = _clean_presets(presets)
    initial_preset = (initial_preset or "").strip()
    if initial_preset and initial_preset not in {p["name"] for p in cleaned}:
        raise ValidationError(f"initial_preset '{initial_preset}' is not one of the presets")
    with audit.acting_as(actor, reason="viewer presets set"):
        settings_row, _ = ViewerSettings.objects.get_or_create(study=study)
        settings_row.presets = cleaned
        settings_row.initial_preset = initial_preset
        settings_row.full_clean()
        settings_row.save()
    return settings_row
