"""What the `train_classifier` and `classify` commands share: finding schemas, following jobs."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from jobs.models import Job
from labeling.models import LabelSchema

POLL_SECONDS = 0.5


class SchemaJobCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument(
            "--schema",
            action="append",
            default=[],
            metavar="ID_OR_NAME",
            help="A label schema by id or name (repeatable); default: every schema.",
        )
        parser.add_argument("--dataset", metavar="NAME_OR_ID", help="Only schemas of this dataset.")
        parser.add_argument("--wait", action="store_true", help="Follow the jobs with a progress bar until they end.")

    def schemas(self, *, names: list[str], dataset: str | None) -> list[LabelSchema]:
        schemas = LabelSchema.objects.select_related("dataset")
        if dataset:
            by_dataset = schemas.filter(dataset__name=dataset)
            if not by_dataset.exists() and dataset.isdigit():
                by_dataset = schemas.filter(dataset_id=int(dataset))
            schemas = by_dataset
        if not names:
            found = list(schemas)
            if not found:
                raise CommandError("there are no label schemas" + (f" in dataset {dataset!r}" if dataset else ""))
            return found
        chosen = []
        for name in names:
            matches = list(schemas.filter(name=name))
            if not matches and name.isdigit():
                matches = list(schemas.filter(pk=int(name)))
            if not matches:
                raise CommandError(f"no label schema named or numbered {name!r}")
            if len(matches) > 1:
                raise CommandError(
                    f"{len(matches)} schemas are named {name!r} (in {', '.join(s.dataset.name for s in matches)}); "
                    "add --dataset or pass the schema's id"
                )
            chosen.append(matches[0])
        return chosen

    def queued(self, job: Job, what: str) -> None:
        self.stdout.write(f"job #{job.pk}: {what} queued")
        job.refresh_from_db()
        if job.status == Job.Status.QUEUED and getattr(job, "enqueued_at", True) is None:
            self.stderr.write(f"job #{job.pk}: the queue is unavailable; a worker's sweeper sends it when it is back")

    def follow_all(self, jobs: list[Job]) -> None:
        ended = [self.follow(job) for job in jobs]
        failed = [job for job in ended if job.status != Job.Status.SUCCEEDED]
        if failed:
            raise CommandError(
                "; ".join(f"job #{job.pk} {job.status}: {job.error.strip().splitlines()[-1:]}" for job in failed)
            )

    def follow(self, job: Job) -> Job:
        """A progress bar fed by the job row (the worker may be on another machine)."""
        with tqdm(desc=f"#{job.pk} {job.kind}", unit="rec", file=sys.stderr, dynamic_ncols=True) as bar:
            while True:
                job.refresh_from_db()
                if job.total is not None and bar.total != job.total:
                    bar.total = job.total
                bar.n = job.done
                bar.set_postfix_str(job.get_status_display().lower(), refresh=False)
                bar.refresh()
                if job.is_finished:
                    break
                time.sleep(POLL_SECONDS)
        self.stdout.write(f"job #{job.pk}: {job.get_status_display().lower()} {job.result or ''}".rstrip())
        return job
