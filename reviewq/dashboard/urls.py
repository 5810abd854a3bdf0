from django.urls import path

import reviewq.core.forms  # noqa: F401  (registers the bounded <id:...> path converter)
from reviewq.dashboard import views

urlpatterns = [
    path("", views.home, name="home"),
    path("thresholds/", views.thresholds, name="thresholds"),
    path("thresholds/catalog/<id:catalog_pk>/", views.thresholds, name="thresholds_catalog"),
    path("calibration/", views.calibration, name="calibration"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
