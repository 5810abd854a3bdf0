from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Reviewers: the queue and the review page. Editors: catalogs, runs, downloads and the
    # token-authenticated JSON API. Admins: home's overview, thresholds, calibration, dashboard.
    path("", include("reviewq.review.urls")),
    path("", include("reviewq.catalogs.urls")),
    path("", include("reviewq.dashboard.urls")),
    path("api/v1/", include("reviewq.catalogs.api")),
    path("admin/", admin.site.urls),
]
