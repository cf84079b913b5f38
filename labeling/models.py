from django.conf import settings
from django.db import connections, models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from corpus.models import Dataset, Membership, Record


class LabelSchemaQuerySet(models.QuerySet):
    def visible_to(self, user) -> "LabelSchemaQuerySet":
        return self.filter(dataset__in=Dataset.objects.visible_to(user))

    def visible_one(self, user, pk: int) -> "LabelSchema | None":
        """visible_to(user).select_related("dataset").filter(pk=pk).first(), in one SQL query
        that costs a fraction of building the ORM's: the annotate screen asks on every keystroke.
        The same rule as Dataset.objects.visible_to: superusers see all, others their datasets."""
        if not user.is_active:
            return None
        schema_fields = LabelSchema._meta.concrete_fields
        dataset_fields = Dataset._meta.concrete_fields
        columns = ", ".join([f"s.{f.column}" for f in schema_fields] + [f"d.{f.column}" for f in dataset_fields])
        with connections[self.db].cursor() as cursor:
            cursor.execute(
                f"""
                SELECT {columns}
                FROM {LabelSchema._meta.db_table} s JOIN {Dataset._meta.db_table} d ON d.id = s.dataset_id
                WHERE s.id = %(pk)s
                  AND (%(superuser)s OR EXISTS (SELECT 1 FROM {Membership._meta.db_table} m
                                                WHERE m.dataset_id = d.id AND m.user_id = %(user)s))
                """,  # noqa: S608 (names from the models, never from input)
                {"pk": pk, "superuser": user.is_superuser, "user": user.pk},
            )
            row = cursor.fetchone()
        if row is None:
            return None
        split = len(schema_fields)
        schema = LabelSchema.from_db(self.db, [f.attname for f in schema_fields], row[:split])
        schema.dataset = Dataset.from_db(self.db, [f.attname for f in dataset_fields], row[split:])
        return schema


class LabelSchema(models.Model):
    """The question asked about each record of a dataset, and the labels that answer it."""

    class Kind(models.TextChoices):
        SINGLE = "single", "Single label"
        MULTI = "multi", "Multiple labels"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="label_schemas")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SINGLE)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelSchemaQuerySet.as_manager()

    class Meta:
        ordering = ["dataset", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="labelschema_unique_name")]

    def __str__(self) -> str:
        return f"{self.dataset} · {self.name}"


class LabelQuerySet(models.QuerySet):
    def visible_to(self, user) -> "LabelQuerySet":
        return self.filter(schema__dataset__in=Dataset.objects.visible_to(user))


class Label(models.Model):
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, help_text="What the label means; also used for zero-shot suggestions.")
    hotkey = models.CharField(max_length=1, blank=True, help_text="One key that applies this label.")
    color = models.CharField(max_length=7, default="#6366f1", help_text="Hex colour, e.g. #22c55e.")
    order = models.PositiveIntegerField(default=0)

    objects = LabelQuerySet.as_manager()

    class Meta:
        ordering = ["schema", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["schema", "name"], name="label_unique_name"),
            models.UniqueConstraint(fields=["schema", "hotkey"], condition=~Q(hotkey=""), name="label_unique_hotkey"),
            models.CheckConstraint(condition=Q(color__regex=r"^#[0-9a-fA-F]{6}$"), name="label_color_hex"),
            models.CheckConstraint(condition=~Q(hotkey=" "), name="label_hotkey_not_space"),
        ]

    def __str__(self) -> str:
        return self.name


class AnnotationQuerySet(models.QuerySet):
    def visible_to(self, user) -> "AnnotationQuerySet":
        """Annotations `user` may see: within their datasets, and only their own unless their
        role may see everyone's (labeling must stay blind for annotators)."""
        qs = self.filter(record__dataset__in=Dataset.objects.visible_to(user))
        if user.has_perm("labeling.view_all_annotations"):
            return qs
        return qs.filter(annotator=user)

    def by_people(self) -> "AnnotationQuerySet":
        return self.filter(source=Annotation.Source.HUMAN)


class Annotation(models.Model):
    """What one source says about one record under one schema. Imported labels are a source of
    their own (annotator empty): they are never passed off as a person's work."""

    class Source(models.TextChoices):
        HUMAN = "human", "Person"
        IMPORTED = "imported", "Imported"

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="annotations")
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="annotations"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.HUMAN)
    labels = models.ManyToManyField(Label, related_name="annotations")
    seconds_spent = models.FloatField(null=True, blank=True)
    # Database defaults too: imports write annotations in SQL.
    unsure = models.BooleanField(
        default=False, db_default=False, help_text="The annotator was not sure: a reviewer looks at it."
    )
    comment = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AnnotationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("view_all_annotations", "Can see every annotator's annotations in their datasets")]
        constraints = [
            # One answer per person, record and schema; one imported answer per record and schema.
            models.UniqueConstraint(
                fields=["record", "schema", "annotator"],
                condition=Q(source="human"),
                name="annotation_one_per_annotator",
            ),
            models.UniqueConstraint(
                fields=["record", "schema"], condition=Q(source="imported"), name="annotation_one_imported"
            ),
            models.CheckConstraint(
                condition=(Q(source="human") & Q(annotator__isnull=False))
                | (Q(source="imported") & Q(annotator__isnull=True)),
                name="annotation_source_matches_annotator",
            ),
            models.CheckConstraint(
                condition=Q(seconds_spent__isnull=True) | Q(seconds_spent__gte=0),
                name="annotation_seconds_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["record", "schema"], name="annotation_by_record"),
            models.Index(fields=["annotator", "-created_at"], name="annotation_by_annotator"),
        ]

    def __str__(self) -> str:
        who = self.annotator or self.get_source_display()
        return f"{who} on record #{self.record_id}"


class ClassifierVersionQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ClassifierVersionQuerySet":
        return self.filter(schema__dataset__in=Dataset.objects.visible_to(user))


class ClassifierVersion(models.Model):
    """One trained (or zero-shot) model for a schema, with its held-out metrics."""

    class Kind(models.TextChoices):
        ZERO_SHOT = "zero_shot", "Zero-shot (label names and descriptions)"
        TRAINED = "trained", "Trained on human labels"

    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="classifiers")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    embedding_model = models.CharField(max_length=200)
    trained_on = models.PositiveIntegerField(default=0, help_text="Labeled records used for training.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out accuracy, macro-F1, per label.")
    artifact = models.BinaryField(null=True, blank=True, editable=False, help_text="The fitted model, serialized.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClassifierVersionQuerySet.as_manager()

    class Meta:
        ordering = ["schema", "-version"]
        permissions = [("run_classifier", "Can train classifiers and classify records")]
        constraints = [models.UniqueConstraint(fields=["schema", "version"], name="classifier_unique_version")]

    def __str__(self) -> str:
        return f"{self.schema} v{self.version} ({self.get_kind_display()})"


class PredictionQuerySet(models.QuerySet):
    def visible_to(self, user) -> "PredictionQuerySet":
        return self.filter(record__dataset__in=Dataset.objects.visible_to(user))


class Prediction(models.Model):
    """A model's score for one label on one record: a suggestion, never ground truth. Single-label
    schemas store the top label per record and version; multi-label ones a row per label."""

    class Source(models.TextChoices):
        MODEL = "model", "Tally's classifier"
        IMPORTED = "imported", "Imported with the data"

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="predictions")
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="predictions")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="predictions")
    score = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MODEL)
    model_version = models.CharField(
        max_length=200, help_text="Which model said it, e.g. 'classifier v3' or the file's."
    )
    classifier = models.ForeignKey(
        ClassifierVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["record", "-score"]
        constraints = [
            models.UniqueConstraint(fields=["record", "label", "model_version"], name="prediction_unique_per_version"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | (Q(score__gte=0) & Q(score__lte=1)), name="prediction_score_0_1"
            ),
        ]
        indexes = [
            models.Index(fields=["record", "schema"], name="prediction_by_record"),
            # The records list: filter by predicted label, sort by confidence.
            models.Index(fields=["label", "-score"], name="prediction_by_label_score"),
        ]

    def __str__(self) -> str:
        score = f" {self.score:.2f}" if self.score is not None else ""
        return f"{self.label}{score} on record #{self.record_id}"


class RecordStateQuerySet(models.QuerySet):
    def visible_to(self, user) -> "RecordStateQuerySet":
        return self.filter(record__dataset__in=Dataset.objects.visible_to(user))

    def open(self) -> "RecordStateQuerySet":
        """Records that still need annotations."""
        return self.filter(status__in=RecordState.OPEN)

    def for_review(self) -> "RecordStateQuerySet":
        return self.filter(status=RecordState.Status.DISPUTED)


class RecordState(models.Model):
    """Where one record stands under one schema: its status, the final label(s) once decided, and
    the keys the annotation queue orders by. Its row is also the lock that serializes everything
    that changes the record's labels (leases, saves, reviews): one row, one writer at a time."""

    class Status(models.TextChoices):
        UNLABELED = "unlabeled", "Unlabeled"
        IN_PROGRESS = "in_progress", "In progress"
        LABELED = "labeled", "Labeled"
        DISPUTED = "disputed", "Disputed"
        REVIEWED = "reviewed", "Reviewed"
        GOLD = "gold", "Gold"

    class ReviewReason(models.TextChoices):
        NONE = "", "—"
        DISAGREEMENT = "disagreement", "Annotators disagree"
        UNSURE = "unsure", "An annotator was unsure"
        SENT = "sent", "Sent to review"

    OPEN = (Status.UNLABELED, Status.IN_PROGRESS)

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="label_states")
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="record_states")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNLABELED)
    review_reason = models.CharField(max_length=12, choices=ReviewReason.choices, default="", blank=True)
    final_labels = models.ManyToManyField(Label, related_name="final_on", blank=True)
    human_annotations = models.PositiveSmallIntegerField(default=0)
    # Queue order keys: record id (as imported), a random key fixed at creation, and the model's
    # uncertainty (1 - top score), written by the classify job.
    random_key = models.FloatField(default=0.0)
    uncertainty = models.FloatField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every change: a reviewer's form carries it, so a second reviewer saving the same
    # record gets a conflict instead of silently overwriting the first (no lost update).
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RecordStateQuerySet.as_manager()

    class Meta:
        permissions = [
            ("annotate_records", "Can annotate records of their datasets"),
            ("review_records", "Can review records and set final labels"),
            ("manage_labels", "Can clear annotations, send to review and set final labels in bulk"),
            ("export_dataset", "Can export datasets with their labels"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["record", "schema"], name="recordstate_one_per_schema"),
        ]
        indexes = [
            # The annotation queue: the next open record in each order (partial: done ones drop out).
            models.Index(
                fields=["schema", "record"], condition=Q(status__in=["unlabeled", "in_progress"]), name="queue_imported"
            ),
            models.Index(
                fields=["schema", "random_key"],
                condition=Q(status__in=["unlabeled", "in_progress"]),
                name="queue_random",
            ),
            models.Index(
                models.F("schema"),
                models.F("uncertainty").desc(nulls_last=True),
                condition=Q(status__in=["unlabeled", "in_progress"]),
                name="queue_uncertain",
            ),
            # The review queue and the status filters.
            models.Index(fields=["schema", "status"], name="recordstate_by_status"),
        ]

    def __str__(self) -> str:
        return f"record #{self.record_id}: {self.get_status_display()}"


class AssignmentQuerySet(models.QuerySet):
    def active(self) -> "AssignmentQuerySet":
        """Leases still running: the record is reserved for that person."""
        return self.filter(status=Assignment.Status.LEASED, expires_at__gt=Now())

    def expired(self) -> "AssignmentQuerySet":
        return self.filter(status=Assignment.Status.LEASED, expires_at__lte=Now())


class Assignment(models.Model):
    """A record served to one annotator: leased until `expires_at`, then done or skipped."""

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    state = models.ForeignKey(RecordState, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.LEASED)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        constraints = [
            # A person is served a record at most once (a skip or an undo reuses the row).
            models.UniqueConstraint(fields=["state", "annotator"], name="assignment_once_per_person"),
            models.CheckConstraint(condition=Q(expires_at__gt=F("leased_at")), name="assignment_lease_positive"),
        ]
        indexes = [
            # "My current lease" and "my last items" (back/undo).
            models.Index(fields=["annotator", "status", "-leased_at"], name="assignment_by_annotator"),
            models.Index(fields=["state", "status"], name="assignment_by_state"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} · record #{self.state.record_id} ({self.get_status_display()})"


class LabelEventQuerySet(models.QuerySet):
    def visible_to(self, user) -> "LabelEventQuerySet":
        """Audit entries `user` may see: within their datasets; annotators only their own.
        (By the schema's dataset: a label's rename concerns no single record.)"""
        qs = self.filter(schema__dataset__in=Dataset.objects.visible_to(user))
        if user.has_perm("labeling.view_all_annotations"):
            return qs
        return qs.filter(actor=user, annotator=user)


class LabelEvent(models.Model):
    """The audit trail: every change to a record's labels, who made it, when, old and new value.
    Written by the services that make the change, in the same transaction, bulk actions included.
    Append-only: no screen edits or deletes it."""

    class Action(models.TextChoices):
        ANNOTATED = "annotated", "Annotated"
        CHANGED = "changed", "Changed an annotation"
        UNDONE = "undone", "Undid an annotation"
        REVIEWED = "reviewed", "Set the final label"
        GOLD = "gold", "Marked gold"
        SENT_TO_REVIEW = "sent_to_review", "Sent to review"
        CLEARED = "cleared", "Cleared annotations"
        LABEL_RENAMED = "label_renamed", "Renamed a label"

    record = models.ForeignKey(Record, null=True, blank=True, on_delete=models.CASCADE, related_name="label_events")
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="label_events")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Whose annotation changed (for annotation events); empty for final-label events.
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Label names, not ids: the trail stays readable after a label is renamed or deleted.
    old = models.JSONField(default=list, blank=True)
    new = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = LabelEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["record", "-created_at"], name="labelevent_by_record")]
        # The sidebar calls the list "History"; its page and breadcrumbs say the same.
        verbose_name = "label change"
        verbose_name_plural = "history of label changes"

    def __str__(self) -> str:
        return f"{self.get_action_display()} on record #{self.record_id}"
