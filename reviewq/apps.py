from django.apps import AppConfig


class ReviewqConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reviewq"
    verbose_name = "reviewq"
