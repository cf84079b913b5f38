import json
from datetime import timedelta

from django.conf import settings
from django.db import connection, models
from django.db.models import Q
from django.utils import timezone

# The log keeps the most recent steps only: a job that logs once per batch over a million
# records must not grow its row without bound.
LOG_LIMIT = 200
# What a job's log says when the broker refused its id; the sweeper sends it later.
QUEUE_UNAVAILABLE = "queue unavailable, will retry"


class JobCancelled(Exception):
    """Raised by `Job.report` when someone asked the job to stop; the runner marks it cancelled."""


class JobSuperseded(Exception):
    """Raised by `Job.report` when this run no longer owns the job: the sweeper took it from a
    worker it believed dead and handed it to another. The old run stops without writing more."""


class JobQuerySet(models.QuerySet):
    def visible_to(self, user) -> "JobQuerySet":
        """Jobs a user may see: their own, or all of them with the `view_all_jobs` permission."""
        if user.is_superuser or user.has_perm("jobs.view_all_jobs"):
            return self
        return self.filter(created_by=user)

    def unfinished(self) -> "JobQuerySet":
        return self.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])

    def stale(self, *, seconds: int) -> "JobQuerySet":
        """Running jobs whose worker has not reported for `seconds`: killed or hung."""
        return self.filter(status=Job.Status.RUNNING, heartbeat_at__lt=timezone.now() - timedelta(seconds=seconds))

    def undelivered(self, *, grace_seconds: int, resend_seconds: int) -> "JobQuerySet":
        """Queued jobs no worker may ever receive: their enqueue failed (broker down), or their
        message went out so long ago that it was probably lost. `grace_seconds` leaves a fresh
        job to its own on_commit enqueue."""
        now = timezone.now()
        return self.filter(status=Job.Status.QUEUED, created_at__lt=now - timedelta(seconds=grace_seconds)).filter(
            Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=resend_seconds))
        )


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
    # `done` at this attempt's first report: a resumed job's rate counts only what this attempt did.
    attempt_base = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="How many times a worker started it.")
    cancel_requested = models.BooleanField(default=False)
    log = models.JSONField(default=list, blank=True, help_text=f"The last {LOG_LIMIT} steps: [{{at, message}}].")
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When the queue last accepted its id; empty while the queue was unavailable."
    )
    enqueue_failed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the queue last refused its id (broker down); empty once it took it."
    )
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

    @property
    def is_waiting_for_queue(self) -> bool:
        """Queued, but the broker refused its id (down): the sweeper sends it when it is back."""
        return self.status == self.Status.QUEUED and self.enqueued_at is None and self.enqueue_failed_at is not None

    @property
    def is_stoppable(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING} and not self.cancel_requested

    @property
    def is_retryable(self) -> bool:
        return self.status in {self.Status.FAILED, self.Status.CANCELLED}

    @property
    def rate(self) -> float | None:
        """Items per second over this attempt so far (None before there is anything to tell)."""
        if self.status != self.Status.RUNNING or not self.started_at or not self.heartbeat_at:
            return None
        done_now = self.done - (self.attempt_base or 0)
        seconds = (self.heartbeat_at - self.started_at).total_seconds()
        return done_now / seconds if seconds > 0 and done_now > 0 else None

    @property
    def eta_seconds(self) -> int | None:
        rate = self.rate
        if not rate or self.total is None:
            return None
        return int((self.total - self.done) / rate)

    def report(self, *, done: int, total: int | None = None) -> None:
        """Record progress and a heartbeat; handlers call it between batches.

        Raises JobCancelled when someone asked the job to stop, and JobSuperseded when another
        attempt took the job over (the sweeper believed this worker dead). One UPDATE fenced on
        the attempt number, not save(), so a stale run never overwrites what a newer one or a
        cancel wrote."""
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE jobs_job SET done = %s, total = COALESCE(%s, total), heartbeat_at = %s,
                       attempt_base = COALESCE(attempt_base, %s)
                 WHERE id = %s AND attempts = %s
                RETURNING cancel_requested, attempt_base
                """,
                [done, total, now, done, self.pk, self.attempts],
            )
            row = cursor.fetchone()
        if row is None:
            if Job.objects.filter(pk=self.pk).exclude(attempts=self.attempts).exists():
                raise JobSuperseded(f"job {self.pk} is run by a newer attempt than this one ({self.attempts})")
            return  # the row is gone (deleted): nothing to record
        self.done, self.heartbeat_at, self.attempt_base = done, now, row[1]
        self.total = total if total is not None else self.total
        if row[0]:
            raise JobCancelled(f"job {self.pk} was asked to stop")

    def add_log(self, message: str) -> None:
        """Append one step to the job's log, keeping the last LOG_LIMIT. One UPDATE in SQL, so
        a worker and the admin (cancel, retry) writing at once never lose each other's lines."""
        entry = json.dumps([{"at": timezone.now().isoformat(timespec="seconds"), "message": message}])
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE jobs_job
                   SET log = CASE WHEN jsonb_array_length(log) >= %s
                                  THEN (log - 0) || %s::jsonb ELSE log || %s::jsonb END
                 WHERE id = %s
                RETURNING log
                """,
                [LOG_LIMIT, entry, entry, self.pk],
            )
            row = cursor.fetchone()
        if row:
            self.log = json.loads(row[0]) if isinstance(row[0], str) else row[0]
