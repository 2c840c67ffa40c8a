"""Empty: this migration once put back SQLite's append-only triggers.

The product runs on PostgreSQL only; the migration stays so that the migration
history of existing databases (and the migrations that depend on it) is unchanged.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_fewer_write_indexes")]

    operations: list[migrations.operations.base.Operation] = []
