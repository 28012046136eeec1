from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.routers import DefaultRouter

from readerstudy.imports import apis as import_apis
from readerstudy.reading import apis as reading_apis, coordinator_apis as reading_coordinator_apis
from readerstudy.reports import apis as reports_apis
from readerstudy.studies import apis
from readerstudy.workspace import views as workspace_views
from recon import apis as recon_apis

class ThrottledObtainAuthToken(ObtainAuthToken):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth-token"


router = DefaultRouter()
router.register("studies", apis.StudyViewSet, basename="study")
study = r"studies/(?P<study_pk>\d+)"
router.register(f"{study}/sequences", apis.SequenceViewSet, basename="study-sequence")
router.register(f"{study}/arms", apis.ArmViewSet, basename="study-arm")
router.register(f"{study}/cases", apis.CaseViewSet, basename="study-case")
router.register(f"{study}/series", apis.SeriesViewSet, basename="study-series")
router.register(f"{study}/items", apis.ItemViewSet, basename="study-item")
router.register(f"{study}/members", apis.MembershipViewSet, basename="study-member")
router.register(f"{study}/invitations", apis.InvitationViewSet, basename="study-invitation")
router.register(f"{study}/reference-standard", apis.ReferenceStandardViewSet, basename="study-reference")
router.register(f"{study}/imports", import_apis.ImportJobViewSet, basename="study-import")
router.register(f"{study}/checklist", apis.ChecklistViewSet, basename="study-checklist")
router.register(f"{study}/audit", apis.AuditEventViewSet, basename="study-audit")
router.register(f"{study}/sessions", reading_apis.CoordinatorSessionViewSet, basename="study-session")
router.register(f"{study}/recon-jobs", recon_apis.ReconJobViewSet, basename="study-recon-job")
router.register(f"{study}/reports", reports_apis.ReportViewSet, basename="study-report")
router.register(f"{study}/reads", reading_coordinator_apis.CoordinatorReadViewSet, basename="study-read")
router.register(f"{study}/answers", reading_coordinator_apis.AnswersExportViewSet, basename="study-answers")
router.register(f"{study}/schedule", reading_coordinator_apis.ScheduleViewSet, basename="study-schedule")
router.register(f"{study}/unblinding-key", apis.UnblindingKeyViewSet, basename="study-unblinding-key")
router.register(f"{study}/login-links", apis.LoginLinkViewSet, basename="study-login-link")
router.register("questionnaire-templates", apis.QuestionnaireTemplateViewSet, basename="questionnaire-template")
router.register("reader/sessions", reading_apis.ReaderSessionViewSet, basename="reader-session")
router.register("reader/reads", reading_apis.ReaderReadViewSet, basename="reader-read")

urlpatterns = [
    path("", include(router.urls)),
    path("studies/<int:study_pk>/workspace/<slug:endpoint>/", workspace_views.former_api, name="workspace-former-api"),
    path("studies/<int:study_pk>/viewer-settings/", reading_apis.StudyViewerSettingsView.as_view(),
         name="study-viewer-settings"),
    # Throttled per address (settings "auth-token" rate) besides the django-axes lockout.
    path("auth/token/", ThrottledObtainAuthToken.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
