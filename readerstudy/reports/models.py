"""The Report of a study: a job run by the worker, and the files it produced.

A report is derived data: it can always be built again from the answers, so it is not audited and
deleting a study deletes its reports. ``answers_sha256`` and ``settings_sha256`` identify what it
was built from; :func:`.services.report_request` reuses a report whose hashes match.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from readerstudy.jobs.models import JobBase
from readerstudy.studies.models import Study, new_public_id


class Report(JobBase):
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reports")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answers_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the tidy answers CSV it was built from")
    settings_sha256 = models.CharField(
        max_length=64, help_text="SHA-256 of the analysis configuration, reference standard and integrity table"
    )
    answer_count = models.PositiveIntegerField(default=0)
    files = models.JSONField(
        default=dict, blank=True, help_text='{"html": "reports/<id>/report.html", ...} under MEDIA_ROOT'
    )
    stamp = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["study", "answers_sha256", "settings_sha256"], name="report_cache_key")]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="report_progress_range"),
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running", "succeeded", "failed"]), name="report_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.public_id} of {self.study} ({self.state})"
