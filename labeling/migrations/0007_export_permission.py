"""The export permission, given to data leads (labeling/roles.py)."""

from django.db import migrations

from labeling.roles import sync_roles_in_migration


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0006_roles_for_labeling"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="recordstate",
            options={
                "permissions": [
                    ("annotate_records", "Can annotate records of their datasets"),
                    ("review_records", "Can review records and set final labels"),
                    ("manage_labels", "Can clear annotations, send to review and set final labels in bulk"),
                    ("export_dataset", "Can export datasets with their labels"),
                ]
            },
        ),
        migrations.RunPython(sync_roles_in_migration, migrations.RunPython.noop),
    ]
