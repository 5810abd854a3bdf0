from django.urls import path

from reviewq.review import views

urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("queue/next/", views.queue_next, name="queue_next"),
    path("queue/bulk/", views.queue_bulk, name="queue_bulk"),
    path("review/<int:pk>/", views.review, name="review"),
    path("review/<int:pk>/decide/", views.review_decide, name="review_decide"),
    path("review/<int:pk>/revision/", views.review_revision, name="review_revision"),
    path("review/<int:pk>/sentences/<int:index>/", views.review_sentence, name="review_sentence"),
]
