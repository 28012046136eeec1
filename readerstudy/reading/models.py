"""Reading: Sessions of Reads for a reader, and the Answers given in them.

The scheduler (reading issue) fills these from the study seed and design. The foundation needs
them for one rule: an instance is served only to a reader whose *open* session contains it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from readerstudy.studies.models import Item, Series, Study, new_public_id


class Session(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="sessions")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reading_sessions")
    index = models.PositiveIntegerField(help_text="0-based order of the session for this reader")
    is_training = models.BooleanField(default=False)
    opens_at = models.DateTimeField(
        null=True, blank=True, help_text="Earliest opening; empty means 'when the previous session is done + washout'"
    )
    washout_days = models.PositiveIntegerField(default=0, help_text="Days after the previous session is finished")
    opens_at_override = models.DateTimeField(null=True, blank=True, help_text="Coordinator override (audited)")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "reader", "index"]
        constraints = [models.UniqueConstraint(fields=["study", "reader", "index"], name="session_unique_index")]

    def __str__(self) -> str:
        return f"{self.reader} session {self.index + 1} of {self.study}"


class Read(models.Model):
    """One thing shown at one position of a session: a series, or a pair side by side."""

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="reads")
    position = models.PositiveIntegerField()
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="reads", help_text="Left for pairs")
    series_right = models.ForeignKey(
        Series, null=True, blank=True, on_delete=models.PROTECT, related_name="reads_right"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    active_seconds = models.FloatField(default=0)
    # The client's id of the submission that was accepted: a repeated POST carrying it is a no-op.
    submission_id = models.CharField(max_length=64, blank=True, default="")
    # Server time of the last heartbeat (or the start): bounds the active seconds a heartbeat may add.
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True, default="", help_text="The reader's free-text comment on the read")

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="read_unique_position"),
            models.CheckConstraint(
                condition=Q(series_right__isnull=True) | ~Q(series_right=models.F("series")),
                name="read_pair_distinct",
            ),
            models.CheckConstraint(condition=Q(active_seconds__gte=0), name="read_active_seconds_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"read {self.position + 1} of {self.session}"


class ReadSeries(models.Model):
    """The series of a case read (hanging protocol), in pane order. ``Read.series`` is the first of
    them; a series read or a pair has none."""

    read = models.ForeignKey(Read, on_delete=models.CASCADE, related_name="protocol_series")
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="case_reads")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["read", "position"]
        constraints = [
            models.UniqueConstraint(fields=["read", "position"], name="readseries_unique_position"),
            models.UniqueConstraint(fields=["read", "series"], name="readseries_unique_series"),
        ]

    def __str__(self) -> str:
        return f"pane {self.position + 1} of {self.read}"


class Answer(models.Model):
    """A reader's response to one item (and level) in one read. Changes are audited, never silent."""

    read = models.ForeignKey(Read, on_delete=models.PROTECT, related_name="answers")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="answers")
    level = models.CharField(max_length=16, blank=True)
    value = models.FloatField(null=True, blank=True, help_text="Likert point, 0/1, measurement, preference score")
    payload = models.JSONField(default=dict, blank=True, help_text="ROI geometry and statistics, raw side, comment")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    revision = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["read", "item", "level"], name="answer_unique_read_item_level")]

    def __str__(self) -> str:
        level = f" at {self.level}" if self.level else ""
        return f"answer to item {self.item_id}{level} in {self.read}"


class ViewerSettings(models.Model):
    """How a study's images are first shown to every reader: the coordinator's window presets for
    the study's MR images, and the one applied on opening a read. The same for every arm, so it
    cannot reveal one (DESIGN.md, blinding: the same default window for all arms)."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="viewer_settings")
    presets = models.JSONField(
        default=list, blank=True,
        help_text='[{"name": "Spine T2", "window_center": 600, "window_width": 1200}, ...] in stored pixel values',
    )
    initial_preset = models.CharField(max_length=64, blank=True, help_text="Applied on opening a read; empty: the image's own window")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"viewer settings of {self.study}"
