"""Database guards of the ledger, and the staff roles.

- Entries and transactions are append-only: UPDATE and DELETE raise.
- A deferred constraint trigger checks at commit that every
  ledger transaction's entries sum to zero, so no code path can commit an
  unbalanced posting.
- The roles are Django groups: operator, approver, admin.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$ LANGUAGE plpgsql;

CREATE TRIGGER ledgerentry_append_only BEFORE UPDATE OR DELETE ON accounts_ledgerentry
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledgertransaction_append_only BEFORE UPDATE OR DELETE ON accounts_ledgertransaction
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger AS $$
DECLARE
  total bigint;
BEGIN
  SELECT COALESCE(SUM(amount), 0) INTO total
    FROM accounts_ledgerentry WHERE transaction_id = NEW.transaction_id;
  IF total <> 0 THEN
    RAISE EXCEPTION 'ledger transaction % does not balance (sum %)', NEW.transaction_id, total
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledgerentry_balanced AFTER INSERT ON accounts_ledgerentry
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
"""

PG_REVERSE = """
DROP TRIGGER IF EXISTS ledgerentry_balanced ON accounts_ledgerentry;
DROP TRIGGER IF EXISTS ledgerentry_append_only ON accounts_ledgerentry;
DROP TRIGGER IF EXISTS ledgertransaction_append_only ON accounts_ledgertransaction;
DROP FUNCTION IF EXISTS ledger_check_balanced();
DROP FUNCTION IF EXISTS ledger_refuse_change();
"""

ROLES = ("operator", "approver", "admin")


def roles_forward(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def roles_reverse(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunSQL([PG_FORWARD], [PG_REVERSE]),
        migrations.RunPython(roles_forward, roles_reverse),
    ]
