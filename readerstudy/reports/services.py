"""Writes of the report area: request a report (cached by what it is built from) and build it."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from readerstudy.jobs import lifecycle as jobs
from readerstudy.studies.models import Study

from . import selectors
from .build import build_report, check_integrity
from .models import Report
from .render import write_report

log = logging.getLogger(__name__)

#: Reports that count as the cached result of a request (a failed one is retried).
LIVE_STATES = (Report.State.QUEUED, Report.State.RUNNING, Report.State.SUCCEEDED)


def report_dir(report: Report) -> Path:
    return Path(settings.MEDIA_ROOT) / "reports" / report.public_id


def report_request(*, study: Study, actor) -> Report:
    """The report of ``study``'s current answers and settings: a cached one when the answers hash
    and the settings hash are unchanged, else a new report queued for the worker (after commit).

    Raises ``ValidationError`` when the study has no submitted answers.
    """
    inputs = selectors.report_inputs(study)
    if inputs.answers.empty:
        raise ValidationError("this study has no submitted answers yet: nothing to report")
    with transaction.atomic():
        # One request at a time per study, so two clicks never queue two identical builds.
        Study.objects.select_for_update().filter(pk=study.pk).first()
        return _cached_or_queued(study, actor, inputs)


def _cached_or_queued(study: Study, actor, inputs: selectors.ReportInputs) -> Report:
    cached = (
        Report.objects.filter(study=study, answers_sha256=inputs.answers_sha256, settings_sha256=inputs.settings_sha256,
                              state__in=LIVE_STATES)
        .exclude(jobs.stale_q())  # a job whose worker died is no answer (readerstudy/jobs recovers it)
        .order_by("-created_at", "-id")
        .first()
    )
    if cached is not None:
        return cached
    report = Report(study=study, requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                    answers_sha256=inputs.answers_sha256, settings_sha256=inputs.settings_sha256,
                    answer_count=len(inputs.answers), message="queued")
    report.full_clean()
    report.save()
    from .tasks import report_build_task

    transaction.on_commit(lambda: report_build_task.delay(report.pk))
    return report


def _progress(report_pk: int):
    def tick(pct: int, message: str) -> None:
        Report.objects.filter(pk=report_pk).update(progress=min(int(pct), 99), message=message[:200])

    return tick


def report_build(*, report_pk: int) -> Report | None:
    """Build and render a queued report; safe to run twice (a finished report is left as it is).

    The inputs are read again here, so the report describes the answers at build time; its
    hashes are updated to match. Invalid input (e.g. a configuration the engine refuses) ends in
    state ``failed`` with the engine's message in ``error``.
    """
    with transaction.atomic():
        report = Report.objects.select_for_update().select_related("study").filter(pk=report_pk).first()
        if report is None:  # deleted (with its study) before the worker got to it
            return None
        if report.state in (Report.State.SUCCEEDED, Report.State.FAILED):
            return report
        report.state = Report.State.RUNNING
        report.started_at = timezone.now()
        report.progress = 1
        report.message = "reading answers"
        report.save(update_fields=["state", "started_at", "progress", "message"])
    tick = _progress(report.pk)
    out = report_dir(report)
    try:
        inputs = selectors.report_inputs(report.study)
        built = build_report(inputs.answers, inputs.config, inputs.reference_standard, inputs.integrity,
                             meta={**inputs.meta, "notes": inputs.notes}, progress=tick,
                             invalid_reference="drop")
        if out.exists():
            shutil.rmtree(out)
        paths = write_report(built, out, progress=tick)
    except ValueError as exc:
        return _finish(report, state=Report.State.FAILED, error=str(exc))
    except Exception as exc:  # recorded for the coordinator, re-raised for the worker's log
        _finish(report, state=Report.State.FAILED, error=f"internal error: {type(exc).__name__}: {exc}")
        raise
    media = Path(settings.MEDIA_ROOT)
    return _finish(report, state=Report.State.SUCCEEDED, files={k: str(p.relative_to(media)) for k, p in paths.items()},
                   stamp=built.stamp, answers_sha256=inputs.answers_sha256, settings_sha256=inputs.settings_sha256,
                   answer_count=len(inputs.answers))


def _finish(report: Report, *, state: str, **fields) -> Report:
    report.refresh_from_db()
    report.state = state
    report.progress = 100
    report.message = "done" if state == Report.State.SUCCEEDED else "failed"
    report.finished_at = timezone.now()
    for key, value in fields.items():
        setattr(report, key, value)
    report.full_clean()
    report.save()
    return report


def report_file(report: Report, fmt: str) -> Path | None:
    """The path of one rendered format of a finished report (``None`` when there is none)."""
    rel = (report.files or {}).get(fmt)
    if report.state != Report.State.SUCCEEDED or not rel:
        return None
    path = Path(settings.MEDIA_ROOT) / rel
    return path if path.is_file() else None


def report_integrity_set(*, study: Study, integrity) -> Path:
    """Store the study's image-integrity table (SSIM, L1 per volume; see ``build.INTEGRITY_REQUIRED``)."""
    frame = check_integrity(integrity)
    path = selectors.integrity_path(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.10g")
    return path
