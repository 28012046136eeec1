"""Reader endpoints: a reader's own sessions and reads, by opaque ids only.

Nothing here may reveal the arm, the case label or protocol details (DESIGN.md, blinding
rules): reads carry opaque ids, the URLs of their blinded instances, the form and the reader's own
answers, nothing else. The sequence name is left out too (it is the same in every arm, but the
reader sees the images; the form does not need it).

``/api/reader/reads/<id>/``            GET: the read, its form, the reader's answers, progress
``/api/reader/reads/<id>/start/``      POST: the reader opened the read (records the start once)
``/api/reader/reads/<id>/draft/``      POST ``{answers, comment}``: autosave
``/api/reader/reads/<id>/submit/``     POST ``{submission_id, answers, comment, active_seconds}``
``/api/reader/reads/<id>/revise/``     POST ``{answers, reason, comment}`` (studies allowing revision)
``/api/reader/reads/<id>/heartbeat/``  POST ``{active_seconds}``

An answer is ``{"item": key, "level": "" or a checklist level, "value": number or null, "payload": {}}``;
for a preference item ``value`` is the point the reader chose on the left/right scale.
Reads that are not the reader's, or whose session is not open, are 404 like a missing id.

:class:`CoordinatorSessionViewSet` is the coordinator's side (progress per session and the audited
opening override); it is written to be mounted at ``/api/studies/<study_pk>/sessions/``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from readerstudy.studies.apis import AuditedViewSetMixin, StudyChildMixin
from readerstudy.studies.selectors import studies_coordinated_by

from . import services
from .models import Read, Session
from .selectors import viewer_settings, read_state, reader_sessions, session_opening_time, session_state, sessions_with_progress


class ReaderSessionSerializer(serializers.ModelSerializer):
    """A session of :func:`~readerstudy.reading.selectors.reader_sessions` (annotated: no query per row)."""

    state = serializers.SerializerMethodField()
    opens_at = serializers.SerializerMethodField()
    reads_total = serializers.IntegerField(read_only=True)
    reads_done = serializers.IntegerField(read_only=True)
    next_read = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = ["public_id", "index", "is_training", "state", "opens_at", "reads_total", "reads_done", "next_read"]

    def get_state(self, obj) -> str:
        return session_state(obj, self.context["now"])

    def get_opens_at(self, obj) -> str | None:
        opening = session_opening_time(obj)
        return opening.isoformat() if opening else None

    def get_next_read(self, obj) -> str | None:
        return obj.next_read_public_id if self.get_state(obj) == "open" else None


class ReaderReadSerializer(serializers.Serializer):
    def to_representation(self, instance):
        return read_state(instance)


@extend_schema_field(OpenApiTypes.OBJECT)
class _AnswerObject(serializers.Field):
    """An answer's shape only: a JSON object (its members are checked by the service). DictField
    would run a field validation for each member of each of the 50-odd answers of every save."""

    default_error_messages = {"not_a_dict": "Expected an object {item, level, value} but got {input_type}."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        return data

    def to_representation(self, value):
        return value


class DraftSerializer(serializers.Serializer):
    # Checked item by item in the service (``services.reads._parse``), with messages naming the item;
    # here only its shape, which keeps a 50-answer autosave cheap.
    answers = serializers.ListField(child=_AnswerObject(), required=False, default=list, max_length=2000)
    comment = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None, trim_whitespace=False)


class SubmitSerializer(DraftSerializer):
    submission_id = serializers.CharField(max_length=64)
    active_seconds = serializers.FloatField(required=False, allow_null=True, default=None)


class ReviseSerializer(DraftSerializer):
    reason = serializers.CharField(max_length=1000)


class HeartbeatSerializer(serializers.Serializer):
    active_seconds = serializers.FloatField(min_value=0)


def _error(exc: services.ReadingError) -> Response:
    """Refusals as the reading page shows them: 404 for access (like a missing read), 409 for a
    locked read, 400 with the problems or the missing items otherwise."""
    if isinstance(exc, services.ReadAccessError):
        return Response({"detail": exc.messages[0]}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, services.ReadLockedError):
        return Response({"detail": exc.messages[0]}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, services.AnswersIncompleteError):
        return Response({"detail": exc.messages[0], "missing": exc.missing}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, services.AnswerInvalidError):
        return Response({"detail": "; ".join(exc.problems), "problems": exc.problems}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"detail": "; ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)


class ReaderSessionViewSet(AuditedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Session.objects.none()
    serializer_class = ReaderSessionSerializer
    lookup_field = "public_id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return reader_sessions(self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}


class ReaderReadViewSet(AuditedViewSetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A read of the reader's own open session; anything else is 404."""

    queryset = Read.objects.none()
    serializer_class = ReaderReadSerializer
    lookup_field = "public_id"

    def _own_read(self, related=("session__study", "series")) -> Read:
        # An action (save, submit, heartbeat) needs the session, study and the series' sequence
        # (which items apply); showing the read also needs the arms and sequences.
        return get_object_or_404(
            Read.objects.select_related(*related), public_id=self.kwargs["public_id"], session__reader=self.request.user,
        )

    def get_object(self):
        read = self._own_read(("session__study", "series__arm", "series__sequence", "series_right__arm"))
        try:
            services.check_read_access(read, self.request.user)
        except services.ReadAccessError:
            raise NotFound() from None
        return read

    def _input(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def start(self, request, public_id=None):
        try:
            read = services.read_start(read=self._own_read(), reader=request.user)
        except services.ReadingError as exc:
            return _error(exc)
        return Response({"started_at": read.started_at.isoformat()})

    @extend_schema(request=DraftSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def draft(self, request, public_id=None):
        data = self._input(DraftSerializer)
        try:
            changed = services.answer_draft_save(
                read=self._own_read(), reader=request.user, answers=data["answers"], comment=data["comment"]
            )
        except services.ReadingError as exc:
            return _error(exc)
        return Response({"saved": True, "changed": changed, "saved_at": timezone.now().isoformat()})

    @extend_schema(request=SubmitSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def submit(self, request, public_id=None):
        data = self._input(SubmitSerializer)
        try:
            result = services.read_submit(
                read=self._own_read(), reader=request.user, submission_id=data["submission_id"],
                answers=data["answers"], comment=data["comment"], active_seconds=data["active_seconds"],
            )
        except services.ReadingError as exc:
            return _error(exc)
        return Response({
            "submitted_at": result.read.submitted_at.isoformat(),
            "replayed": result.replayed,
            "session_completed": result.session_completed,
            "next_read": result.next_read.public_id if result.next_read else None,
        })

    @extend_schema(request=ReviseSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def revise(self, request, public_id=None):
        data = self._input(ReviseSerializer)
        try:
            changed = services.read_revise(
                read=self._own_read(), reader=request.user, answers=data["answers"], reason=data["reason"],
                comment=data["comment"],
            )
        except services.ReadingError as exc:
            return _error(exc)
        return Response({"revised": True, "changed": changed})

    @extend_schema(request=HeartbeatSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def heartbeat(self, request, public_id=None):
        data = self._input(HeartbeatSerializer)
        try:
            total = services.read_heartbeat(read=self._own_read(), reader=request.user, active_seconds=data["active_seconds"])
        except services.ReadingError as exc:
            return _error(exc)
        return Response({"active_seconds": round(total, 1)})


# --- coordinator --------------------------------------------------------------------------------


class CoordinatorSessionSerializer(serializers.ModelSerializer):
    reader = serializers.CharField(source="reader.username", read_only=True)
    state = serializers.SerializerMethodField()
    opens_at = serializers.SerializerMethodField()
    reads_total = serializers.IntegerField(read_only=True)
    reads_done = serializers.IntegerField(read_only=True)

    class Meta:
        model = Session
        fields = ["public_id", "reader", "index", "is_training", "state", "opens_at", "opens_at_override",
                  "washout_days", "completed_at", "reads_total", "reads_done"]

    def get_state(self, obj) -> str:
        return session_state(obj)

    def get_opens_at(self, obj) -> str | None:
        opening = session_opening_time(obj)
        return opening.isoformat() if opening else None


class OverrideSerializer(serializers.Serializer):
    opens_at = serializers.DateTimeField(allow_null=True, help_text="Timezone-aware; null removes the override")
    reason = serializers.CharField(max_length=1000)


class CoordinatorSessionViewSet(StudyChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every reader's sessions of a coordinated study with their progress, and the audited override
    of a session's opening. Meant for ``/api/studies/<study_pk>/sessions/`` (basename
    ``study-session``)."""

    queryset = Session.objects.none()
    serializer_class = CoordinatorSessionSerializer
    lookup_field = "public_id"

    def scoped_queryset(self, study):
        return sessions_with_progress(
            Session.objects.filter(study=study).select_related("reader").order_by("reader__username", "index")
        )

    @extend_schema(request=OverrideSerializer, responses=CoordinatorSessionSerializer)
    @action(detail=True, methods=["post"])
    def override(self, request, study_pk=None, public_id=None):
        data = OverrideSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = self.get_object()
        try:
            services.session_override_opening(
                session=session, opens_at=data.validated_data["opens_at"], reason=data.validated_data["reason"],
                actor=request.user,
            )
        except services.ReadingError as exc:
            return _error(exc)
        return Response(self.get_serializer(self.get_queryset().get(pk=session.pk)).data)


# --- the study's viewer settings (coordinator) ---------------------------------------------------


class ViewerPresetSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    window_center = serializers.FloatField()
    window_width = serializers.FloatField()


class ViewerSettingsSerializer(serializers.Serializer):
    presets = ViewerPresetSerializer(many=True)
    initial_preset = serializers.CharField(max_length=64, allow_blank=True, required=False, default="")


class StudyViewerSettingsView(APIView):
    """``/api/studies/<study_pk>/viewer-settings/``: GET the study's window presets, PUT them
    (``{presets: [{name, window_center, window_width}], initial_preset}``). Coordinators of the
    study only; the same presets for every arm. The workspace UI is to call this endpoint."""

    permission_classes = [IsAuthenticated]

    def _study(self, request, study_pk):
        return get_object_or_404(studies_coordinated_by(request.user), pk=study_pk)

    @extend_schema(responses=ViewerSettingsSerializer)
    def get(self, request, study_pk: int):
        return Response(viewer_settings(self._study(request, study_pk).pk))

    @extend_schema(request=ViewerSettingsSerializer, responses=ViewerSettingsSerializer)
    def put(self, request, study_pk: int):
        study = self._study(request, study_pk)
        data = ViewerSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.viewer_settings_set(
                study=study, presets=request.data.get("presets"), initial_preset=data.validated_data["initial_preset"],
                actor=request.user,
            )
        except DjangoValidationError as exc:
            return Response({"detail": "; ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(viewer_settings(study.pk))
