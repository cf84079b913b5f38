"""The admin's import/export buttons for label sets: inside one's datasets, formulas escaped."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.models import Label
from tests.factories import LabelFactory, LabelSchemaFactory


def import_labels(persona, content: str, *, confirm: bool = True):
    """Upload a CSV on the label import page and, if it validates, confirm it."""
    upload = SimpleUploadedFile("labels.csv", content.encode("utf-8"), content_type="text/csv")
    response = persona.client.post(
        reverse("admin:labeling_label_import"),
        {"import_file": upload, "format": "0", "resource": "0"},
    )
    if not confirm or "confirm_form" not in (response.context or {}):
        return response
    form = response.context["confirm_form"]
    data = {name: field.initial for name, field in form.fields.items()}
    data.update({name: value for name, value in form.initial.items()})
    return persona.client.post(reverse("admin:labeling_label_process_import"), data, follow=True)


def test_data_lead_imports_a_label_set_into_their_schema(data_lead):
    schema = LabelSchemaFactory(dataset=data_lead.dataset, name="Topic")

    import_labels(
        data_lead,
        f"schema_id,name,description,hotkey,color,order\n"
        f'{schema.pk},billing,"Invoices, refunds",b,#22c55e,0\n'
        f"{schema.pk},shipping,=not a formula in the database,s,#6366f1,1\n",
    )

    labels = {label.name: label for label in Label.objects.filter(schema=schema)}
    assert set(labels) == {"billing", "shipping"}
    assert labels["billing"].description == "Invoices, refunds"
    assert labels["shipping"].description == "=not a formula in the database"  # stored as given
    assert (labels["billing"].hotkey, labels["billing"].color) == ("b", "#22c55e")


def test_importing_into_another_teams_schema_is_refused_and_writes_nothing(data_lead):
    foreign = LabelSchemaFactory(dataset=data_lead.other_dataset)

    response = import_labels(data_lead, f"schema_id,name\n{foreign.pk},spam\n", confirm=False)

    assert response.status_code == 200
    assert "confirm_form" not in response.context
    assert "does not exist" in response.text
    assert not Label.objects.filter(schema=foreign).exists()


def test_one_bad_row_imports_none_of_the_file(data_lead):
    schema = LabelSchemaFactory(dataset=data_lead.dataset)

    response = import_labels(
        data_lead, f"schema_id,name,color\n{schema.pk},good,#22c55e\n{schema.pk},bad,not-a-colour\n"
    )

    assert "confirm_form" not in response.context  # the preview refuses the file
    assert response.context["result"].has_validation_errors()  # row 2, field "color"
    assert "at most 7 characters" in response.text
    assert not Label.objects.filter(schema=schema).exists()


@pytest.mark.parametrize("persona_name", ["annotator", "reviewer", "ml_engineer"])
def test_only_people_who_may_add_labels_can_import_them(request, persona_name):
    persona = request.getfixturevalue(persona_name)

    response = persona.client.get(reverse("admin:labeling_label_import"))

    assert response.status_code == 403


def test_export_holds_only_ones_own_labels_with_formulas_escaped(data_lead):
    LabelFactory(schema__dataset=data_lead.dataset, name='=HYPERLINK("http://evil")', description="-1+1")
    LabelFactory(schema__dataset=data_lead.other_dataset, name="foreign-label")

    response = data_lead.client.post(
        reverse("admin:labeling_label_export"),
        {
            "format": "0",
            "resource": "0",
            **{f"labelresource_{f}": "on" for f in ("dataset", "schema", "name", "description")},
        },
    )

    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert response.status_code == 200
    assert [row["name"] for row in rows] == ['\'=HYPERLINK("http://evil")']
    assert rows[0]["description"] == "'-1+1"
    assert rows[0]["dataset"] == data_lead.dataset.name


def test_schemas_import_by_dataset_name_only_into_ones_own_datasets(data_lead):
    upload = SimpleUploadedFile(
        "schemas.csv",
        f"dataset,name,kind\n{data_lead.dataset.name},Topic,multi\n{data_lead.other_dataset.name},Sneaky,single\n".encode(),
        content_type="text/csv",
    )

    response = data_lead.client.post(
        reverse("admin:labeling_labelschema_import"), {"import_file": upload, "format": "0", "resource": "0"}
    )

    result = response.context["result"]
    assert "confirm_form" not in response.context
    assert result.has_errors() or result.has_validation_errors(), "the foreign dataset's row must be refused"
    assert "does not exist" in response.text
    assert not data_lead.dataset.label_schemas.exists()
    assert not data_lead.other_dataset.label_schemas.exists()
