from django import forms
from django.contrib import admin, messages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import action, display
from unfold.paginator import InfinitePaginator

from config.admin_base import ScopedModelAdmin, VisibleRelatedFilter, action_form_page
from corpus.admin_documents import DocumentChunkInline
from corpus.admin_import import DatasetImportMixin
from corpus.models import Dataset, Document, Membership, Record
from corpus.services.embed import MAX_SELECTED_RECORDS, allowed_models, start_embedding, start_embedding_records
from corpus.text import content_hash


class MembershipInline(TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "added_at"]
    readonly_fields = ["added_at"]
    verbose_name = _("member")
    verbose_name_plural = _("members")


class DatasetForm(forms.ModelForm):
    """The dataset's settings, with the bounds the database enforces said in the user's words."""

    BOUNDS = {"overlap": (1, 20), "lease_minutes": (1, 24 * 60)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (low, high) in self.BOUNDS.items():
            if name in self.fields:
                field = self.fields[name]
                field.validators += [MinValueValidator(low), MaxValueValidator(high)]
                field.widget.attrs.update(min=low, max=high)


@admin.register(Dataset)
class DatasetAdmin(DatasetImportMixin, ScopedModelAdmin):
    form = DatasetForm
    list_display = ["name", "record_count", "member_count", "created_at"]
    search_fields = ["name", "description"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["name", "description", "instructions", "created_by", "created_at"]}),
        (
            _("Labeling"),
            {"fields": ["overlap", "lease_minutes", "queue_order", "show_suggestions", "agreement_counts_imported"]},
        ),
    ]
    readonly_fields = ["created_by", "created_at"]
    actions = ["embed_records", "reembed_datasets_with_model"]
    actions_detail = ["import_file"]  # upload page: corpus/admin_import.py

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_members=Count("memberships", distinct=True))

    @display(description=_("Records"))
    def record_count(self, obj: Dataset) -> int:
        # One index-only count per dataset on the page, never one over the whole table.
        return obj.records.count()

    @display(description=_("Members"), ordering="_members")
    def member_count(self, obj: Dataset) -> int:
        return obj._members

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            # Whoever creates a dataset works on it; otherwise it would vanish from their list.
            Membership.objects.get_or_create(dataset=obj, user=request.user)

    @action(description=_("Embed records"), permissions=["embed"], icon="hub")
    def embed_records(self, request, queryset):
        self._start_embedding(request, queryset, model=None)

    @action(description=_("Re-embed with model…"), permissions=["embed"], icon="model_training")
    def reembed_datasets_with_model(self, request, queryset):
        """Asks which model (among the allowed ones) on a page of its own, then starts the jobs."""
        form = ChooseModelForm(request.POST if "model" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._start_embedding(request, queryset, model=form.cleaned_data["model"])
            return None
        names = ", ".join(queryset.values_list("name", flat=True)[:5])
        return choose_model_page(
            self, request, form, action="reembed_datasets_with_model", title=_("Re-embed %(names)s") % {"names": names}
        )

    def _start_embedding(self, request, queryset, *, model: str | None) -> None:
        for dataset in queryset:
            job = start_embedding(dataset=dataset, user=request.user, model=model)
            self.message_user(
                request,
                format_html(_("Embedding of “{}” queued as job #{}."), dataset.name, job.pk),
                messages.SUCCESS,
            )

    def has_embed_permission(self, request) -> bool:
        return request.user.has_perm("corpus.embed_dataset")


@admin.register(Document)
class DocumentAdmin(ScopedModelAdmin):
    inlines = [DocumentChunkInline]  # the records the document was split into
    list_display = ["original_name", "dataset", "kind", "pages", "size_bytes", "created_at"]
    list_filter = [("dataset", VisibleRelatedFilter), "kind"]
    search_fields = ["original_name", "=sha256"]
    readonly_fields = [
        "dataset",
        "file",
        "original_name",
        "sha256",
        "kind",
        "size_bytes",
        "pages",
        "uploaded_by",
        "created_at",
    ]

    def has_add_permission(self, request) -> bool:
        # Documents arrive through the importer, which splits them into records.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RecordForm(forms.ModelForm):
    class Meta:
        model = Record
        fields = ["dataset", "text", "external_id", "meta"]

    def clean(self):
        cleaned = super().clean()
        dataset, text = cleaned.get("dataset"), cleaned.get("text")
        if dataset and text:
            if not text.strip():
                self.add_error("text", _("The text is empty."))
                return cleaned
            duplicate = (
                Record.objects.filter(dataset=dataset, content_hash=content_hash(text))
                .exclude(pk=self.instance.pk)
                .first()
            )
            if duplicate:
                self.add_error("text", _("This dataset already has this text (record #%(id)s).") % {"id": duplicate.pk})
        return cleaned

    def save(self, commit=True):
        self.instance.content_hash = content_hash(self.instance.text)
        return super().save(commit)


@admin.register(Record)
class RecordAdmin(ScopedModelAdmin):
    form = RecordForm
    list_display = ["id", "short_text", "dataset", "external_id", "embedded"]
    list_display_links = ["id", "short_text"]
    list_filter = [("dataset", VisibleRelatedFilter)]
    search_fields = ["text", "=external_id"]
    ordering = ["-id"]
    list_select_related = ["dataset"]
    # No COUNT(*) over a million rows: the list pages forward without a total.
    paginator = InfinitePaginator
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = [
        "content_hash",
        "document",
        "position",
        "page",
        "char_start",
        "char_end",
        "embedding_model",
        "created_at",
    ]

    def get_fields(self, request, obj=None):
        fields = ["dataset", "text", "external_id", "meta"]
        return fields + self.readonly_fields if obj else fields

    def get_queryset(self, request):
        # The list never needs the 384 floats of each row.
        return super().get_queryset(request).defer("embedding")

    @display(description=_("Text"))
    def short_text(self, obj: Record) -> str:
        return obj.text if len(obj.text) <= 120 else obj.text[:119] + "…"

    @display(description=_("Embedded"), boolean=True)
    def embedded(self, obj: Record) -> bool:
        return bool(obj.embedding_model) and obj.embedding_hash == obj.content_hash

    # --- embedding actions (jobs issue) ---------------------------------------------------------
    actions = ["embed_selected", "reembed_with_model"]

    def has_embed_permission(self, request) -> bool:
        return request.user.has_perm("corpus.embed_dataset")

    @action(description=_("Embed selected records"), permissions=["embed"], icon="hub")
    def embed_selected(self, request, queryset):
        self._start_embedding(request, queryset, model=None)

    @action(description=_("Re-embed with model…"), permissions=["embed"], icon="model_training")
    def reembed_with_model(self, request, queryset):
        """Asks which model (among the allowed ones) on a page of its own, then starts the job."""
        form = ChooseModelForm(request.POST if "model" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._start_embedding(request, queryset, model=form.cleaned_data["model"])
            return None
        title = _("Re-embed %(n)s selected record(s) with another model") % {
            "n": f"{queryset.order_by()[: MAX_SELECTED_RECORDS + 1].count():,}"
        }
        return choose_model_page(self, request, form, action="reembed_with_model", title=title)

    def _start_embedding(self, request, queryset, *, model: str | None) -> None:
        ids = list(queryset.order_by().values_list("pk", flat=True)[: MAX_SELECTED_RECORDS + 1])
        if len(ids) > MAX_SELECTED_RECORDS:
            self.message_user(
                request,
                _("More than %(max)s records selected: use “Embed records” on the dataset instead.")
                % {"max": f"{MAX_SELECTED_RECORDS:,}"},
                messages.ERROR,
            )
            return
        job = start_embedding_records(record_ids=ids, user=request.user, model=model)
        job.refresh_from_db()
        text = format_html(_("Embedding of {} record(s) queued as job #{}."), f"{len(ids):,}", job.pk)
        if job.is_waiting_for_queue:
            # The broker refused it (see the job's log); the sweeper sends it when it is back.
            self.message_user(
                request, format_html("{} {}", text, _("The queue is unavailable; it will be sent when it is back.")),
                messages.WARNING,
            )  # fmt: skip
        else:
            self.message_user(request, text, messages.SUCCESS)


def choose_model_page(model_admin, request, form, *, action: str, title: str) -> TemplateResponse:
    """The intermediate page of a "Re-embed with model…" action; posting it runs the action again."""
    return action_form_page(model_admin, request, form, template="jobs/choose_model.html", action=action, title=title)


class ChooseModelForm(forms.Form):
    """The model for "Re-embed with model…": only the configured ones, never a typed-in path."""

    model = forms.ChoiceField(label=_("Model"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(name, name) for name in allowed_models()]
