"""PostgreSQL refuses UPDATE and DELETE on the audit log.

The one UPDATE allowed is what Django's on_delete=SET_NULL issues when a description, catalog
or user is deleted (Collector: `UPDATE reviewq_auditevent SET <fk> = NULL WHERE <fk> IN ...`):
only actor_id, description_id or catalog_id may change, and only to NULL. TRUNCATE (test
database flushes) is not a row operation and is not affected. SQLite has no such guard; the
application only inserts either way.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION reviewq_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'reviewq_auditevent is append-only: DELETE refused' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.actor_id IS DISTINCT FROM OLD.actor_id AND NEW.actor_id IS NOT NULL)
        OR (NEW.description_id IS DISTINCT FROM OLD.description_id AND NEW.description_id IS NOT NULL)
        OR (NEW.catalog_id IS DISTINCT FROM OLD.catalog_id AND NEW.catalog_id IS NOT NULL)
        OR (NEW.id, NEW.action, NEW.sentence_index, NEW.before, NEW.after, NEW.note, NEW.created_at)
            IS DISTINCT FROM (OLD.id, OLD.action, OLD.sentence_index, OLD.before, OLD.after, OLD.note, OLD.created_at)
    THEN
        RAISE EXCEPTION 'reviewq_auditevent is append-only: only SET NULL of a deleted row''s reference is allowed'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER reviewq_auditevent_append_only
    BEFORE UPDATE OR DELETE ON reviewq_auditevent
    FOR EACH ROW EXECUTE FUNCTION reviewq_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS reviewq_auditevent_append_only ON reviewq_auditevent;
DROP FUNCTION IF EXISTS reviewq_auditevent_append_only();
"""


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("reviewq", "0004_work_in_progress_from_audit_rows"),
    ]

    operations = [
        migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP)),
    ]
