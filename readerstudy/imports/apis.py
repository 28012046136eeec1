"""``/api/studies/<id>/imports/``: start an import (zip upload or server folder) and poll it.

Thin: the serializer parses, :func:`readerstudy.imports.services.import_job_submit` does the work.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from readerstudy.studies.apis import StudyChildMixin
from readerstudy.studies.models import ImportJob

from . import serializers as s
from .services import import_job_submit


class ImportJobViewSet(StudyChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = ImportJob.objects.none()
    serializer_class = s.ImportJobSerializer
    lookup_field = "public_id"

    def scoped_queryset(self, study):
        return ImportJob.objects.filter(study=study)

    @extend_schema(request=s.ImportCreateSerializer, responses={202: s.ImportJobSerializer})
    def create(self, request, study_pk=None):
        """Start a DICOM import from a zip upload or a server folder. Runs on the worker;
        poll the job for progress. All or nothing: a bad file anywhere stores nothing."""
        data = s.ImportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = import_job_submit(study=self.get_study(), actor=request.user, **data.validated_data)
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
