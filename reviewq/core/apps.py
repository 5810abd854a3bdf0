from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The data model. Its label stays "reviewq": tables, migrations and permission names
    (reviewq.review_description, ...) predate the split into subpackages."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "reviewq.core"
    label = "reviewq"
    verbose_name = "reviewq"
