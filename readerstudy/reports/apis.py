"""REST API of reports, under ``/api/studies/<study_pk>/reports/`` (coordinators of the study only).

* ``GET  .../reports/``                      the study's reports, newest first
* ``POST .../reports/``                      request a report: 200 with a cached one, 202 with a queued one
* ``GET  .../reports/<public_id>/``          state, progress, stamp, download URLs
* ``GET  .../reports/<public_id>/download/<pdf|xlsx|zip|html>/``  the file (a path, not ``?format=``,
  which DRF keeps for content negotiation)
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from readerstudy.studies.apis import StudyChildMixin

from . import services
from .models import Report
from .render import CONTENT_TYPES, FORMATS


class ReportSerializer(serializers.ModelSerializer):
    downloads = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["public_id", "state", "progress", "message", "answer_count", "answers_sha256", "settings_sha256",
                  "stamp", "error", "created_at", "started_at", "finished_at", "downloads"]
        read_only_fields = fields

    def get_downloads(self, obj: Report) -> dict[str, str]:
        request = self.context.get("request")
        out = {}
        for fmt in FORMATS:
            if (obj.files or {}).get(fmt) and request is not None:
                out[fmt] = request.build_absolute_uri(
                    f"/api/studies/{obj.study_id}/reports/{obj.public_id}/download/{fmt}/")
        return out


class ReportViewSet(StudyChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Report.objects.none()
    serializer_class = ReportSerializer
    lookup_field = "public_id"

    def scoped_queryset(self, study):
        return Report.objects.filter(study=study)

    @extend_schema(request=None, responses={200: ReportSerializer, 202: ReportSerializer})
    def create(self, request, study_pk=None):
        """Request the study's report. Reuses the report of unchanged answers and settings (200);
        otherwise queues a new one for the worker (202); poll it for ``progress``."""
        report = services.report_request(study=self.get_study(), actor=request.user)
        code = status.HTTP_200_OK if report.state == Report.State.SUCCEEDED else status.HTTP_202_ACCEPTED
        return Response(ReportSerializer(report, context={"request": request}).data, status=code)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path=r"download/(?P<fmt>html|pdf|xlsx|zip)")
    def download(self, request, study_pk=None, public_id=None, fmt=None):
        """One rendered format of a finished report."""
        report = self.get_object()
        path = services.report_file(report, fmt)
        if path is None:
            raise NotFound("this report has no such file (yet)")
        return FileResponse(path.open("rb"), as_attachment=True, filename=f"report_{report.study_id}.{fmt}",
                            content_type=CONTENT_TYPES[fmt])
