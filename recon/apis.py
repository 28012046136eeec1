"""REST API of the recon worker, at ``/api/studies/<id>/recon-jobs/``: a coordinator starts phantom
or real-data jobs (``kind`` standard, fast, kspace) for a study and follows their state and progress. Thin: parse, check permission, call
:mod:`recon.services`, serialize."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from readerstudy.studies.apis import StudyChildMixin
from recon.models import ReconJob
from recon.protocols import DEFAULT_PROTOCOL_SET
from recon.services import recon_job_create, recon_job_create_real


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


class RawFileSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="path under the raw-data folder (RECON_RAW_ROOT, default MEDIA_ROOT/raw)")
    case = serializers.CharField(max_length=64)
    sequence = serializers.CharField(max_length=64)


class BackgroundRoiSerializer(serializers.Serializer):
    rows = serializers.ListField(child=serializers.IntegerField(min_value=0), min_length=2, max_length=2)
    cols = serializers.ListField(child=serializers.IntegerField(min_value=0), min_length=2, max_length=2)


class ReconJobRealCreateSerializer(serializers.Serializer):
    """A real-data job: ``kind`` standard/fast with imported ``series`` (public ids), or kspace
    with ``raw_files``. ``noise_sd`` (per receive channel, stored pixel units) or a
    ``background_roi`` (pixel rows/cols of air, all slices) when the air cannot be measured."""

    kind = serializers.ChoiceField(choices=["standard", "fast", "kspace"])
    series = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False)
    raw_files = RawFileSerializer(many=True, required=False)
    arms = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False)
    protocol_set = serializers.CharField(default=DEFAULT_PROTOCOL_SET)
    noise_sd = serializers.FloatField(required=False, allow_null=True)
    background_roi = BackgroundRoiSerializer(required=False, allow_null=True)
    seed = serializers.IntegerField(min_value=0, default=0)


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

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="ReconJobCreateAny", serializers=[ReconJobCreateSerializer, ReconJobRealCreateSerializer],
            resource_type_field_name=None,
        ),
        responses={201: ReconJobSerializer},
    )
    def create(self, request, *args, **kwargs):
        """``kind`` phantom (default; ReconJobCreateSerializer) or standard/fast/kspace
        (ReconJobRealCreateSerializer)."""
        study = self.get_study()
        real = request.data.get("kind", "phantom") != "phantom"
        data = (ReconJobRealCreateSerializer if real else ReconJobCreateSerializer)(data=request.data)
        data.is_valid(raise_exception=True)
        create = recon_job_create_real if real else recon_job_create
        fields = dict(data.validated_data)
        if not real:
            fields.pop("kind", None)
        try:
            with transaction.atomic():
                job = create(study=study, actor=request.user, **fields)
        except DjangoValidationError as exc:
            raise ValidationError({"detail": exc.messages}) from exc
        return Response(ReconJobSerializer(job).data, status=status.HTTP_201_CREATED)
