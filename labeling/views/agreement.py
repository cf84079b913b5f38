"""The agreement page of a label set: how far its annotators agree with each other, with the
final labels and with gold, per label, per person and per pair, and where they confuse labels.

Mounted by LabelSchemaAdmin.get_urls behind a login only; the checks live here. The tables name
other people's labels, so a role without `labeling.view_all_annotations` (annotators: labeling
stays blind) gets 403, and a label set outside the person's datasets 404.

The figures come from labeling.services.agreement.agreement_report, which reads every annotation
of the label set; the report is kept in the cache for a minute, under a key that changes with
every label change, so a busy page does not redo that work on each visit (see `cached_report`).
"""

from dataclasses import dataclass

from django.contrib import admin
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from labeling.models import Annotation, LabelEvent, LabelSchema
from labeling.services.agreement import AgreementReport, agreement_report

CACHE_SECONDS = 60

# Krippendorff, K. (2004). Content Analysis: An Introduction to Its Methodology, 2nd ed., p. 241:
# rely on variables with alpha ≥ .800; consider those between .667 and .800 only for tentative
# conclusions.
RELIABLE_ALPHA = 0.800
TENTATIVE_ALPHA = 0.667


def _schema_for_agreement(request: HttpRequest, schema_id: int) -> LabelSchema:
    """The label set, if this person may see everyone's labels in it: 403 for a role that may
    not (annotators), 404 for a label set outside their datasets."""
    if not request.user.has_perm("labeling.view_all_annotations"):
        raise PermissionDenied
    schemas = LabelSchema.objects.visible_to(request.user).select_related("dataset")
    return get_object_or_404(schemas, pk=schema_id)


def cached_report(*, schema: LabelSchema) -> AgreementReport:
    """The label set's agreement report, computed at most once a minute while nothing changes.

    The key holds what the report depends on and can change within that minute: the latest audit
    entry (every annotation, change, undo, review and label rename writes one), the number of
    annotations (imports write none), and the dataset settings that decide who is a coder and how
    records are settled. A username changed meanwhile shows up within the minute."""
    dataset = schema.dataset
    last_event = LabelEvent.objects.filter(schema=schema).order_by("-pk").values_list("pk", flat=True).first()
    annotations = Annotation.objects.filter(schema=schema).count()
    key = ":".join(
        str(part)
        for part in (
            "agreement",
            schema.pk,
            last_event or 0,
            annotations,
            int(dataset.agreement_counts_imported),
            dataset.overlap,
        )
    )
    report = cache.get(key)
    if report is None:
        report = agreement_report(schema=schema)
        cache.set(key, report, CACHE_SECONDS)
    return report


def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def number(value: float | None, *, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@dataclass(frozen=True)
class Reading:
    """What Krippendorff's alpha means in plain words, and the tone to show it in."""

    tone: str  # good / tentative / poor / unknown
    verdict: str
    explanation: str


def read_alpha(alpha: float | None) -> Reading:
    if alpha is None:
        return Reading(
            "unknown",
            _("Not measurable"),
            _("Everyone gave one and the same label, so there is no chance agreement to correct for."),
        )
    if alpha >= RELIABLE_ALPHA:
        return Reading(
            "good",
            _("Good"),
            _("Alpha is 0.800 or more: the labels can be relied on (Krippendorff's own threshold)."),
        )
    if alpha >= TENTATIVE_ALPHA:
        return Reading(
            "tentative",
            _("Tentative"),
            _(
                "Alpha is between 0.667 and 0.800: good enough for tentative conclusions only "
                "(Krippendorff's own thresholds). The figures below show which labels people agree on least."
            ),
        )
    return Reading(
        "poor",
        _("Poor"),
        _(
            "Alpha is below 0.667: too low to rely on (Krippendorff's own threshold). The guidelines or "
            "the labels probably need work: the figures below show where."
        ),
    )


@dataclass(frozen=True)
class Cell:
    count: int
    shade: float  # 0..1, the cell's share of its row: how often this label became that final one
    agrees: bool  # on the diagonal: the annotator's label is the final one


def _confusion_rows(report: AgreementReport) -> list[tuple[str, int, list[Cell]]]:
    """Per annotator label: its total and its cells, shaded by their share of the row (so a rare
    label's confusions show as clearly as a common one's)."""
    if report.confusion is None:
        return []
    rows = []
    for position, (label, counts) in enumerate(zip(report.confusion.labels, report.confusion.counts, strict=True)):
        total = sum(counts)
        cells = [
            Cell(count=count, shade=round(count / total, 3) if total else 0.0, agrees=column == position)
            for column, count in enumerate(counts)
        ]
        rows.append((label, total, cells))
    return rows


@require_http_methods(["GET", "HEAD"])
def agreement_page(request: HttpRequest, schema_id: int) -> HttpResponse:
    schema = _schema_for_agreement(request, schema_id)
    dataset = schema.dataset
    report = cached_report(schema=schema)
    may_change_dataset = request.user.has_perm("corpus.change_dataset")
    confusion = _confusion_rows(report)
    # The report names labels; today's labels lend them their colour (a renamed one shows grey
    # until the cached report is recomputed).
    colors = dict(schema.labels.values_list("name", "color"))
    context = {
        **admin.site.each_context(request),
        "title": _("Agreement · %(schema)s") % {"schema": schema.name},
        "schema": schema,
        "dataset": dataset,
        "report": report,
        "multi": schema.kind == LabelSchema.Kind.MULTI,
        "reading": read_alpha(report.krippendorff_alpha),
        "overall": {
            "percent_agreement": share(report.percent_agreement),
            "fleiss_kappa": number(report.fleiss_kappa),
            "krippendorff_alpha": number(report.krippendorff_alpha),
        },
        "labels": [
            {
                "name": row.label,
                "color": colors.get(row.label),
                "percent_agreement": share(row.percent_agreement),
                "fleiss_kappa": number(row.fleiss_kappa),
                "krippendorff_alpha": number(row.krippendorff_alpha),
                "tone": read_alpha(row.krippendorff_alpha).tone,
            }
            for row in report.labels
        ],
        "annotators": [
            {
                "name": row.annotator,
                "items": row.items_labeled,
                "with_final": share(row.agreement_with_final),
                "final_items": row.items_with_final,
                "with_gold": share(row.agreement_with_gold),
                "gold_items": row.gold_items,
                "median_seconds": number(row.median_seconds, digits=1),
                "items_per_hour": number(row.items_per_hour, digits=0),
            }
            for row in report.annotators
        ],
        "pairs": [
            {
                "first": row.first,
                "second": row.second,
                "items": row.items,
                "cohen_kappa": number(row.cohen_kappa),
                "percent_agreement": share(row.percent_agreement),
            }
            for row in report.pairs
        ],
        "confusion": [(label, colors.get(label), total, cells) for label, total, cells in confusion]
        if any(total for _label, total, _cells in confusion)
        else [],
        "confusion_labels": [(label, colors.get(label)) for label in report.confusion.labels]
        if report.confusion
        else [],
        "settings_url": reverse("admin:corpus_dataset_change", args=[dataset.pk]) if may_change_dataset else None,
        "dataset_url": reverse("admin:corpus_dataset_change", args=[dataset.pk]),
        "review_url": reverse("admin:labeling_review", args=[schema.pk])
        if request.user.has_perm("labeling.review_records")
        else None,
    }
    return TemplateResponse(request, "labeling/agreement/page.html", context)
