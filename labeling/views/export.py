"""Exports in the admin: the dataset page's “Export” button, the records list's “Export selected…”
action, and the download of a finished export job.

Who: `labeling.export_dataset` (data leads and admins); others get 403. A dataset outside the
person's datasets is 404. Exports of up to EXPORT_STREAM_MAX_RECORDS records stream straight to
the browser; larger ones run as a job (labeling.services.export.start_export) whose page links the
file when it is done. The download serves a job's file to its creator (or a superuser) while
they may still see its dataset; the file is found from the job's id alone, never a request path.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from corpus.formats.writers import FORMATS
from corpus.models import Dataset
from jobs.models import Job
from labeling.models import Label, LabelSchema, RecordState
from labeling.services.export import (
    ALL,
    FINAL,
    ExportError,
    ExportOptions,
    export_file,
    parse_split,
    prepare_export,
    start_export,
    stream_max_records,
)

PERMISSION = "labeling.export_dataset"
MAX_SELECTED_RECORDS = 100_000  # "Export selected…": more than this, export the dataset with filters

# ExportOptions field -> form field, for errors the service reports.
_FORM_FIELDS = {
    "fmt": "format",
    "schema_id": "schema",
    "label_ids": "labels",
    "annotator_ids": "annotators",
    "date_to": "date_to",
    "split": "split",
    "seed": "seed",
    "min_agreement": "min_agreement",
    "near_duplicate_threshold": "near_duplicate_threshold",
    "statuses": "statuses",
}


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[(fmt.name, fmt.description) for fmt in FORMATS.values()],
        initial="jsonl",
        widget=UnfoldAdminSelectWidget,
    )
    schema = forms.TypedChoiceField(
        label=_("Label set"), coerce=int, required=False, empty_value=None, widget=UnfoldAdminSelectWidget
    )
    annotations = forms.ChoiceField(
        label=_("Labels"),
        choices=[(FINAL, _("Final labels only")), (ALL, _("Final labels and every annotation with its author"))],
        initial=FINAL,
        widget=UnfoldAdminSelectWidget,
    )
    predictions = forms.BooleanField(
        label=_("Predictions with scores"), required=False, widget=UnfoldBooleanSwitchWidget
    )
    meta = forms.BooleanField(label=_("Meta"), required=False, initial=True, widget=UnfoldBooleanSwitchWidget)
    provenance = forms.BooleanField(
        label=_("Provenance"),
        required=False,
        help_text=_("Tally's record id, the document, page, chunk and character span, the import time."),
        widget=UnfoldBooleanSwitchWidget,
    )
    statuses = forms.MultipleChoiceField(
        label=_("Status"),
        choices=RecordState.Status.choices,
        required=False,
        help_text=_("None ticked: every record."),
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    min_agreement = forms.FloatField(
        label=_("Minimum agreement"),
        min_value=0,
        max_value=1,
        required=False,
        help_text=_("0 to 1: the share of annotator pairs that agree on a record; records labeled once are left out."),
        widget=UnfoldAdminTextInputWidget,
    )
    labels = forms.TypedMultipleChoiceField(
        label=_("Only records labeled"),
        coerce=int,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    date_from = forms.DateField(label=_("Annotated from"), required=False, widget=UnfoldAdminSingleDateWidget)
    date_to = forms.DateField(label=_("Annotated until"), required=False, widget=UnfoldAdminSingleDateWidget)
    annotators = forms.TypedMultipleChoiceField(
        label=_("Annotated by"), coerce=int, required=False, widget=UnfoldAdminCheckboxSelectMultipleWidget
    )
    split = forms.CharField(
        label=_("Split"),
        required=False,
        max_length=40,
        help_text=_("train/validation/test, e.g. 80/10/10 (80/20: train and test). Empty: no split."),
        widget=UnfoldAdminTextInputWidget,
    )
    seed = forms.IntegerField(
        label=_("Seed"),
        initial=42,
        min_value=-(2**63),
        max_value=2**63 - 1,
        help_text=_("The same data and seed give the same split."),
        widget=UnfoldAdminTextInputWidget,
    )
    near_duplicate_threshold = forms.FloatField(
        label=_("Near-duplicates"),
        min_value=0.5,
        max_value=1,
        required=False,
        help_text=_(
            "A cosine similarity, e.g. 0.95: records at least this similar (by their embeddings) stay in one "
            "split. Empty: only duplicate texts and the chunks of a document are kept together."
        ),
        widget=UnfoldAdminTextInputWidget,
    )
    escape_formulas = forms.BooleanField(
        label=_("Escape formulas (CSV, XLSX)"),
        required=False,
        initial=True,
        help_text=_(
            "Cells starting with = + - @ or a tab are prefixed with ' so a spreadsheet never runs them. "
            "Turn off for files read by programs."
        ),
        widget=UnfoldBooleanSwitchWidget,
    )

    def __init__(self, *args, dataset: Dataset, **kwargs):
        super().__init__(*args, **kwargs)
        schemas = list(LabelSchema.objects.filter(dataset=dataset).order_by("pk"))
        self.fields["schema"].choices = [(schema.pk, schema.name) for schema in schemas]
        if len(schemas) <= 1:
            self.fields["schema"].widget = forms.HiddenInput()
        labels = Label.objects.filter(schema__in=schemas).select_related("schema").order_by("schema", "order", "name")
        several = len(schemas) > 1
        self.fields["labels"].choices = [
            (label.pk, f"{label.schema.name}: {label.name}" if several else label.name) for label in labels
        ]
        self.fields["annotators"].choices = [
            (user.pk, user.get_username()) for user in dataset.members.order_by("username")
        ]

    def clean_split(self):
        try:
            return parse_split(self.cleaned_data["split"])
        except ExportError as error:
            raise forms.ValidationError(error.message) from None

    def options(self, *, record_ids: list[int] | None = None) -> ExportOptions:
        data = self.cleaned_data
        return ExportOptions(
            fmt=data["format"],
            schema_id=data["schema"],
            annotations=data["annotations"],
            predictions=data["predictions"],
            meta=data["meta"],
            provenance=data["provenance"],
            statuses=list(data["statuses"]),
            min_agreement=data["min_agreement"],
            label_ids=list(data["labels"]),
            date_from=data["date_from"],
            date_to=data["date_to"],
            annotator_ids=list(data["annotators"]),
            record_ids=record_ids,
            split=data["split"],
            seed=data["seed"] if data["seed"] is not None else 42,
            near_duplicate_threshold=data["near_duplicate_threshold"],
            escape_formulas=data["escape_formulas"],
        )


def export_page(model_admin, request: HttpRequest, *, dataset: Dataset, record_ids: list[int] | None = None):
    """The export form, and on a valid POST the export: streamed when small, a job when large."""
    selection = record_ids is not None
    submitted = request.method == "POST" and (not selection or "apply_export" in request.POST)
    form = ExportForm(request.POST if submitted else None, dataset=dataset)
    if submitted and form.is_valid():
        options = form.options(record_ids=record_ids)
        try:
            prepared = prepare_export(dataset=dataset, options=options)
            limit = stream_max_records()
            if prepared.count(limit=limit) <= limit:
                return _stream(prepared)
            job = start_export(dataset=dataset, options=options, user=request.user)
        except ExportError as error:
            form.add_error(_FORM_FIELDS.get(error.field), error.message)
        else:
            messages.success(
                request,
                format_html(
                    _("The export of “{}” runs in the background as job #{}; its page links the file when it is done."),
                    dataset.name,
                    job.pk,
                ),
            )
            return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.pk]))
    count = len(record_ids) if selection else None
    title = (
        _("Export %(n)s selected records of “%(name)s”") % {"n": f"{count:,}", "name": dataset.name}
        if selection
        else _("Export “%(name)s”") % {"name": dataset.name}
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "dataset": dataset,
        "form": form,
        "selection": selection,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME) if selection else [],
        "select_across": request.POST.get("select_across", "0"),
        "action": request.POST.get("action", ""),
        "stream_max": stream_max_records(),
        "change_url": reverse("admin:corpus_dataset_change", args=[dataset.pk]),
    }
    return TemplateResponse(request, "labeling/export/page.html", context)


def _stream(prepared) -> StreamingHttpResponse:
    response = StreamingHttpResponse(prepared.chunks(), content_type=prepared.format.content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=prepared.filename)
    patch_cache_control(response, private=True, no_store=True)
    return response


def download_export(request: HttpRequest, job_id: int):
    """The file of a finished export job: 403 without the export permission; 404 for a job that is
    not an export of this person's (superusers: anyone's), whose dataset they can no longer see,
    or whose file is gone."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    job = Job.objects.filter(pk=job_id, kind="export").first()
    if job is None or not (request.user.is_superuser or job.created_by_id == request.user.pk):
        raise Http404
    if not Dataset.objects.visible_to(request.user).filter(pk=(job.params or {}).get("dataset_id")).exists():
        raise Http404
    path = export_file(job)
    if path is None:
        raise Http404
    response = FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
    patch_cache_control(response, private=True, no_store=True)
    return response


class DatasetExportMixin:
    """The dataset page's “Export” button and the download URL of export jobs."""

    def has_export_permission(self, request, object_id=None) -> bool:
        return request.user.has_perm(PERMISSION)

    @action(description=_("Export"), url_path="export", permissions=["export"], icon="download")
    def export_dataset(self, request, object_id):
        # An id outside the user's datasets is indistinguishable from one that never existed.
        dataset = get_object_or_404(self.get_queryset(request), pk=object_id)
        return export_page(self, request, dataset=dataset)

    def export_urls(self):
        from django.urls import path

        return [
            path(
                "export/<int:job_id>/download/",
                self.admin_site.admin_view(download_export),
                name="labeling_export_download",
            )
        ]


class RecordExportMixin:
    """The records list's “Export selected…” action: the export form for the selected records."""

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm(PERMISSION)

    @action(description=_("Export selected…"), permissions=["export"], icon="download")
    def export_selected(self, request, queryset):
        rows = list(queryset.order_by().values_list("pk", "dataset_id")[: MAX_SELECTED_RECORDS + 1])
        if len(rows) > MAX_SELECTED_RECORDS:
            self.message_user(
                request,
                _("More than %(max)s records selected: export the dataset from its page, with filters.")
                % {"max": f"{MAX_SELECTED_RECORDS:,}"},
                messages.ERROR,
            )
            return None
        dataset_ids = {dataset_id for _, dataset_id in rows}
        if len(dataset_ids) != 1:
            self.message_user(request, _("Select records of one dataset to export them."), messages.WARNING)
            return None
        dataset = get_object_or_404(Dataset.objects.visible_to(request.user), pk=dataset_ids.pop())
        return export_page(self, request, dataset=dataset, record_ids=sorted(pk for pk, _ in rows))
