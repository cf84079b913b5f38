"""Django's ModelBackend with one change: a person's permissions, their own and their groups',
come from one SQL query instead of two ORM queries. Every admin request asks for them at least
once, and building the ORM's queries costs more than running them."""

from functools import cache

from django.contrib.auth import backends, get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection


@cache
def _permissions_sql() -> str:
    user = get_user_model()
    user_perms = user.user_permissions.through._meta
    user_groups = user.groups.through._meta
    user_perms_user = user_perms.get_field(user._meta.model_name).column
    user_groups_user = user_groups.get_field(user._meta.model_name).column
    return f"""
        SELECT ct.app_label, p.codename
        FROM {Permission._meta.db_table} p JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id
        WHERE %(superuser)s
           OR EXISTS (SELECT 1 FROM {user_perms.db_table} up
                      WHERE up.permission_id = p.id AND up.{user_perms_user} = %(user)s)
           OR EXISTS (SELECT 1 FROM {Group.permissions.through._meta.db_table} gp
                      JOIN {user_groups.db_table} ug ON ug.group_id = gp.group_id
                      WHERE gp.permission_id = p.id AND ug.{user_groups_user} = %(user)s)
    """  # noqa: S608 (table and column names from the models, never from input)


class ModelBackend(backends.ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            with connection.cursor() as cursor:
                cursor.execute(_permissions_sql(), {"superuser": user_obj.is_superuser, "user": user_obj.pk})
                user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in cursor.fetchall()}
        return user_obj._perm_cache
