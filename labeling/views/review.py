"""The review screen: a label set's queue of disputed records, and the page where a reviewer sees
everything said about one record (every annotation with its author, the model's suggestions as a
source of their own) and decides its final label(s).

Both are mounted by LabelSchemaAdmin.get_urls behind a login only; the checks live here: a role
without `labeling.review_records` gets 403, a label set or record outside the person's datasets
404. Decisions go through labeling.services.review.review_record with the version the reviewer
saw, so two reviewers on one record never overwrite each other silently (409 instead)."""

import random
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from corpus.models import Record
from labeling.models import Annotation, Label, LabelEvent, LabelSchema, Prediction, RecordState
from labeling.services.annotate import LabelingError, majority_labels
from labeling.services.review import ReviewConflict, review_queue, review_record

QUEUE_PAGE_SIZE = 25
HISTORY_SIZE = 15
SUGGESTIONS_SIZE = 10
# The review actions' keys; a label that uses one of them keeps it (labels come first) and the
# action is then reached by its button only.
ACTION_KEYS = {"majority": "a", "gold": "g", "next": "n"}
# "Return to the record's admin page after saving" (the link from the records admin sets it).
RETURN_VAR, RETURN_TO_RECORD = "return", "record"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _reviewable_schema(request: HttpRequest, schema_id: int) -> LabelSchema:
    """The label set, if this person may review it: 403 for a role that never reviews, 404 for a
    label set outside their datasets (indistinguishable from one that does not exist)."""
    if not request.user.has_perm("labeling.review_records"):
        raise PermissionDenied
    schemas = LabelSchema.objects.visible_to(request.user).select_related("dataset")
    return get_object_or_404(schemas, pk=schema_id)


# --- The queue: keyset pages over (updated_at, id), the order review_queue gives ----------------


def _position_of(state: RecordState) -> str:
    micros = (state.updated_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{state.pk}"


def _parse_position(value: str | None) -> tuple[datetime, int] | None:
    match = re.fullmatch(r"(\d{1,18})-(\d{1,18})", value or "")
    if match is None:
        return None
    return _EPOCH + timedelta(microseconds=int(match[1])), int(match[2])


def _after(queue: QuerySet, position: tuple[datetime, int]) -> QuerySet:
    at, pk = position
    return queue.filter(Q(updated_at__gt=at) | Q(updated_at=at, pk__gt=pk))


def _before(queue: QuerySet, position: tuple[datetime, int]) -> QuerySet:
    at, pk = position
    return queue.filter(Q(updated_at__lt=at) | Q(updated_at=at, pk__lt=pk)).order_by("-updated_at", "-pk")


@dataclass
class QueueRow:
    state: RecordState
    votes: list[tuple[Label, int]]  # each label people chose, with how many chose it
    people: int
    unsure: int
    imported: list[Label]
    url: str

    @property
    def waiting(self) -> str:
        if timezone.now() - self.state.updated_at < timedelta(minutes=1):
            return _("just now")
        return timesince(self.state.updated_at)


def _queue_rows(schema: LabelSchema, states: list[RecordState]) -> list[QueueRow]:
    """What each record's annotators said, in one query for the whole page."""
    annotations = (
        Annotation.objects.filter(schema=schema, record_id__in=[s.record_id for s in states])
        .only("record_id", "source", "unsure")
        .prefetch_related("labels")
    )
    labels = {label.pk: label for label in schema.labels.all()}
    votes: dict[int, Counter] = {s.record_id: Counter() for s in states}
    people, unsure = Counter(), Counter()
    imported: dict[int, list[Label]] = {}
    for annotation in annotations:
        if annotation.source == Annotation.Source.IMPORTED:
            imported[annotation.record_id] = list(annotation.labels.all())
            continue
        people[annotation.record_id] += 1
        unsure[annotation.record_id] += annotation.unsure
        votes[annotation.record_id].update(label.pk for label in annotation.labels.all())
    return [
        QueueRow(
            state=state,
            votes=[(labels[pk], n) for pk, n in votes[state.record_id].most_common() if pk in labels],
            people=people[state.record_id],
            unsure=unsure[state.record_id],
            imported=imported.get(state.record_id, []),
            url=reverse("admin:labeling_review_record", args=[schema.pk, state.record_id]),
        )
        for state in states
    ]


@require_http_methods(["GET", "HEAD"])
def review_queue_page(request: HttpRequest, schema_id: int) -> HttpResponse:
    """The disputed records of a label set, oldest problem first, a small page at a time."""
    schema = _reviewable_schema(request, schema_id)
    # The page shows a line of each text; the record's vector and meta stay in the database.
    queue = review_queue(schema=schema).defer("record__embedding", "record__meta")
    after = _parse_position(request.GET.get("after"))
    before = _parse_position(request.GET.get("before"))
    if before is not None:
        states = list(_before(queue, before)[:QUEUE_PAGE_SIZE])[::-1]
    else:
        states = list((_after(queue, after) if after else queue)[:QUEUE_PAGE_SIZE])
    has_newer = bool(states) and _after(queue, (states[-1].updated_at, states[-1].pk)).exists()
    has_older = bool(states) and _before(queue, (states[0].updated_at, states[0].pk)).exists()
    # A count of the disputed records only: a partial, indexed set, never the whole dataset.
    by_reason = dict(queue.order_by().values_list("review_reason").annotate(n=Count("pk")))
    first = states[0] if not (after or before) and states else queue.first()
    context = {
        **admin.site.each_context(request),
        "title": _("Review · %(schema)s") % {"schema": schema},
        "schema": schema,
        "rows": _queue_rows(schema, states),
        "total": sum(by_reason.values()),
        "reasons": [
            (value, label, by_reason[value])
            for value, label in RecordState.ReviewReason.choices
            if value and by_reason.get(value)
        ],
        "first_url": reverse("admin:labeling_review_record", args=[schema.pk, first.record_id]) if first else None,
        "newer_url": f"?after={_position_of(states[-1])}" if has_newer else None,
        "older_url": f"?before={_position_of(states[0])}" if has_older else None,
        "is_first_page": not has_older,
    }
    return TemplateResponse(request, "labeling/review/queue.html", context)


# --- One record ------------------------------------------------------------------------------


class ReviewForm(forms.Form):
    """What the reviewer posts. Which labels are allowed, and how many, is the service's to say."""

    version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    labels = forms.MultipleChoiceField(required=False)
    gold = forms.BooleanField(required=False)
    note = forms.CharField(required=False, max_length=2000, strip=True)
    decision = forms.ChoiceField(choices=[("chosen", "chosen"), ("majority", "majority")], required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any id is let through here; review_record checks it belongs to the label set (400).
        self.fields["labels"].valid_value = lambda value: str(value).isdigit()
        self.fields["labels"].error_messages["invalid_choice"] = _("Choose labels of this label set.")

    def first_error(self) -> str:
        for errors in self.errors.values():
            return errors[0]
        return ""


@dataclass
class AnnotationCard:
    author: str
    imported: bool
    labels: list[Label]
    unsure: bool
    comment: str
    seconds_spent: float | None
    created_at: datetime

    @property
    def time_spent(self) -> str:
        if self.seconds_spent is None:
            return "—"
        seconds = round(self.seconds_spent)
        return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def _annotation_cards(record: Record, schema: LabelSchema) -> list[AnnotationCard]:
    annotations = (
        Annotation.objects.filter(record=record, schema=schema)
        .select_related("annotator")
        .prefetch_related("labels")
        .order_by("source", "created_at", "pk")  # people first, then the imported source
    )
    return [
        AnnotationCard(
            author=a.annotator.get_username() if a.annotator else _("Imported"),
            imported=a.source == Annotation.Source.IMPORTED,
            labels=list(a.labels.all()),
            unsure=a.unsure,
            comment=a.comment,
            seconds_spent=a.seconds_spent,
            created_at=a.created_at,
        )
        for a in annotations
    ]


def _next_disputed(schema: LabelSchema, *, after: tuple[datetime, int] | None, record_id: int) -> RecordState | None:
    """The disputed record after `after` in queue order, else the first one (not this record)."""
    queue = review_queue(schema=schema).exclude(record_id=record_id)
    following = _after(queue, after).first() if after else None
    return following or queue.first()


def _queue_position(state: RecordState) -> tuple[datetime, int] | None:
    if state.pk is None or state.status != RecordState.Status.DISPUTED:
        return None
    return state.updated_at, state.pk


def _record_url(schema: LabelSchema, record_id: int) -> str:
    return reverse("admin:labeling_review_record", args=[schema.pk, record_id])


def _render_record(
    request: HttpRequest,
    *,
    schema: LabelSchema,
    record: Record,
    state: RecordState,
    chosen: list[int],
    gold: bool,
    note: str = "",
    error: str = "",
    conflict: bool = False,
    status: int = 200,
) -> TemplateResponse:
    labels = list(schema.labels.all())
    by_id = {label.pk: label for label in labels}
    cards = _annotation_cards(record, schema)
    people = sum(not card.imported for card in cards)
    majority = majority_labels(state)
    if majority is not None:
        no_majority = ""
    elif people == 0:
        no_majority = _("No annotator has labeled this record yet: there is no majority to accept.")
    else:
        no_majority = _("The annotators are split evenly: there is no majority. Pick the final label yourself.")
    taken = {label.hotkey.lower() for label in labels if label.hotkey}
    keys = {action: key for action, key in ACTION_KEYS.items() if key not in taken}
    following = _next_disputed(schema, after=_queue_position(state), record_id=record.pk)
    suggestions = (
        Prediction.objects.filter(record=record, schema=schema)
        .select_related("label")
        .order_by(F("classifier_id").desc(nulls_last=True), "-score", "pk")[:SUGGESTIONS_SIZE]
    )
    events = LabelEvent.objects.filter(record=record, schema=schema).select_related("actor", "annotator")
    # The trail keeps label names (they outlive renames); today's labels lend them their colour.
    colors = {label.name: label.color for label in labels}
    history = [
        (event, [(n, colors.get(n)) for n in event.old], [(n, colors.get(n)) for n in event.new])
        for event in events[:HISTORY_SIZE]
    ]

    context = {
        **admin.site.each_context(request),
        "title": _("Review record #%(id)s") % {"id": record.pk},
        "schema": schema,
        "record": record,
        "state": state,
        "is_new_state": state.pk is None,
        "final_labels": list(state.final_labels.all()) if state.pk else [],
        "labels": labels,
        "multi": schema.kind == LabelSchema.Kind.MULTI,
        "chosen": set(chosen),
        "gold": gold,
        "note": note,
        "cards": cards,
        "people": people,
        "majority": [by_id[pk] for pk in majority if pk in by_id] if majority is not None else None,
        "no_majority": no_majority,
        "keys": keys,
        "suggestions": list(suggestions),
        "history": history,
        "error": error,
        "conflict": conflict,
        "queue_url": reverse("admin:labeling_review", args=[schema.pk]),
        "next_url": _record_url(schema, following.record_id) if following else None,
        "record_admin_url": reverse("admin:corpus_record_change", args=[record.pk]),
        "waiting": review_queue(schema=schema).count(),
    }
    return TemplateResponse(request, "labeling/review/record.html", context, status=status)


def _current_state(schema: LabelSchema, record: Record) -> RecordState:
    """The record's state under the label set, or an unsaved one (version 0) for a record nobody
    has touched yet: opening a page writes nothing."""
    state = RecordState.objects.filter(schema=schema, record=record).select_related("reviewed_by").first()
    return state or RecordState(schema=schema, record=record)


@require_http_methods(["GET", "HEAD", "POST"])
def review_record_page(request: HttpRequest, schema_id: int, record_id: int) -> HttpResponse:
    """See everything said about one record and decide its final label(s). Any record of the
    reviewer's datasets can be opened here, not only disputed ones (to correct it or mark gold)."""
    schema = _reviewable_schema(request, schema_id)
    records = Record.objects.visible_to(request.user).filter(dataset_id=schema.dataset_id)
    record = get_object_or_404(records.select_related("document"), pk=record_id)
    state = _current_state(schema, record)
    if request.method != "POST":
        final = list(state.final_labels.values_list("pk", flat=True)) if state.pk else []
        return _render_record(
            request,
            schema=schema,
            record=record,
            state=state,
            chosen=final,
            gold=state.status == RecordState.Status.GOLD,
        )
    return _decide(request, schema=schema, record=record, state=state)


def _decide(request: HttpRequest, *, schema: LabelSchema, record: Record, state: RecordState) -> HttpResponse:
    form = ReviewForm(request.POST)
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    # What the reviewer had picked, shown again if the decision is refused.
    redo = {
        "schema": schema,
        "record": record,
        "chosen": [int(v) for v in request.POST.getlist("labels") if v.isdigit()],
        "gold": bool(data.get("gold", request.POST.get("gold"))),
        "note": data.get("note", request.POST.get("note", "")[:2000]),
    }
    position = _queue_position(state)
    try:
        if not valid:
            raise LabelingError(form.first_error())
        if data["decision"] == "majority":
            redo["chosen"] = majority_labels(state)
            if redo["chosen"] is None:
                redo["chosen"] = []
                raise LabelingError(_("There is no majority to accept: pick the final label yourself."))
        if state.pk is None:
            # First decision on a record nobody has touched: its state row is created now, at
            # version 0, so a concurrent first decision still meets the version check.
            state, _created = RecordState.objects.get_or_create(
                schema=schema,
                record=record,
                defaults={"random_key": random.random()},  # noqa: S311 - a queue order key, not a secret
            )
        saved = review_record(
            state_id=state.pk,
            reviewer=request.user,
            label_ids=redo["chosen"],
            gold=data["gold"],
            expected_version=data["version"],
            note=data["note"],
        )
    except ReviewConflict as conflict:
        # Nothing was saved: show what the record looks like now, and let the form carry the
        # current version so that deciding again (having seen it) is one keystroke.
        current = _current_state(schema, record)
        return _render_record(request, state=current, error=str(conflict), conflict=True, status=409, **redo)
    except LabelingError as problem:
        return _render_record(request, state=state, error=str(problem), status=400, **redo)

    names = ", ".join(label.name for label in saved.final_labels.all()) or _("no label")
    messages.success(
        request,
        _("Record #%(id)s: final label %(labels)s (%(status)s).")
        % {"id": record.pk, "labels": names, "status": saved.get_status_display().lower()},
    )
    if request.GET.get(RETURN_VAR) == RETURN_TO_RECORD:
        return redirect("admin:corpus_record_change", record.pk)
    following = _next_disputed(schema, after=position, record_id=record.pk)
    if following is None:
        messages.info(request, _("No disputed records are left in this label set."))
        return redirect("admin:labeling_review", schema.pk)
    return redirect(_record_url(schema, following.record_id))
