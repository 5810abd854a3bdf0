"""Error categories (seeded with the five of issues 13 and 14; admins edit them), a category on
sentence decisions and description rejections, comments, and per-catalog reviewer guidelines."""

import django.db.models.deletion
import django.db.models.functions.text
import django.db.models.lookups
from django.conf import settings
from django.db import migrations, models

SEED = [
    ("1", "Invented fact", True),
    ("2", "Contradicts attributes", True),
    ("3", "Wrong number or unit", True),
    ("4", "Nonsense or garbled", True),
    ("5", "Style only", False),
]


def seed(apps, schema_editor):
    ErrorCategory = apps.get_model("reviewq", "ErrorCategory")
    for key, label, counts_as_error in SEED:
        ErrorCategory.objects.get_or_create(key=key, defaults={"label": label, "counts_as_error": counts_as_error})


class Migration(migrations.Migration):

    dependencies = [
        ('reviewq', '0010_gateops_flag_cutoff'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Comment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('text', models.TextField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['description_id', 'created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='ErrorCategory',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(choices=[('1', '1'), ('2', '2'), ('3', '3'), ('4', '4'), ('5', '5'), ('6', '6'), ('7', '7'), ('8', '8'), ('9', '9')], help_text='The key that chooses it.', max_length=1, unique=True)),
                ('label', models.CharField(max_length=60, unique=True)),
                ('counts_as_error', models.BooleanField(default=True, help_text='The model was wrong: the gate learns the sentence as an error. Off for style only.')),
                ('active', models.BooleanField(default=True, help_text='Offered to reviewers; earlier decisions keep it either way.')),
            ],
            options={
                'verbose_name_plural': 'error categories',
                'ordering': ['key'],
            },
        ),
        migrations.AddField(
            model_name='catalog',
            name='guidelines',
            field=models.TextField(blank=True, help_text='What reviewers of this catalog should check; on the review page.'),
        ),
        migrations.AddConstraint(
            model_name='catalog',
            constraint=models.CheckConstraint(condition=django.db.models.lookups.LessThanOrEqual(django.db.models.functions.text.Length('guidelines'), 5000), name='catalog_guidelines_length'),
        ),
        migrations.AddField(
            model_name='comment',
            name='author',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='comment',
            name='description',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='comments', to='reviewq.description'),
        ),
        migrations.AddConstraint(
            model_name='errorcategory',
            constraint=models.CheckConstraint(condition=models.Q(('key__in', ('1', '2', '3', '4', '5', '6', '7', '8', '9'))), name='error_category_key_valid'),
        ),
        migrations.AddConstraint(
            model_name='errorcategory',
            constraint=models.CheckConstraint(condition=models.Q(('label', ''), _negated=True), name='error_category_label_not_empty'),
        ),
        migrations.AddField(
            model_name='description',
            name='rejection_category',
            field=models.ForeignKey(blank=True, help_text='Why, in one word.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='reviewq.errorcategory'),
        ),
        migrations.AddField(
            model_name='sentence',
            name='error_category',
            field=models.ForeignKey(blank=True, help_text='Why it was edited or removed; one that is not an error (style) makes it an ok label.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='reviewq.errorcategory'),
        ),
        migrations.AddConstraint(
            model_name='sentence',
            constraint=models.CheckConstraint(condition=models.Q(('error_category__isnull', True), ('decision__in', ('edited', 'rejected')), _connector='OR'), name='sentence_category_only_when_changed'),
        ),
        migrations.AddIndex(
            model_name='comment',
            index=models.Index(fields=['description', 'created_at'], name='comment_description_time'),
        ),
        migrations.AddConstraint(
            model_name='comment',
            constraint=models.CheckConstraint(condition=models.Q(('text', ''), _negated=True), name='comment_text_not_empty'),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
