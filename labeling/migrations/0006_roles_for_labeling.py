"""Annotate, review and manage-labels permissions for the roles (labeling/roles.py)."""

from django.db import migrations

from labeling.roles import sync_roles_in_migration


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0005_queue_review_audit"),
        ("corpus", "0003_dataset_labeling_settings"),
    ]

    operations = [migrations.RunPython(sync_roles_in_migration, migrations.RunPython.noop)]
