"""Every role may view, create and revoke its own API tokens (labeling/roles.py)."""

from django.db import migrations

from labeling.roles import sync_roles_in_migration


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("labeling", "0006_roles_for_labeling"),
    ]

    operations = [migrations.RunPython(sync_roles_in_migration, migrations.RunPython.noop)]
