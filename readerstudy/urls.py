from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from readerstudy.reading import serving

# Password reset only where mail can be sent (EMAIL_HOST): it would otherwise report success and
# send nothing. Without it, an administrator (admin, or `manage.py changepassword`) resets passwords.
if settings.PASSWORD_RESET_ENABLED:
    account_urls = [path("accounts/", include("django.contrib.auth.urls"))]
else:
    account_urls = [
        path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
        path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
        path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
        path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    ]

urlpatterns = [
    path("admin/", admin.site.urls),
    *account_urls,
    path("api/", include("readerstudy.api_urls")),
    path("reading/", include("readerstudy.reading.urls")),
    path("workspace/", include("readerstudy.workspace.urls")),
    path("reports/", include("readerstudy.reports.urls")),
    # Blinded instances, after the reading rule (readerstudy/reading/serving.py).
    path("wado/instances/<str:public_id>", serving.instance_file, name="instance-file"),
    path("", include("readerstudy.studies.urls")),
]

handler400 = "readerstudy.errors.bad_request"
handler403 = "readerstudy.errors.permission_denied"
handler404 = "readerstudy.errors.page_not_found"
handler500 = "readerstudy.errors.server_error"
