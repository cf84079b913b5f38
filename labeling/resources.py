"""django-import-export for the admin's small tables: label schemas and labels.

Big record files go through the streaming importer (corpus.services.ingest); these buttons are
for the few rows of a label set. Both directions stay inside the user's datasets: a schema or
dataset of another team is "not found", exactly like one that does not exist. Exports are CSV or
XLSX with formula-looking cells escaped.
"""

from import_export import fields, resources, widgets

from corpus.formats.spreadsheet import escape_formula
from corpus.models import Dataset
from labeling.models import Label, LabelSchema


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
