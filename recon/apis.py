"""REST API of the recon worker, at ``/api/studies/<id>/recon-jobs/``: a coordinator starts phantom
jobs for a study and follows their state and progress. Thin: parse, check permission, call
:mod:`recon.services`, serialize."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from readerstudy.studies.apis import StudyChildMixin
from recon.models import ReconJob
from recon.protocols import DEFAULT_PROTOCOL_SET
from recon.services import recon_job_create


class ReconJobSerializer(serializers.ModelSerializer):
    seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ReconJob
        fields = ["id", "public_id", "kind", "state", "progress", "message", "error", "parameters", "result",
                  "attempts", "worker_host", "created_at", "started_at", "finished_at", "heartbeat_at", "seconds"]
        read_only_fields = fields


class ReconJobCreateSerializer(serializers.Serializer):
    cases = serializers.IntegerField(min_value=1, max_value=500)
    seed = serializers.IntegerField(min_value=0)
    first_case = serializers.IntegerField(min_value=0, default=0)
    protocol_set = serializers.CharField(default=DEFAULT_PROTOCOL_SET)
    sequences = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False)
    arms = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False)
    recon_matrix = serializers.IntegerField(min_value=32, max_value=1024, required=False)
    slices = serializers.IntegerField(min_value=1, max_value=200, required=False)


class ReconJobViewSet(
    StudyChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Recon jobs of one study the user coordinates (others answer 404)."""

    permission_classes = [IsAuthenticated]
    queryset = ReconJob.objects.none()
    serializer_class = ReconJobSerializer
    lookup_field = "public_id"

    def scoped_queryset(self, study):
        return ReconJob.objects.filter(study=study)

    def get_serializer_class(self):
        return ReconJobCreateSerializer if self.action == "create" else ReconJobSerializer

    def create(self, request, *args, **kwargs):
        study = self.get_study()
        data = ReconJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                job = recon_job_create(study=study, actor=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise ValidationError({"detail": exc.messages}) from exc
        return Response(ReconJobSerializer(job).data, status=status.HTTP_201_CREATED)
