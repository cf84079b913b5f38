"""The dataset's “Import file” page in the admin: upload -> preview of the first rows with the
detected format and column mapping -> import -> report. Data leads and admins only, and only for a
dataset they can see (404 otherwise). Big files import as a background job."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from corpus.formats import FORMAT_CHOICES
from corpus.services.documents import chunk_settings, import_documents, is_document, list_documents
from corpus.services.embed import embed_after_import
from corpus.services.import_job import start_import
from corpus.services.ingest import import_records, label_writer_for, preview_file
from corpus.services.uploads import discard_upload, find_upload, store_upload

PREVIEW_ROWS = 10


def background_threshold_bytes() -> int:
    return getattr(settings, "IMPORT_BACKGROUND_BYTES", 5 << 20)


def max_upload_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_UPLOAD_BYTES", 2 << 30)


_FORMATS = [("", _("Detect from the file")), *[(name, name) for name in FORMAT_CHOICES]]


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"), widget=UnfoldAdminFileFieldWidget)
    format = forms.ChoiceField(label=_("Format"), choices=_FORMATS, required=False, widget=UnfoldAdminSelectWidget)
    encoding = forms.CharField(
        label=_("Encoding"),
        required=False,
        max_length=40,
        help_text=_("Only when the file is not UTF-8, e.g. cp1252 or latin-1."),
        widget=UnfoldAdminTextInputWidget,
    )

    def clean_file(self):
        file = self.cleaned_data["file"]
        if file.size > max_upload_bytes():
            raise forms.ValidationError(
                _("%(name)s is %(size)s bytes; the upload limit is %(limit)s bytes.")
                % {"name": file.name, "size": f"{file.size:,}", "limit": f"{max_upload_bytes():,}"}
            )
        if file.size == 0:
            raise forms.ValidationError(_("%(name)s is empty.") % {"name": file.name})
        return file


COLUMN_CHOICES = {"list": "import-columns", "autocomplete": "off"}


class MappingForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput)
    format = forms.ChoiceField(label=_("Format"), choices=_FORMATS, required=False, widget=UnfoldAdminSelectWidget)
    encoding = forms.CharField(label=_("Encoding"), required=False, max_length=40, widget=UnfoldAdminTextInputWidget)
    # The three column names offer the file's own columns (a <datalist> under the form).
    text_field = forms.CharField(
        label=_("Text field"), required=False, max_length=200, widget=UnfoldAdminTextInputWidget(COLUMN_CHOICES)
    )
    id_field = forms.CharField(
        label=_("Id field"), required=False, max_length=200, widget=UnfoldAdminTextInputWidget(COLUMN_CHOICES)
    )
    label_field = forms.CharField(
        label=_("Label field"), required=False, max_length=200, widget=UnfoldAdminTextInputWidget(COLUMN_CHOICES)
    )
    label_names = forms.CharField(
        label=_("Label names"),
        required=False,
        max_length=2000,
        help_text=_("Hugging Face class indexes: names of 0, 1, 2, … separated by commas."),
        widget=UnfoldAdminTextInputWidget,
    )
    schema = forms.TypedChoiceField(
        label=_("Label schema"), coerce=int, required=False, empty_value=None, widget=UnfoldAdminSelectWidget
    )
    add_missing_labels = forms.BooleanField(
        label=_("Add labels missing from the schema"),
        required=False,
        initial=True,
        help_text=_("Off: a label the schema does not have is reported as an error and nothing is imported."),
        widget=UnfoldBooleanSwitchWidget,
    )

    chunk_size = forms.IntegerField(
        label=_("Chunk size"),
        min_value=50,
        max_value=100_000,
        required=False,
        help_text=_("Documents: most characters of new text per record."),
        widget=UnfoldAdminTextInputWidget,
    )
    chunk_overlap = forms.IntegerField(
        label=_("Chunk overlap"),
        min_value=0,
        max_value=10_000,
        required=False,
        help_text=_("Documents: characters of the previous chunk repeated at the start of the next."),
        widget=UnfoldAdminTextInputWidget,
    )

    DOCUMENT_FIELDS = ("token", "encoding", "chunk_size", "chunk_overlap")

    def __init__(self, *args, dataset, documents: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if documents:
            for name in list(self.fields):
                if name not in self.DOCUMENT_FIELDS:
                    del self.fields[name]
            return
        del self.fields["chunk_size"], self.fields["chunk_overlap"]
        schemas = list(dataset.label_schemas.values_list("pk", "name")) if hasattr(dataset, "label_schemas") else []
        self.fields["schema"].choices = [("", _("The dataset's only schema, or a new one")), *schemas]

    def import_options(self) -> dict:
        data = self.cleaned_data
        if "chunk_size" in self.fields:
            size, overlap = chunk_settings()
            return {
                "encoding": data["encoding"] or None,
                "chunk_size": data["chunk_size"] or size,
                "chunk_overlap": overlap if data["chunk_overlap"] is None else data["chunk_overlap"],
            }
        return {
            "fmt": data["format"] or None,
            "encoding": data["encoding"] or None,
            "text_field": data["text_field"] or None,
            "id_field": data["id_field"] or None,
            "label_field": data["label_field"] or None,
            "label_names": tuple(name.strip() for name in data["label_names"].split(",") if name.strip()),
        }

    def clean(self):
        cleaned = super().clean()
        size, overlap = cleaned.get("chunk_size"), cleaned.get("chunk_overlap")
        if size and overlap is not None and overlap >= size:
            self.add_error("chunk_overlap", _("The overlap must be smaller than the chunk size."))
        return cleaned

    def label_options(self) -> dict:
        if "chunk_size" in self.fields:
            return {}
        return {"schema_id": self.cleaned_data["schema"], "add_missing_labels": self.cleaned_data["add_missing_labels"]}


class DatasetImportMixin:
    """Adds the “Import file” button and page to the dataset admin."""

    def has_import_permission(self, request, object_id=None) -> bool:
        return request.user.has_perm("corpus.add_record")

    @action(description=_("Import file"), url_path="import", permissions=["import"], icon="upload_file")
    def import_file(self, request, object_id):
        # An id outside the user's datasets is indistinguishable from one that never existed.
        dataset = get_object_or_404(self.get_queryset(request), pk=object_id)
        if request.method == "POST" and "token" in request.POST:
            return self._import_mapped(request, dataset)
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = store_upload(file=form.cleaned_data["file"], user=request.user, dataset_id=dataset.pk)
            size, overlap = chunk_settings()
            mapping = MappingForm(
                {
                    "token": upload.token,
                    "format": form.cleaned_data["format"],
                    "encoding": form.cleaned_data["encoding"],
                    "add_missing_labels": True,
                    "chunk_size": size,
                    "chunk_overlap": overlap,
                },
                dataset=dataset,
                documents=is_document(upload.filename),
            )
            mapping.is_valid()
            return self._render_preview(request, dataset, upload, mapping)
        return self._render(request, dataset, step="upload", form=form)

    def _import_mapped(self, request, dataset):
        upload = find_upload(token=request.POST.get("token", ""), user_id=request.user.pk, dataset_id=dataset.pk)
        if upload is None:
            messages.error(request, _("That upload is gone (already imported, or not yours). Upload the file again."))
            return HttpResponseRedirect(request.path)
        documents = is_document(upload.filename)
        form = MappingForm(request.POST, dataset=dataset, documents=documents)
        if not form.is_valid() or "confirm" not in request.POST:
            return self._render_preview(request, dataset, upload, form)
        options = form.import_options()
        if upload.size > background_threshold_bytes():
            job_options = {key: value for key, value in options.items() if value} | form.label_options()
            job_options |= {"documents": True} if documents else {}
            job = start_import(dataset=dataset, upload=upload, options=job_options, user=request.user)
            messages.success(
                request,
                format_html(_("{} is being imported in the background as job #{}."), upload.filename, job.pk),
            )
            return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.pk]))
        with upload.path.open("rb") as source:
            if documents:
                result = import_documents(
                    dataset=dataset, source=source, filename=upload.filename, user=request.user, **options
                )
            else:
                result = import_records(
                    dataset=dataset,
                    source=source,
                    filename=upload.filename,
                    user=request.user,
                    label_writer=label_writer_for(**form.label_options()),
                    **options,
                )
        discard_upload(upload)
        if result.ok:
            embedding = embed_after_import(dataset=dataset, inserted=result.inserted, user=request.user)
            if embedding is not None:
                link = reverse("admin:jobs_job_change", args=[embedding.pk])
                messages.info(
                    request,
                    format_html(_('The new records are being embedded: <a href="{}">job #{}</a>.'), link, embedding.pk),
                )
        return self._render(request, dataset, step="report", result=result)

    def _render_preview(self, request, dataset, upload, form):
        if is_document(upload.filename):
            with upload.path.open("rb") as source:
                members = list_documents(source=source, filename=upload.filename)
            return self._render(request, dataset, step="preview", form=form, upload=upload, documents=members,
                                background=upload.size > background_threshold_bytes())  # fmt: skip
        options = form.import_options() if form.is_valid() else {}
        with upload.path.open("rb") as source:
            preview = preview_file(source=source, filename=upload.filename, limit=PREVIEW_ROWS, **options)
        if form.is_valid() and preview.result.mapping.get("shape") == "plain":
            # Show what was detected in the fields, so a change starts from it.
            data = form.data.copy()
            for name, key in (("text_field", "text"), ("id_field", "id"), ("label_field", "label")):
                if not data.get(name) and preview.result.mapping.get(key):
                    data[name] = preview.result.mapping[key]
            form = MappingForm(data, dataset=dataset)
            form.is_valid()
        return self._render(
            request,
            dataset,
            step="preview",
            form=form,
            upload=upload,
            preview=preview,
            background=upload.size > background_threshold_bytes(),
        )

    def _render(self, request, dataset, *, step: str, **context):
        return TemplateResponse(
            request,
            "corpus/import.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": dataset,
                "dataset": dataset,
                "title": _("Import into “%(name)s”") % {"name": dataset.name},
                "step": step,
                "change_url": reverse("admin:corpus_dataset_change", args=[dataset.pk]),
                "records_url": reverse("admin:corpus_record_changelist") + f"?dataset__id__exact={dataset.pk}",
                "max_upload_bytes": max_upload_bytes(),
                **context,
            },
        )
