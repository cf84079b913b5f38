import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from corpus.models import Dataset
from corpus.services.embed import allowed_models, start_embedding
from jobs.models import Job

POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = (
        "Embed datasets in background jobs (only records without a current vector from the model). "
        "With --wait, follow the jobs with a progress bar until they end."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dataset", action="append", default=[], metavar="NAME_OR_ID", help="A dataset (repeatable); default: all."
        )
        parser.add_argument(
            "--model", help=f"Embedding model; one of the allowed ones (default {allowed_models()[0]})."
        )
        parser.add_argument("--wait", action="store_true", help="Follow the jobs until they end.")

    def handle(self, *args, dataset, model, wait, **options):
        if model and model not in allowed_models():
            raise CommandError(
                f"--model {model!r} is not allowed; choose one of {allowed_models()} (EMBEDDING_MODEL_CHOICES)"
            )
        datasets = [self._dataset(name_or_id) for name_or_id in dataset] or list(Dataset.objects.all())
        if not datasets:
            raise CommandError("there are no datasets to embed")
        jobs = []
        for ds in datasets:
            job = start_embedding(dataset=ds, user=None, model=model)
            jobs.append(job)
            self.stdout.write(f"job #{job.pk}: embedding of dataset {ds.name!r} (#{ds.pk}) queued")
            job.refresh_from_db()
            if job.is_waiting_for_queue:
                self.stderr.write(
                    f"job #{job.pk}: the queue is unavailable; a worker's sweeper sends it when it is back"
                )
        if wait:
            names = {ds.pk: ds.name for ds in datasets}
            ended = [self._follow(job, name=names[job.params["dataset_id"]]) for job in jobs]
            failed = [job for job in ended if job.status != Job.Status.SUCCEEDED]
            if failed:
                raise CommandError("; ".join(f"job #{job.pk} {job.status}: {_last_line(job.error)}" for job in failed))

    def _dataset(self, name_or_id: str) -> Dataset:
        found = Dataset.objects.filter(name=name_or_id).first()
        if found is None and name_or_id.isdigit():
            found = Dataset.objects.filter(pk=int(name_or_id)).first()
        if found is None:
            raise CommandError(f"no dataset named or numbered {name_or_id!r}")
        return found

    def _follow(self, job: Job, *, name: str) -> Job:
        """A progress bar fed by the job row (the worker may be on another machine)."""
        with tqdm(desc=f"#{job.pk} {name}", unit="rec", file=sys.stderr, dynamic_ncols=True) as bar:
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


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
