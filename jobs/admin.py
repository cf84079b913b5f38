import json

from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display

from config.admin_base import ScopedModelAdmin
from jobs.models import Job
from jobs.services import QUEUE_UNAVAILABLE, cancel_job, retry_job

STATUS_COLOURS = {
    Job.Status.QUEUED: "info",
    Job.Status.RUNNING: "warning",
    Job.Status.SUCCEEDED: "success",
    Job.Status.FAILED: "danger",
    Job.Status.CANCELLED: "default",
}
LIVE_IDS_LIMIT = 100  # one list page


def _duration(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def render_progress(job: Job) -> str:
    details, warning = [], ""
    if job.rate:
        details.append(_("%(rate)s/s") % {"rate": f"{job.rate:,.0f}"})
    if job.eta_seconds is not None:
        details.append(_("%(left)s left") % {"left": _duration(job.eta_seconds)})
    if job.cancel_requested and job.status == Job.Status.RUNNING:
        warning = _("stopping after this batch")
    elif job.is_waiting_for_queue:
        warning = QUEUE_UNAVAILABLE
    return render_to_string(
        "jobs/progress.html",
        {
            "percent": job.percent or 0,
            "percent_text": f"{job.percent or 0}%",
            "counts": f"{job.done:,} / {job.total:,}" if job.total is not None else f"{job.done:,} / ?",
            "details": " · ".join(str(part) for part in details),
            "warning": warning,
        },
    )


def render_status(job: Job) -> str:
    return render_to_string("jobs/status_label.html", {"job": job, "colour": STATUS_COLOURS[job.status]})


def render_log(job: Job) -> str:
    if not job.log:
        return "—"
    # format_html escapes every message: a log line may quote user text (a file name, a model).
    return format_html(
        '<ol class="font-mono text-xs leading-relaxed">{}</ol>',
        format_html_join(
            "",
            "<li><span class='text-base-400'>{}</span> {}</li>",
            ((entry["at"][:19].replace("T", " "), entry["message"]) for entry in job.log),
        ),
    )


def _live(job: Job, part: str, html: str) -> str:
    """A wrapper that jobs/live.js refreshes in place while the job is unfinished."""
    return format_html(
        '<div data-job-live="{}" data-job-id="{}" data-job-finished="{}">{}</div>',
        part,
        job.pk,
        "1" if job.is_finished else "0",
        html,
    )


@admin.register(Job)
class JobAdmin(ScopedModelAdmin):
    list_display = ["id", "kind", "subject", "status_label", "progress", "attempts", "created_by", "created_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["created_by"]
    search_fields = ["=id", "kind"]
    fields = [
        "kind", "params", "status_label", "progress", "attempts", "created_by", "created_at", "enqueued_at",
        "started_at", "heartbeat_at", "finished_at", "result_display", "error_display", "steps",
    ]  # fmt: skip
    readonly_fields = fields
    actions = ["cancel_selected", "retry_selected"]
    actions_detail = ["cancel_detail", "retry_detail"]

    class Media:
        js = ["jobs/live.js"]

    def has_add_permission(self, request) -> bool:
        # Jobs are started by the actions and commands that own the work, never typed in.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # The row is written by its worker; people act on it through cancel and retry only
        # (a form save could overwrite the worker's progress with what the page loaded).
        return False

    def has_manage_permission(self, request, object_id=None) -> bool:
        """Cancel and retry: jobs.change_job, on jobs the user can see."""
        return request.user.has_perm("jobs.change_job")

    def has_cancel_permission(self, request, object_id=None) -> bool:
        """On the job page the button shows only while the job can still be stopped."""
        if not self.has_manage_permission(request):
            return False
        return object_id is None or self._visible_job(request, object_id).is_stoppable

    def has_retry_permission(self, request, object_id=None) -> bool:
        if not self.has_manage_permission(request):
            return False
        return object_id is None or self._visible_job(request, object_id).is_retryable

    def _visible_job(self, request, object_id) -> Job:
        # An id outside the user's reach is indistinguishable from one that never existed.
        return get_object_or_404(self.get_queryset(request), pk=object_id)

    def get_urls(self):
        live = path("live/", self.admin_site.admin_view(self.live_view), name="jobs_job_live")
        return [live, *super().get_urls()]

    def live_view(self, request):
        """Status, progress and log of the jobs on the page, for jobs/live.js (every 1.5 s)."""
        if not self.has_view_permission(request):
            raise Http404
        try:
            ids = [int(part) for part in request.GET.get("ids", "").split(",") if part][:LIVE_IDS_LIMIT]
        except ValueError:
            return JsonResponse({"error": "ids must be comma-separated numbers"}, status=400)
        jobs = self.get_queryset(request).filter(pk__in=ids).select_related(None)
        return JsonResponse(
            {
                "jobs": {
                    job.pk: {
                        "finished": job.is_finished,
                        "status": render_status(job),
                        "progress": render_progress(job),
                        "log": render_log(job),
                        "error": render_to_string("jobs/error.html", {"job": job}),
                    }
                    for job in jobs
                }
            }
        )

    @display(description=_("Subject"))
    def subject(self, obj: Job) -> str:
        params = obj.params or {}
        if "dataset_id" in params:
            text = _("dataset #%(id)s") % {"id": params["dataset_id"]}
        elif "record_ids" in params:
            text = _("%(n)s selected record(s)") % {"n": f"{len(params['record_ids']):,}"}
        else:
            text = ""
        return f"{text} · {params['model']}" if params.get("model") else text

    @display(description=_("Status"))
    def status_label(self, obj: Job) -> str:
        return _live(obj, "status", render_status(obj))

    @display(description=_("Progress"))
    def progress(self, obj: Job) -> str:
        return _live(obj, "progress", render_progress(obj))

    @display(description=_("Result"))
    def result_display(self, obj: Job) -> str:
        """The result as JSON; a link first when it names a download (an export's file, served by
        the app that made it, which checks who may have it)."""
        result = obj.result or {}
        text = json.dumps(result, indent=2, ensure_ascii=False)
        shown = format_html('<pre class="font-mono text-xs whitespace-pre-wrap">{}</pre>', text)
        url = result.get("download_url") if isinstance(result, dict) else None
        if not (isinstance(url, str) and url.startswith("/") and not url.startswith("//")):
            return shown if result else "—"
        return format_html(
            '<a class="font-semibold text-primary-600 dark:text-primary-500" href="{}" id="job-download">{} {}</a>{}',
            url,
            _("Download"),
            result.get("file", ""),
            shown,
        )

    @display(description=_("Error"))
    def error_display(self, obj: Job) -> str:
        return _live(obj, "error", render_to_string("jobs/error.html", {"job": obj}))

    @display(description=_("Log"))
    def steps(self, obj: Job) -> str:
        return _live(obj, "log", render_log(obj))

    # --- cancel and retry ------------------------------------------------------------------

    @action(description=_("Cancel selected jobs"), permissions=["manage"], icon="cancel")
    def cancel_selected(self, request, queryset):
        stopped = [job.pk for job in queryset if cancel_job(job=job, user=request.user)]
        self._report(
            request, stopped, _("Cancel requested for job(s) %(ids)s."), _("No selected job was queued or running.")
        )

    @action(description=_("Retry selected jobs"), permissions=["manage"], icon="replay")
    def retry_selected(self, request, queryset):
        retried = [job.pk for job in queryset if retry_job(job=job, user=request.user)]
        self._report(
            request, retried, _("Queued again: job(s) %(ids)s."), _("No selected job had failed or was cancelled.")
        )

    def _report(self, request, ids, done_message, none_message) -> None:
        if ids:
            self.message_user(request, done_message % {"ids": ", ".join(f"#{pk}" for pk in ids)}, messages.SUCCESS)
        else:
            self.message_user(request, none_message, messages.WARNING)

    @action(description=_("Cancel"), url_path="cancel", permissions=["cancel"], icon="cancel")
    def cancel_detail(self, request, object_id):
        return self._confirm(request, object_id, verb=_("Cancel"), service=cancel_job)

    @action(description=_("Retry"), url_path="retry", permissions=["retry"], icon="replay")
    def retry_detail(self, request, object_id):
        return self._confirm(request, object_id, verb=_("Retry"), service=retry_job)

    def _confirm(self, request, object_id, *, verb, service):
        """GET asks, POST does: a link must never change a job (CSRF)."""
        job = self._visible_job(request, object_id)
        change_url = reverse("admin:jobs_job_change", args=[job.pk])
        if request.method == "POST":
            if service(job=job, user=request.user):
                self.message_user(request, format_html(_("{} of job #{}: done."), verb, job.pk), messages.SUCCESS)
            else:
                self.message_user(request, _("The job's state changed meanwhile; nothing was done."), messages.WARNING)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{verb} {job}?",
            "job": job,
            "verb": verb,
            "change_url": change_url,
        }
        return TemplateResponse(request, "jobs/confirm_job_action.html", context)
