from django.apps import AppConfig


class CatalogsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reviewq.catalogs"

    def ready(self) -> None:
        # Register the import tasks in every process (workers find them by autodiscovery), so
        # reviewq.catalogs.dispatch can send them by name.
        from reviewq.catalogs import tasks  # noqa: F401
