"""The admin's front page: real figures and charts for the datasets the user may see.

Every figure comes from a few grouped queries over the visible datasets, whatever their number
of records. The charts (unfold's Chart.js components) receive their data as JSON in a data
attribute: Django escapes the attribute, and Chart.js draws dataset and label names as text on a
canvas, so a name is never markup.
"""

import json
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Exists, OuterRef
from django.db.models.functions import TruncDate
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from corpus.models import Dataset, Record
from jobs.models import Job
from labeling.models import Annotation, Label, LabelSchema, RecordState
from labeling.services.agreement import krippendorff_alpha_nominal, mean_of_defined

RECENT_JOBS = 8
THROUGHPUT_DAYS = 30
AGREEMENT_WEEKS = 12
AXIS_LABEL_CHARS = 40  # longer names are cut on the axes (the table below shows them whole)

STATUS_COLORS = {
    RecordState.Status.UNLABELED: "var(--color-base-300)",
    RecordState.Status.IN_PROGRESS: "var(--color-primary-300)",
    RecordState.Status.LABELED: "var(--color-primary-600)",
    RecordState.Status.DISPUTED: "#ef4444",
    RecordState.Status.REVIEWED: "#10b981",
    RecordState.Status.GOLD: "#f59e0b",
}
SERIES_COLORS = ["var(--color-primary-600)", "#10b981", "#f59e0b", "#ef4444", "#06b6d4", "#8b5cf6", "#ec4899"]
TICK_COLOR = "#9ca3af"


def dataset_progress(*, datasets: list[Dataset], records: dict[int, int]) -> list[dict]:
    """Per dataset: its records (counted by `records_per_dataset`), the records with at least one
    annotation, and the share."""
    ids = [dataset.pk for dataset in datasets]
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


def records_per_dataset(datasets: list[Dataset]) -> dict[int, int]:
    return dict(
        Record.objects.filter(dataset_id__in=[dataset.pk for dataset in datasets])
        .values_list("dataset_id")
        .annotate(n=Count("id"))
        .values_list("dataset_id", "n")
    )


# --- Chart data: plain dicts in Chart.js's shape ------------------------------------------------


def _short(name: str) -> str:
    return name if len(name) <= AXIS_LABEL_CHARS else name[: AXIS_LABEL_CHARS - 1] + "…"


def _schema_titles(schemas: list[LabelSchema]) -> dict[int, str]:
    """How a label set is named on a chart: its dataset's name, plus its own name only where the
    dataset has several label sets."""
    per_dataset: dict[int, int] = defaultdict(int)
    for schema in schemas:
        per_dataset[schema.dataset_id] += 1
    return {
        schema.pk: schema.dataset.name if per_dataset[schema.dataset_id] == 1 else f"{schema.dataset} · {schema.name}"
        for schema in schemas
    }


def progress_chart(*, datasets: list[Dataset], records: dict[int, int], schemas: list[LabelSchema]) -> dict:
    """A bar per label set (per dataset when it has none), stacked by the records' status.

    Records without a RecordState yet (they are created when someone opens the annotate screen)
    count as unlabeled, so a bar always adds up to the dataset's records."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for schema_id, status, n in (
        RecordState.objects.filter(schema__in=[schema.pk for schema in schemas])
        .order_by()
        .values_list("schema_id", "status")
        .annotate(n=Count("id"))
        .values_list("schema_id", "status", "n")
    ):
        counts[schema_id][status] = n

    titles = _schema_titles(schemas)
    schemas_of: dict[int, list[LabelSchema]] = defaultdict(list)
    for schema in schemas:
        schemas_of[schema.dataset_id].append(schema)
    bars: list[tuple[str, dict[str, int]]] = []
    for dataset in datasets:
        total = records.get(dataset.pk, 0)
        if not schemas_of[dataset.pk]:
            bars.append((dataset.name, {RecordState.Status.UNLABELED: total}))
        for schema in schemas_of[dataset.pk]:
            by_status = dict(counts[schema.pk])
            missing = max(0, total - sum(by_status.values()))
            by_status[RecordState.Status.UNLABELED] = by_status.get(RecordState.Status.UNLABELED, 0) + missing
            bars.append((titles[schema.pk], by_status))
    return {
        "labels": [_short(title) for title, _ in bars],
        "datasets": [
            {
                "label": str(status.label),
                "data": [by_status.get(status.value, 0) for _, by_status in bars],
                "backgroundColor": STATUS_COLORS[status],
                "maxBarThickness": 56,
            }
            for status in RecordState.Status
        ],
    }


def label_distribution_chart(*, schemas: list[LabelSchema], user, sees_everyone: bool) -> dict:
    """Per label: the records whose final label it is, and the annotations by people that gave it.

    Final labels come from everyone's annotations, so a person who may only see their own
    annotations (blind labeling) gets their own annotations per label and nothing else."""
    schema_ids = [schema.pk for schema in schemas]
    labels = list(Label.objects.filter(schema_id__in=schema_ids).order_by("order", "name"))
    titles = _schema_titles(schemas)
    order = {schema.pk: position for position, schema in enumerate(schemas)}
    labels.sort(key=lambda label: order[label.schema_id])

    label_ids = [label.pk for label in labels]
    given = Annotation.labels.through.objects.filter(label_id__in=label_ids, annotation__source=Annotation.Source.HUMAN)
    if not sees_everyone:
        given = given.filter(annotation__annotator=user)
    annotations = dict(given.order_by().values_list("label_id").annotate(n=Count("id")).values_list("label_id", "n"))

    # Names repeat across label sets ("positive" in two datasets): name the set under the label.
    several_sets = len({label.schema_id for label in labels}) > 1

    def axis_label(label: Label) -> str | list[str]:
        return [_short(label.name), _short(titles[label.schema_id])] if several_sets else _short(label.name)

    series = []
    if sees_everyone:
        final = dict(
            RecordState.final_labels.through.objects.filter(label_id__in=label_ids)
            .order_by()
            .values_list("label_id")
            .annotate(n=Count("id"))
            .values_list("label_id", "n")
        )
        series.append(
            {
                "label": "Records with this final label",
                "data": [final.get(label.pk, 0) for label in labels],
                "backgroundColor": "var(--color-primary-600)",
                "maxBarThickness": 40,
            }
        )
    series.append(
        {
            "label": "Annotations by people" if sees_everyone else "Your annotations",
            "data": [annotations.get(label.pk, 0) for label in labels],
            "backgroundColor": "var(--color-primary-300)" if series else "var(--color-primary-600)",
            "maxBarThickness": 40,
        }
    )
    return {"labels": [axis_label(label) for label in labels], "datasets": series}


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def throughput_chart(*, schemas: list[LabelSchema], user, sees_everyone: bool, today: date) -> dict:
    """Annotations by people per day over the last THROUGHPUT_DAYS days (today included), days
    without any shown as 0. Everyone's for those who may see everyone's work, else one's own."""
    first = today - timedelta(days=THROUGHPUT_DAYS - 1)
    annotations = Annotation.objects.filter(
        schema_id__in=[schema.pk for schema in schemas],
        source=Annotation.Source.HUMAN,
        created_at__gte=_day_start(first),
    )
    if not sees_everyone:
        annotations = annotations.filter(annotator=user)
    # TruncDate cuts days in the site's time zone, like `today`.
    per_day = dict(
        annotations.order_by()
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    days = [first + timedelta(days=offset) for offset in range(THROUGHPUT_DAYS)]
    return {
        "labels": [f"{day:%b} {day.day}" for day in days],
        "datasets": [
            {
                "label": "Annotations" if sees_everyone else "Your annotations",
                "data": [per_day.get(day, 0) for day in days],
                "backgroundColor": "var(--color-primary-600)",
                "maxBarThickness": 24,
            }
        ],
    }


# Which label sets had a record answered twice in one week: a cheap pass without labels, so the
# datasets labeled once per record (the default overlap) cost no more than this. Kept apart from
# the query below because the planner, given both at once, chose plans three times slower.
_PAIRED_SCHEMAS = """
    SELECT DISTINCT schema_id FROM (
        SELECT schema_id FROM labeling_annotation
        WHERE schema_id = ANY(%(schemas)s) AND source = 'human' AND created_at >= %(since)s
        GROUP BY schema_id, record_id, date_trunc('week', created_at AT TIME ZONE %(zone)s)
        HAVING count(*) >= 2
    ) paired
"""

# Two levels of grouping (an annotation's labels into one answer, a record's answers of one week
# into one unit) that the ORM cannot nest. A single-label answer is its one label, found without
# sorting (the bulk of the work); a multi-label answer is the sorted list of its labels. Identical
# units come back counted, not one by one, so the rows returned stay few.
_WEEKLY_UNITS = """
    WITH answers AS (
        SELECT a.schema_id, a.record_id,
               date_trunc('week', a.created_at AT TIME ZONE %(zone)s)::date AS week,
               min(al.label_id)::text AS answer
        FROM labeling_annotation a
        JOIN labeling_annotation_labels al ON al.annotation_id = a.id
        WHERE a.schema_id = ANY(%(single)s) AND a.source = 'human' AND a.created_at >= %(since)s
        GROUP BY a.id
        HAVING count(*) = 1
      UNION ALL
        SELECT a.schema_id, a.record_id,
               date_trunc('week', a.created_at AT TIME ZONE %(zone)s)::date AS week,
               coalesce(string_agg(al.label_id::text, ',' ORDER BY al.label_id), '') AS answer
        FROM labeling_annotation a
        LEFT JOIN labeling_annotation_labels al ON al.annotation_id = a.id
        WHERE a.schema_id = ANY(%(multi)s) AND a.source = 'human' AND a.created_at >= %(since)s
        GROUP BY a.id
    ), units AS (
        SELECT schema_id, week, array_agg(answer ORDER BY answer) AS answers
        FROM answers
        GROUP BY schema_id, week, record_id
        HAVING count(*) >= 2
    )
    SELECT schema_id, week, answers, count(*) FROM units GROUP BY schema_id, week, answers
"""


def _weekly_alpha(units: list[tuple[str, ...]], *, labels: list[int] | None) -> float | None:
    """Krippendorff's alpha of one week's units; with `labels` (a multi-label schema, whose
    answers are comma-separated label ids), the mean of each label's yes/no alpha."""
    if labels is None:
        return krippendorff_alpha_nominal(units)
    answers = [[set(answer.split(",")) - {""} for answer in unit] for unit in units]
    return mean_of_defined(
        krippendorff_alpha_nominal([tuple(str(label) in chosen for chosen in unit) for unit in answers])
        for label in labels
    )


def agreement_chart(*, schemas: list[LabelSchema], today: date) -> dict:
    """A line per label set: Krippendorff's alpha (nominal) of the annotations people made each
    week, over the last AGREEMENT_WEEKS weeks. A unit is one record's annotations of that week;
    a week where no record got two of them has no point (null: Chart.js leaves a gap).

    A single-label answer is its label (answers without exactly one label are left out). A
    multi-label schema's alpha is, as on its agreement page, the mean over its labels of each
    label's yes/no alpha (labels nobody chose that week have none and are left out)."""
    first = today - timedelta(days=today.weekday(), weeks=AGREEMENT_WEEKS - 1)  # a Monday
    weeks = [first + timedelta(weeks=offset) for offset in range(AGREEMENT_WEEKS)]
    units: dict[tuple[int, date], list[tuple[str, ...]]] = defaultdict(list)
    params = {"zone": timezone.get_current_timezone_name(), "since": _day_start(first)}
    with connection.cursor() as cursor:
        cursor.execute(_PAIRED_SCHEMAS, {**params, "schemas": [schema.pk for schema in schemas]})
        paired = {schema_id for (schema_id,) in cursor.fetchall()}
        if paired:
            kinds = {schema.pk: schema.kind for schema in schemas if schema.pk in paired}
            cursor.execute(
                _WEEKLY_UNITS,
                {
                    **params,
                    "single": [pk for pk, kind in kinds.items() if kind != LabelSchema.Kind.MULTI],
                    "multi": [pk for pk, kind in kinds.items() if kind == LabelSchema.Kind.MULTI],
                },
            )
            for schema_id, week, answers, how_many in cursor.fetchall():
                units[schema_id, week].extend([tuple(answers)] * how_many)

    multi_labels: dict[int, list[int]] = defaultdict(list)
    multi_paired = [schema for schema in schemas if schema.kind == LabelSchema.Kind.MULTI and schema.pk in paired]
    if multi_paired:
        for schema_id, label_id in Label.objects.filter(schema__in=multi_paired).values_list("schema_id", "pk"):
            multi_labels[schema_id].append(label_id)

    titles = _schema_titles(schemas)
    lines = []
    for schema in schemas:
        alphas = [_weekly_alpha(units.get((schema.pk, week), []), labels=multi_labels.get(schema.pk)) for week in weeks]
        if any(alpha is not None for alpha in alphas):
            color = SERIES_COLORS[len(lines) % len(SERIES_COLORS)]
            lines.append(
                {
                    "label": _short(titles[schema.pk]),
                    "data": [None if alpha is None else round(alpha, 3) for alpha in alphas],
                    "borderColor": color,
                    "backgroundColor": color,
                    "spanGaps": True,
                    "pointRadius": 3,
                }
            )
    return {"labels": [f"{week:%b} {week.day}" for week in weeks], "datasets": lines}


def disputes_chart(*, schemas: list[LabelSchema]) -> tuple[dict, list[tuple[LabelSchema, str, int]]]:
    """Open disputes (records waiting for a reviewer) per label set that has any, most first;
    also returned as rows (schema, title, count) for the links under the chart."""
    open_disputes = dict(
        RecordState.objects.filter(schema_id__in=[schema.pk for schema in schemas], status=RecordState.Status.DISPUTED)
        .order_by()
        .values_list("schema_id")
        .annotate(n=Count("id"))
        .values_list("schema_id", "n")
    )
    titles = _schema_titles(schemas)
    rows = sorted(
        ((schema, titles[schema.pk], open_disputes[schema.pk]) for schema in schemas if schema.pk in open_disputes),
        key=lambda row: (-row[2], row[1]),
    )
    chart = {
        "labels": [_short(title) for _, title, _ in rows],
        "datasets": [
            {
                "label": "Open disputes",
                "data": [n for _, _, n in rows],
                "backgroundColor": STATUS_COLORS[RecordState.Status.DISPUTED],
                "maxBarThickness": 28,
            }
        ],
    }
    return chart, rows


def chart_options(
    *,
    stacked: bool = False,
    legend: bool = True,
    horizontal: bool = False,
    value_range: tuple[float, float] | None = None,
    category_ticks: int | None = None,
) -> str:
    """Chart.js options as JSON (unfold's components take no JavaScript functions). Giving options
    replaces unfold's defaults, so this repeats their look: grey ticks, dashed value axis, no grid
    across the categories."""
    values = {
        "stacked": stacked,
        "beginAtZero": True,
        "border": {"dash": [5, 5], "width": 0},
        # Counts are whole numbers; a bounded range (agreement) is not.
        "ticks": {"color": TICK_COLOR, **({"precision": 0} if value_range is None else {})},
        "grid": {"tickWidth": 0},
    }
    if value_range is not None:
        # "suggested": the axis still stretches to a value outside the usual range (alpha < 0).
        values["suggestedMin"], values["suggestedMax"] = value_range
    categories = {
        "stacked": stacked,
        "border": {"width": 0},
        "ticks": {"color": TICK_COLOR, "autoSkip": True},
        "grid": {"display": False},
    }
    if category_ticks:
        categories["ticks"]["maxTicksLimit"] = category_ticks
    options = {
        "responsive": True,
        "maintainAspectRatio": False,
        "animation": False,
        "indexAxis": "y" if horizontal else "x",
        "datasets": {"bar": {"borderRadius": 4}, "line": {"borderWidth": 2}},
        "interaction": {"mode": "index", "intersect": False, "axis": "y" if horizontal else "x"},
        "plugins": {
            "legend": {
                "display": legend,
                "align": "end",
                "position": "top",
                "labels": {"boxHeight": 8, "boxWidth": 8, "color": TICK_COLOR, "usePointStyle": True},
            },
            "tooltip": {"enabled": True},
        },
        "scales": {"x": values, "y": categories} if horizontal else {"x": categories, "y": values},
    }
    return json.dumps(options)


def _chart(data: dict, options: str) -> dict:
    """What a template needs for one chart: the data as JSON (escaped by the template) and the
    numbers' total, to show an empty state instead of an empty chart."""
    total = sum(value or 0 for series in data["datasets"] for value in series["data"])
    return {"data": json.dumps(data), "options": options, "empty": not data["labels"] or not total}


# --- The page -----------------------------------------------------------------------------------


def dashboard_callback(request, context):
    user = request.user
    today = timezone.localdate()
    datasets = list(Dataset.objects.visible_to(user).order_by("name"))
    schemas = list(
        LabelSchema.objects.filter(dataset__in=[dataset.pk for dataset in datasets])
        .select_related("dataset")
        .order_by("dataset__name", "name")
    )
    # The same rule as Annotation.objects.visible_to: annotators see only their own work.
    sees_everyone = user.has_perm("labeling.view_all_annotations")

    records = records_per_dataset(datasets)
    progress = dataset_progress(datasets=datasets, records=records)
    total_records = sum(row["records"] for row in progress)
    total_labeled = sum(row["labeled"] for row in progress)
    can_open_datasets = user.has_perm("corpus.view_dataset")
    context["kpis"] = [
        {"title": "Datasets", "value": f"{len(progress):,}"},
        {"title": "Records", "value": f"{total_records:,}"},
        {"title": "Labeled", "value": f"{total_labeled:,}"},
        {"title": "Labeled share", "value": f"{(100 * total_labeled / total_records) if total_records else 0:.1f}%"},
    ]
    context["charts"] = {
        "progress": _chart(
            progress_chart(datasets=datasets, records=records, schemas=schemas), chart_options(stacked=True)
        ),
        "labels": _chart(
            label_distribution_chart(schemas=schemas, user=user, sees_everyone=sees_everyone),
            chart_options(legend=True),
        ),
        "throughput": _chart(
            throughput_chart(schemas=schemas, user=user, sees_everyone=sees_everyone, today=today),
            chart_options(legend=False, category_ticks=10),
        ),
        "agreement": _chart(agreement_chart(schemas=schemas, today=today), chart_options(value_range=(0, 1))),
    }
    context["sees_everyone"] = sees_everyone
    # Open disputes are for the people who settle them (and those who watch quality); a link per
    # label set leads reviewers to its review queue.
    if user.has_perm("labeling.view_recordstate"):
        disputes, rows = disputes_chart(schemas=schemas)
        context["charts"]["disputes"] = {
            **_chart(disputes, chart_options(legend=False, horizontal=True)),
            "height": 48 + 36 * min(len(rows), 6),
        }
        can_review = user.has_perm("labeling.review_records")
        context["disputes_table"] = {
            "headers": ["Label set", "Open", ""],
            "rows": [
                [
                    title,
                    f"{n:,}",
                    format_html(
                        '<a class="font-medium text-primary-600 whitespace-nowrap" href="{}">Review →</a>',
                        reverse("admin:labeling_review", args=[schema.pk]),
                    )
                    if can_review
                    else "",
                ]
                for schema, title, n in rows
            ],
        }
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
