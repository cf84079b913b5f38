"""ML engineers may train classifiers and classify records: a permission of its own, and the
role groups synced again so the ML engineer group holds it."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

from labeling.roles import sync_role_groups


def sync_roles(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_label in ("auth", "corpus", "labeling", "jobs", "api"):
        create_permissions(global_apps.get_app_config(app_label), verbosity=0)
    sync_role_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


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
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
