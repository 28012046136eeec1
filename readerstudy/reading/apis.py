"""Reader endpoints: a reader's own sessions and reads, by opaque ids only.

Nothing here may reveal the arm, the case label or protocol details (DESIGN.md, blinding
rules): reads carry opaque ids and the URLs of their blinded instances, nothing else.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import NotFound

from readerstudy.studies.apis import AuditedViewSetMixin

from .models import Read, Session
from .selectors import session_is_open, session_opening_time


class ReaderSessionSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    opens_at = serializers.SerializerMethodField()
    reads_total = serializers.IntegerField(source="reads.count", read_only=True)
    reads_done = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = ["public_id", "index", "is_training", "state", "opens_at", "reads_total", "reads_done"]

    def get_state(self, obj) -> str:
        if obj.completed_at is not None:
            return "done"
        return "open" if session_is_open(obj, self.context["now"]) else "locked"

    def get_opens_at(self, obj) -> str | None:
        opening = session_opening_time(obj)
        return opening.isoformat() if opening else None

    def get_reads_done(self, obj) -> int:
        return obj.reads.filter(submitted_at__isnull=False).count()


def _instance_urls(series) -> list[str]:
    return [f"/wado/instances/{pid}" for pid in series.instances.order_by("index").values_list("public_id", flat=True)]


class ReaderReadSerializer(serializers.ModelSerializer):
    session = serializers.CharField(source="session.public_id")
    instances = serializers.SerializerMethodField()
    instances_right = serializers.SerializerMethodField()

    class Meta:
        model = Read
        fields = ["public_id", "session", "position", "submitted_at", "instances", "instances_right"]

    def get_instances(self, obj) -> list[str]:
        return _instance_urls(obj.series)

    def get_instances_right(self, obj) -> list[str] | None:
        return _instance_urls(obj.series_right) if obj.series_right_id else None


class ReaderSessionViewSet(AuditedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Session.objects.none()
    serializer_class = ReaderSessionSerializer
    lookup_field = "public_id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return Session.objects.filter(
            reader=self.request.user, study__status="published",
            study__memberships__user=self.request.user, study__memberships__role="reader",
            study__memberships__active=True,
        ).distinct()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}


class ReaderReadViewSet(AuditedViewSetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A read of the reader's own open session; anything else is 404."""

    queryset = Read.objects.none()
    serializer_class = ReaderReadSerializer
    lookup_field = "public_id"

    def get_object(self):
        read = get_object_or_404(
            Read.objects.select_related("session", "series", "series_right"),
            public_id=self.kwargs["public_id"], session__reader=self.request.user, session__study__status="published",
        )
        if not session_is_open(read.session):
            raise NotFound()
        return read
