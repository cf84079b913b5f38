"""The four roles of Tally, as Django groups with explicit permissions.

A role says *what* a person may do; dataset membership says *where* (corpus.Membership).
The groups are created by a migration from ROLE_PERMISSIONS; change them here and add a
migration that calls `sync_role_groups` again.
"""

from django.db import models


class Role(models.TextChoices):
    ANNOTATOR = "Annotator", "Annotator"
    REVIEWER = "Reviewer", "Reviewer"
    DATA_LEAD = "Data lead", "Data lead"
    ML_ENGINEER = "ML engineer", "ML engineer"


_READ_DATA = [
    "corpus.view_dataset",
    "corpus.view_document",
    "corpus.view_record",
    "labeling.view_labelschema",
    "labeling.view_label",
    "labeling.view_annotation",
    "labeling.view_all_annotations",
    "labeling.view_prediction",
    "labeling.view_classifierversion",
    "labeling.view_recordstate",
    "labeling.view_labelevent",
]

# Everyone manages their own API tokens (api/admin.py shows each person only theirs).
_OWN_API_TOKENS = ["api.view_apitoken", "api.add_apitoken", "api.delete_apitoken"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Annotators label their datasets and see only their own annotations (blind labeling).
    Role.ANNOTATOR: [
        "corpus.view_dataset",
        "labeling.view_labelschema",
        "labeling.view_label",
        "labeling.view_annotation",
        "labeling.view_labelevent",
        "labeling.annotate_records",
        *_OWN_API_TOKENS,
    ],
    # Reviewers see every annotation of their datasets to adjudicate them; they may label too.
    Role.REVIEWER: [*_READ_DATA, "labeling.annotate_records", "labeling.review_records", *_OWN_API_TOKENS],
    # Data leads run datasets: members, imports, schemas, exports, and the team's accounts.
    Role.DATA_LEAD: [
        *_READ_DATA,
        "corpus.add_dataset",
        "corpus.change_dataset",
        "corpus.delete_dataset",
        "corpus.embed_dataset",
        "corpus.add_membership",
        "corpus.change_membership",
        "corpus.delete_membership",
        "corpus.view_membership",
        "corpus.delete_document",
        "corpus.add_record",
        "corpus.change_record",
        "corpus.delete_record",
        "labeling.add_labelschema",
        "labeling.change_labelschema",
        "labeling.delete_labelschema",
        "labeling.add_label",
        "labeling.change_label",
        "labeling.delete_label",
        "labeling.delete_annotation",
        "labeling.annotate_records",
        "labeling.review_records",
        "labeling.manage_labels",
        "labeling.export_dataset",
        "jobs.view_job",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        *_OWN_API_TOKENS,
    ],
    # ML engineers run jobs, models, embeddings and search; the data is read-only to them.
    Role.ML_ENGINEER: [
        *_READ_DATA,
        "corpus.embed_dataset",
        "jobs.view_job",
        "jobs.change_job",
        "jobs.view_all_jobs",
        "labeling.run_classifier",
        *_OWN_API_TOKENS,
    ],
}


def sync_role_groups(group_model, permission_model) -> None:
    """Make each role's group hold exactly its permissions (used by migrations)."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            try:
                wanted.append(permission_model.objects.get(content_type__app_label=app_label, codename=codename))
            except permission_model.DoesNotExist:
                raise LookupError(f"role {role!r} names unknown permission {perm!r}") from None
        group.permissions.set(wanted)


def role_of(user) -> str | None:
    """The user's role name, or None (superusers need none)."""
    names = [group.name for group in user.groups.all() if group.name in Role.values]
    return names[0] if names else None


def sync_roles_in_migration(apps, schema_editor) -> None:
    """RunPython body for a migration that changes ROLE_PERMISSIONS."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_label in ("auth", "corpus", "labeling", "jobs", "api"):
        create_permissions(global_apps.get_app_config(app_label), verbosity=0)
    sync_role_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))
