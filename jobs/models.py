from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class JobQuerySet(models.QuerySet):
    def visible_to(self, user) -> "JobQuerySet":
        """Jobs a user may see: their own, or all of them with the `view_all_jobs` permission."""
        if user.is_superuser or user.has_perm("jobs.view_all_jobs"):
            return self
        return self.filter(created_by=user)

    def unfinished(self) -> "JobQuerySet":
        return self.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])


class Job(models.Model):
    """One piece of background work. The row is the truth: the queue only carries its id, so a
    lost queue message or a killed worker never loses the job itself."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True, help_text="What the job works on, e.g. {'dataset_id': 7}.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("view_all_jobs", "Can see every user's jobs")]
        constraints = [
            models.CheckConstraint(
                condition=Q(total__isnull=True) | Q(done__lte=models.F("total")), name="job_done_within_total"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="job_by_status_heartbeat"),
            models.Index(fields=["created_by", "-created_at"], name="job_by_creator"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.get_status_display().lower()})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED}

    @property
    def percent(self) -> int | None:
        if not self.total:
            return 100 if self.status == self.Status.SUCCEEDED else None
        return min(100, int(100 * self.done / self.total))

    def report(self, *, done: int, total: int | None = None) -> None:
        """Record progress and a heartbeat. Written with UPDATE, not save(), so a handler's
        progress never overwrites a status change made elsewhere (e.g. a cancel)."""
        self.done = done
        if total is not None:
            self.total = total
        self.heartbeat_at = timezone.now()
        Job.objects.filter(pk=self.pk).update(done=self.done, total=self.total, heartbeat_at=self.heartbeat_at)
