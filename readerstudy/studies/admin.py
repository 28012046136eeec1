"""Django admin for coordinators: every list is scoped to the studies the user coordinates;
design objects of a published or locked study are read-only; the audit log is read-only."""

from __future__ import annotations

from django.contrib import admin

from . import selectors
from .models import (
    Arm, AuditEvent, Case, ImportJob, Item, Membership, ReferenceStandard, Sequence, Series, Study,
)

admin.site.site_header = "Reader study administration"
admin.site.site_title = "Reader study"


class StudyScopedAdmin(admin.ModelAdmin):
    study_path = "study"  # lookup from the model to its Study

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.study_path}__in": selectors.studies_coordinated_by(request.user)})

    def _study_of(self, obj):
        for part in self.study_path.split("__"):
            obj = getattr(obj, part)
        return obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Study and not request.user.is_superuser:
            kwargs["queryset"] = selectors.studies_coordinated_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class DraftOnlyAdmin(StudyScopedAdmin):
    def has_change_permission(self, request, obj=None):
        if obj is not None and self._study_of(obj).status != Study.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and self._study_of(obj).status != Study.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)


class SequenceInline(admin.TabularInline):
    model = Sequence
    extra = 0


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "seed", "created_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["status", "created_by", "created_at"]
    inlines = [SequenceInline, ArmInline, MembershipInline]

    def get_queryset(self, request):
        return selectors.studies_coordinated_by(request.user) if not request.user.is_superuser else super().get_queryset(request)

    def save_model(self, request, obj, form, change):
        from . import services

        if not change:
            obj.created_by = request.user
            super().save_model(request, obj, form, change)
            services.membership_add(study=obj, user=request.user, role=Membership.Role.COORDINATOR)
        else:
            super().save_model(request, obj, form, change)


@admin.register(Case)
class CaseAdmin(DraftOnlyAdmin):
    list_display = ["label", "study", "is_training", "created_at"]
    list_filter = ["study", "is_training"]
    search_fields = ["label"]


@admin.register(Item)
class ItemAdmin(DraftOnlyAdmin):
    list_display = ["key", "label", "kind", "category", "study", "order"]
    list_filter = ["study", "kind"]
    search_fields = ["key", "label"]
    filter_horizontal = ["sequences"]


@admin.register(Series)
class SeriesAdmin(StudyScopedAdmin):
    study_path = "case__study"
    list_display = ["public_id", "case", "sequence", "arm", "num_instances", "rows", "columns", "source"]
    list_filter = ["case__study", "sequence__name", "arm__name"]
    readonly_fields = [f.name for f in Series._meta.fields]

    def has_add_permission(self, request):
        return False  # series come from the import or the recon worker


@admin.register(ReferenceStandard)
class ReferenceStandardAdmin(StudyScopedAdmin):
    study_path = "case__study"
    list_display = ["case", "level", "finding", "present", "source"]
    list_filter = ["case__study", "finding", "present", "source"]


@admin.register(ImportJob)
class ImportJobAdmin(StudyScopedAdmin):
    list_display = ["public_id", "study", "state", "progress", "series_created", "created_at"]
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(StudyScopedAdmin):
    list_display = ["timestamp", "actor", "action", "object_type", "object_id", "summary"]
    list_filter = ["action", "object_type"]
    search_fields = ["summary", "object_id"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
