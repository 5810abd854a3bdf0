from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import admin_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("queue/", views.queue, name="queue"),
    path("queue/next/", views.queue_next, name="queue_next"),
    path("queue/bulk/", views.queue_bulk, name="queue_bulk"),
    path("review/<int:pk>/", views.review, name="review"),
    path("review/<int:pk>/decide/", views.review_decide, name="review_decide"),
    path("review/<int:pk>/sentences/<int:index>/", views.review_sentence, name="review_sentence"),
    # Editors and admins: catalogs and runs (generation/urls.py), thresholds, calibration,
    # dashboard, downloads; the token-authenticated JSON API.
    path("", include("generation.urls")),
    path("thresholds/", admin_views.thresholds, name="thresholds"),
    path("thresholds/catalog/<int:catalog_pk>/", admin_views.thresholds, name="thresholds_catalog"),
    path("calibration/", admin_views.calibration, name="calibration"),
    path("dashboard/", admin_views.dashboard, name="dashboard"),
    path("catalogs/<int:pk>/export.<str:fmt>", admin_views.catalog_export, name="catalog_export"),
    path("api/v1/", include("reviewq.api")),
    path("admin/", admin.site.urls),
]
