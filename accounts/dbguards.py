"""SQL of the ledger's database guards that more than one migration needs.

SQLite alters a column by rebuilding the table, which drops its triggers: a
migration that alters accounts_ledgerentry or accounts_ledgertransaction on
SQLite must call `restore_sqlite_append_only` after doing so.
"""

SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER IF NOT EXISTS ledgerentry_append_only BEFORE UPDATE ON accounts_ledgerentry
       BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS ledgertransaction_append_only BEFORE UPDATE
       ON accounts_ledgertransaction
       BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END""",
]


def restore_sqlite_append_only(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_APPEND_ONLY:
            schema_editor.execute(statement)
