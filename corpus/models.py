from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from pgvector.django import HnswIndex, VectorField

EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2; a model of another size needs a migration


class DatasetQuerySet(models.QuerySet):
    def visible_to(self, user) -> "DatasetQuerySet":
        """Datasets `user` may see: all for superusers, otherwise those they are a member of."""
        if not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(memberships__user=user)


class QueueOrder(models.TextChoices):
    IMPORTED = "imported", "As imported"
    RANDOM = "random", "Random"
    UNCERTAIN = "uncertain", "Most uncertain first (active learning)"


class Dataset(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text="Guidelines shown to annotators (Markdown).")
    # How the labeling queue serves this dataset's records (labeling/services/queue.py).
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="How many annotators must label each record (2 or more gives agreement figures)."
    )
    lease_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="How long a record served to an annotator stays reserved for them."
    )
    queue_order = models.CharField(
        max_length=10,
        choices=QueueOrder.choices,
        default=QueueOrder.IMPORTED,
        help_text="Which record an annotator gets next. 'Most uncertain first' needs predictions.",
    )
    show_suggestions = models.BooleanField(
        default=True, help_text="Show annotators the model's suggestion and its score."
    )
    agreement_counts_imported = models.BooleanField(
        default=False,
        help_text="Count labels imported with the data as one more annotator in agreement figures.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="datasets", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("embed_dataset", "Can start embedding jobs for a dataset")]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1) & Q(overlap__lte=20), name="dataset_overlap_1_20"),
            models.CheckConstraint(
                condition=Q(lease_minutes__gte=1) & Q(lease_minutes__lte=1440), name="dataset_lease_1m_1d"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """Who works on a dataset. What they may do there comes from their role (group)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "user"], name="membership_unique_user")]
        indexes = [models.Index(fields=["user", "dataset"], name="membership_by_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.dataset}"


class DocumentQuerySet(models.QuerySet):
    def visible_to(self, user) -> "DocumentQuerySet":
        return self.filter(dataset__in=Dataset.objects.visible_to(user))


class Document(models.Model):
    class Kind(models.TextChoices):
        TXT = "txt", "Plain text"
        MARKDOWN = "md", "Markdown"
        HTML = "html", "HTML"
        PDF = "pdf", "PDF"
        DOCX = "docx", "Word (DOCX)"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="documents")
    file = models.FileField(upload_to="documents/%Y/%m/")
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    size_bytes = models.BigIntegerField()
    pages = models.PositiveIntegerField(null=True, blank=True, help_text="Pages of a PDF or DOCX.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "sha256"], name="document_unique_content"),
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="document_sha256_hex"),
            models.CheckConstraint(condition=Q(size_bytes__gte=0), name="document_size_not_negative"),
        ]

    def __str__(self) -> str:
        return self.original_name


class RecordQuerySet(models.QuerySet):
    def visible_to(self, user) -> "RecordQuerySet":
        return self.filter(dataset__in=Dataset.objects.visible_to(user))

    def needs_embedding(self, model_name: str) -> "RecordQuerySet":
        """Records with no vector from `model_name` for their current text."""
        return self.filter(
            Q(embedding__isnull=True) | ~Q(embedding_model=model_name) | ~Q(embedding_hash=F("content_hash"))
        )

    def embedded(self) -> "RecordQuerySet":
        return self.filter(embedding__isnull=False)


class Record(models.Model):
    # No index of its own: record_dataset_keyset and record_unique_content lead with dataset_id, and
    # every index is paid for on each imported row.
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="records", db_index=False)
    text = models.TextField()
    meta = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, blank=True, help_text="The id this row had in its source.")
    content_hash = models.CharField(max_length=64, editable=False, help_text="sha256 of the normalized text.")
    # Indexed by record_unique_chunk (partial: rows without a document, most of them, stay out).
    document = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.CASCADE, related_name="records", db_index=False
    )
    position = models.PositiveIntegerField(null=True, blank=True, help_text="Order of the chunk in its document.")
    page = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField(null=True, blank=True)
    char_end = models.PositiveIntegerField(null=True, blank=True)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, editable=False)
    embedding_hash = models.CharField(
        max_length=64, blank=True, editable=False, help_text="content_hash the embedding was computed from."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RecordQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            # Dedupe lives in the database: an import can never insert the same text twice.
            models.UniqueConstraint(fields=["dataset", "content_hash"], name="record_unique_content"),
            models.UniqueConstraint(
                fields=["dataset", "external_id"], condition=~Q(external_id=""), name="record_unique_external_id"
            ),
            models.UniqueConstraint(
                fields=["document", "position"], condition=Q(document__isnull=False), name="record_unique_chunk"
            ),
            models.CheckConstraint(condition=Q(content_hash__regex=r"^[0-9a-f]{64}$"), name="record_hash_hex"),
            models.CheckConstraint(
                condition=Q(char_start__isnull=True) | Q(char_end__gte=F("char_start")), name="record_char_span"
            ),
        ]
        indexes = [
            # Keyset pagination of a dataset's records (the records list and exports).
            models.Index(fields=["dataset", "id"], name="record_dataset_keyset"),
            # Text search on the records list: trigram index for `icontains`.
            GinIndex(OpClass(Upper("text"), name="gin_trgm_ops"), name="record_text_trgm"),
            HnswIndex(
                name="record_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.text[:60]}"

    @property
    def has_current_embedding(self) -> bool:
        return self.embedding is not None and self.embedding_hash == self.content_hash
