"""The REST API. Thin views: parse input, check permission, call one service, serialize.

Coordinator endpoints live under ``/api/studies/<id>/...`` and are scoped to the studies the
user coordinates: anything else answers 404, the same as a missing object. Reader endpoints
under ``/api/reader/`` return only the reader's own sessions and reads, by opaque ids, and
never the arm, sequence-protocol details or case label.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Count, ProtectedError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError as DRFValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import audit, invitations, login_links, selectors, services
from .models import Arm, AuditEvent, Case, Invitation, Item, Membership, ReferenceStandard, Sequence, Series, Study
from .permissions import CanCreateStudiesOrReadOnly, IsStudyCoordinator
from . import serializers as s


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def exception_handler(exc, context):
    """A service's ValidationError is a 400 with its messages; deleting something that other
    rows still need (``on_delete=PROTECT``) is a 409 that names what holds it."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = DRFValidationError(detail=detail)
    elif isinstance(exc, ProtectedError):
        holders = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        exc = Conflict(f"cannot delete: {', '.join(holders)} still refer to it")
    return drf_exception_handler(exc, context)


class AuditedViewSetMixin:
    """Token authentication happens in the view, after the middleware ran: attribute changes
    made by this request to the authenticated user."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        audit.set_actor(request.user)


# --- studies ------------------------------------------------------------------------------------


class StudyViewSet(AuditedViewSetMixin, viewsets.ModelViewSet):
    serializer_class = s.StudySerializer
    permission_classes = [IsAuthenticated, IsStudyCoordinator, CanCreateStudiesOrReadOnly]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.studies_coordinated_by(self.request.user).order_by("name")

    def perform_create(self, serializer):
        serializer.instance = services.study_create(created_by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.study_update(study=serializer.instance, **serializer.validated_data)

    @extend_schema(request=s.StudyStatusSerializer, responses=s.StudySerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """Publish or lock the study (a reason is recorded in the audit log)."""
        study = self.get_object()
        data = s.StudyStatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        study = services.study_set_status(study=study, **data.validated_data)
        return Response(s.StudySerializer(study).data)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def overview(self, request, pk=None):
        study = self.get_object()
        return Response({**selectors.study_overview(study), "publish_problems": services.study_publish_problems(study=study)})


class StudyChildMixin(AuditedViewSetMixin):
    """Scopes a viewset to ``/api/studies/<study_pk>/`` of a study the user coordinates.

    The study is resolved before the body is parsed, so a non-coordinator gets 404 for every
    method, never a validation error that would reveal that the study exists."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.get_study()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no study
            return self.queryset.none()
        return self.scoped_queryset(self.get_study())

    def scoped_queryset(self, study: Study):
        raise NotImplementedError

    def get_study(self) -> Study:
        if not hasattr(self, "_study"):
            self._study = get_object_or_404(selectors.studies_coordinated_by(self.request.user), pk=self.kwargs["study_pk"])
        return self._study


class DesignObjectViewSet(StudyChildMixin, viewsets.ModelViewSet):
    """CRUD for Sequence, Arm and Case; writes go through the design services."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    create_service = None

    def scoped_queryset(self, study):
        return self.queryset.model.objects.filter(study=study)

    def perform_create(self, serializer):
        serializer.instance = type(self).create_service(study=self.get_study(), **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.design_object_update(obj=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.design_object_delete(obj=instance)


class SequenceViewSet(DesignObjectViewSet):
    queryset = Sequence.objects.none()
    serializer_class = s.SequenceSerializer
    create_service = staticmethod(services.sequence_create)


class ArmViewSet(DesignObjectViewSet):
    queryset = Arm.objects.none()
    serializer_class = s.ArmSerializer
    create_service = staticmethod(services.arm_create)


class CaseViewSet(DesignObjectViewSet):
    queryset = Case.objects.none()
    serializer_class = s.CaseSerializer
    create_service = staticmethod(services.case_create)

    def scoped_queryset(self, study):
        return super().scoped_queryset(study).annotate(series_count=Count("series"))


class ItemViewSet(StudyChildMixin, viewsets.ModelViewSet):
    queryset = Item.objects.none()
    serializer_class = s.ItemSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scoped_queryset(self, study):
        return Item.objects.filter(study=study).prefetch_related("sequences")

    def get_serializer(self, *args, **kwargs):
        if not getattr(self, "swagger_fake_view", False):
            kwargs.setdefault("study", self.get_study())
        return super().get_serializer(*args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = services.item_create(study=self.get_study(), **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.item_update(item=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.design_object_delete(obj=instance)

    @extend_schema(request=s.TemplateApplySerializer, responses=s.ItemSerializer(many=True))
    @action(detail=False, methods=["post"], url_path="apply-template")
    def apply_template(self, request, study_pk=None):
        """Add the items of a shipped questionnaire template (seed000, seed001, seed002, seed003)."""
        data = s.TemplateApplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        items = services.questionnaire_apply_template(study=self.get_study(), template=data.validated_data["template"])
        return Response(s.ItemSerializer(items, many=True).data, status=status.HTTP_201_CREATED)


class ChecklistViewSet(StudyChildMixin, viewsets.ViewSet):
    """``GET /api/studies/<id>/checklist/``: the publish checklist, every problem with the part of
    the study that fixes it (``step``). Errors make ``status/`` refuse to publish; warnings do not."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def list(self, request, study_pk=None):
        study = self.get_study()
        problems = [p.as_dict() for p in selectors.publish_checklist(study)]
        return Response({"status": study.status, "ready": not any(p["severity"] == "error" for p in problems),
                         "problems": problems})


class UnblindingKeyViewSet(StudyChildMixin, viewsets.ViewSet):
    """``GET /api/studies/<id>/unblinding-key/[?file=csv]``: which blinded series was which arm.
    Before the study is locked: ``available: false`` and nothing else; every access after is audited."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def list(self, request, study_pk=None):
        study = self.get_study()
        if study.status != Study.Status.LOCKED:
            return Response({"available": False, "detail": "the unblinding key is shown only after the study is locked",
                             "series": []})
        fmt = "csv" if request.query_params.get("file") == "csv" else "json"
        rows = services.study_unblinding_key(study=study, actor=request.user, fmt=fmt)
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


class LoginLinkViewSet(StudyChildMixin, viewsets.ViewSet):
    """``POST /api/studies/<id>/login-links/`` ``{membership}``: a one-time login link for an
    active reader of the study (audited; the token is never stored)."""

    @extend_schema(request=s.LoginLinkSerializer, responses={201: OpenApiTypes.OBJECT})
    def create(self, request, study_pk=None):
        data = s.LoginLinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = get_object_or_404(Membership.objects.select_related("user", "study"),
                                       pk=data.validated_data["membership"], study=self.get_study())
        uidb64, token = login_links.login_link_issue(membership=membership, actor=request.user)
        url = request.build_absolute_uri(reverse("workspace:login-link", kwargs={"uidb64": uidb64, "token": token}))
        return Response({"username": membership.user.username, "url": url}, status=status.HTTP_201_CREATED)


class QuestionnaireTemplateViewSet(viewsets.ViewSet):
    permission_classes = [IsAuthenticated]
    """The shipped questionnaire templates, for coordinators to preview and apply."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def list(self, request):
        return Response(list(services.questionnaire_templates().values()))


class SeriesViewSet(StudyChildMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Series.objects.none()
    serializer_class = s.SeriesSerializer
    lookup_field = "public_id"

    def scoped_queryset(self, study):
        return Series.objects.filter(case__study=study).select_related("case", "sequence", "arm")

    @extend_schema(responses=s.InstanceSerializer(many=True))
    @action(detail=True, methods=["get"])
    def instances(self, request, study_pk=None, public_id=None):
        series = self.get_object()
        return Response(s.InstanceSerializer(series.instances.order_by("index"), many=True).data)


class MembershipViewSet(StudyChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Membership.objects.none()
    serializer_class = s.MembershipSerializer

    def scoped_queryset(self, study):
        return Membership.objects.filter(study=study).select_related("user")

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], url_path="readers")
    def add_reader(self, request, study_pk=None):
        """Invite a reader (the same as ``POST /api/studies/<id>/invitations/``): the reply holds the
        one-time link to hand over, and is the same whether or not the username has an account."""
        return invite_reader(request, self.get_study())

    @extend_schema(request=s.WithdrawSerializer, responses=s.MembershipSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, study_pk=None, pk=None):
        data = s.WithdrawSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_withdraw(membership=self.get_object(), reason=data.validated_data["reason"])
        return Response(s.MembershipSerializer(membership).data)


def invite_reader(request, study: Study) -> Response:
    data = s.InvitationCreateSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    invitation, token = invitations.invitation_issue(study=study, actor=request.user, **data.validated_data)
    url = request.build_absolute_uri(reverse("invitation", kwargs={"token": token}))
    # The same fields, in the same order, whoever the username is; the invitation's id is left out
    # (it is in the list), so two replies differ only in the link's token.
    reply = {key: value for key, value in s.InvitationSerializer(invitation).data.items() if key != "id"}
    response = Response({**reply, "url": url}, status=status.HTTP_201_CREATED)
    response["Cache-Control"] = "private, no-store"
    return response


class InvitationViewSet(StudyChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """``/api/studies/<id>/invitations/``: the study's reader invitations and their state (invited,
    accepted, expired, revoked); POST ``{username, email}`` invites. The link's token is in the
    reply to the POST only; it is not stored."""

    queryset = Invitation.objects.none()
    serializer_class = s.InvitationSerializer

    def scoped_queryset(self, study):
        return Invitation.objects.filter(study=study)

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: OpenApiTypes.OBJECT})
    def create(self, request, study_pk=None):
        return invite_reader(request, self.get_study())


class ReferenceStandardViewSet(StudyChildMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = ReferenceStandard.objects.none()
    serializer_class = s.ReferenceStandardSerializer

    def scoped_queryset(self, study):
        return ReferenceStandard.objects.filter(case__study=study).select_related("case")

    @extend_schema(request=s.ReferenceStandardUploadSerializer, responses={201: OpenApiTypes.OBJECT})
    def create(self, request, study_pk=None):
        """Upload a ``case,level,finding,present`` CSV (``file``) or JSON ``rows``; all or nothing."""
        data = s.ReferenceStandardUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("file"):
            try:
                text = data.validated_data["file"].read().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise DRFValidationError({"file": f"not UTF-8 text: {exc}"}) from exc
            rows = services.parse_reference_standard_csv(text)
        elif data.validated_data.get("rows"):
            rows = [
                {"case": r["case"]["label"], "level": r.get("level", ""), "finding": r["finding"], "present": r["present"],
                 "source": r.get("source", "")}
                for r in data.validated_data["rows"]
            ]
        else:
            raise DRFValidationError({"detail": "give a CSV 'file' or 'rows'"})
        n = services.reference_standard_import(study=self.get_study(), rows=rows, source=data.validated_data["source"])
        return Response({"rows": n}, status=status.HTTP_201_CREATED)


class AuditEventViewSet(StudyChildMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = AuditEvent.objects.none()
    serializer_class = s.AuditEventSerializer
    filterset_fields = ["action", "object_type", "actor"]

    def scoped_queryset(self, study):
        return study.audit_events.select_related("actor")
