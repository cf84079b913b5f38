"""django-import-export for the admin's small tables: label schemas, labels and people.

Big record files go through the streaming importer (corpus.services.ingest); these buttons are
for the few rows of a label set or a team. Both directions stay inside the user's datasets: a
schema or dataset of another team is "not found", exactly like one that does not exist. Exports
are CSV or XLSX with formula-looking cells escaped.
"""

from functools import cached_property

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets

from corpus.formats.spreadsheet import FORMULA_TRIGGERS, escape_formula
from corpus.models import Dataset, Membership
from labeling.models import Label, LabelSchema
from labeling.roles import Role, role_of
from labeling.services.team import assign_role_and_datasets


class VisibleForeignKeyWidget(widgets.ForeignKeyWidget):
    """Looks the related row up among those the importing user may see."""

    def __init__(self, model, field="pk", **kwargs):
        super().__init__(model, field=field, **kwargs)
        self.user = None

    def get_queryset(self, value, row, *args, **kwargs):
        return self.model.objects.visible_to(self.user)


class TeamResource(resources.ModelResource):
    """A resource bound to the person using it (the admin passes `user`)."""

    def __init__(self, *, user, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        for field in self.fields.values():
            if isinstance(field.widget, VisibleForeignKeyWidget):
                field.widget.user = user

    def get_queryset(self):
        # Rows an import may update, and rows an export may contain.
        return self._meta.model.objects.visible_to(self.user)

    def export_field(self, field, instance, **kwargs):
        return escape_formula(super().export_field(field, instance, **kwargs))


class LabelSchemaResource(TeamResource):
    dataset = fields.Field(attribute="dataset", column_name="dataset", widget=VisibleForeignKeyWidget(Dataset, "name"))

    class Meta:
        model = LabelSchema
        fields = ["dataset", "name", "kind"]
        import_id_fields = ["dataset", "name"]  # natural keys: ids of other teams mean nothing here
        skip_unchanged = True
        clean_model_instances = True


class LabelResource(TeamResource):
    dataset = fields.Field(attribute="schema__dataset__name", column_name="dataset", readonly=True)
    schema = fields.Field(attribute="schema", column_name="schema_id", widget=VisibleForeignKeyWidget(LabelSchema))

    class Meta:
        model = Label
        fields = ["dataset", "schema", "name", "description", "hotkey", "color", "order"]
        import_id_fields = ["schema", "name"]
        skip_unchanged = True
        clean_model_instances = True  # per-row validation: errors name the row and the field


# --- The team: people, their role and their datasets ------------------------------------------


def unescape_formula(value):
    """Undo escape_formula: a file exported from Tally imports again as it is. Only an apostrophe
    before a formula character is taken back, which no username, name, e-mail address or dataset
    name of ours is meant to start with."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


class UnescapingCharWidget(widgets.CharWidget):
    """A text cell, read back from our own escaped export (see unescape_formula)."""

    def clean(self, value, row=None, **kwargs):
        return unescape_formula(super().clean(value, row, **kwargs))


class StrictBooleanWidget(widgets.BooleanWidget):
    """django-import-export reads any unknown word as False: "yes" would deactivate an account
    without a word. Here an unknown word is an error for its row, and an empty cell means "leave
    as it is" (the field does not save empty values)."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        if value not in (*self.TRUE_VALUES, *self.FALSE_VALUES, *self.NULL_VALUES):
            raise ValueError(_("“%(value)s” is not a yes/no value: write 1 or 0.") % {"value": value})
        return super().clean(value, row, **kwargs)


class RoleWidget(widgets.Widget):
    """A role by its name, as the People list shows it (case does not matter)."""

    def clean(self, value, row=None, **kwargs):
        name = str(value or "").strip()
        if not name:
            return ""
        for role in Role.values:
            if role.casefold() == name.casefold():
                return role
        raise ValueError(
            _("Unknown role “%(name)s”: use one of %(roles)s.") % {"name": name, "roles": ", ".join(Role.values)}
        )

    def render(self, value, obj=None, **kwargs):
        return value or ""


class VisibleDatasetsWidget(widgets.Widget):
    """Dataset names joined by "; ", looked up among the datasets the importing user can see: a
    dataset of another team reads exactly like one that does not exist."""

    SEPARATOR = "; "

    def __init__(self):
        super().__init__()
        self.user = None

    def clean(self, value, row=None, **kwargs):
        cell = unescape_formula(str(value or ""))
        names = {name.strip() for name in cell.split(self.SEPARATOR.strip())} - {""}
        found = list(Dataset.objects.visible_to(self.user).filter(name__in=names).order_by("name"))
        missing = sorted(names - {dataset.name for dataset in found})
        if missing:
            raise ValueError(" ".join(_("Dataset “%(name)s” does not exist.") % {"name": name} for name in missing))
        return found

    def render(self, value, obj=None, **kwargs):
        return self.SEPARATOR.join(dataset.name for dataset in value or [])


class TeamMemberResource(TeamResource):
    """People by username, with their role and datasets, as the People list shows them.

    An import creates or updates people, never administrators, and never touches is_superuser,
    is_staff or a password: new people come with an unusable password, which a data lead sets
    once on the person's page (UserAdmin.user_change_password). While a row is imported, the
    person's role and visible datasets ride on the instance as `team_role` and `team_datasets`,
    so that the preview shows them before → after and unchanged rows are skipped."""

    WIDGETS_MAP = {**TeamResource.WIDGETS_MAP, "CharField": UnescapingCharWidget}  # also e-mail

    is_active = fields.Field(
        attribute="is_active", column_name="is_active", widget=StrictBooleanWidget(), saves_null_values=False
    )
    role = fields.Field(attribute="team_role", column_name="role", widget=RoleWidget())
    datasets = fields.Field(attribute="team_datasets", column_name="datasets", widget=VisibleDatasetsWidget())

    class Meta:
        model = User
        name = "People"
        fields = ["username", "first_name", "last_name", "email", "is_active", "role", "datasets"]
        import_id_fields = ["username"]
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True  # Django's own rules: username characters, e-mail, lengths

    def __init__(self, *, user, **kwargs):
        super().__init__(user=user, **kwargs)
        self.fields["datasets"].widget.user = user

    def _managed(self, people):
        # The People list's rows: data leads never see (so never export or change) administrators.
        return people if self.user.is_superuser else people.filter(is_superuser=False)

    def get_queryset(self):
        return self._managed(User.objects.prefetch_related("groups"))

    def filter_export(self, queryset, **kwargs):
        return self._managed(queryset)

    @cached_property
    def _visible_dataset_names(self) -> dict[int, list[str]]:
        """Per person, the names of their datasets that the exporting user can see, in one query:
        another team's dataset names never leave through the export."""
        names: dict[int, list[str]] = {}
        memberships = (
            Membership.objects.filter(dataset__in=Dataset.objects.visible_to(self.user))
            .order_by("dataset__name")
            .values_list("user_id", "dataset__name")
        )
        for user_id, name in memberships:
            names.setdefault(user_id, []).append(name)
        return names

    def dehydrate_role(self, person: User) -> str:
        return role_of(person) or ""

    def dehydrate_datasets(self, person: User) -> str:
        return VisibleDatasetsWidget.SEPARATOR.join(self._visible_dataset_names.get(person.pk, []))

    def init_instance(self, row=None):
        person = User(is_staff=True)  # everyone works inside the admin, as with the add form
        person.set_unusable_password()
        return person

    def after_init_instance(self, instance, new, row, **kwargs):
        instance.team_role = "" if new else role_of(instance) or ""
        instance.team_datasets = (
            [] if new else list(Dataset.objects.visible_to(self.user).filter(members=instance).order_by("name"))
        )

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            # Keyed by attribute ("team_datasets"): name the file's column instead.
            columns = {field.attribute: field.column_name for field in self.fields.values()}
            errors = {columns.get(key, key): messages for key, messages in error.error_dict.items()}
        for column, message in self._team_rule_errors(instance):
            errors.setdefault(column, [message])
        if errors:
            raise ValidationError(errors)

    def _team_rule_errors(self, person: User):
        """What the People form would refuse too, as (column, message)."""
        if person.pk is None and User.objects.filter(username=person.username).exists():
            # Taken, yet not among the people this user manages: an administrator's account.
            yield "username", _("No such person: “%(username)s”.") % {"username": person.username}
        if not person.team_role and not self.user.is_superuser:
            yield "role", _("Every person needs a role: one of %(roles)s.") % {"roles": ", ".join(Role.values)}

    def before_save_instance(self, instance, row, **kwargs):
        if instance.is_superuser:
            # Only an administrator's import reaches here (with a row that changes something).
            raise ValidationError(
                {
                    "username": _("“%(username)s” is an administrator: the import never changes administrators.")
                    % {"username": instance.username}
                }
            )

    def after_save_instance(self, instance, row, **kwargs):
        assign_role_and_datasets(
            person=instance,
            role=instance.team_role,
            datasets=instance.team_datasets,
            editable=Dataset.objects.visible_to(self.user),
        )
