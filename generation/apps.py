from django.apps import AppConfig


class GenerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generation"

    def ready(self) -> None:
        # Register the Celery tasks in every process (web and commands too, not only workers,
        # which find them by autodiscovery), so generation.dispatch can send them by name.
        from generation import tasks  # noqa: F401
