from django.urls import path

import reviewq.core.forms  # noqa: F401  (registers the bounded <id:...> path converter)
from reviewq.review import qa_views, queue_views, views

urlpatterns = [
    path("queue/", queue_views.queue, name="queue"),
    path("queue/next/", queue_views.queue_next, name="queue_next"),
    path("queue/bulk/", queue_views.queue_bulk, name="queue_bulk"),
    path("review/<id:pk>/", views.review, name="review"),
    path("review/<id:pk>/decide/", views.review_decide, name="review_decide"),
    path("review/<id:pk>/revision/", views.review_revision, name="review_revision"),
    path("review/<id:pk>/sentences/<id:index>/", views.review_sentence, name="review_sentence"),
    path("qa/", qa_views.qa_queue, name="qa_queue"),
    path("qa/<id:pk>/", qa_views.qa_review, name="qa_review"),
    path("qa/<id:pk>/take/", qa_views.qa_take, name="qa_take"),
]
