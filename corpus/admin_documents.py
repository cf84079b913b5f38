"""The chunks of a document on its admin page: read-only, paginated, in document order."""

from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import display

from corpus.models import Record


class DocumentChunkInline(TabularInline):
    model = Record
    fk_name = "document"
    fields = ["position", "page", "char_start", "char_end", "chunk_text"]
    readonly_fields = fields
    ordering = ["position"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    per_page = 50
    verbose_name = _("chunk")
    verbose_name_plural = _("chunks")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("embedding")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @display(description=_("Text"))
    def chunk_text(self, obj: Record) -> str:
        # Rendered as text by the admin (escaped): a chunk of HTML is shown, never run.
        return obj.text if len(obj.text) <= 300 else obj.text[:299] + "…"
