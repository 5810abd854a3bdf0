from django.urls import path

import reviewq.core.forms  # noqa: F401  (registers the bounded <id:...> path converter)
from reviewq.catalogs import views

urlpatterns = [
    path("catalogs/", views.catalog_list, name="catalog_list"),
    path("catalogs/upload/", views.catalog_upload, name="catalog_upload"),
    path("catalogs/upload/<id:pk>/", views.catalog_upload_preview, name="catalog_upload_preview"),
    path("catalogs/upload/<id:pk>/mapping/", views.catalog_upload_mapping, name="catalog_upload_mapping"),
    path("catalogs/upload/<id:pk>/cancel/", views.catalog_upload_cancel, name="catalog_upload_cancel"),
    path("catalogs/<id:pk>/", views.catalog_detail, name="catalog_detail"),
    path("catalogs/<id:pk>/runs/", views.run_create, name="run_create"),
    path("catalogs/<id:pk>/guidelines/", views.catalog_guidelines, name="catalog_guidelines"),
    path("runs/<id:pk>/", views.run_detail, name="run_detail"),
    path("runs/<id:pk>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("runs/<id:pk>/retry/", views.run_retry_view, name="run_retry"),
    path("catalogs/<id:pk>/export.<str:fmt>", views.catalog_export, name="catalog_export"),
]
