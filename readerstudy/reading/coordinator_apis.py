"""The coordinator's reading endpoints under ``/api/studies/<study_pk>/`` (moved here from the
workspace, which is a UI only and calls these). Thin: the study is resolved first (anyone who does
not coordinate it gets 404), then one service or selector is called.

``GET  answers/?file=csv|xlsx|parquet``   the tidy answers table as a download
``GET  reads/?state=in_progress|submitted&reader=&case=``  reads with their reader and progress
``POST reads/<public_id>/reopen/`` ``{reason}``  reopen a submitted read for revision (audited)
``POST schedule/`` ``{design}``           write the schedule (``services.schedule_materialize``)
``POST schedule/preview/`` ``{design}``   the schedule per reader, not written

The sessions and their opening override are at ``sessions/`` (``apis.CoordinatorSessionViewSet``).
A new module beside ``apis.py``; it can be folded into it.
"""

from __future__ import annotations

import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from readerstudy.studies.apis import StudyChildMixin

from . import services
from .export import answers_tidy
from .models import Read
from .services import ReopenError, read_reopen
from .schedule_preview import schedule_preview

EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}


def _as_400(exc) -> ValidationError:
    return ValidationError({"detail": list(getattr(exc, "messages", [str(exc)]))})


class AnswersExportViewSet(StudyChildMixin, viewsets.ViewSet):
    """``GET /api/studies/<id>/answers/?file=csv|xlsx|parquet``: the tidy answers table."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def list(self, request, study_pk=None):
        fmt = request.query_params.get("file", "csv")
        if fmt not in EXPORT_TYPES:
            raise ValidationError({"file": [f"choose one of {', '.join(EXPORT_TYPES)}"]})
        study = self.get_study()
        frame = answers_tidy(study)
        if fmt == "csv":
            body = frame.to_csv(index=False, float_format="%.10g").encode("utf-8")
        else:
            buffer = io.BytesIO()
            if fmt == "xlsx":
                frame.to_excel(buffer, index=False, sheet_name="answers")
            else:
                frame.to_parquet(buffer, index=False)
            body = buffer.getvalue()
        response = HttpResponse(body, content_type=EXPORT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="answers-study-{study.pk}.{fmt}"'
        response["Cache-Control"] = "private, no-store"
        return response


class CoordinatorReadSerializer(serializers.ModelSerializer):
    reader = serializers.CharField(source="session.reader.username", read_only=True)
    session = serializers.IntegerField(source="session.index", read_only=True)
    case = serializers.CharField(source="series.case.label", read_only=True)

    class Meta:
        model = Read
        fields = ["public_id", "reader", "session", "position", "case", "started_at", "submitted_at", "active_seconds"]
        read_only_fields = fields


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, allow_blank=True)


class CoordinatorReadViewSet(StudyChildMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Reads of a coordinated study (first 1000), and reopening one for revision."""

    queryset = Read.objects.none()
    serializer_class = CoordinatorReadSerializer
    lookup_field = "public_id"
    pagination_class = None

    def scoped_queryset(self, study):
        return Read.objects.filter(session__study=study).select_related("session__reader", "series__case")

    def list(self, request, study_pk=None):
        reads = self.get_queryset()
        params = request.query_params
        if params.get("state") == "in_progress":
            reads = reads.filter(started_at__isnull=False, submitted_at__isnull=True)
        elif params.get("state") == "submitted":
            reads = reads.filter(submitted_at__isnull=False)
        if params.get("reader"):
            reads = reads.filter(session__reader__username=params["reader"])
        if params.get("case"):
            reads = reads.filter(series__case__label=params["case"])
        reads = reads.order_by("session__reader__username", "session__index", "position")
        return Response(CoordinatorReadSerializer(reads[:1000], many=True).data)

    @extend_schema(request=ReasonSerializer, responses=CoordinatorReadSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, study_pk=None, public_id=None):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            read = read_reopen(read=self.get_object(), reason=data.validated_data["reason"], actor=request.user)
        except ReopenError as exc:
            raise _as_400(exc) from exc
        return Response(CoordinatorReadSerializer(read).data)


class DesignSerializer(serializers.Serializer):
    design = serializers.DictField(help_text="A scheduler design: {kind: independent|crossover|side_by_side, ...}")


class ScheduleViewSet(StudyChildMixin, viewsets.ViewSet):
    """``POST /api/studies/<id>/schedule/`` writes the reading schedule; ``schedule/preview/``
    shows it per reader without writing."""

    @extend_schema(request=DesignSerializer, responses={200: OpenApiTypes.OBJECT})
    def create(self, request, study_pk=None):
        data = DesignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        study = self.get_study()
        try:
            sessions = services.schedule_materialize(study=study, design=data.validated_data["design"],
                                                     actor=request.user)
        except services.ScheduleError as exc:
            raise _as_400(exc) from exc
        study.refresh_from_db(fields=["reading_design"])
        return Response({"sessions": len(sessions), "reads": sum(s.reads.count() for s in sessions),
                         "design": study.reading_design})

    @extend_schema(request=DesignSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def preview(self, request, study_pk=None):
        data = DesignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            return Response(schedule_preview(self.get_study(), data.validated_data["design"]))
        except (TypeError, ValueError) as exc:
            raise ValidationError({"detail": [f"invalid reading design: {exc}"]}) from exc
