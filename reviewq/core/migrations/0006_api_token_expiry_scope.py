"""API tokens gain a scope (read) and an expiry. Tokens that exist get 90 days from now, so
no integration breaks at deploy time without warning."""

from datetime import timedelta

from django.db import migrations, models
from django.utils import timezone


def existing_tokens_expire_in_90_days(apps, schema_editor):
    apps.get_model("reviewq", "ApiToken").objects.filter(expires_at__isnull=True).update(
        expires_at=timezone.now() + timedelta(days=90)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("reviewq", "0005_audit_append_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(choices=[("read", "Read")], default="read", max_length=10),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(null=True, help_text="The token is refused from then on."),
        ),
        migrations.RunPython(existing_tokens_expire_in_90_days, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(help_text="The token is refused from then on."),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(condition=models.Q(scope__in=["read"]), name="api_token_scope_valid"),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="api_token_expires_after_creation"
            ),
        ),
    ]
