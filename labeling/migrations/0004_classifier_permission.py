"""ML engineers may train classifiers and classify records: a permission of its own, and the
role groups synced again so the ML engineer group holds it."""

from django.db import migrations

from labeling.roles import sync_roles_in_migration


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0003_roles"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="classifierversion",
            options={
                "ordering": ["schema", "-version"],
                "permissions": [("run_classifier", "Can train classifiers and classify records")],
            },
        ),
        migrations.RunPython(sync_roles_in_migration, migrations.RunPython.noop),
    ]
