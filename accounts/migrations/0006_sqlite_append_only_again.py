"""Put back SQLite's append-only triggers on the ledger.

SQLite alters a column by rebuilding its table, which drops the table's
triggers: 0005 did that to accounts_ledgerentry and accounts_ledgertransaction.
Any later migration that alters those tables must end the same way.
"""

from django.db import migrations

SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS ledgerentry_append_only BEFORE UPDATE ON accounts_ledgerentry
       BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledgertransaction_append_only BEFORE UPDATE
       ON accounts_ledgertransaction
       BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END""",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_fewer_write_indexes")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
