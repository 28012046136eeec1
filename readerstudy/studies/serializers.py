"""Serializers hold shape and field validation only; changes go through ``services``."""

from __future__ import annotations

from rest_framework import serializers

from .models import (
    Arm, AuditEvent, Case, Instance, Invitation, Item, Membership, ReferenceStandard, Sequence, Series, Study,
)


class StudySerializer(serializers.ModelSerializer):
    class Meta:
        model = Study
        fields = ["id", "name", "description", "seed", "status", "allow_revision", "analysis_settings", "created_at"]
        read_only_fields = ["id", "status", "created_at"]
        extra_kwargs = {"seed": {"required": False}}


class StudyStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Study.Status.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "role", "active", "created_at"]
        read_only_fields = ["id", "active", "created_at", "username"]


class InvitationCreateSerializer(serializers.Serializer):
    """Invite a reader: the username the person will have (theirs, if they have an account), and
    optionally an e-mail address for a new account."""

    username = serializers.RegexField(r"^[\w.@+-]{1,150}$")
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation as its coordinator sees it: ``state`` is invited, accepted, expired or revoked;
    nothing says whether the username had an account before."""

    id = serializers.IntegerField(read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "username", "email", "state", "created_at", "expires_at", "accepted_at"]
        read_only_fields = fields

    def get_state(self, obj) -> str:
        return obj.state()


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField()


class SequenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sequence
        fields = ["id", "name", "order"]
        read_only_fields = ["id"]
        extra_kwargs = {"order": {"required": False}}


class ArmSerializer(serializers.ModelSerializer):
    class Meta:
        model = Arm
        fields = ["id", "name", "is_reference", "order", "description"]
        read_only_fields = ["id"]
        extra_kwargs = {"order": {"required": False}}


class CaseSerializer(serializers.ModelSerializer):
    series_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Case
        fields = ["id", "label", "is_training", "created_at", "series_count"]
        read_only_fields = ["id", "created_at", "series_count"]


class SeriesSerializer(serializers.ModelSerializer):
    """Coordinator view of a series: includes the arm. Never used for readers."""

    case = serializers.CharField(source="case.label", read_only=True)
    sequence = serializers.CharField(source="sequence.name", read_only=True)
    arm = serializers.CharField(source="arm.name", read_only=True)

    class Meta:
        model = Series
        fields = [
            "id", "public_id", "case", "sequence", "arm", "source", "rows", "columns", "pixel_spacing_mm",
            "slice_thickness_mm", "image_orientation", "num_instances", "series_instance_uid",
            "original_series_instance_uid", "created_at",
        ]
        read_only_fields = fields


class InstanceSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Instance
        fields = ["public_id", "index", "url"]

    def get_url(self, obj) -> str:
        return f"/wado/instances/{obj.public_id}"


class ItemSerializer(serializers.ModelSerializer):
    sequences = serializers.SlugRelatedField(slug_field="name", many=True, required=False, queryset=Sequence.objects.none())

    class Meta:
        model = Item
        fields = [
            "id", "key", "label", "help_text", "kind", "category", "order", "required", "scale_min", "scale_max",
            "anchors", "levels", "unit", "value_min", "value_max", "sequences",
        ]
        read_only_fields = ["id"]
        extra_kwargs = {"order": {"required": False}}

    def __init__(self, *args, study=None, **kwargs):
        super().__init__(*args, **kwargs)
        if study is not None:
            self.fields["sequences"].child_relation.queryset = study.sequences.all()


class TemplateApplySerializer(serializers.Serializer):
    template = serializers.CharField()


class ReferenceStandardSerializer(serializers.ModelSerializer):
    case = serializers.CharField(source="case.label")

    class Meta:
        model = ReferenceStandard
        fields = ["id", "case", "level", "finding", "present", "source"]
        read_only_fields = ["id"]


class ReferenceStandardUploadSerializer(serializers.Serializer):
    file = serializers.FileField(required=False)
    rows = ReferenceStandardSerializer(many=True, required=False)
    source = serializers.ChoiceField(choices=ReferenceStandard.Source.choices, default="consensus")


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "timestamp", "actor", "action", "object_type", "object_id", "summary", "changes", "reason"]
        read_only_fields = fields


class LoginLinkSerializer(serializers.Serializer):
    membership = serializers.IntegerField()
