"""REST endpoints the coordinator workspace needs beyond the foundation's API. Thin: parse, check
permission (the study is resolved first: a non-coordinator gets 404 for everything), call one
service or selector, serialize. Mounted under ``/api/studies/<study_pk>/workspace/``:

``GET  checklist/``                       the publish checklist (problems with links to the step)
``POST publish/``        ``{reason}``      publish when the checklist has no errors
``POST schedule-preview/`` ``{design}``    the schedule per reader, not written
``POST schedule/``       ``{design}``      write the schedule (``reading.services.schedule_materialize``)
``POST login-link/``     ``{membership}``  a one-time login link for a reader (audited)
``GET  answers/?file=csv|xlsx|parquet``    the tidy answers table as a download
``GET  unblinding-key/[?file=csv]``        locked studies only (before: 200 with ``available: false``);
                                          every access audited
``GET  reads/?state=in_progress|submitted&reader=&case=``  reads with their reader and progress
``POST reopen/``   ``{read, reason}``      reopen a submitted read for revision (audited)
``POST override/`` ``{session, opens_at, reason}``  override a session's opening (audited;
                                          ``reading.services.session_override_opening``)
``GET  recon-jobs/[?job=<public_id>]``, ``POST recon-jobs/``  the recon worker's phantom jobs
                                          (``recon.services.recon_job_create``)

Every route is a fixed path under the study (no ids in the path), so the study is always the
first thing resolved and checked.
"""

from __future__ import annotations

import csv
import io

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from readerstudy.reading import services as reading_services
from readerstudy.reading.export import answers_tidy
from readerstudy.reading.models import Read
from readerstudy.reading.selectors import session_opening_time
from readerstudy.studies import services as study_services
from readerstudy.studies.apis import StudyChildMixin
from readerstudy.studies.models import Membership, Study

from . import selectors, services


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, allow_blank=True, required=False, default="")


class DesignSerializer(serializers.Serializer):
    design = serializers.DictField(help_text="A scheduler design: {kind: independent|crossover|side_by_side, ...}")


class LoginLinkSerializer(serializers.Serializer):
    membership = serializers.IntegerField()


class ReopenSerializer(serializers.Serializer):
    read = serializers.CharField(max_length=32)
    reason = serializers.CharField(max_length=1000, allow_blank=True)


class WorkspaceOverrideSerializer(serializers.Serializer):
    session = serializers.CharField(max_length=32)
    opens_at = serializers.DateTimeField(allow_null=True, help_text="Timezone-aware; null removes the override")
    reason = serializers.CharField(max_length=1000, allow_blank=True)


class CoordinatorReadSerializer(serializers.ModelSerializer):
    reader = serializers.CharField(source="session.reader.username", read_only=True)
    session = serializers.IntegerField(source="session.index", read_only=True)
    case = serializers.CharField(source="series.case.label", read_only=True)

    class Meta:
        model = Read
        fields = ["public_id", "reader", "session", "position", "case", "started_at", "submitted_at", "active_seconds"]
        read_only_fields = fields


def _as_400(exc) -> ValidationError:
    return ValidationError({"detail": list(getattr(exc, "messages", [str(exc)]))})


EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}


class WorkspaceViewSet(StudyChildMixin, viewsets.GenericViewSet):
    """Coordinator actions of the workspace on one study (``/api/studies/<study_pk>/workspace/``)."""

    queryset = Study.objects.none()
    serializer_class = ReasonSerializer

    def scoped_queryset(self, study):
        return Study.objects.filter(pk=study.pk)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def checklist(self, request, study_pk=None):
        study = self.get_study()
        problems = [p.as_dict(study) for p in selectors.publish_checklist(study)]
        return Response({"status": study.status, "ready": not any(p["severity"] == "error" for p in problems),
                         "problems": problems})

    @extend_schema(request=ReasonSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def publish(self, request, study_pk=None):
        study = self.get_study()
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if study.status != Study.Status.DRAFT:
            return Response({"detail": f"the study is already {study.status}"}, status=status.HTTP_409_CONFLICT)
        problems = [p.as_dict(study) for p in selectors.publish_checklist(study)]
        errors = [p for p in problems if p["severity"] == "error"]
        if errors:
            return Response({"detail": "the study cannot be published yet", "problems": errors},
                            status=status.HTTP_400_BAD_REQUEST)
        study = study_services.study_set_status(study=study, status=Study.Status.PUBLISHED,
                                                reason=data.validated_data["reason"] or "published from the workspace")
        return Response({"status": study.status})

    @extend_schema(request=DesignSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], url_path="schedule-preview")
    def schedule_preview(self, request, study_pk=None):
        data = DesignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            return Response(selectors.schedule_preview(self.get_study(), data.validated_data["design"]))
        except (TypeError, ValueError) as exc:
            raise ValidationError({"detail": [f"invalid reading design: {exc}"]}) from exc

    @extend_schema(request=DesignSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def schedule(self, request, study_pk=None):
        data = DesignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            sessions = reading_services.schedule_materialize(
                study=self.get_study(), design=data.validated_data["design"], actor=request.user)
        except reading_services.ScheduleError as exc:
            raise _as_400(exc) from exc
        return Response({"sessions": len(sessions), "reads": sum(s.reads.count() for s in sessions),
                         "design": self.get_study().reading_design})

    @extend_schema(request=LoginLinkSerializer, responses={201: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], url_path="login-link")
    def login_link(self, request, study_pk=None):
        data = LoginLinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = get_object_or_404(Membership.objects.select_related("user", "study"),
                                       pk=data.validated_data["membership"], study=self.get_study())
        try:
            uidb64, token = services.login_link_issue(membership=membership, actor=request.user)
        except services.WorkspaceError as exc:
            raise _as_400(exc) from exc
        from django.urls import reverse

        url = request.build_absolute_uri(reverse("workspace:login-link", kwargs={"uidb64": uidb64, "token": token}))
        return Response({"username": membership.user.username, "url": url}, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=False, methods=["get"])
    def answers(self, request, study_pk=None):
        """The tidy answers table (``?file=csv`` default, ``xlsx`` or ``parquet``) as a download."""
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

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"], url_path="unblinding-key")
    def unblinding_key(self, request, study_pk=None):
        """Which blinded series was which arm (``?file=csv`` for a download). Before the study is
        locked: ``available: false`` and nothing else; every access after is audited."""
        study = self.get_study()
        if study.status != Study.Status.LOCKED:
            return Response({"available": False, "detail": "the unblinding key is shown only after the study is locked",
                             "series": []})
        fmt = "csv" if request.query_params.get("file") == "csv" else "json"
        rows = services.unblinding_key(study=study, actor=request.user, fmt=fmt)
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["series_public_id"])
            writer.writeheader()
            writer.writerows(rows)
            response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="unblinding-key-study-{study.pk}.csv"'
        else:
            response = Response({"available": True, "series": rows})
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(responses=CoordinatorReadSerializer(many=True))
    @action(detail=False, methods=["get"])
    def reads(self, request, study_pk=None):
        reads = Read.objects.filter(session__study=self.get_study()).select_related("session__reader", "series__case")
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

    @extend_schema(request=ReopenSerializer, responses=CoordinatorReadSerializer)
    @action(detail=False, methods=["post"])
    def reopen(self, request, study_pk=None):
        data = ReopenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        read = get_object_or_404(Read, public_id=data.validated_data["read"], session__study=self.get_study())
        try:
            read = services.read_reopen(read=read, reason=data.validated_data["reason"], actor=request.user)
        except services.WorkspaceError as exc:
            raise _as_400(exc) from exc
        return Response(CoordinatorReadSerializer(read).data)

    @extend_schema(request=WorkspaceOverrideSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def override(self, request, study_pk=None):
        from readerstudy.reading import services as reading_answers
        from readerstudy.reading.models import Session

        data = WorkspaceOverrideSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = get_object_or_404(Session, public_id=data.validated_data["session"], study=self.get_study())
        try:
            session = reading_answers.session_override_opening(
                session=session, opens_at=data.validated_data["opens_at"], reason=data.validated_data["reason"],
                actor=request.user)
        except reading_answers.ReadingError as exc:
            raise _as_400(exc) from exc
        opening = session_opening_time(session)
        return Response({"session": session.public_id, "opens_at": opening.isoformat() if opening else None,
                         "opens_at_override": session.opens_at_override})

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get", "post"], url_path="recon-jobs")
    def recon_jobs(self, request, study_pk=None):
        """GET: the study's recon jobs (``?job=<public_id>``: that one). POST: start a phantom job
        (``recon.apis.ReconJobCreateSerializer`` fields)."""
        from recon.apis import ReconJobCreateSerializer, ReconJobSerializer
        from recon.models import ReconJob
        from recon.services import recon_job_create

        study = self.get_study()
        if request.method == "GET":
            jobs = ReconJob.objects.filter(study=study)
            if request.query_params.get("job"):
                job = get_object_or_404(jobs, public_id=request.query_params["job"])
                return Response(ReconJobSerializer(job).data)
            return Response(ReconJobSerializer(jobs[:50], many=True).data)
        data = ReconJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                job = recon_job_create(study=study, actor=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise _as_400(exc) from exc
        return Response(ReconJobSerializer(job).data, status=status.HTTP_201_CREATED)
