from django.urls import path

import reviewq.core.forms  # noqa: F401  (registers the bounded <id:...> path converter)
from reviewq.dashboard import views

urlpatterns = [
    path("", views.home, name="home"),
    path("thresholds/", views.thresholds, name="thresholds"),
    path("thresholds/catalog/<id:catalog_pk>/", views.thresholds, name="thresholds_catalog"),
    path("gate-model/", views.gate_model, name="gate_model"),
    path("gate-model/labels/", views.gate_labels_export, name="gate_labels_export"),
    path("gate-model/fit/", views.gate_model_fit_view, name="gate_model_fit"),
    path("gate-model/<id:pk>/adopt/", views.gate_model_adopt_view, name="gate_model_adopt"),
    path("gate-model/revert/", views.gate_model_revert_view, name="gate_model_revert"),
    path("calibration/", views.calibration, name="calibration"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("agreement/", views.qa_agreement_view, name="qa_agreement"),
    path("agreement/rates/<id:catalog_pk>/", views.qa_rates_view, name="qa_rates"),
    path("agreement/resolve/<id:pk>/", views.qa_resolve_view, name="qa_resolve"),
    path("users/", views.users, name="users"),
    path("users/<int:pk>/", views.user_update, name="user_update"),
]
