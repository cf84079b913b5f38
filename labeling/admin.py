from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Case, Exists, F, FloatField, IntegerField, OuterRef, Subquery, Value, When
from django.http import Http404
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import DropdownFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.paginator import InfinitePaginator
from unfold.views import ChangeList

from config.admin_base import ScopedModelAdmin, VisibleRelatedFilter
from corpus.admin import RecordAdmin
from corpus.inference import configured_embedder
from corpus.models import Dataset, Membership, Record
from corpus.services.search import search_similar
from inference_client import InferenceError
from labeling.models import Annotation, ClassifierVersion, Label, LabelSchema, Prediction
from labeling.resources import LabelResource, LabelSchemaResource
from labeling.roles import Role, role_of
from labeling.services.classify import start_classification, start_training


class LabelInline(TabularInline):
    model = Label
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


@admin.register(Label)
class LabelAdmin(ScopedModelAdmin, SmallTableImportExportMixin):
    resource_classes = [LabelResource]
    list_display = ["name", "schema", "hotkey", "swatch", "order"]
    list_filter = [("schema__dataset", VisibleRelatedFilter)]
    search_fields = ["name", "description"]
    list_select_related = ["schema__dataset"]

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


class LabeledRecordAdmin(RecordAdmin):
    """The records list with the model's suggestions (filter by predicted label, sort by
    confidence) and search by meaning. Lives in labeling because it shows labels; everything
    else, actions included, comes from corpus's RecordAdmin."""

    list_before_template = "labeling/admin/record_meaning_search.html"
    readonly_fields = [*RecordAdmin.readonly_fields, "suggestions", "more_like_this"]

    def get_list_display(self, request):
        columns = [*super().get_list_display(request), "predicted_label", "confidence", "more_like_this"]
        if self._meaning_params(request):
            columns.insert(2, "similarity")
        return columns

    def get_list_filter(self, request):
        return [*super().get_list_filter(request), PredictedLabelFilter]

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

    def save_team_fields(self, user: User) -> None:
        role = self.cleaned_data.get("role")
        user.groups.remove(*Group.objects.filter(name__in=Role.values))
        if role:
            user.groups.add(Group.objects.get(name=role))
        # Only the datasets the editor can see are touched: others' memberships stay as they are.
        editable = set(self.fields["datasets"].queryset.values_list("pk", flat=True))
        chosen = {dataset.pk for dataset in self.cleaned_data.get("datasets", [])}
        Membership.objects.filter(user=user, dataset_id__in=editable - chosen).delete()
        for dataset_id in chosen - set(user.datasets.values_list("pk", flat=True)):
            Membership.objects.create(user=user, dataset_id=dataset_id)


class TeamMemberCreationForm(TeamMemberFieldsMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ["username", "first_name", "last_name", "email"]


class TeamMemberChangeForm(TeamMemberFieldsMixin, UserChangeForm):
    pass


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ScopedModelAdmin):
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
        return [
            (None, {"fields": ["username", "first_name", "last_name", "email", "is_active"]}),
            role_fields,
        ]

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
        if not request.user.is_superuser:
            # A data lead setting a colleague's password would be an account takeover.
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

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
