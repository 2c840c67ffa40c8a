"""The balanced-transaction check, per statement instead of per row.

A row-level deferred trigger summed a transaction's entries once per entry;
batch execution writes hundreds of thousands of entries, so the check now
runs once per INSERT statement over the transactions it touched. The ledger
writes all legs of a transaction in one statement, so each must balance there.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER IF EXISTS ledgerentry_balanced ON accounts_ledgerentry;
DROP FUNCTION IF EXISTS ledger_check_balanced();

CREATE OR REPLACE FUNCTION ledger_check_balanced_statement() RETURNS trigger AS $$
DECLARE
  unbalanced bigint;
BEGIN
  SELECT e.transaction_id INTO unbalanced
    FROM accounts_ledgerentry e
   WHERE e.transaction_id IN (SELECT DISTINCT transaction_id FROM new_entries)
   GROUP BY e.transaction_id
  HAVING SUM(e.amount) <> 0
   LIMIT 1;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'ledger transaction % does not balance', unbalanced
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER ledgerentry_balanced AFTER INSERT ON accounts_ledgerentry
  REFERENCING NEW TABLE AS new_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_balanced_statement();
"""

REVERSE = """
DROP TRIGGER IF EXISTS ledgerentry_balanced ON accounts_ledgerentry;
DROP FUNCTION IF EXISTS ledger_check_balanced_statement();

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


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_audit_target_id_length")]

    operations = [migrations.RunSQL([FORWARD], [REVERSE])]
