from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ORDER_VAR
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import Group, User
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Subquery,
    Value,
    When,
)
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from import_export.results import RowResult
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import DropdownFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.paginator import InfinitePaginator
from unfold.views import ChangeList
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminSelectWidget

from config.admin_base import ScopedModelAdmin, VisibleRelatedFilter, action_form_page
from corpus.admin import DatasetAdmin, RecordAdmin
from corpus.inference import configured_embedder
from corpus.models import Dataset, Record
from corpus.services.embed import MAX_SELECTED_RECORDS
from corpus.services.search import search_similar
from inference_client import InferenceError
from labeling.models import Annotation, ClassifierVersion, Label, LabelEvent, LabelSchema, Prediction, RecordState
from labeling.resources import LabelResource, LabelSchemaResource, TeamMemberResource
from labeling.roles import Role, role_of
from labeling.services import review as review_service
from labeling.services.annotate import LabelingError, resettle_dataset
from labeling.services.classify import start_classification, start_training
from labeling.services.labels import label_usage, rename_label
from labeling.services.team import assign_role_and_datasets
from labeling.views.export import DatasetExportMixin, RecordExportMixin


def labels_in_use(labels) -> list[str]:
    """One sentence per label that people's work names (annotations, final labels): such a label
    is never deleted along the way, whichever screen asks."""
    labels = list(labels)
    usage = label_usage(label_ids=[label.pk for label in labels])
    return [
        _("“%(name)s” is used by %(usage)s: clear or relabel those records first.")
        % {"name": label.name, "usage": usage[label.pk].describe()}
        for label in labels
        if usage[label.pk].holds_work
    ]


class LabelInlineFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        doomed = []
        for form in self.deleted_forms:
            if form.instance.pk:
                # The name as stored: the row may have been renamed in the same submit.
                form.instance.name = form.initial.get("name", form.instance.name)
                doomed.append(form.instance)
        if doomed and (refusals := labels_in_use(doomed)):
            raise forms.ValidationError(refusals)


class LabelInline(TabularInline):
    model = Label
    formset = LabelInlineFormSet
    extra = 0
    fields = ["name", "hotkey", "color", "order", "description"]


class SmallTableImportExportMixin(ImportExportModelAdmin):
    """The admin's import/export buttons for small tables, in unfold's look, CSV and XLSX only,
    bound to the requesting user's datasets (see labeling/resources.py)."""

    import_form_class = ImportForm
    export_form_class = ExportForm
    formats = [base_formats.CSV, base_formats.XLSX]

    def get_resource_kwargs(self, request, *args, **kwargs):
        return {**super().get_resource_kwargs(request, *args, **kwargs), "user": request.user}

    def get_import_data_kwargs(self, **kwargs):
        # The preview refuses a file with a bad row, but the data may change before "Confirm
        # import" (a dataset removed, a username taken): the confirmed import then writes nothing
        # either, instead of django-import-export's default of writing the rows that still pass.
        return {**super().get_import_data_kwargs(**kwargs), "rollback_on_validation_errors": True}

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            messages.error(
                request,
                _("Nothing was imported: %(problems)s") % {"problems": "; ".join(import_problems(result))},
            )
            return HttpResponseRedirect(reverse("admin:{}_{}_import".format(*self.get_model_info())))
        return super().process_result(result, request)


def import_problems(result) -> list[str]:
    """Each problem of a refused import as one line that names the row and, where there is one,
    the field."""
    problems = [str(error.error) for error in result.base_errors]
    for row in result.invalid_rows:
        for field, field_messages in row.error_dict.items():
            where = _("row %(row)s") % {"row": row.number}
            if field != NON_FIELD_ERRORS:
                where = _("row %(row)s, %(field)s") % {"row": row.number, "field": field}
            problems.extend(f"{where}: {message}" for message in field_messages)
    for number, errors in result.row_errors():
        problems.extend(_("row %(row)s: %(message)s") % {"row": number, "message": error.error} for error in errors)
    return problems


@admin.register(LabelSchema)
class LabelSchemaAdmin(ScopedModelAdmin, SmallTableImportExportMixin):
    resource_classes = [LabelSchemaResource]
    list_display = ["name", "dataset", "kind", "label_names"]
    list_filter = [("dataset", VisibleRelatedFilter), "kind"]
    search_fields = ["name", "dataset__name"]
    inlines = [LabelInline]
    list_select_related = ["dataset"]

    actions = ["train_classifier", "classify_records"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("labels")

    def save_formset(self, request, form, formset, change):
        if formset.model is Label:
            deleted = set(formset.deleted_forms)
            for label_form in formset.forms:
                if label_form.instance.pk and label_form not in deleted and "name" in label_form.changed_data:
                    rename_label(label=label_form.instance, name=label_form.cleaned_data["name"], user=request.user)
        super().save_formset(request, form, formset, change)

    @display(description=_("Labels"))
    def label_names(self, obj: LabelSchema) -> str:
        return ", ".join(label.name for label in obj.labels.all())

    @action(description=_("Train classifier"), permissions=["run_classifier"], icon="model_training")
    def train_classifier(self, request, queryset):
        for schema in queryset.select_related("dataset"):
            job = start_training(schema=schema, user=request.user)
            self.message_user(
                request,
                format_html(_("Training a classifier for “{}” queued as job #{}."), schema, job.pk),
                messages.SUCCESS,
            )

    @action(description=_("Classify records"), permissions=["run_classifier"], icon="auto_awesome")
    def classify_records(self, request, queryset):
        for schema in queryset.select_related("dataset"):
            job = start_classification(schema=schema, user=request.user)
            self.message_user(
                request,
                format_html(_("Classifying the records of “{}” queued as job #{}."), schema, job.pk),
                messages.SUCCESS,
            )

    def has_run_classifier_permission(self, request) -> bool:
        return request.user.has_perm("labeling.run_classifier")

    def get_urls(self):
        # The annotate and review screens live under their label set; each view checks the
        # person's permission and dataset itself (403 / 404), admin_view only asks for a login.
        from labeling.views import agreement, annotate, review

        screen = self.admin_site.admin_view
        return [
            path("work/", screen(annotate.work_page), name="labeling_work"),
            path("<int:schema_id>/annotate/", screen(annotate.annotate_page), name="labeling_annotate"),
            path("<int:schema_id>/annotate/next/", screen(annotate.next_item), name="labeling_annotate_next"),
            path("<int:schema_id>/annotate/save/", screen(annotate.save_item), name="labeling_annotate_save"),
            path("<int:schema_id>/annotate/skip/", screen(annotate.skip_item), name="labeling_annotate_skip"),
            path("<int:schema_id>/annotate/undo/", screen(annotate.undo_item), name="labeling_annotate_undo"),
            path(
                "<int:schema_id>/annotate/item/<int:record_id>/",
                screen(annotate.show_item),
                name="labeling_annotate_item",
            ),
            path("<int:schema_id>/review/", screen(review.review_queue_page), name="labeling_review"),
            path(
                "<int:schema_id>/review/<int:record_id>/",
                screen(review.review_record_page),
                name="labeling_review_record",
            ),
            path("<int:schema_id>/agreement/", screen(agreement.agreement_page), name="labeling_agreement"),
            *super().get_urls(),
        ]


@admin.register(Label)
class LabelAdmin(ScopedModelAdmin, SmallTableImportExportMixin):
    resource_classes = [LabelResource]
    list_display = ["name", "schema", "hotkey", "swatch", "order"]
    list_filter = [("schema__dataset", VisibleRelatedFilter)]
    search_fields = ["name", "description"]
    list_select_related = ["schema__dataset"]

    def save_model(self, request, obj, form, change):
        if change and "name" in form.changed_data:
            rename_label(label=obj, name=obj.name, user=request.user)  # audited; annotations keep it
        super().save_model(request, obj, form, change)

    def get_deleted_objects(self, objs, request):
        # Django refuses a delete (page and bulk action alike) while "protected" objects remain:
        # labels that people's annotations or final labels name are reported as such.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, perms_needed, [*protected, *labels_in_use(objs)]

    @display(description=_("Colour"))
    def swatch(self, obj: Label) -> str:
        return format_html(
            '<span style="display:inline-block;width:1rem;height:1rem;border-radius:4px;background:{}"></span> {}',
            obj.color,
            obj.color,
        )


@admin.register(Annotation)
class AnnotationAdmin(ScopedModelAdmin):
    list_display = ["id", "record_text", "schema", "label_names", "author", "seconds_spent", "created_at"]
    list_filter = [("record__dataset", VisibleRelatedFilter), "source"]
    list_select_related = ["record", "schema__dataset", "annotator"]
    search_fields = ["=record__id", "record__external_id"]
    readonly_fields = ["record", "schema", "annotator", "source", "labels", "seconds_spent", "created_at", "updated_at"]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("labels")

    def has_add_permission(self, request) -> bool:
        # Annotations come from the annotate screen, imports and the API, never typed in here.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @display(description=_("Record"))
    def record_text(self, obj: Annotation) -> str:
        text = obj.record.text
        return text if len(text) <= 80 else text[:79] + "…"

    @display(description=_("Labels"))
    def label_names(self, obj: Annotation) -> str:
        return format_html_join(
            " ", '<span style="color:{}">●</span> {}', ((lab.color, lab.name) for lab in obj.labels.all())
        )

    @display(description=_("By"))
    def author(self, obj: Annotation) -> str:
        return str(obj.annotator) if obj.annotator else obj.get_source_display()


class ReadOnlyAdminMixin:
    """Rows that only Tally's own processes write (imports, jobs): shown, never typed in."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["id", "record_id", "label", "score", "source", "model_version", "created_at"]
    list_filter = [("record__dataset", VisibleRelatedFilter), "source"]
    list_select_related = ["label"]
    search_fields = ["=record__id", "model_version"]
    paginator = InfinitePaginator
    show_full_result_count = False


@admin.register(ClassifierVersion)
class ClassifierVersionAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["schema", "version", "kind", "embedding_model", "trained_on", "created_at"]
    list_select_related = ["schema__dataset"]
    list_filter = [("schema__dataset", VisibleRelatedFilter), "kind"]
    readonly_fields = [
        "schema",
        "version",
        "kind",
        "embedding_model",
        "trained_on",
        "metrics_table",
        "created_by",
        "created_at",
    ]
    fields = readonly_fields

    @display(description=_("Held-out metrics"))
    def metrics_table(self, obj: ClassifierVersion) -> str:
        metrics = obj.metrics or {}
        if "accuracy" not in metrics:
            return _("Not measured: no human-labeled records yet.")
        rows = format_html_join(
            "",
            '<tr class="border-t border-base-200 dark:border-base-700"><td class="px-3 py-1">{}</td>'
            '<td class="px-3 py-1 text-right">{}</td><td class="px-3 py-1 text-right">{}</td>'
            '<td class="px-3 py-1 text-right">{}</td><td class="px-3 py-1 text-right">{}</td></tr>',
            (
                (row["label"], f"{row['precision']:.2f}", f"{row['recall']:.2f}", f"{row['f1']:.2f}", row["support"])
                for row in metrics.get("per_label", [])
            ),
        )
        return format_html(
            '<p class="mb-2">{}: <strong>{}</strong> · {}: <strong>{}</strong> · {}: {}</p>'
            '<table class="text-sm"><thead><tr><th class="px-3 py-1 text-left">{}</th>'
            '<th class="px-3 py-1 text-right">{}</th><th class="px-3 py-1 text-right">{}</th>'
            '<th class="px-3 py-1 text-right">F1</th><th class="px-3 py-1 text-right">{}</th></tr></thead>'
            '<tbody>{}</tbody></table><p class="mt-2 text-xs">{}</p>',
            _("Accuracy"),
            f"{metrics['accuracy']:.3f}",
            _("Macro-F1"),
            f"{metrics['macro_f1']:.3f}",
            _("Held-out records"),
            metrics.get("records", "—"),
            _("Label"),
            _("Precision"),
            _("Recall"),
            _("Support"),
            rows,
            metrics.get("note", ""),
        )


# --- Records with their suggestions; search by meaning ----------------------------------------

MEANING_VAR = "meaning"  # a text: records nearest in meaning, within the current filters
LIKE_VAR = "like"  # a record id: records of its dataset nearest to it ("more like this")
MEANING_RESULTS = 100


class RecordChangeList(ChangeList):
    """The search-by-meaning parameters are not field lookups: keep them out of the filters (so
    the admin does not reject them) but in the query string (so paging and filters keep them)."""

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        for name in (MEANING_VAR, LIKE_VAR):
            lookup_params.pop(name, None)
        return lookup_params

    def get_ordering_field_columns(self):
        # Results by meaning are ordered by similarity: no column header claims the order.
        if (self.params.get(MEANING_VAR) or self.params.get(LIKE_VAR)) and ORDER_VAR not in self.params:
            return {}
        return super().get_ordering_field_columns()


class PredictedLabelFilter(DropdownFilter):
    title = _("predicted label")
    parameter_name = "predicted_label"

    def lookups(self, request, model_admin):
        labels = Label.objects.visible_to(request.user).select_related("schema__dataset")
        dataset_id = request.GET.get("dataset__id__exact")
        if dataset_id and dataset_id.isdigit():
            labels = labels.filter(schema__dataset_id=dataset_id)
        return [(label.pk, f"{label.schema.name}: {label.name}") for label in labels]

    def queryset(self, request, queryset):
        label_id = _int_or_none(self.value())
        if self.value() and label_id is None:
            return queryset.none()
        if label_id is None:
            return queryset
        return queryset.filter(
            Exists(Prediction.objects.filter(record=OuterRef("pk"), label_id=label_id, source=Prediction.Source.MODEL))
        )


def _int_or_none(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


LABEL_SET_VAR = "label_set"


def _label_sets_in_scope(request):
    """The label sets the records list can be about: the person's, narrowed to the dataset filter."""
    schemas = LabelSchema.objects.visible_to(request.user).select_related("dataset")
    dataset_id = _int_or_none(request.GET.get("dataset__id__exact"))
    if dataset_id is not None:
        schemas = schemas.filter(dataset_id=dataset_id)
    return schemas


class LabelSetFilter(DropdownFilter):
    """Which label set the status filter and the bulk actions mean; offered only when there is a
    choice (one label set per dataset is the usual case)."""

    title = _("label set")
    parameter_name = LABEL_SET_VAR

    def lookups(self, request, model_admin):
        return [(schema.pk, str(schema)) for schema in _label_sets_in_scope(request)]

    def has_output(self) -> bool:
        return len(self.lookup_choices) > 1 or bool(self.value())

    def queryset(self, request, queryset):
        if not self.value():  # "All" submits an empty value
            return queryset
        schema = LabelSchema.objects.visible_to(request.user).filter(pk=_int_or_none(self.value())).first()
        return queryset.none() if schema is None else queryset.filter(dataset_id=schema.dataset_id)


class LabelStatusFilter(DropdownFilter):
    """Where records stand in labeling (RecordState). Without a chosen label set: in any label set
    of their dataset; "unlabeled" then means nobody has labeled the record in any of them. A record
    the queue has not reached yet has no state row and counts as unlabeled."""

    title = _("status")
    parameter_name = "label_status"

    def lookups(self, request, model_admin):
        return RecordState.Status.choices

    def queryset(self, request, queryset):
        status = self.value()
        if not status:
            return queryset
        if status not in RecordState.Status.values:
            return queryset.none()
        states = RecordState.objects.filter(record=OuterRef("pk"))
        if request.GET.get(LABEL_SET_VAR):
            states = states.filter(schema_id=_int_or_none(request.GET[LABEL_SET_VAR]) or 0)
        if status == RecordState.Status.UNLABELED:
            return queryset.exclude(Exists(states.exclude(status=RecordState.Status.UNLABELED)))
        return queryset.filter(Exists(states.filter(status=status)))


class FinalLabelForm(forms.Form):
    """The intermediate page of "Set final label…": which label set, which label(s)."""

    schema = forms.ModelChoiceField(
        queryset=LabelSchema.objects.none(), label=_("Label set"), empty_label=None, widget=UnfoldAdminSelectWidget
    )
    labels = forms.ModelMultipleChoiceField(
        queryset=Label.objects.none(), label=_("Final label(s)"), widget=UnfoldAdminCheckboxSelectMultipleWidget
    )

    def __init__(self, *args, schemas, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["schema"].queryset = schemas
        self.fields["labels"].queryset = Label.objects.filter(schema__in=schemas).select_related("schema")
        if len(schemas) > 1:
            self.fields["labels"].label_from_instance = lambda label: f"{label.schema.name}: {label.name}"

    def clean(self):
        cleaned = super().clean()
        schema, labels = cleaned.get("schema"), cleaned.get("labels")
        if schema is None or not labels:
            return cleaned
        if any(label.schema_id != schema.pk for label in labels):
            self.add_error("labels", _("Choose labels of the label set “%(name)s”.") % {"name": schema.name})
        elif schema.kind == LabelSchema.Kind.SINGLE and len(labels) != 1:
            self.add_error("labels", _("“%(name)s” takes exactly one label.") % {"name": schema.name})
        return cleaned


class LabeledRecordAdmin(RecordExportMixin, RecordAdmin):
    """The records list with the model's suggestions (filter by predicted label, sort by
    confidence) and search by meaning. Lives in labeling because it shows labels; everything
    else, actions included, comes from corpus's RecordAdmin."""

    list_before_template = "labeling/admin/record_meaning_search.html"
    change_form_outer_before_template = "labeling/admin/record_status.html"
    change_form_outer_after_template = "labeling/admin/record_history.html"
    readonly_fields = [*RecordAdmin.readonly_fields, "suggestions", "more_like_this"]
    actions = [
        *RecordAdmin.actions,
        "send_selected_to_review",
        "clear_selected_annotations",
        "set_final_label",
        "export_selected",  # labeling/views/export.py
    ]

    def get_list_display(self, request):
        columns = [*super().get_list_display(request), "predicted_label", "confidence", "more_like_this"]
        if self._meaning_params(request):
            columns.insert(2, "similarity")
        return columns

    def get_list_filter(self, request):
        return [*super().get_list_filter(request), LabelSetFilter, LabelStatusFilter, PredictedLabelFilter]

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if obj is None:
            return fields
        # What the model says about the record belongs next to its text, not below the hashes.
        extra = ["suggestions", "more_like_this"]
        fields = [name for name in fields if name not in extra]
        at = fields.index("text") + 1 if "text" in fields else len(fields)
        return [*fields[:at], *extra, *fields[at:]]

    def get_changelist(self, request, **kwargs):
        return RecordChangeList

    def get_queryset(self, request):
        # The current suggestion of a record: the newest classifier's best label; with a
        # predicted-label filter, that label's own score, so sorting by confidence ranks the
        # records most likely to carry it first.
        latest = Prediction.objects.filter(record=OuterRef("pk"), source=Prediction.Source.MODEL)
        label_id = _int_or_none(request.GET.get(PredictedLabelFilter.parameter_name))
        if label_id is not None:
            latest = latest.filter(label_id=label_id)
        latest = latest.order_by(F("classifier_id").desc(nulls_last=True), "-score")
        return (
            super()
            .get_queryset(request)
            .annotate(
                _confidence=Subquery(latest.values("score")[:1]),
                _predicted_label=Subquery(latest.values("label__name")[:1]),
                _predicted_color=Subquery(latest.values("label__color")[:1]),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        params = self._meaning_params(request)
        if params is None:
            return queryset, may_have_duplicates
        meaning, like = params
        if like:
            record = Record.objects.visible_to(request.user).filter(pk=_int_or_none(like)).first()
            if record is None:
                raise Http404
            dataset_ids = [record.dataset_id]
        else:
            record = None
            dataset_ids = list(Dataset.objects.visible_to(request.user).values_list("pk", flat=True))
        try:
            hits = search_similar(
                dataset_ids=dataset_ids,
                query=None if record else meaning,
                record=record,
                embedder=configured_embedder(),
                limit=MEANING_RESULTS,
                filters=queryset,
            )
        except InferenceError as error:
            self.message_user(request, _("Search by meaning is unavailable: %s") % error, messages.ERROR)
            return queryset.none(), False
        if not hits:
            return queryset.none(), False
        ranked = queryset.filter(pk__in=[hit.record.pk for hit in hits]).annotate(
            _meaning_rank=Case(
                *[When(pk=hit.record.pk, then=Value(rank)) for rank, hit in enumerate(hits)],
                output_field=IntegerField(),
            ),
            _similarity=Case(
                *[When(pk=hit.record.pk, then=Value(hit.similarity)) for hit in hits], output_field=FloatField()
            ),
        )
        if ORDER_VAR not in request.GET:
            # Most similar first, unless a column header was clicked.
            ranked = ranked.order_by("_meaning_rank")
        return ranked, False

    @staticmethod
    def _meaning_params(request) -> tuple[str, str] | None:
        meaning = request.GET.get(MEANING_VAR, "").strip()
        like = request.GET.get(LIKE_VAR, "").strip()
        return (meaning, like) if meaning or like else None

    def changelist_view(self, request, extra_context=None):
        params = self._meaning_params(request) or ("", "")
        liked = None
        if params[1]:
            liked = Record.objects.visible_to(request.user).filter(pk=_int_or_none(params[1])).first()
        extra_context = {**(extra_context or {}), "meaning_query": params[0], "like_record": liked}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, unquote(object_id))
        if record is not None:
            extra_context = {
                **(extra_context or {}),
                "record_label_sets": record_label_sets(record, request.user),
                "record_history": record_history(record, request.user),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- bulk actions of data leads: each audited by its service (LabelEvent) ------------------

    def has_manage_labels_permission(self, request) -> bool:
        return request.user.has_perm("labeling.manage_labels")

    @action(description=_("Send to review"), permissions=["manage_labels"], icon="rate_review")
    def send_selected_to_review(self, request, queryset):
        for schema, record_ids in self._selection_by_label_set(request, queryset):
            count = review_service.send_to_review(schema=schema, record_ids=record_ids, user=request.user)
            self.message_user(
                request, _("%(n)s record(s) of “%(schema)s” sent to review.") % {"n": count, "schema": schema}
            )

    @action(description=_("Clear annotations"), permissions=["manage_labels"], icon="backspace")
    def clear_selected_annotations(self, request, queryset):
        for schema, record_ids in self._selection_by_label_set(request, queryset):
            count = review_service.clear_annotations(schema=schema, record_ids=record_ids, user=request.user)
            self.message_user(
                request,
                _("Annotations and final labels of %(n)s record(s) of “%(schema)s” cleared: back in the queue.")
                % {"n": count, "schema": schema},
            )

    @action(description=_("Set final label…"), permissions=["manage_labels"], icon="verified")
    def set_final_label(self, request, queryset):
        """Asks for the label set and label(s) on a page of its own, then sets them."""
        selection = dict(self._selection_by_label_set(request, queryset))
        if not selection:
            return None
        schema_ids = [schema.pk for schema in selection]
        schemas = LabelSchema.objects.filter(pk__in=schema_ids).select_related("dataset")
        form = FinalLabelForm(request.POST if "apply_final_label" in request.POST else None, schemas=schemas)
        if form.is_bound and form.is_valid():
            schema = form.cleaned_data["schema"]
            labels = form.cleaned_data["labels"]
            try:
                count = review_service.set_final_labels(
                    schema=schema,
                    record_ids=selection[schema],
                    label_ids=[label.pk for label in labels],
                    user=request.user,
                )
            except LabelingError as error:
                self.message_user(request, str(error), messages.ERROR)
                return None
            self.message_user(
                request,
                _("Final label “%(labels)s” set on %(n)s record(s) of “%(schema)s”.")
                % {"labels": ", ".join(label.name for label in labels), "n": count, "schema": schema},
            )
            return None
        return action_form_page(
            self,
            request,
            form,
            template="labeling/admin/set_final_label.html",
            action="set_final_label",
            title=_("Set the final label of %(n)s selected record(s)")
            % {"n": f"{sum(len(ids) for ids in selection.values()):,}"},
        )

    def _selection_by_label_set(self, request, queryset) -> list[tuple[LabelSchema, list[int]]]:
        """The selected records grouped by label set: the one chosen in the list's filter, or
        every label set of their datasets. Empty (with a message) when there is nothing to do."""
        rows = list(queryset.order_by().values_list("pk", "dataset_id")[: MAX_SELECTED_RECORDS + 1])
        if len(rows) > MAX_SELECTED_RECORDS:
            self.message_user(
                request,
                _("More than %(max)s records selected: narrow the list with its filters first.")
                % {"max": f"{MAX_SELECTED_RECORDS:,}"},
                messages.ERROR,
            )
            return []
        by_dataset: dict[int, list[int]] = {}
        for pk, dataset_id in rows:
            by_dataset.setdefault(dataset_id, []).append(pk)
        schemas = LabelSchema.objects.visible_to(request.user).filter(dataset_id__in=by_dataset)
        schemas = schemas.select_related("dataset")
        if request.GET.get(LABEL_SET_VAR):
            schemas = schemas.filter(pk=_int_or_none(request.GET[LABEL_SET_VAR]) or 0)
        selection = [(schema, by_dataset[schema.dataset_id]) for schema in schemas]
        if not selection:
            self.message_user(request, _("The selected records' datasets have no label set."), messages.WARNING)
        return selection

    @display(description=_("Similarity"), ordering="_meaning_rank")
    def similarity(self, obj: Record) -> str:
        value = getattr(obj, "_similarity", None)
        return "—" if value is None else f"{value:.2f}"

    @display(description=_("Suggestion"), ordering="_predicted_label")
    def predicted_label(self, obj: Record) -> str:
        if not getattr(obj, "_predicted_label", None):
            return "—"
        return format_html('<span style="color:{}">●</span> {}', obj._predicted_color, obj._predicted_label)

    @display(description=_("Confidence"), ordering="_confidence")
    def confidence(self, obj: Record) -> str:
        value = getattr(obj, "_confidence", None)
        return "—" if value is None else f"{value:.2f}"

    @display(description=_("Similar"))
    def more_like_this(self, obj: Record) -> str:
        if obj.pk is None or not obj.embedding_model:
            return "—"
        url = reverse("admin:corpus_record_changelist")
        return format_html(
            '<a class="text-primary-600" href="{}?{}={}">{}</a>', url, LIKE_VAR, obj.pk, _("More like this")
        )

    @display(description=_("Suggestions"))
    def suggestions(self, obj: Record) -> str:
        predictions = (
            obj.predictions.filter(source=Prediction.Source.MODEL)
            .select_related("label", "schema")
            .order_by(F("classifier_id").desc(nulls_last=True), "-score")[:10]
        )
        if not predictions:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            '<span style="color:{}">●</span> {}: {} ({}, {})',
            ((p.label.color, p.schema.name, p.label.name, f"{p.score or 0:.2f}", p.model_version) for p in predictions),
        )


admin.site.unregister(Record)
admin.site.register(Record, LabeledRecordAdmin)


def record_label_sets(record: Record, user) -> list[dict]:
    """Where the record stands in each label set of its dataset, with the review link for reviewers."""
    schemas = list(LabelSchema.objects.filter(dataset_id=record.dataset_id))
    states = {
        state.schema_id: state
        for state in RecordState.objects.filter(record=record, schema__in=schemas).prefetch_related("final_labels")
    }
    may_review = user.has_perm("labeling.review_records")
    rows = []
    for schema in schemas:
        state = states.get(schema.pk)
        rows.append(
            {
                "schema": schema,
                "status": state.get_status_display() if state else RecordState.Status.UNLABELED.label,
                "reason": state.get_review_reason_display() if state and state.review_reason else "",
                "final_labels": list(state.final_labels.all()) if state else [],
                "review_url": reverse("admin:labeling_review_record", args=[schema.pk, record.pk])
                if may_review
                else None,
            }
        )
    return rows


RECORD_HISTORY_ROWS = 200


def record_history(record: Record, user) -> list[LabelEvent]:
    """The record's audit trail as `user` may see it (annotators: their own entries), newest first."""
    return list(
        LabelEvent.objects.visible_to(user)
        .filter(record=record)
        .select_related("actor", "annotator", "schema")
        .order_by("-created_at", "-id")[:RECORD_HISTORY_ROWS]
    )


class LabelingDatasetAdmin(DatasetExportMixin, DatasetAdmin):
    """The dataset page with its labeling side: per label set the status counts and the way into
    the annotate and review screens; changing the overlap settles the records again. Registered
    from labeling, because corpus knows nothing of labels."""

    change_form_outer_before_template = "labeling/admin/dataset_labeling.html"
    actions_detail = [*DatasetAdmin.actions_detail, "export_dataset"]  # export: labeling/views/export.py

    def get_urls(self):
        return [*self.export_urls(), *super().get_urls()]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        changed = set(form.changed_data)
        if change and changed & {"overlap", "agreement_counts_imported"}:
            settled = resettle_dataset(dataset=obj, imported_votes_changed="agreement_counts_imported" in changed)
            if settled:
                self.message_user(
                    request,
                    _("%(n)s record(s) changed status under the new settings.") % {"n": f"{settled:,}"},
                    messages.INFO,
                )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        dataset = self.get_object(request, unquote(object_id))
        if dataset is not None:
            extra_context = {**(extra_context or {}), "dataset_label_sets": dataset_label_sets(dataset, request.user)}
        return super().change_view(request, object_id, form_url, extra_context)


def dataset_label_sets(dataset: Dataset, user) -> list[dict]:
    """Per label set: how many records stand where, and the links this person may follow."""
    schemas = list(LabelSchema.objects.filter(dataset=dataset))
    counts: dict[int, dict[str, int]] = {schema.pk: {} for schema in schemas}
    rows = (
        RecordState.objects.filter(schema__in=schemas)
        .exclude(status=RecordState.Status.UNLABELED)
        .values_list("schema_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for schema_id, status, n in rows:
        counts[schema_id][status] = n
    total = dataset.records.count() if schemas else 0
    may_annotate = user.has_perm("labeling.annotate_records")
    may_review = user.has_perm("labeling.review_records")
    may_see_agreement = user.has_perm("labeling.view_all_annotations")  # its tables name people's labels
    result = []
    for schema in schemas:
        by_status = counts[schema.pk]
        # Records the queue has not reached have no state row yet: they are unlabeled too.
        by_status[RecordState.Status.UNLABELED] = max(total - sum(by_status.values()), 0)
        result.append(
            {
                "schema": schema,
                "statuses": [(label, by_status.get(value, 0)) for value, label in RecordState.Status.choices],
                "disputed": by_status.get(RecordState.Status.DISPUTED, 0),
                "annotate_url": reverse("admin:labeling_annotate", args=[schema.pk]) if may_annotate else None,
                "review_url": reverse("admin:labeling_review", args=[schema.pk]) if may_review else None,
                "agreement_url": reverse("admin:labeling_agreement", args=[schema.pk]) if may_see_agreement else None,
            }
        )
    return result


admin.site.unregister(Dataset)
admin.site.register(Dataset, LabelingDatasetAdmin)


# --- The audit trail ------------------------------------------------------------------------


class ActorFilter(DropdownFilter):
    """Who made the change, among the people in the audit entries this person may see."""

    title = _("who")
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        actors = (
            LabelEvent.objects.visible_to(request.user)
            .filter(actor__isnull=False)
            .values_list("actor_id", "actor__username")
            .distinct()
            .order_by("actor__username")
        )
        return [(str(pk), name) for pk, name in actors]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        actor_id = _int_or_none(self.value())
        return queryset.none() if actor_id is None else queryset.filter(actor_id=actor_id)


@admin.register(LabelEvent)
class LabelEventAdmin(ScopedModelAdmin):
    """History: every change to records' labels, read-only for everyone (the trail is append-only),
    scoped by LabelEvent.objects.visible_to (annotators see their own entries only)."""

    list_display = ["when", "record_link", "label_set", "action", "who", "for_annotator", "old_to_new", "note"]
    list_filter = ["action", ("schema__dataset", VisibleRelatedFilter), ActorFilter]
    list_select_related = ["schema__dataset", "actor", "annotator"]
    search_fields = ["=record__id"]
    search_help_text = _("A record's id")
    ordering = ["-created_at", "-id"]
    paginator = InfinitePaginator
    show_full_result_count = False
    list_per_page = 50
    fields = ["when", "record_link", "label_set", "action", "who", "for_annotator", "old_to_new", "note"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @display(description=_("Record"))
    def record_link(self, obj: LabelEvent) -> str:
        if obj.record_id is None:
            return "—"
        if getattr(obj, "_links_records", False):
            url = reverse("admin:corpus_record_change", args=[obj.record_id])
            return format_html('<a class="text-primary-600" href="{}">#{}</a>', url, obj.record_id)
        return f"#{obj.record_id}"

    @display(description=_("When"), ordering="created_at")
    def when(self, obj: LabelEvent):
        return obj.created_at

    @display(description=_("Label set"))
    def label_set(self, obj: LabelEvent) -> str:
        return str(obj.schema)

    @display(description=_("Who"), ordering="actor__username")
    def who(self, obj: LabelEvent) -> str:
        return str(obj.actor) if obj.actor_id else "—"

    @display(description=_("For"))
    def for_annotator(self, obj: LabelEvent) -> str:
        return str(obj.annotator) if obj.annotator_id and obj.annotator_id != obj.actor_id else "—"

    @display(description=_("Old → new"))
    def old_to_new(self, obj: LabelEvent) -> str:
        return format_html("{} → {}", ", ".join(obj.old) or "—", ", ".join(obj.new) or "—")

    def get_queryset(self, request):
        # Whether the record column links to the record page (annotators have none): carried on
        # the rows, because one admin instance serves every request at once.
        may_view = request.user.has_perm("corpus.view_record")
        return super().get_queryset(request).annotate(_links_records=Value(may_view, output_field=BooleanField()))


# --- The team: people, their role and their datasets ------------------------------------------


class TeamMemberFieldsMixin(forms.Form):
    """The role and the datasets of a person, on both the add and the change form."""

    role = forms.ChoiceField(choices=[("", _("No role (superusers only)")), *Role.choices], required=False)
    datasets = forms.ModelMultipleChoiceField(queryset=Dataset.objects.none(), required=False)

    def setup_team_fields(self, request) -> None:
        self.request = request
        self.fields["datasets"].queryset = Dataset.objects.visible_to(request.user)
        self.fields["datasets"].help_text = _("The datasets this person works on.")
        if not request.user.is_superuser:
            self.fields["role"].choices = Role.choices
            self.fields["role"].required = True
        if self.instance.pk:
            self.fields["role"].initial = role_of(self.instance) or ""
            self.fields["datasets"].initial = list(self.instance.datasets.values_list("pk", flat=True))
        if "password" in self.fields and not self.instance.has_usable_password():
            # Someone imported from a file: they cannot sign in until somebody gives them a password.
            self.fields["password"].help_text = format_html(
                '{} <a href="../password/" class="text-primary-600 dark:text-primary-500">{}</a>.',
                _("No password yet: this person cannot sign in until one is set with"),
                _("this form"),
            )

    def save_team_fields(self, user: User) -> None:
        # Only the datasets the editor can see are touched: others' memberships stay as they are.
        assign_role_and_datasets(
            person=user,
            role=self.cleaned_data.get("role") or "",
            datasets=self.cleaned_data.get("datasets", []),
            editable=self.fields["datasets"].queryset,
        )


class TeamMemberCreationForm(TeamMemberFieldsMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ["username", "first_name", "last_name", "email"]


class TeamMemberChangeForm(TeamMemberFieldsMixin, UserChangeForm):
    pass


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ScopedModelAdmin, SmallTableImportExportMixin):
    resource_classes = [TeamMemberResource]  # people by username, role and datasets
    form = TeamMemberChangeForm
    add_form = TeamMemberCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "full_name", "email", "role", "is_active", "last_login"]
    list_filter = ["groups", "is_active", "is_superuser"]
    search_fields = ["username", "first_name", "last_name", "email"]
    add_fieldsets = [
        (None, {"fields": ["username", "first_name", "last_name", "email", "password1", "password2"]}),
        (_("Role and datasets"), {"fields": ["role", "datasets"]}),
    ]

    def get_queryset(self, request):
        qs = super().get_queryset(request).prefetch_related("groups")
        if not request.user.is_superuser:
            # Data leads manage the team, never the administrators' accounts.
            qs = qs.filter(is_superuser=False)
        return qs

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        role_fields = (_("Role and datasets"), {"fields": ["role", "datasets"]})
        if request.user.is_superuser:
            return [*super().get_fieldsets(request, obj), role_fields]
        account = ["username", "first_name", "last_name", "email", "is_active"]
        if not obj.has_usable_password():
            account.append("password")  # with its link to the form that sets the first one
        return [(None, {"fields": account}), role_fields]

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)

        class RequestForm(form_class):
            def __init__(self, *args, **inner_kwargs):
                super().__init__(*args, **inner_kwargs)
                self.setup_team_fields(request)

        return RequestForm

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if not change:
            obj.is_staff = True  # everyone works inside the admin
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.save_team_fields(form.instance)

    def user_change_password(self, request, id, form_url=""):
        if request.user.is_superuser:
            return super().user_change_password(request, id, form_url)
        with transaction.atomic():
            person = self.get_object(request, unquote(id))  # None (404) for an administrator
            if person is not None and self._has_usable_password_locked(person):
                # A data lead changing a colleague's password would be an account takeover; the
                # first password of an account that has none (one they imported) is theirs to give.
                raise PermissionDenied
            return super().user_change_password(request, id, form_url)

    @staticmethod
    def _has_usable_password_locked(person: User) -> bool:
        # Locked until the form is saved: two data leads giving the first password at once must
        # not both succeed, the second would be changing an existing password.
        password = User.objects.select_for_update().values_list("password", flat=True).get(pk=person.pk)
        return is_password_usable(password)

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        newcomers = context["result"].totals[RowResult.IMPORT_TYPE_NEW] if "confirm_form" in context else 0
        if newcomers:
            messages.warning(
                request,
                ngettext(
                    "%(n)s new person will have no password and cannot sign in until one is set on "
                    "their page after the import.",
                    "%(n)s new people will have no password and cannot sign in until one is set on "
                    "each person's page after the import.",
                    newcomers,
                )
                % {"n": newcomers},
            )
        return response

    def add_success_message(self, result, request):
        super().add_success_message(result, request)
        newcomers = [row for row in result.valid_rows() if row.import_type == RowResult.IMPORT_TYPE_NEW]
        if newcomers:
            links = format_html_join(
                ", ",
                '<a class="text-primary-600" href="{}">{}</a>',
                (
                    (reverse("admin:auth_user_password_change", args=[row.object_id]), row.object_repr)
                    for row in newcomers
                ),
            )
            messages.warning(
                request, format_html("{} {}", _("No password yet, so no sign-in: set a first password for"), links)
            )

    @display(description=_("Name"))
    def full_name(self, obj: User) -> str:
        return obj.get_full_name()

    @display(description=_("Role"))
    def role(self, obj: User) -> str:
        if obj.is_superuser:
            return "Admin"
        return role_of(obj) or "—"


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass
