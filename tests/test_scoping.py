"""What each person sees inside the pages they may open."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import AnnotationFactory, DatasetFactory, RecordFactory


def test_dataset_list_shows_only_the_persons_datasets(annotator):
    response = annotator.client.get(reverse("admin:corpus_dataset_changelist"))

    assert annotator.dataset.name in response.text
    assert annotator.other_dataset.name not in response.text


def test_dataset_filter_never_names_other_teams_datasets(reviewer):
    DatasetFactory(name="Second team data", members=[reviewer.user])  # the filter shows from two up

    response = reviewer.client.get(reverse("admin:corpus_record_changelist"))

    assert response.status_code == 200
    assert reviewer.dataset.name in response.text
    assert "Second team data" in response.text
    assert reviewer.other_dataset.name not in response.text


def test_annotator_never_sees_other_annotators_labels(annotator):
    own = AnnotationFactory(record__dataset=annotator.dataset, annotator=annotator.user)
    colleagues = AnnotationFactory(record__dataset=annotator.dataset)

    listing = annotator.client.get(reverse("admin:labeling_annotation_changelist"))
    guessed = annotator.client.get(reverse("admin:labeling_annotation_change", args=[colleagues.pk]))

    assert [row.pk for row in listing.context["cl"].result_list] == [own.pk]
    assert guessed.status_code == 404


def test_reviewer_sees_every_annotation_of_their_datasets(reviewer):
    first = AnnotationFactory(record__dataset=reviewer.dataset)
    second = AnnotationFactory(record__dataset=reviewer.dataset)
    AnnotationFactory(record__dataset=reviewer.other_dataset)

    listing = reviewer.client.get(reverse("admin:labeling_annotation_changelist"))

    assert {row.pk for row in listing.context["cl"].result_list} == {first.pk, second.pk}


def test_records_list_never_counts_the_whole_table(data_lead):
    RecordFactory.create_batch(3, dataset=data_lead.dataset)

    with CaptureQueriesContext(connection) as queries:
        response = data_lead.client.get(reverse("admin:corpus_record_changelist"))

    assert response.status_code == 200
    record_counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "corpus_record" in q["sql"]]
    assert record_counts == []


def test_record_text_is_shown_escaped(data_lead):
    record = RecordFactory(dataset=data_lead.dataset, text='<script>alert("x")</script> =HYPERLINK("evil")')

    listing = data_lead.client.get(reverse("admin:corpus_record_changelist"))
    page = data_lead.client.get(reverse("admin:corpus_record_change", args=[record.pk]))

    for response in (listing, page):
        assert '<script>alert("x")</script>' not in response.text
        assert "&lt;script&gt;" in response.text


def test_visible_one_answers_exactly_what_visible_to_answers(db):
    """LabelSchema.objects.visible_one is visible_to(...).get() written in SQL for the annotate
    screen: for every kind of person and every label set, the same answer, dataset included."""
    from django.contrib.auth.models import User

    from labeling.models import LabelSchema
    from tests.factories import LabelSchemaFactory, UserFactory

    mine = DatasetFactory(name="Mine", overlap=3, lease_minutes=7, instructions="Be <b>kind</b>")
    theirs = DatasetFactory(name="Theirs")
    schemas = [LabelSchemaFactory(dataset=mine, name="A"), LabelSchemaFactory(dataset=theirs, name="B")]
    member = UserFactory(username="member")
    mine.memberships.create(user=member)
    people = [
        member,
        UserFactory(username="outsider"),
        UserFactory(username="root", is_superuser=True),
        UserFactory(username="gone", is_active=False),
    ]
    mine.memberships.create(user=people[3])
    for someone in people:
        person = User.objects.get(pk=someone.pk)
        for schema in [*schemas, LabelSchema(pk=987654)]:
            expected = LabelSchema.objects.visible_to(person).select_related("dataset").filter(pk=schema.pk).first()
            found = LabelSchema.objects.visible_one(person, schema.pk)
            assert (found is None) == (expected is None), (person.username, schema.pk)
            if found is not None:
                assert (found.pk, found.name, found.kind, found.dataset_id) == (
                    expected.pk,
                    expected.name,
                    expected.kind,
                    expected.dataset_id,
                )
                got, want = found.dataset, expected.dataset
                assert [getattr(got, f.attname) for f in got._meta.concrete_fields] == [
                    getattr(want, f.attname) for f in want._meta.concrete_fields
                ]
    assert LabelSchema.objects.visible_one(member, schemas[0].pk) is not None
    assert LabelSchema.objects.visible_one(member, schemas[1].pk) is None
