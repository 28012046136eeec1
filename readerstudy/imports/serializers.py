"""Serializers of the imports endpoint."""

from __future__ import annotations

from rest_framework import serializers

from readerstudy.studies.models import ImportJob


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = [
            "public_id", "state", "progress", "error", "errors", "series_created", "skipped", "created_at", "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportCreateSerializer(serializers.Serializer):
    archive = serializers.FileField(required=False, help_text="A zip of DICOM files")
    folder = serializers.CharField(required=False, help_text="A folder on the server, under IMPORT_FOLDER_ROOTS")
    mapping = serializers.FileField(required=False, help_text="CSV: case,sequence,arm and path or series_instance_uid")
    rules = serializers.JSONField(required=False, help_text="Header rules instead of a mapping CSV")
    skip_unmapped = serializers.BooleanField(
        default=False, help_text="Leave out series the mapping or rules do not name (localizers...); the job lists them"
    )

    def validate(self, attrs):
        if bool(attrs.get("archive")) == bool(attrs.get("folder")):
            raise serializers.ValidationError("give exactly one of 'archive' (a zip upload) or 'folder'")
        if bool(attrs.get("mapping")) == bool(attrs.get("rules")):
            raise serializers.ValidationError("give exactly one of 'mapping' (CSV) or 'rules' (JSON)")
        return attrs


