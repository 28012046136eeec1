"""Make the audit log append-only in the database itself, not only in Python.

PostgreSQL refuses UPDATE and DELETE of audit rows (test flushes use TRUNCATE, which this
does not block). SQLite refuses UPDATE; DELETE stays possible there only because Django's
test flush needs it, and the model and queryset refuse it.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION studies_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER studies_auditevent_no_change BEFORE UPDATE OR DELETE ON studies_auditevent
    FOR EACH ROW EXECUTE FUNCTION studies_auditevent_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS studies_auditevent_no_change ON studies_auditevent;
DROP FUNCTION IF EXISTS studies_auditevent_append_only();
"""
SQLITE_FORWARD = """
CREATE TRIGGER studies_auditevent_no_update BEFORE UPDATE ON studies_auditevent
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS studies_auditevent_no_update;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("studies", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
