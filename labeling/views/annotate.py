"""The annotate screen and its JSON endpoints, mounted inside the admin by LabelSchemaAdmin.get_urls.

The page renders its first record itself; after that the browser talks JSON, and every action
(save, skip, undo) answers with the record to show next, so one keystroke is one round trip.
Labeling is blind: nothing here reads another person's annotation or a record's final label.
"""

import json
import math
from collections.abc import Callable
from functools import wraps

import markdown_it
import nh3
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.db.models.functions import Left
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from corpus.models import Dataset, Record
from labeling.models import Annotation, Assignment, LabelSchema, RecordState
from labeling.services.annotate import LabelingError, RecordClosed, RecordFull, save_annotation, undo_annotation
from labeling.services.queue import (
    lease_next_record,
    prepare_queue,
    queue_counts,
    recent_assignments,
    skip_record,
    unskip_record,
)

CONTEXT_CHARS = 300  # of each neighbouring chunk: enough to see where a passage came from
MAX_COMMENT_CHARS = 5000
MAX_SECONDS_SPENT = 24 * 3600  # a timer left running over a weekend is not a measurement
RECENT_ITEMS = 8
SUGGESTION_THRESHOLD = 0.5  # multi-label: labels the model gives at least this score
# Keys the screen uses for actions; labels without a hotkey get a free digit instead.
ACTION_KEYS = {"s", "z", "u", "c", "?"}


class BadInput(Exception):
    """The request's JSON is not what the endpoint expects (400)."""


# --- Who may use the screen -------------------------------------------------------------------


def _schema_for_annotator(request: HttpRequest, schema_id: int) -> LabelSchema:
    """The label set, if this person may annotate and it belongs to one of their datasets.
    A role that may never annotate gets 403; a label set outside their datasets 404."""
    if not request.user.has_perm("labeling.annotate_records"):
        raise PermissionDenied
    schema = LabelSchema.objects.visible_one(request.user, schema_id)
    if schema is None:
        raise Http404
    return schema


def _record_in(schema: LabelSchema, record_id: int) -> None:
    # An id from another dataset must look exactly like one that does not exist.
    if not Record.objects.filter(pk=record_id, dataset_id=schema.dataset_id).exists():
        raise Http404


def _json_endpoint(method: str) -> Callable:
    """One HTTP method; errors come back as {"error": message} so the page can show them."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method != method:
                return JsonResponse({"error": _("Use %(method)s.") % {"method": method}}, status=405)
            try:
                return view(request, *args, **kwargs)
            except PermissionDenied:
                return JsonResponse({"error": _("You may not annotate records.")}, status=403)
            except Http404:
                return JsonResponse({"error": _("Not found.")}, status=404)
            except BadInput as error:
                return JsonResponse({"error": str(error)}, status=400)

        return wrapper

    return decorate


def _body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadInput(_("The request is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise BadInput(_("The request must be a JSON object."))
    return body


def _record_id(body: dict) -> int:
    value = body.get("record_id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadInput(_("record_id must be a record's id."))
    return value


# --- What the page shows for one record --------------------------------------------------------


def _document_context(record: Record) -> dict | None:
    """Where a chunk of a document came from: the document, the page, and the text just before
    and after it (without the part the chunks share), so the annotator sees the passage in place."""
    if record.document_id is None:
        return None
    before = after = ""
    if record.position is not None:
        neighbours = {
            position: (text, page, start)
            for position, text, page, start in Record.objects.filter(
                document_id=record.document_id, position__in=[record.position - 1, record.position + 1]
            ).values_list("position", "text", "page", "char_start")
        }
        if previous := neighbours.get(record.position - 1):
            text, page, start = previous
            if page == record.page and start is not None and record.char_start is not None:
                # Chunks of one page overlap; keep only what this chunk does not repeat.
                text = text[: max(record.char_start - start, 0)]
            before = _tail(text)
        if following := neighbours.get(record.position + 1):
            text, page, start = following
            if page == record.page and start is not None and record.char_end is not None:
                text = text[max(record.char_end - start, 0) :]
            after = _head(text)
    return {
        "name": record.document_name,
        "page": record.page,
        "position": record.position,
        "before": before,
        "after": after,
    }


def _tail(text: str) -> str:
    if len(text) <= CONTEXT_CHARS:
        return text
    cut = text[-CONTEXT_CHARS:]
    space = cut.find(" ")
    return "…" + (cut[space + 1 :] if 0 <= space < 40 else cut)


def _head(text: str) -> str:
    if len(text) <= CONTEXT_CHARS:
        return text
    cut = text[:CONTEXT_CHARS]
    space = cut.rfind(" ")
    return (cut[:space] if space > CONTEXT_CHARS - 40 else cut) + "…"


def _suggestion(schema: LabelSchema, predictions: list[dict]) -> dict | None:
    """The latest model's opinion among the record's `predictions` (newest first, as _item reads
    them): its top label (single-label), or every label it gives at least SUGGESTION_THRESHOLD
    (multi-label). A prediction is a suggestion, never someone's label."""
    if not predictions:
        return None
    latest = predictions[0]["version"]
    scored = [(row["label_id"], row["score"]) for row in predictions if row["version"] == latest]
    if schema.kind == LabelSchema.Kind.SINGLE:
        chosen = [max(scored, key=lambda pair: -1.0 if pair[1] is None else pair[1])]
    else:
        # A prediction without a score (imported from a file that had none) says the label applies.
        chosen = [pair for pair in scored if pair[1] is None or pair[1] >= SUGGESTION_THRESHOLD]
        if not chosen:
            return None
    chosen.sort(key=lambda pair: -1.0 if pair[1] is None else -pair[1])
    scores = [score for _, score in chosen if score is not None]
    return {
        "label_ids": [label_id for label_id, _ in chosen],
        "score": max(scores) if scores else None,
        "scores": {str(label_id): score for label_id, score in chosen},
    }


def _mine(schema: LabelSchema, record_id: int, user) -> dict | None:
    """This person's own answer on the record (never anyone else's: labeling is blind)."""
    rows = list(
        Annotation.objects.filter(
            record_id=record_id, schema=schema, annotator=user, source=Annotation.Source.HUMAN
        ).values_list("unsure", "comment", "labels")
    )
    if not rows:
        return None
    unsure, comment, _ = rows[0]
    return {
        "label_ids": sorted(label_id for *_, label_id in rows if label_id is not None),
        "unsure": unsure,
        "comment": comment,
    }


def _item(schema: LabelSchema, record_id: int, user, *, with_mine: bool = True) -> dict:
    suggest = schema.dataset.show_suggestions
    # One query, in SQL (it answers every keystroke): the record, its document's name and, when the
    # dataset shows suggestions, the label set's predictions for it, newest first.
    found = next(
        iter(
            Record.objects.raw(
                """
                SELECT r.id, r.text, r.document_id, r.position, r.page, r.char_start, r.char_end,
                       d.original_name AS document_name,
                       CASE WHEN %(suggest)s THEN ARRAY(
                           SELECT json_build_object('label_id', p.label_id, 'score', p.score,
                                                    'version', p.model_version)
                           FROM labeling_prediction p
                           WHERE p.record_id = r.id AND p.schema_id = %(schema)s
                           ORDER BY p.created_at DESC, p.id DESC
                       ) END AS suggestion_rows
                FROM corpus_record r LEFT JOIN corpus_document d ON d.id = r.document_id
                WHERE r.id = %(record)s
                """,
                {"suggest": suggest, "schema": schema.pk, "record": record_id},
            )
        ),
        None,
    )
    if found is None:
        raise Http404
    record: Record = found
    return {
        "record_id": record.pk,
        "text": record.text,
        "document": _document_context(record),
        "suggestion": _suggestion(schema, record.suggestion_rows) if suggest else None,
        # A freshly leased record is never one this person answered (the queue skips those).
        "mine": _mine(schema, record.pk, user) if with_mine else None,
    }


def _next_item(schema: LabelSchema, user) -> dict | None:
    assignment = lease_next_record(schema=schema, user=user)
    if assignment is None:
        return None
    return _item(schema, assignment.state.record_id, user, with_mine=False)


def _counts(schema: LabelSchema, user) -> dict:
    """The counter, counted: page load, /next and conflicts. It scans the label set's open records
    (15-30 ms at 100k), so save, skip and undo answer "counts": null and the page keeps the counter
    itself until the next count."""
    counts = queue_counts(schema=schema, user=user)
    return {"done_by_me": counts.done_by_me, "remaining": counts.remaining}


def _labels(schema: LabelSchema) -> list[dict]:
    """The label set's buttons in order, each with the key that applies it: its own hotkey, or the
    first free digit for a label that has none."""
    labels = list(schema.labels.all())
    taken = {label.hotkey for label in labels if label.hotkey}
    free = (key for key in "1234567890" if key not in taken)
    return [
        {
            "id": label.pk,
            "name": label.name,
            "description": label.description,
            "color": label.color,
            "hotkey": label.hotkey or next(free, ""),
        }
        for label in labels
    ]


def _recent(schema: LabelSchema, user) -> list[dict]:
    """This person's last items, newest first, with their own answers: what "back" offers."""
    assignments = recent_assignments(schema=schema, user=user, limit=RECENT_ITEMS)
    record_ids = [assignment.state.record_id for assignment in assignments]
    snippets = dict(
        Record.objects.filter(pk__in=record_ids).annotate(snippet=Left("text", 90)).values_list("pk", "snippet")
    )
    answers: dict[int, list[int]] = {}
    for record_id, label_id in Annotation.objects.filter(
        record_id__in=record_ids, schema=schema, annotator=user, source=Annotation.Source.HUMAN
    ).values_list("record_id", "labels"):
        answers.setdefault(record_id, [])
        if label_id is not None:
            answers[record_id].append(label_id)
    return [
        {
            "record_id": assignment.state.record_id,
            "snippet": snippets.get(assignment.state.record_id, ""),
            "skipped": assignment.status == Assignment.Status.SKIPPED,
            "label_ids": sorted(answers.get(assignment.state.record_id, [])),
        }
        for assignment in assignments
    ]


_markdown = markdown_it.MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> SafeString:
    """Markdown written by a data lead, as HTML that cannot run anything: raw HTML is not passed
    through by the parser, and nh3 (an allow-list sanitizer) removes whatever else could."""
    return mark_safe(nh3.clean(_markdown.render(text), link_rel="noopener noreferrer nofollow"))  # noqa: S308


# --- Pages ------------------------------------------------------------------------------------


def work_page(request: HttpRequest) -> HttpResponse:
    """My work: the label sets of this person's datasets, what is left in each, and the way in."""
    user = request.user
    can_annotate = user.has_perm("labeling.annotate_records")
    can_review = user.has_perm("labeling.review_records")
    if not (can_annotate or can_review):
        raise PermissionDenied
    schemas = list(LabelSchema.objects.visible_to(user).select_related("dataset").order_by("dataset__name", "name"))
    disputed = {}
    if can_review:
        disputed = dict(
            RecordState.objects.filter(schema__in=schemas, status=RecordState.Status.DISPUTED)
            .values_list("schema_id")
            .annotate(n=Count("pk"))
            .values_list("schema_id", "n")
        )
    rows = []
    for schema in schemas:
        counts = None
        if can_annotate:
            # Records imported since the last visit join the queue, so "remaining" is true.
            prepare_queue(schema=schema)
            counts = queue_counts(schema=schema, user=user)
        rows.append(
            {
                "schema": schema,
                "counts": counts,
                "disputed": disputed.get(schema.pk, 0),
                "annotate_url": reverse("admin:labeling_annotate", args=[schema.pk]),
                "review_url": reverse("admin:labeling_review", args=[schema.pk]),
            }
        )
    context = {
        **admin.site.each_context(request),
        "title": _("My work"),
        "rows": rows,
        "can_annotate": can_annotate,
        "can_review": can_review,
    }
    return TemplateResponse(request, "labeling/annotate/work.html", context)


def annotate_page(request: HttpRequest, schema_id: int) -> HttpResponse:
    schema = _schema_for_annotator(request, schema_id)
    dataset: Dataset = schema.dataset
    prepare_queue(schema=schema)
    item = _next_item(schema, request.user)
    item_url = reverse("admin:labeling_annotate_item", args=[schema.pk, 987654321]).replace("987654321", "{id}")
    labels = _labels(schema)
    screen = {
        "kind": schema.kind,
        "dataset": dataset.name,
        "labels": labels,
        "item": item,
        "counts": _counts(schema, request.user),
        "recent": _recent(schema, request.user),
        "urls": {
            "next": reverse("admin:labeling_annotate_next", args=[schema.pk]),
            "save": reverse("admin:labeling_annotate_save", args=[schema.pk]),
            "skip": reverse("admin:labeling_annotate_skip", args=[schema.pk]),
            "undo": reverse("admin:labeling_annotate_undo", args=[schema.pk]),
            "item": item_url,
        },
    }
    context = {
        **admin.site.each_context(request),
        "title": _("Annotate"),
        "schema": schema,
        "dataset": dataset,
        "labels": labels,
        "item": item,
        "screen": screen,
        "instructions": render_markdown(dataset.instructions) if dataset.instructions.strip() else "",
        "work_url": reverse("admin:labeling_work"),
        "taken_action_keys": sorted(ACTION_KEYS & {label["hotkey"] for label in labels}),
    }
    return TemplateResponse(request, "labeling/annotate/page.html", context)


# --- JSON endpoints ---------------------------------------------------------------------------


@_json_endpoint("GET")
def next_item(request: HttpRequest, schema_id: int) -> HttpResponse:
    schema = _schema_for_annotator(request, schema_id)
    return JsonResponse({"item": _next_item(schema, request.user), "counts": _counts(schema, request.user)})


def _labels_from(body: dict) -> list[int]:
    value = body.get("label_ids")
    if not isinstance(value, list) or any(isinstance(pk, bool) or not isinstance(pk, int) for pk in value):
        raise BadInput(_("label_ids must be a list of label ids."))
    return value


def _answer_from(body: dict) -> dict:
    unsure = body.get("unsure", False)
    comment = body.get("comment", "")
    seconds = body.get("seconds_spent")
    if not isinstance(unsure, bool):
        raise BadInput(_("unsure must be true or false."))
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
        raise BadInput(_("The comment must be text of at most %(n)d characters.") % {"n": MAX_COMMENT_CHARS})
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise BadInput(_("seconds_spent must be a number."))
        if seconds < 0:
            raise BadInput(_("seconds_spent cannot be negative."))
        seconds = min(float(seconds), MAX_SECONDS_SPENT)
    return {"unsure": unsure, "comment": comment.strip(), "seconds_spent": seconds}


def _conflict(error: LabelingError, schema: LabelSchema, user) -> JsonResponse:
    # The person keeps going: the answer carries the record to work on next.
    return JsonResponse(
        {"error": str(error), "item": _next_item(schema, user), "counts": _counts(schema, user)}, status=409
    )


@_json_endpoint("POST")
def save_item(request: HttpRequest, schema_id: int) -> HttpResponse:
    schema = _schema_for_annotator(request, schema_id)
    body = _body(request)
    record_id = _record_id(body)
    label_ids = _labels_from(body)
    answer = _answer_from(body)
    try:
        # One transaction for the answer and the next lease: one commit (one disk flush) per keystroke.
        with transaction.atomic():
            save_annotation(schema=schema, record_id=record_id, user=request.user, label_ids=label_ids, **answer)
            item = _next_item(schema, request.user)
    except (RecordFull, RecordClosed) as error:
        return _conflict(error, schema, request.user)
    except LabelingError as error:
        # Checked only now, to spare the common path a query: a saved record was in the queue.
        _record_in(schema, record_id)
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"saved": True, "item": item, "counts": None})


@_json_endpoint("POST")
def skip_item(request: HttpRequest, schema_id: int) -> HttpResponse:
    """Pass on the record I hold. On an earlier item I went back to, it just leaves it as it is."""
    schema = _schema_for_annotator(request, schema_id)
    record_id = _record_id(_body(request))
    held = Assignment.objects.filter(
        state__schema=schema, state__record_id=record_id, annotator=request.user, status=Assignment.Status.LEASED
    ).first()
    if held is None:
        _record_in(schema, record_id)
    else:
        skip_record(assignment=held)
    return JsonResponse({"item": _next_item(schema, request.user), "counts": None})


@_json_endpoint("POST")
def undo_item(request: HttpRequest, schema_id: int) -> HttpResponse:
    """Take back my most recent finished item and show it again: an answer is withdrawn (and
    offered again as it was), a skip is undone."""
    schema = _schema_for_annotator(request, schema_id)
    last = recent_assignments(schema=schema, user=request.user, limit=1)
    if not last:
        return JsonResponse({"error": _("There is nothing to undo yet.")}, status=400)
    assignment = last[0]
    record_id = assignment.state.record_id
    if assignment.status == Assignment.Status.DONE:
        mine = _mine(schema, record_id, request.user)
        try:
            undo_annotation(schema=schema, record_id=record_id, user=request.user)
        except RecordClosed as error:
            return _conflict(error, schema, request.user)
    else:
        mine = None
        if not unskip_record(assignment=assignment):
            return _conflict(
                RecordFull(_("Others have labeled the record you skipped meanwhile; it needs no more answers.")),
                schema,
                request.user,
            )
    item = _item(schema, record_id, request.user, with_mine=False)
    item["mine"] = mine
    return JsonResponse({"item": item, "counts": None})


@_json_endpoint("GET")
def show_item(request: HttpRequest, schema_id: int, record_id: int) -> HttpResponse:
    """An item I worked on before ("back"), with my answer; saving it changes that answer."""
    schema = _schema_for_annotator(request, schema_id)
    if not Assignment.objects.filter(state__schema=schema, state__record_id=record_id, annotator=request.user).exists():
        raise Http404
    return JsonResponse({"item": _item(schema, record_id, request.user)})
