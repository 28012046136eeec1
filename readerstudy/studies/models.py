"""The study domain (DESIGN.md "Domain words"): Study, Sequence, Arm, Case, Series, Instance,
Membership, Item, ReferenceStandard, and the append-only AuditEvent.

Invariants live in the database: unique constraints, check constraints on ranges and choices,
and ``on_delete=PROTECT`` wherever losing a row would lose a reader's work or the truth.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from readerstudy.jobs.models import JobBase, JobState  # noqa: F401  (JobState: re-exported)


def new_seed() -> int:
    # 31 bits so the seed survives every database's signed integer and JSON consumers.
    return secrets.randbelow(2**31 - 1) + 1


def new_public_id() -> str:
    """An opaque id for URLs and file names: 128 random bits, nothing derivable from it."""
    return secrets.token_urlsafe(16)


VERTEBRAL_LEVELS = ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        LOCKED = "locked", "Locked"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    seed = models.BigIntegerField(default=new_seed, help_text="Makes the reading schedule reproducible.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    allow_revision = models.BooleanField(
        default=False, help_text="Readers may revise a submitted read; every change is audited."
    )
    analysis_settings = models.JSONField(default=dict, blank=True)
    reading_design = models.JSONField(
        default=dict, blank=True, help_text="Reading design the schedule was built from (reading.scheduler)."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["draft", "published", "locked"]), name="study_status_valid"),
            models.CheckConstraint(condition=Q(seed__gte=0), name="study_seed_nonnegative"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        COORDINATOR = "coordinator", "Coordinator"
        READER = "reader", "Reader"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    active = models.BooleanField(default=True, help_text="False once a reader is withdrawn.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "user", "role"], name="membership_unique_role"),
            models.CheckConstraint(condition=Q(role__in=["coordinator", "reader"]), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} of {self.study}"


class Invitation(models.Model):
    """A coordinator's invitation of a reader, by username (and optionally e-mail), to a study.

    Issuing one never looks the username up, so the coordinator learns nothing about which
    accounts exist; the person who opens the link either sets a password (a new account with that
    username) or logs in as that user, and accepts. Only then is the reader a member. The link's
    token is shown once; only its SHA-256 is stored.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="invitations")
    username = models.CharField(max_length=150)
    email = models.EmailField(blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Replaced by a newer invitation, or withdrawn.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(accepted_by__isnull=False), name="invitation_accepted_by_someone"
            ),
        ]

    def __str__(self) -> str:
        return f"invitation of {self.username} to {self.study}"

    def state(self, now=None) -> str:
        """invited, accepted, expired or revoked."""
        from django.utils import timezone

        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if (now or timezone.now()) >= self.expires_at:
            return "expired"
        return "invited"


class Sequence(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="sequences")
    name = models.CharField(max_length=64, help_text="e.g. SAG T2 FS")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["study", "order", "name"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="sequence_unique_name")]

    def __str__(self) -> str:
        return self.name


class Arm(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    name = models.CharField(max_length=64, help_text="e.g. Standard, Fast, Fast-DL50")
    is_reference = models.BooleanField(default=False)
    order = models.PositiveIntegerField(default=0)
    description = models.TextField(blank=True, help_text="Protocol notes; never shown to readers.")

    class Meta:
        ordering = ["study", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="arm_unique_name"),
            models.UniqueConstraint(
                fields=["study"], condition=Q(is_reference=True), name="arm_one_reference_per_study"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Case(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cases")
    label = models.CharField(max_length=64, help_text="Pseudonymous label, e.g. C001. Never a patient name or ID.")
    is_training = models.BooleanField(default=False, help_text="Training cases are excluded from analysis.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "label"]
        constraints = [models.UniqueConstraint(fields=["study", "label"], name="case_unique_label")]

    def __str__(self) -> str:
        return self.label


class Series(models.Model):
    """One case × sequence × arm, stored as blinded DICOM instances under MEDIA_ROOT."""

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="series")
    sequence = models.ForeignKey(Sequence, on_delete=models.PROTECT, related_name="series")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="series")
    # Blinded identifiers (what readers receive) and the originals (coordinator-only).
    study_instance_uid = models.CharField(max_length=64, unique=True)
    series_instance_uid = models.CharField(max_length=64, unique=True)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    original_series_instance_uid = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=32, default="import", help_text="import, recon or phantom")
    # Geometry, checked for consistency on import and across arms of a case before publishing.
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    pixel_spacing_mm = models.JSONField(help_text="[row spacing, column spacing] in mm")
    slice_thickness_mm = models.FloatField(null=True, blank=True)
    image_orientation = models.JSONField(help_text="ImageOrientationPatient, six direction cosines")
    num_instances = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "series"
        ordering = ["case", "sequence", "arm"]
        constraints = [
            models.UniqueConstraint(fields=["case", "sequence", "arm"], name="series_unique_case_sequence_arm"),
            models.CheckConstraint(condition=Q(num_instances__gte=1), name="series_not_empty"),
            models.CheckConstraint(condition=Q(rows__gte=1) & Q(columns__gte=1), name="series_positive_matrix"),
        ]

    def __str__(self) -> str:
        return f"{self.case} / {self.sequence} / {self.arm}"


class Instance(models.Model):
    """One blinded DICOM file. ``path`` is relative to MEDIA_ROOT and opaque."""

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    index = models.PositiveIntegerField(help_text="0-based position in the stack, sorted along the normal.")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    original_sop_instance_uid = models.CharField(max_length=64, blank=True)
    path = models.CharField(max_length=255, unique=True)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["series", "index"]
        constraints = [models.UniqueConstraint(fields=["series", "index"], name="instance_unique_index")]

    def __str__(self) -> str:
        return f"{self.series} #{self.index}"


class UIDMapping(models.Model):
    """Original → blinded DICOM UID, kept privately for the coordinator (never served)."""

    class Kind(models.TextChoices):
        STUDY = "study", "StudyInstanceUID"
        SERIES = "series", "SeriesInstanceUID"
        INSTANCE = "instance", "SOPInstanceUID"
        FRAME_OF_REFERENCE = "frame_of_reference", "FrameOfReferenceUID"

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="uid_mappings")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    original_uid = models.CharField(max_length=64)
    blinded_uid = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "kind", "original_uid"], name="uidmap_unique_original"),
        ]


class Item(models.Model):
    """One question of the questionnaire."""

    class Kind(models.TextChoices):
        LIKERT = "likert", "Likert scale with anchors"
        BINARY = "binary", "Binary (yes/no)"
        CHECKLIST = "checklist", "Per-level finding checklist"
        NUMERIC = "numeric", "Numeric with unit and range"
        ROI = "roi", "ROI measurement"
        PREFERENCE = "preference", "Side-by-side preference"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    key = models.SlugField(max_length=64, help_text="Stable id used in the answers table, e.g. overall_quality")
    label = models.CharField(max_length=200)
    help_text = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    category = models.CharField(max_length=64, blank=True, help_text="Groups items on the form, e.g. Pathology")
    order = models.PositiveIntegerField(default=0)
    required = models.BooleanField(default=True)
    # Likert and preference: integer points scale_min..scale_max with an anchor text per point.
    scale_min = models.IntegerField(null=True, blank=True)
    scale_max = models.IntegerField(null=True, blank=True)
    anchors = models.JSONField(default=dict, blank=True, help_text='{"1": "Nondiagnostic", ...}')
    # Checklist: the levels the finding is asked at.
    levels = models.JSONField(default=list, blank=True)
    # Numeric: unit and allowed range.
    unit = models.CharField(max_length=32, blank=True)
    value_min = models.FloatField(null=True, blank=True)
    value_max = models.FloatField(null=True, blank=True)
    sequences = models.ManyToManyField(
        Sequence, blank=True, related_name="items", help_text="Empty: asked for every sequence."
    )

    class Meta:
        ordering = ["study", "order", "key"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="item_unique_key"),
            models.CheckConstraint(
                condition=Q(kind__in=["likert", "binary", "checklist", "numeric", "roi", "preference"]),
                name="item_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["likert", "preference"])
                | (Q(scale_min__isnull=False) & Q(scale_max__isnull=False) & Q(scale_min__lt=models.F("scale_max"))),
                name="item_scale_valid",
            ),
            models.CheckConstraint(
                condition=Q(value_min__isnull=True) | Q(value_max__isnull=True) | Q(value_min__lte=models.F("value_max")),
                name="item_value_range_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class ReferenceStandard(models.Model):
    """Truth per case and level (empty level: the whole case), from consensus or the phantom."""

    class Source(models.TextChoices):
        CONSENSUS = "consensus", "Consensus read"
        PHANTOM = "phantom", "Phantom ground truth"
        OTHER = "other", "Other"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="reference_standard")
    level = models.CharField(max_length=16, blank=True)
    finding = models.CharField(max_length=64)
    present = models.BooleanField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.CONSENSUS)

    class Meta:
        ordering = ["case", "finding", "level"]
        constraints = [
            models.UniqueConstraint(fields=["case", "level", "finding"], name="reference_unique_case_level_finding"),
        ]


class AuditEvent(models.Model):
    """Append-only log of every change a user (or a job acting for one) makes.

    Rows are never updated or deleted: ``save`` refuses an existing row, the queryset refuses
    ``update``/``delete``, and a database trigger refuses UPDATE (migration 0002).
    """

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        ACCESS = "access", "Access"
        EVENT = "event", "Event"

    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    study = models.ForeignKey(Study, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events")
    action = models.CharField(max_length=16, choices=Action.choices)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")


class ImportJob(JobBase):
    """A DICOM import (zip upload or server folder) run by the worker; all-or-nothing."""

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source_path = models.CharField(max_length=500, help_text="Uploaded archive or server folder")
    mapping = models.JSONField(default=dict, blank=True, help_text="Mapping rows or header rules")
    errors = models.JSONField(default=list, blank=True, help_text="[{file, problem}, ...]")
    series_created = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(
        default=list, blank=True, help_text="Series left out on request: [{series_description, modality, images, folder}]"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="importjob_progress_range"),
        ]
