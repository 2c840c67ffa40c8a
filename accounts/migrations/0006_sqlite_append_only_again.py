"""Put back SQLite's append-only triggers on the ledger.

SQLite alters a column by rebuilding its table, which drops the table's
triggers: 0005 did that to accounts_ledgerentry and accounts_ledgertransaction.
Any later migration that alters those tables must end the same way.
"""

from django.db import migrations

from accounts.dbguards import restore_sqlite_append_only


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_fewer_write_indexes")]

    operations = [migrations.RunPython(restore_sqlite_append_only, migrations.RunPython.noop)]
