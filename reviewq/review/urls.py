from django.urls import path

import reviewq.core.forms  # noqa: F401  (registers the bounded <id:...> path converter)
from reviewq.review import qa_views, queue_views, views

urlpatterns = [
    path("queue/", queue_views.queue, name="queue"),
    path("queue/next/", queue_views.queue_next, name="queue_next"),
    path("queue/open/", queue_views.queue_open, name="queue_open"),
    path("queue/bulk/", queue_views.queue_bulk, name="queue_bulk"),
    path("queue/filters/", queue_views.queue_filter_save, name="queue_filter_save"),
    path("queue/filters/<id:pk>/delete/", queue_views.queue_filter_delete, name="queue_filter_delete"),
    path("queue/assign/", queue_views.queue_assign, name="queue_assign"),
    path("review/<id:pk>/", views.review, name="review"),
    path("review/<id:pk>/decide/", views.review_decide, name="review_decide"),
    path("review/<id:pk>/revision/", views.review_revision, name="review_revision"),
    path("review/<id:pk>/comments/", views.review_comment, name="review_comment"),
    path("review/<id:pk>/sentences/<id:index>/", views.review_sentence, name="review_sentence"),
    path("qa/", qa_views.qa_queue, name="qa_queue"),
    path("qa/<id:pk>/", qa_views.qa_review, name="qa_review"),
    path("qa/<id:pk>/take/", qa_views.qa_take, name="qa_take"),
]
