"""The situations a reviewer meets, built through the real services (so statuses, versions and the
audit trail are what the app itself would have written). Shared by the review tests."""

from django.contrib.auth.models import User

from corpus.models import Dataset, Record
from labeling.models import Annotation, Label, LabelSchema, RecordState
from labeling.roles import Role
from labeling.services.annotate import save_annotation
from labeling.services.queue import prepare_queue
from tests.factories import LabelFactory, LabelSchemaFactory, RecordFactory, UserFactory

NOUN_CLASSES = [("animal", "#f97316"), ("plant", "#22c55e"), ("food", "#3b82f6")]


def noun_schema(dataset: Dataset, *, kind: str = LabelSchema.Kind.SINGLE, overlap: int = 2) -> LabelSchema:
    """A label set with three labels on hotkeys 1-3; the dataset asks for `overlap` annotators."""
    dataset.overlap = overlap
    dataset.save(update_fields=["overlap"])
    schema = LabelSchemaFactory(dataset=dataset, name="Noun class", kind=kind)
    for order, (name, color) in enumerate(NOUN_CLASSES):
        LabelFactory(schema=schema, name=name, hotkey=str(order + 1), color=color, order=order)
    return schema


def label(schema: LabelSchema, name: str) -> Label:
    return schema.labels.get(name=name)


def annotators(dataset: Dataset, *names: str) -> list[User]:
    people = [UserFactory(username=name, role=Role.ANNOTATOR) for name in names]
    for person in people:
        dataset.memberships.create(user=person)
    return people


def annotate(schema: LabelSchema, record: Record, user: User, *names: str, unsure=False, comment="") -> Annotation:
    prepare_queue(schema=schema)
    return save_annotation(
        schema=schema,
        record_id=record.pk,
        user=user,
        label_ids=[label(schema, name).pk for name in names],
        unsure=unsure,
        comment=comment,
        seconds_spent=12.0,
    )


def disagreement(schema: LabelSchema, people: list[User], *names: str, text: str | None = None) -> RecordState:
    """A record the `people` labeled with `names` (one each): disputed when they differ."""
    record = RecordFactory(dataset=schema.dataset, **({"text": text} if text else {}))
    for person, name in zip(people, names, strict=True):
        annotate(schema, record, person, name)
    return RecordState.objects.get(schema=schema, record=record)


def imported_annotation(schema: LabelSchema, record: Record, *names: str) -> Annotation:
    annotation = Annotation.objects.create(record=record, schema=schema, source=Annotation.Source.IMPORTED)
    annotation.labels.set([label(schema, name) for name in names])
    return annotation
