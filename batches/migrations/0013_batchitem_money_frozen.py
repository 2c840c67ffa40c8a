# A stored row's money columns never change: execution changes a row's status, payment and
# reason, validation its flags; nothing may change whom, from where, how much or in what
# currency a row pays once it is written (what the approvers signed).

from django.db import migrations

FORWARD = """
CREATE FUNCTION batchitem_money_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.batch_id, NEW."row", NEW.amount, NEW.currency, NEW.creditor_account_id,
        NEW.debtor_account_id, NEW.creditor_account_number)
       IS DISTINCT FROM
       (OLD.batch_id, OLD."row", OLD.amount, OLD.currency, OLD.creditor_account_id,
        OLD.debtor_account_id, OLD.creditor_account_number) THEN
        RAISE EXCEPTION 'batch row % of batch %: what a row pays never changes once stored',
            OLD."row", OLD.batch_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
-- Fired only by an UPDATE that sets one of these columns: execution's (status, payment,
-- reason) and validation's (flags) never do, so they pay nothing for it.
CREATE TRIGGER batchitem_money_frozen
    BEFORE UPDATE OF batch_id, "row", amount, currency, creditor_account_id,
        debtor_account_id, creditor_account_number ON batches_batchitem
    FOR EACH ROW EXECUTE FUNCTION batchitem_money_frozen();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS batchitem_money_frozen ON batches_batchitem;
DROP FUNCTION IF EXISTS batchitem_money_frozen();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("batches", "0012_batch_item_status_unindexed"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
