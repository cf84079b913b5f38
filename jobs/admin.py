from django.contrib import admin
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from config.admin_base import ScopedModelAdmin
from jobs.models import Job

STATUS_COLOURS = {
    Job.Status.QUEUED: "info",
    Job.Status.RUNNING: "warning",
    Job.Status.SUCCEEDED: "success",
    Job.Status.FAILED: "danger",
    Job.Status.CANCELLED: "info",
}


@admin.register(Job)
class JobAdmin(ScopedModelAdmin):
    list_display = ["id", "kind", "status_label", "progress", "attempts", "created_by", "created_at", "finished_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["created_by"]
    search_fields = ["=id", "kind"]
    readonly_fields = [
        "kind", "params", "status", "done", "total", "result", "error", "attempts",
        "created_by", "created_at", "started_at", "heartbeat_at", "finished_at",
    ]  # fmt: skip

    def has_add_permission(self, request) -> bool:
        # Jobs are started by the actions and commands that own the work, never typed in.
        return False

    @display(description=_("Status"), label=STATUS_COLOURS)
    def status_label(self, obj: Job) -> str:
        return obj.status

    @display(description=_("Progress"))
    def progress(self, obj: Job) -> str:
        total = f"{obj.total:,}" if obj.total is not None else "?"
        return render_to_string(
            "unfold/components/progress.html",
            {"value": obj.percent or 0, "title": f"{obj.done:,} / {total}", "description": f"{obj.percent or 0}%"},
        )
