"""The recon worker's job record. Business logic lives in :mod:`recon.services`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from readerstudy.jobs.models import JobBase
from readerstudy.studies.models import Study, new_public_id


class ReconJob(JobBase):
    """One run of the recon worker for a study: phantom cases, or real data (imported Standard or
    Fast series, raw k-space files) -> series.

    Progress 0-100 and state are what the API and the coordinator's pages show. ``parameters``
    holds what the run needs (kind, cases, seed, protocol set, arms, sizes); ``result`` what it
    produced (series created, cases done).
    """

    class Kind(models.TextChoices):
        PHANTOM = "phantom", "Phantom cases"
        STANDARD = "standard", "Fast and Fast-DL from imported Standard series"
        FAST = "fast", "Fast-DL from imported scanner Fast series"
        KSPACE = "kspace", "Standard, Fast and Fast-DL from raw k-space"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="recon_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PHANTOM)
    parameters = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="reconjob_progress_range"),
            models.CheckConstraint(condition=Q(state__in=["queued", "running", "succeeded", "failed"]), name="reconjob_state_valid"),
        ]

    def __str__(self) -> str:
        return f"recon job {self.pk} ({self.state}, {self.progress}%)"

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
