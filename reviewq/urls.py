from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The one-time link an invited user sets a password with (dashboard.users).
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    # Reviewers: the queue and the review page. Editors: catalogs, runs, downloads and the
    # token-authenticated JSON API. Admins: home's overview, thresholds, calibration, dashboard.
    path("", include("reviewq.review.urls")),
    path("", include("reviewq.catalogs.urls")),
    path("", include("reviewq.dashboard.urls")),
    path("api/v1/", include("reviewq.catalogs.api")),
    path("admin/", admin.site.urls),
]
