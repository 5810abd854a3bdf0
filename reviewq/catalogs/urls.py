from django.urls import path

from reviewq.catalogs import views

urlpatterns = [
    path("catalogs/", views.catalog_list, name="catalog_list"),
    path("catalogs/upload/", views.catalog_upload, name="catalog_upload"),
    path("catalogs/upload/<str:token>/", views.catalog_upload_preview, name="catalog_upload_preview"),
    path("catalogs/<int:pk>/", views.catalog_detail, name="catalog_detail"),
    path("catalogs/<int:pk>/runs/", views.run_create, name="run_create"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("runs/<int:pk>/retry/", views.run_retry_view, name="run_retry"),
    path("catalogs/<int:pk>/export.<str:fmt>", views.catalog_export, name="catalog_export"),
]
