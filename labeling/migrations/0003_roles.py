"""Create the role groups (Annotator, Reviewer, Data lead, ML engineer) with their permissions."""

from django.db import migrations

from labeling.roles import sync_roles_in_migration


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0002_predictions"),
        ("corpus", "0001_initial"),
        ("jobs", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_roles_in_migration, migrations.RunPython.noop)]
