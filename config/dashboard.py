"""The admin's front page: real figures for the datasets the user may see."""

from django.db.models import Count, Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from corpus.models import Dataset, Record
from jobs.models import Job
from labeling.models import Annotation

RECENT_JOBS = 8


def dataset_progress(user) -> list[dict]:
    """Per visible dataset: records, records with at least one annotation, and the share."""
    datasets = list(Dataset.objects.visible_to(user).order_by("name"))
    ids = [dataset.pk for dataset in datasets]
    records = dict(
        Record.objects.filter(dataset_id__in=ids)
        .values_list("dataset_id")
        .annotate(n=Count("id"))
        .values_list("dataset_id", "n")
    )
    labeled_records = Record.objects.filter(dataset_id__in=ids).filter(
        Exists(Annotation.objects.filter(record=OuterRef("pk")))
    )
    labeled = dict(labeled_records.values_list("dataset_id").annotate(n=Count("id")).values_list("dataset_id", "n"))
    rows = []
    for dataset in datasets:
        total, done = records.get(dataset.pk, 0), labeled.get(dataset.pk, 0)
        rows.append(
            {
                "dataset": dataset,
                "records": total,
                "labeled": done,
                "percent": round(100 * done / total) if total else 0,
            }
        )
    return rows


def dashboard_callback(request, context):
    user = request.user
    progress = dataset_progress(user)
    total_records = sum(row["records"] for row in progress)
    total_labeled = sum(row["labeled"] for row in progress)
    can_open_datasets = user.has_perm("corpus.view_dataset")
    context["kpis"] = [
        {"title": "Datasets", "value": f"{len(progress):,}"},
        {"title": "Records", "value": f"{total_records:,}"},
        {"title": "Labeled", "value": f"{total_labeled:,}"},
        {"title": "Labeled share", "value": f"{(100 * total_labeled / total_records) if total_records else 0:.1f}%"},
    ]
    context["progress_table"] = {
        "headers": ["Dataset", "Records", "Labeled", "Progress"],
        "rows": [
            [
                format_html(
                    '<a class="text-primary-600" href="{}">{}</a>',
                    reverse("admin:corpus_dataset_change", args=[row["dataset"].pk]),
                    row["dataset"].name,
                )
                if can_open_datasets
                else row["dataset"].name,
                f"{row['records']:,}",
                f"{row['labeled']:,}",
                render_to_string(
                    "unfold/components/progress.html", {"value": row["percent"], "description": f"{row['percent']}%"}
                ),
            ]
            for row in progress
        ],
    }
    if user.has_perm("jobs.view_job"):
        jobs = Job.objects.visible_to(user).select_related("created_by")[:RECENT_JOBS]
        context["jobs_table"] = {
            "headers": ["Job", "Status", "Progress", "Started by", "Created"],
            "rows": [
                [
                    format_html(
                        '<a class="text-primary-600" href="{}">{} #{}</a>',
                        reverse("admin:jobs_job_change", args=[job.pk]),
                        job.kind,
                        job.pk,
                    ),
                    job.get_status_display(),
                    f"{job.done:,} / {job.total:,}" if job.total is not None else f"{job.done:,}",
                    str(job.created_by or "—"),
                    job.created_at.strftime("%Y-%m-%d %H:%M"),
                ]
                for job in jobs
            ],
        }
    return context


def environment_callback(request):
    from django.conf import settings

    return ["Development", "warning"] if settings.DEBUG else None
