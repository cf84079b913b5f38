"""The labels of a label set: renaming one (audited), and what uses one, so that no label that
carries people's work disappears silently."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from labeling.models import Annotation, Label, LabelEvent, Prediction, RecordState


@dataclass(frozen=True)
class LabelUsage:
    annotations: int = 0
    final_labels: int = 0
    predictions: int = 0

    @property
    def holds_work(self) -> bool:
        """People's answers or decisions name the label: deleting it would change them unseen.
        (Predictions alone do not: a classification job makes them again.)"""
        return bool(self.annotations or self.final_labels)

    def describe(self) -> str:
        parts = []
        if self.annotations:
            parts.append(f"{self.annotations:,} annotation{'s' if self.annotations != 1 else ''}")
        if self.final_labels:
            parts.append(f"{self.final_labels:,} final label{'s' if self.final_labels != 1 else ''}")
        if self.predictions:
            parts.append(f"{self.predictions:,} prediction{'s' if self.predictions != 1 else ''}")
        return ", ".join(parts)


def _counts_by_label(model, label_ids: list[int]) -> dict[int, int]:
    rows = model.objects.filter(label_id__in=label_ids).values("label_id").annotate(n=Count("pk"))
    return {row["label_id"]: row["n"] for row in rows}


def label_usage(*, label_ids) -> dict[int, LabelUsage]:
    """How many annotations, final labels and predictions use each label (one query each)."""
    ids = [int(pk) for pk in label_ids]
    annotations = _counts_by_label(Annotation.labels.through, ids)
    finals = _counts_by_label(RecordState.final_labels.through, ids)
    predictions = _counts_by_label(Prediction, ids)
    return {
        pk: LabelUsage(
            annotations=annotations.get(pk, 0), final_labels=finals.get(pk, 0), predictions=predictions.get(pk, 0)
        )
        for pk in ids
    }


def rename_label(*, label: Label, name: str, user) -> Label:
    """Give `label` a new name. Its annotations, final labels and predictions keep it (they refer
    to it by id); the audit trail says who renamed it from what to what."""
    with transaction.atomic():
        stored = Label.objects.select_for_update().get(pk=label.pk)
        if stored.name == name:
            return label
        label.name = name
        label.save(update_fields=["name"])
        LabelEvent.objects.create(
            record=None,
            schema_id=label.schema_id,
            action=LabelEvent.Action.LABEL_RENAMED,
            actor=user,
            old=[stored.name],
            new=[name],
        )
    return label
