"""The consent ledger is append-only in the database itself: UPDATE, DELETE and TRUNCATE of
`ethics_consentevent` raise, whoever connects (the ORM, raw SQL, a console).

The function lives in `public` so the schema cloner (tenants.cloning), which copies tables and
triggers but not functions, gives every cloned tenant a trigger that resolves to it."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION public.ethics_ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the consent ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER ethics_consentevent_no_update_delete
    BEFORE UPDATE OR DELETE ON ethics_consentevent
    FOR EACH ROW EXECUTE FUNCTION public.ethics_ledger_refuse_change();
CREATE TRIGGER ethics_consentevent_no_truncate
    BEFORE TRUNCATE ON ethics_consentevent
    FOR EACH STATEMENT EXECUTE FUNCTION public.ethics_ledger_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS ethics_consentevent_no_truncate ON ethics_consentevent;
DROP TRIGGER IF EXISTS ethics_consentevent_no_update_delete ON ethics_consentevent;
"""


class Migration(migrations.Migration):
    dependencies = [("ethics", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
